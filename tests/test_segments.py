"""Segments for staff (issue 18.3): readers carry tags (from a CSV `tags` column), an edition goes
to a segment (tags any/all, sections), staff see its size before approving (desk, CLI), and the
approval is bound to the segment as well as the content. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from compose.segments import Segment, SegmentError, clean_tag, split_tags
from compose.subscribers import parse_subscriber_csv
from connectors.channels.sendgrid import SendGridChannel
from flows.cli import main
from flows.settings import parse_config
from flows.stages.deliver import deliver_edition
from state import ledger
from state.db import Database, connect
from state.models import ApprovalRow, AuditRow, EditionStatus, SubscriberChangeRow, SubscriberRow
from state.segments import segment_size, set_segment
from state.subscribers import import_csv
from tests.fakes.fake_sendgrid import FakeSendGrid
from tests.helpers import desk_data
from tests.helpers.sectioned import (
    APPROVER,
    NOW,
    add_items,
    add_readers,
    build_and_approve,
    item_title,
    sectioned_config,
)
from tests.helpers.staff import add_staff_rows
from web.app import create_app

EDITOR = "editor@example.org"
KNOWN = ("news", "blogs", "publications", "events")


# ---------------------------------------------------------------- tags and the segment value


def test_tags_from_a_csv_cell_are_cleaned_and_kept_once():
    assert split_tags(" Member ; CIO;member;; council: county ") == ("member", "cio", "council: county")
    with pytest.raises(SegmentError, match="is not a tag"):
        clean_tag("<script>")


@given(st.lists(st.text(min_size=1, max_size=20), max_size=5))
def test_any_tag_either_cleans_to_a_stable_tag_or_is_refused_clearly(raw):
    for text in raw:
        try:
            tag = clean_tag(text)
        except SegmentError as exc:
            assert "is not a tag" in str(exc)
        else:
            assert clean_tag(tag) == tag and ";" not in tag and len(tag) <= 64


def test_a_segment_names_what_is_wrong():
    with pytest.raises(SegmentError, match="unknown section.*sport.*news, blogs"):
        Segment.build(sections=["sport"], known_sections=KNOWN)
    with pytest.raises(SegmentError, match="match 'most'"):
        Segment.build(tags=["cio"], match="most")
    assert Segment.build().as_json() is None and Segment.build().describe() == "every subscriber"
    both = Segment.build(tags=["CIO", "member"], match="all", sections=["blogs"], known_sections=KNOWN)
    assert both.describe() == "tagged cio and member; sections blogs only"
    assert Segment.from_json(both.as_json()) == both


def test_the_csv_tags_column_reaches_the_subscribers(db):
    text = ("email,name,tags\n"
            "a@example.org,Ann,member; CIO\n"
            "b@example.org,Bo,\n"
            "c@example.org,Cy,supplier\n")
    with db.session() as session:
        import_csv(session, text, filename="members.csv", now=NOW)
    again = "email,tags\na@example.org,board\nc@example.org,supplier\n"
    with db.session() as session:
        import_csv(session, again, filename="members2.csv", now=NOW + timedelta(days=1))
    with db.session() as session:
        tags = dict(session.execute(select(SubscriberRow.email, SubscriberRow.tags)).all())
        changes = session.scalars(select(SubscriberChangeRow)).all()
    assert tags == {"a@example.org": ["member", "cio", "board"], "b@example.org": [], "c@example.org": ["supplier"]}
    assert [(c.door, c.field, c.old, c.new) for c in changes] == [
        ("import", "tags", ["member", "cio"], ["member", "cio", "board"])]


def test_a_bad_tag_in_the_csv_is_named_with_its_line_and_nothing_is_imported():
    rows, problems = parse_subscriber_csv("email,tags\na@example.org,ok\nb@example.org,<b>bold</b>\n")
    assert [(p.line, p.reason) for p in problems] == [(3, "tags: '<b>bold</b>' is not a tag: use up to 64 letters, "
                                                          "digits, spaces or . : / + - _, starting with a letter or digit")]


# ---------------------------------------------------------------- the ledger


def _readers(db):
    add_items(db, ("news", "blogs", "publications"))
    add_readers(db, [None, ["news"], ["blogs"], None, None],
                tags=[["cio"], ["cio"], ["member"], ["member", "cio"], []])


def test_a_segment_sends_to_its_readers_with_only_its_sections(db, tmp_path):
    _readers(db)
    edition_id = build_and_approve(db, sectioned_config(tmp_path), approve=False)
    with db.session() as session:
        add_staff_rows(session, {EDITOR: "editor", APPROVER: "approver"})
        set_segment(session, edition_id, Segment.build(tags=["cio"], sections=["blogs", "news"]), by=EDITOR, now=NOW)
        size = segment_size(session, ledger.get_edition(session, edition_id), now=NOW)
        ledger.approve(session, "edition", edition_id, by=APPROVER, now=NOW)
    assert (size.recipients, size.emails, size.outside, size.active) == (3, 2, 2, 5)
    assert size.describe() == ("3 readers would get an email (tagged cio; sections blogs, news only), in 2 versions "
                               "by section; 2 of 5 active readers are outside the segment")
    config = sectioned_config(tmp_path, provider="sendgrid")
    with FakeSendGrid() as fake:
        summary = deliver_edition(db, config, now=NOW, edition_id=edition_id, secret_key="k",
                                  channel=SendGridChannel("SG.test-key", host=fake.url, timeout_s=10))
        got = {int(p["custom_args"]["subscriber_id"]): {s for s in ("news", "blogs", "publications")
                                                         if item_title(s, 1) in body["content"][0]["value"]}
               for body in fake.bodies for p in body["personalizations"]}
    assert got == {1: {"news", "blogs"}, 2: {"news"}, 4: {"news", "blogs"}}
    assert summary.sent and summary.accepted == 3


def test_changing_the_segment_voids_the_approval_and_is_audited(db, tmp_path):
    _readers(db)
    edition_id = build_and_approve(db, sectioned_config(tmp_path))
    with db.session() as session:
        add_staff_rows(session, {EDITOR: "editor"})
        assert set_segment(session, edition_id, Segment.build(tags=["member"]), by=EDITOR, now=NOW)
        assert not set_segment(session, edition_id, Segment.build(tags=["MEMBER"]), by=EDITOR, now=NOW)
        row = ledger.get_edition(session, edition_id)
        assert row.status == EditionStatus.DRAFT and not ledger.is_approved(session, "edition", edition_id)
        voided = ledger.latest_approval(session, "edition", edition_id)
        assert (voided.decision, voided.note, voided.segment) == ("voided", "segment changed", {
            "tags": ["member"], "match": "any", "sections": []})
        audit = session.scalars(select(AuditRow).where(AuditRow.action == "edit")).all()
        assert [a.actor for a in audit] == [EDITOR]
        why = ledger.why_not_approve(session, "edition", edition_id, by=EDITOR, now=NOW)
        assert why  # the one who set the segment is its editor: another approver must approve it
        ledger.approve(session, "edition", edition_id, by=APPROVER, now=NOW)
        approval = ledger.latest_approval(session, "edition", edition_id)
        assert approval.segment == {"tags": ["member"], "match": "any", "sections": []}


def test_the_ledger_refuses_a_send_for_another_segment_than_the_approved_one(db, tmp_path):
    _readers(db)
    edition_id = build_and_approve(db, sectioned_config(tmp_path))
    with db.session() as session:  # changed behind the ledger's back (not through set_segment)
        ledger.get_edition(session, edition_id).segment = {"tags": ["cio"], "match": "any", "sections": []}
    refused = "goes to tagged cio now, but .* approved it for every subscriber"
    with db.session() as session, pytest.raises(ledger.NotApproved, match=refused):
        ledger.mark_edition_sending(session, ledger.get_edition(session, edition_id))
    config = sectioned_config(tmp_path, provider="sendgrid")
    with FakeSendGrid() as fake:
        summary = deliver_edition(db, config, now=NOW, edition_id=edition_id, secret_key="k",
                                  channel=SendGridChannel("SG.test-key", host=fake.url, timeout_s=10))
        assert not fake.bodies and not summary.sent


def test_a_sent_edition_s_segment_cannot_change(db, tmp_path):
    _readers(db)
    edition_id = build_and_approve(db, sectioned_config(tmp_path))
    with db.session() as session:
        add_staff_rows(session, {EDITOR: "editor"})
        ledger.mark_edition_sending(session, ledger.get_edition(session, edition_id))
    with db.session() as session, pytest.raises(ledger.LedgerError, match="is sending: its segment can no longer"):
        set_segment(session, edition_id, Segment.build(tags=["cio"]), by=EDITOR, now=NOW)


# ---------------------------------------------------------------- the CLI


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Database, int]]:
    config_path = tmp_path / "syndicate.toml"
    text = desk_data.EXAMPLE_CONFIG.read_text("utf-8").replace('outbox_dir = "outbox"',
                                                               f'outbox_dir = "{tmp_path / "outbox"}"')
    config_path.write_text(text, "utf-8")
    db = connect(f"sqlite:///{tmp_path / 'ledger.db'}")
    built = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)
    edition_id = desk_data.seed_edition(db, parse_config(text), now=built)
    add_readers(db, [None, ["blogs"], ["news"]], tags=[["cio"], ["cio"], ["member"]])
    desk_data.seed_staff(db, EDITOR, "editor", now=built)
    desk_data.seed_staff(db, APPROVER, "approver", now=built)
    with db.session() as session:
        ledger.approve(session, "edition", edition_id, by=APPROVER, now=built)
    for key in ("SYNDICATE_SECRET_KEY", "SENDGRID_API_KEY"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("SYNDICATE_DATABASE_URL", f"sqlite:///{tmp_path / 'ledger.db'}")
    monkeypatch.setenv("SYNDICATE_CONFIG", str(config_path))
    monkeypatch.setenv("SYNDICATE_NOW", "2026-11-26T15:00:00+00:00")
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.chdir(tmp_path)
    yield db, edition_id
    db.dispose()


def _run(capsys, *words: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(words))
    out, err = capsys.readouterr()
    for line in (out + err).splitlines():
        assert len(line) <= 80, line
    return code, out, err


def test_the_cli_sets_a_segment_shows_its_size_and_voids_the_approval(cli, capsys):
    db, edition_id = cli
    code, out, _ = _run(capsys, "edition", "segment", str(edition_id))
    assert code == 0 and "3 readers would get an email (every subscriber)" in " ".join(out.split())
    code, out, err = _run(capsys, "edition", "segment", str(edition_id), "--tag", "CIO", "--section", "blogs",
                          "--by", EDITOR)
    assert code == 0, err
    said = " ".join((out + err).split())
    assert "2 readers would get an email (tagged cio; sections blogs only)" in said
    assert "the approval was for another segment and no longer applies: approve edition 1 again" in said
    code, out, _ = _run(capsys, "--json", "edition", "segment", str(edition_id))
    data = json.loads(out)
    assert data["recipients"] == 2 and data["segment"] == {"tags": ["cio"], "match": "any", "sections": ["blogs"]}
    code, out, _ = _run(capsys, "edition", "show", str(edition_id))
    shown = " ".join(out.split())
    assert "Goes to: 2 readers would get an email" in shown and "voided by editor@example.org" in shown


def test_the_cli_refuses_a_bad_segment_and_changes_nothing(cli, capsys):
    db, edition_id = cli
    code, out, err = _run(capsys, "edition", "segment", str(edition_id), "--section", "sport", "--by", EDITOR)
    assert code != 0 and "unknown section(s) sport" in err
    code, out, err = _run(capsys, "edition", "segment", str(edition_id), "--tag", "cio")
    assert code != 0 and "--by EMAIL" in err
    with db.session() as session:
        assert ledger.get_edition(session, edition_id).segment is None
        assert ledger.is_approved(session, "edition", edition_id)


# ---------------------------------------------------------------- the desk


def test_the_desk_sets_a_segment_and_shows_its_size_before_approving(db, tmp_path):
    config = desk_data.example_config(tmp_path)
    built = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)
    edition_id = desk_data.seed_edition(db, config, now=built)
    add_readers(db, [None, ["blogs"], ["news"], None], tags=[["cio"], ["cio"], ["member"], []],
                paused_until=[None, None, None, built + timedelta(days=30)])
    desk_data.seed_staff(db, EDITOR, "editor", now=built)
    app = create_app(config=config, db=db, secret_key="desk-secret-0123456789abcdef", now=lambda: built, env={})
    client = TestClient(app)
    assert desk_data.sign_in(client, EDITOR).status_code == 303
    page = client.get(f"/desk/editions/{edition_id}").text
    assert "3 readers would get an email" in page.replace("<strong>", "").replace("</strong>", "")
    assert "1 skipped: paused until 2026-12-26" in page
    token = desk_data.csrf_from(page)
    answer = client.post(f"/desk/editions/{edition_id}/segment", follow_redirects=True,
                         data={"csrf_token": token, "tags": "cio", "match": "any", "section-blogs": "1"})
    text = answer.text.replace("<strong>", "").replace("</strong>", "")
    assert answer.status_code == 200 and "2 readers would get an email" in text
    assert "tagged cio; sections blogs only" in text and "Saved: the edition goes to the segment" in text
    bad = client.post(f"/desk/editions/{edition_id}/segment", data={"csrf_token": token, "tags": "<x>"})
    assert bad.status_code >= 400 and "is not a tag" in bad.text
    with db.session() as session:
        assert ledger.get_edition(session, edition_id).segment["tags"] == ["cio"]
        assert session.scalars(select(ApprovalRow)).all() == []


def test_the_cli_tags_and_untags_a_subscriber_and_records_each_change(cli, capsys):
    db, _ = cli
    code, out, err = _run(capsys, "subscribers", "tag", "reader1@example.com", "Board", "--by", EDITOR)
    assert code == 0 and "reader1@example.com: tags cio, board" in out, err
    code, out, _ = _run(capsys, "--json", "subscribers", "untag", "reader1@example.com", "cio", "--by", EDITOR)
    assert json.loads(out) == {"email": "reader1@example.com", "tags": ["board"]}
    code, out, err = _run(capsys, "subscribers", "tag", "reader1@example.com", "<b>", "--by", EDITOR)
    assert code != 0 and "is not a tag" in err
    code, out, err = _run(capsys, "subscribers", "tag", "nobody@example.com", "cio", "--by", EDITOR)
    assert code != 0 and "there is no subscriber 'nobody@example.com'" in err
    with db.session() as session:
        changes = session.scalars(select(SubscriberChangeRow).order_by(SubscriberChangeRow.id)).all()
    assert [(c.door, c.old, c.new, c.by) for c in changes] == [
        ("cli", ["cio"], ["cio", "board"], EDITOR), ("cli", ["cio", "board"], ["board"], EDITOR)]
