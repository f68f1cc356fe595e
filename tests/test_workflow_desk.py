"""A small team's week on the desk, over HTTP against a real ledger: roundup threads follow their
edition until edited by hand, over-length posts are refused where they are saved and approved,
roles and the two-person rule from every door (desk and CLI), what X costs, and an audit log
that says what changed."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from compose.config import Config
from compose.post_length import has_url
from compose.posts import counted
from flows.cli import main as cli_main
from flows.stages.edition import build_next_edition
from state.editions import edition_value
from state.models import AuditRow, EditionRow, ThreadRow, ThreadStatus
from state.threads import draft_roundup
from tests.helpers import desk_data
from web.app import create_app

NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)
SECRET = "test-secret-key-0123456789abcdef"


@pytest.fixture
def desk(db, tmp_path):
    """The example organisation's edition with its X roundup, and a team of three."""
    return _desk(db, tmp_path)


@pytest.fixture
def sqlite_desk(sqlite_db, tmp_path):
    """The same desk on the SQLite ledger only: for what runs once, not per database (the CLI)."""
    return _desk(sqlite_db, tmp_path)


def _desk(db, tmp_path):
    example = desk_data.example_config(tmp_path)  # served at a public address: X sees its links as links
    config = Config.model_validate({**example.model_dump(mode="json"),
                                    "edition": {**example.edition.model_dump(mode="json"),
                                                "public_url": "https://news.socitm.net"}})
    edition_id = desk_data.seed_edition(db, config, now=NOW)
    with db.session() as session:
        row = session.get(EditionRow, edition_id)
        (thread_id,) = draft_roundup(session, config, row, edition_value(session, row, config), now=NOW)
    app = create_app(config=config, db=db, secret_key=SECRET, now=lambda: NOW, env={})
    for email, role in (("ed@example.org", "editor"), ("ap@example.org", "approver"), ("boss@example.org", "admin")):
        desk_data.seed_staff(db, email, role, now=NOW)
    return app, db, edition_id, thread_id


def _as(app, email) -> TestClient:
    client = TestClient(app, base_url="https://testserver")  # the public URL is https: cookies are Secure
    assert desk_data.sign_in(client, email).status_code == 303
    return client


def _post(client, path, data, page):
    token = desk_data.csrf_from(client.get(page).text)
    return client.post(path, data={**data, "csrf_token": token}, follow_redirects=False)


def _texts(db, thread_id) -> list[str]:
    with db.session() as session:
        return [p.text for p in session.get(ThreadRow, thread_id).posts]


def _news(db, edition_id) -> list[tuple[int, str]]:
    with db.session() as session:
        return [(link.item_id, link.item.title) for link in session.get(EditionRow, edition_id).items
                if link.section == "news"]


def _edit_edition(client, edition_id, data):
    return _post(client, f"/desk/editions/{edition_id}/edit", data, f"/desk/editions/{edition_id}")


def _audit(db, **where) -> list[AuditRow]:
    with db.session() as session:
        query = select(AuditRow).order_by(AuditRow.id)
        for key, value in where.items():
            query = query.where(getattr(AuditRow, key) == value)
        return list(session.scalars(query))


def test_a_roundup_follows_its_edition_until_someone_edits_it_by_hand(desk):
    app, db, eid, tid = desk
    editor = _as(app, "ed@example.org")
    opening = _texts(db, tid)[0]
    assert "4 stories" in opening  # three news items and one publication
    news = _news(db, eid)
    removed_id, removed_title = news[0]
    assert any(removed_title in text for text in _texts(db, tid))

    assert _edit_edition(editor, eid, {f"remove-{removed_id}": "1"}).status_code == 303
    texts = _texts(db, tid)
    assert not any(removed_title in text for text in texts) and "3 stories" in texts[0]
    edit = _audit(db, subject_kind="thread", subject_id=tid, action="edit")[-1]
    assert edit.actor == "ed@example.org" and edit.detail["reason"] == f"edition {eid} changed"
    assert removed_title in str(edit.detail["changes"])  # the posts before and after

    with db.session() as session:  # a hand edit: the thread stops following
        first_post = session.get(ThreadRow, tid).posts[0].id
    hand = "Our pick of the week, by hand"
    threads = "/desk/threads"
    assert _post(editor, f"/desk/threads/{tid}/edit", {f"post-{first_post}": hand}, threads).status_code == 303
    _, second_title = _news(db, eid)[0]
    assert _edit_edition(editor, eid, {f"remove-{_news(db, eid)[0][0]}": "1"}).status_code == 303
    assert _texts(db, tid)[0] == hand and any(second_title in text for text in _texts(db, tid))
    page = editor.get(threads).text
    assert "The edition changed since this thread was written." in page and "replaces the hand edits" in page

    response = _post(editor, f"/desk/threads/{tid}/rebuild", {}, threads)
    assert response.status_code == 303 and response.headers["location"].startswith("/desk/threads?done=rebuilt")
    texts = _texts(db, tid)
    assert "2 stories" in texts[0] and not any(second_title in text for text in texts)
    assert "The edition changed since this thread was written." not in editor.get(threads).text


def test_one_story_is_one_story():
    assert [counted(n, "stories") for n in (0, 1, 2, 10)] == ["0 stories", "1 story", "2 stories", "10 stories"]


def test_the_thread_card_names_its_edition_and_send_time_and_what_each_post_costs(desk):
    app, db, eid, tid = desk
    page = _as(app, "ed@example.org").get("/desk/threads").text
    with db.session() as session:
        slug = session.get(EditionRow, eid).slug
        posts = len(session.get(ThreadRow, tid).posts)
    card = page[page.index(f'id="thread-{tid}"'):]
    assert f"roundup of edition {slug}" in card and "goes out with it, Thu 3 Dec 2026, 10:00 GMT" in card
    # a link in every post: $0.200 each, the total, and the cheaper placement one click away
    assert card.count('class="post-cost">$0.200<') == posts
    assert f"estimated X cost ${0.2 * posts:.3f}" in card
    assert "prices of 20 Apr 2026" in page
    cheaper = 0.2 + 0.015 * (posts - 1)
    assert f"would cost ${cheaper:.3f}" in card and f"saves ${0.2 * posts - cheaper:.3f}" in card


def test_the_cheaper_placement_is_one_click_and_is_kept_when_the_edition_changes(desk):
    app, db, eid, tid = desk
    editor = _as(app, "ed@example.org")
    response = _post(editor, f"/desk/threads/{tid}/rebuild", {"placement": "first"}, "/desk/threads")
    assert response.status_code == 303
    texts = _texts(db, tid)
    assert [has_url(text) for text in texts] == [True] + [False] * (len(texts) - 1)
    assert _edit_edition(editor, eid, {f"remove-{_news(db, eid)[0][0]}": "1"}).status_code == 303
    texts = _texts(db, tid)
    assert [has_url(text) for text in texts] == [True] + [False] * (len(texts) - 1)  # still one link
    assert "would cost" not in editor.get("/desk/threads").text  # nothing cheaper to offer now


def test_an_over_length_post_is_not_saved_and_the_desk_says_by_how_much(desk):
    app, db, _, tid = desk
    editor = _as(app, "ed@example.org")
    before = _texts(db, tid)
    with db.session() as session:
        post_id = session.get(ThreadRow, tid).posts[1].id
    response = _post(editor, f"/desk/threads/{tid}/edit", {f"post-{post_id}": "x" * 299}, "/desk/threads")
    assert response.status_code == 400
    assert "Not saved: on X post 2 is 299 / 280: 19 over" in response.text
    assert _texts(db, tid) == before


def test_an_approver_fixes_a_typo_and_another_approver_approves_it(desk):
    app, db, eid, _ = desk
    approver, boss = _as(app, "ap@example.org"), _as(app, "boss@example.org")
    page = f"/desk/editions/{eid}"
    response = _edit_edition(approver, eid, {"intro": "A typo, fixed."})  # approvers may edit
    assert response.status_code == 303 and response.headers["location"].endswith("done=edited")
    shown = approver.get(page).text
    assert re.search(r'id="approve-button" disabled', shown)
    assert "You cannot approve this: two-person rule: you changed edition" in shown
    assert "Changed by ap@example.org" in shown

    refused = _post(approver, f"{page}/approve", {}, page)  # the button is disabled; the ledger refuses anyway
    assert refused.status_code == 403 and "Two-person rule: you changed edition" in refused.text
    assert desk_data.edition(db, eid).status == "draft"
    (logged,) = _audit(db, action="approve-refused")
    assert logged.actor == "ap@example.org" and "two-person rule" in logged.detail["reason"]

    assert 'id="approve-button" disabled' not in boss.get(page).text
    assert _post(boss, f"{page}/approve", {}, page).status_code == 303
    after = boss.get(f"{page}?done=approved").text
    assert "Approved. It will be sent at its scheduled time." in after and "The approval is current" in after
    assert "Changed since the last approval" not in after and "must approve" not in after


def test_an_editor_sees_why_there_is_no_approve_button(desk):
    app, db, eid, tid = desk
    editor = _as(app, "ed@example.org")
    assert "approve-button" not in editor.get(f"/desk/editions/{eid}").text
    refused = _post(editor, f"/desk/threads/{tid}/approve", {}, "/desk/threads")
    assert refused.status_code == 403  # the web app's role check, before the ledger's


def test_an_over_length_thread_cannot_be_approved_and_the_button_says_why(desk):
    app, db, _, tid = desk
    with db.session() as session:  # over the limit behind the desk's back (e.g. a lower max_characters)
        session.get(ThreadRow, tid).posts[1].text = "y" * 281
    boss = _as(app, "boss@example.org")
    page = boss.get("/desk/threads").text
    assert "You cannot approve this: thread" in page and "post 2 is 281 / 280 (1 over)" in page
    refused = _post(boss, f"/desk/threads/{tid}/approve", {}, "/desk/threads")
    assert refused.status_code == 409 and "1 over" in refused.text
    with db.session() as session:
        assert session.get(ThreadRow, tid).status == ThreadStatus.DRAFT


def test_cancelling_an_edition_cancels_its_threads_with_the_reason(desk):
    app, db, eid, tid = desk
    boss = _as(app, "boss@example.org")
    assert _post(boss, f"/desk/editions/{eid}/cancel", {}, f"/desk/editions/{eid}").status_code == 303
    with db.session() as session:
        thread = session.get(ThreadRow, tid)
        assert thread.status == ThreadStatus.CANCELLED
        assert thread.status_reason == f"edition {eid} was cancelled by boss@example.org"
    assert f'id="thread-{tid}"' not in boss.get("/desk/threads").text
    assert f"edition {eid} was cancelled by boss@example.org" in boss.get(f"/desk/editions/{eid}").text


def test_the_audit_page_shows_what_an_edit_changed(desk):
    app, db, eid, _ = desk
    editor = _as(app, "ed@example.org")
    subject = desk_data.edition(db, eid).subject
    news = _news(db, eid)
    assert _edit_edition(editor, eid, {"subject": subject + " special", f"remove-{news[0][0]}": "1",
                                       "intro": "Welcome back"}).status_code == 303
    page = editor.get("/desk/audit", params={"kind": "edition"}).text
    assert "<dt>subject</dt>" in page and "<ins> special</ins>" in page
    assert f"<del>news: {news[0][1]}</del>" in page and "<ins>Welcome back</ins>" in page
    (edit,) = _audit(db, subject_kind="edition", action="edit")
    assert edit.actor == "ed@example.org"
    assert set(edit.detail["changes"]) >= {"subject", "intro", "items"}


def test_a_rejected_edition_is_replaced_and_its_threads_say_so(desk):
    app, db, eid, tid = desk
    config = app.state.syndicate.config
    approver = _as(app, "ap@example.org")
    page = f"/desk/editions/{eid}"
    assert _post(approver, f"{page}/reject", {"note": "Start again"}, page).status_code == 303
    with db.session() as session:
        result = build_next_edition(session, config, now=NOW, by="ap@example.org")
    assert result.built and result.edition_id != eid
    with db.session() as session:
        assert session.get(EditionRow, eid).status == "cancelled"
        thread = session.get(ThreadRow, tid)
        assert thread.status == ThreadStatus.CANCELLED
        assert thread.status_reason == f"edition {eid} was replaced by edition {result.edition_id} ({result_slug(session, result.edition_id)})"


def result_slug(session, edition_id: int) -> str:
    return session.get(EditionRow, edition_id).slug


def test_approving_from_the_command_line_needs_an_approver_and_refusals_are_logged(sqlite_desk, tmp_path, monkeypatch,
                                                                                   capsys):
    app, db, eid, _ = sqlite_desk
    monkeypatch.setenv("SYNDICATE_DATABASE_URL", str(db.engine.url))
    config = tmp_path / "syndicate.toml"
    config.write_text(desk_data.EXAMPLE_CONFIG.read_text("utf-8"), "utf-8")
    for by, message in (("anyone@anywhere.example", "'anyone@anywhere.example' is not a member of staff"),
                        ("ed@example.org", "ed@example.org is an editor: only approvers or admins may approve"),
                        ("", "'nobody' is not a member of staff")):
        assert cli_main(["--config", str(config), "approve", "edition", str(eid), "--by", by]) == 1
        assert message in capsys.readouterr().err.replace("\n", " ")
    assert desk_data.edition(db, eid).status == "draft"
    assert [a.actor for a in _audit(db, action="approve-refused")] == ["anyone@anywhere.example", "ed@example.org", ""]
    config.write_text(config.read_text("utf-8").replace('provider = "outbox"', 'provider = "sendgrid"', 1), "utf-8")
    monkeypatch.setenv("SENDGRID_API_KEY", "SG.test-key-never-used")  # a real channel, with loopback links
    monkeypatch.setenv("SENDGRID_API_HOST", "http://127.0.0.1:9")
    assert cli_main(["--config", str(config), "approve", "edition", str(eid), "--by", "AP@example.org"]) == 0
    said = capsys.readouterr()
    assert "approved by ap@example.org" in said.out
    assert "edition.public_url is http://127.0.0.1:8000, which only this machine can open" in " ".join(said.out.split())
    assert cli_main(["--config", str(config), "reject", "edition", str(eid), "--by", "ed@example.org",
                     "--note", "no"]) == 1
    assert desk_data.edition(db, eid).status == "approved"


def test_rescheduling_an_edition_moves_its_roundup_with_it(desk):
    app, db, eid, tid = desk
    approver = _as(app, "ap@example.org")
    page = f"/desk/editions/{eid}"
    assert _post(approver, f"{page}/schedule", {"when": "2026-12-01T09:30"}, page).status_code == 303
    with db.session() as session:
        assert session.get(ThreadRow, tid).scheduled_for == datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    assert "goes out with it, Tue 1 Dec 2026, 09:30 GMT" in approver.get("/desk/threads").text


def test_a_roundup_from_before_threads_followed_editions_is_never_rewritten_behind_anyones_back(desk):
    app, db, eid, tid = desk
    with db.session() as session:
        session.get(ThreadRow, tid).derived_hash = None  # as the migration leaves an older roundup
    before = _texts(db, tid)
    editor = _as(app, "ed@example.org")
    assert _edit_edition(editor, eid, {f"remove-{_news(db, eid)[0][0]}": "1"}).status_code == 303
    assert _texts(db, tid) == before
    assert "The edition changed since this thread was written." in editor.get("/desk/threads").text
