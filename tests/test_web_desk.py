"""The desk's work: edits void approval, the two-person rule, scheduling, test sends, posts, history,
subscribers and the audit log; all through HTTP against a real ledger."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel
from sqlalchemy import select

from compose.config import Config
from state import deliveries, ledger
from state.models import AuditRow, BatchStatus, DeliveryBatchRow, EditionRow, SubscriberRow, ThreadRow
from tests.helpers import desk_data
from web.app import create_app

NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)
SECRET = "test-secret-key-0123456789abcdef"


class _Review(BaseModel):
    two_person_rule: bool = False


class _ReviewedConfig(Config):
    """The config with the `[review]` table proposed to the lead."""

    review: _Review = _Review()


@pytest.fixture
def desk(db, tmp_path):
    config = desk_data.example_config(tmp_path)
    edition_id = desk_data.seed_edition(db, config, now=NOW)
    app = create_app(config=config, db=db, secret_key=SECRET, now=lambda: NOW, env={})
    for email, role in (("ed@example.org", "editor"), ("ap@example.org", "approver"), ("boss@example.org", "admin")):
        desk_data.seed_staff(db, email, role, now=NOW)
    return app, db, edition_id


def _as(app, email) -> TestClient:
    client = TestClient(app)
    assert desk_data.sign_in(client, email).status_code == 303
    return client


def _post(client, path, data, page=None):
    token = desk_data.csrf_from(client.get(page or path.rsplit("/", 1)[0]).text)
    return client.post(path, data={**data, "csrf_token": token}, follow_redirects=False)


def test_edit_voids_the_approval_and_the_page_says_so(desk):
    app, db, eid = desk
    approver, editor = _as(app, "ap@example.org"), _as(app, "ed@example.org")
    assert _post(approver, f"/desk/editions/{eid}/approve", {"note": "fine"}).status_code == 303
    page = approver.get(f"/desk/editions/{eid}").text
    assert "The approval is current" in page and "ap@example.org" in page
    before = desk_data.edition(db, eid)
    response = _post(editor, f"/desk/editions/{eid}/edit", {"subject": before.subject, "intro": "A **new** intro."})
    assert response.status_code == 303 and response.headers["location"].endswith("done=voided")
    after = desk_data.edition(db, eid)
    assert after.status == "draft" and after.content_hash != before.content_hash
    assert "<strong>new</strong>" in after.html
    with db.session() as session, pytest.raises(ledger.NotApproved):
        ledger.require_approved(session, "edition", eid)
    page = editor.get(f"/desk/editions/{eid}").text
    assert "Needs approval again" in page


def test_edit_removes_and_reorders_items(desk):
    app, db, eid = desk
    editor = _as(app, "ed@example.org")
    row = desk_data.edition(db, eid)
    with db.session() as session:
        links = session.get(EditionRow, eid).items
        news = [(link.item_id, link.item.url, link.item.title) for link in links if link.section == "news"]
    assert len(news) == 3
    data = {"subject": row.subject, "intro": row.intro_markdown, f"remove-{news[0][0]}": "1",
            f"pos-{news[1][0]}": "2", f"pos-{news[2][0]}": "1"}
    assert _post(editor, f"/desk/editions/{eid}/edit", data).status_code == 303
    with db.session() as session:
        links = session.get(EditionRow, eid).items
        urls = [link.item.url for link in links if link.section == "news"]
    assert urls == [news[2][1], news[1][1]]
    assert news[0][2] not in desk_data.edition(db, eid).html


def test_pinning_an_item_puts_it_above_the_sections_and_keeps_it_through_edits(desk):
    app, db, eid = desk
    editor = _as(app, "ed@example.org")
    row = desk_data.edition(db, eid)
    with db.session() as session:
        links = session.get(EditionRow, eid).items
        pinned_id, pinned_title = next((link.item_id, link.item.title) for link in links if link.section == "publications")
    data = {"subject": row.subject, "intro": row.intro_markdown, "featured": str(pinned_id)}
    assert _post(editor, f"/desk/editions/{eid}/edit", data).status_code == 303
    edited = desk_data.edition(db, eid)
    assert edited.featured_item_id == pinned_id
    assert edited.html.index(pinned_title) < edited.html.index("News")
    assert _post(editor, f"/desk/editions/{eid}/edit", {"subject": row.subject, "intro": "New intro"}).status_code == 303
    assert desk_data.edition(db, eid).featured_item_id == pinned_id  # other edits keep the pin
    assert _post(editor, f"/desk/editions/{eid}/edit", {"subject": row.subject, "intro": "New intro",
                                                        "featured": ""}).status_code == 303
    assert desk_data.edition(db, eid).featured_item_id is None


def test_saving_without_a_change_keeps_the_approval(desk):
    app, db, eid = desk
    approver, editor = _as(app, "ap@example.org"), _as(app, "ed@example.org")
    _post(approver, f"/desk/editions/{eid}/approve", {})
    row = desk_data.edition(db, eid)
    response = _post(editor, f"/desk/editions/{eid}/edit", {"subject": row.subject, "intro": row.intro_markdown})
    assert response.headers["location"].endswith("done=unchanged")
    assert desk_data.edition(db, eid).status == "approved"


def test_two_person_rule_stops_the_last_editor_approving(db, tmp_path):
    base = desk_data.example_config(tmp_path)
    config = _ReviewedConfig.model_validate({**base.model_dump(mode="json"), "review": {"two_person_rule": True}})
    eid = desk_data.seed_edition(db, config, now=NOW)
    desk_data.seed_staff(db, "boss@example.org", "admin", now=NOW)
    desk_data.seed_staff(db, "ap@example.org", "approver", now=NOW)
    app = create_app(config=config, db=db, secret_key=SECRET, now=lambda: NOW, env={})
    boss = _as(app, "boss@example.org")
    assert _post(boss, f"/desk/editions/{eid}/edit", {"intro": "Edited by the boss"}).status_code == 303
    refused = _post(boss, f"/desk/editions/{eid}/approve", {})
    assert refused.status_code == 403 and "two-person rule" in refused.text
    assert desk_data.edition(db, eid).status == "draft"
    assert _post(_as(app, "ap@example.org"), f"/desk/editions/{eid}/approve", {}).status_code == 303
    assert desk_data.edition(db, eid).status == "approved"


def test_without_the_rule_the_editor_may_approve_their_own_edit(db, tmp_path):
    base = desk_data.example_config(tmp_path)
    config = Config.model_validate({**base.model_dump(mode="json"), "review": {"two_person_rule": False}})
    eid = desk_data.seed_edition(db, config, now=NOW)
    desk_data.seed_staff(db, "boss@example.org", "admin", now=NOW)
    app = create_app(config=config, db=db, secret_key=SECRET, now=lambda: NOW, env={})
    boss = _as(app, "boss@example.org")
    _post(boss, f"/desk/editions/{eid}/edit", {"intro": "mine"})
    assert _post(boss, f"/desk/editions/{eid}/approve", {}).status_code == 303


def test_reject_needs_a_note_and_records_it(desk):
    app, db, eid = desk
    approver = _as(app, "ap@example.org")
    assert _post(approver, f"/desk/editions/{eid}/reject", {"note": " "}).status_code == 409
    assert _post(approver, f"/desk/editions/{eid}/reject", {"note": "Lead with the cyber guide"}).status_code == 303
    assert desk_data.edition(db, eid).status == "rejected"
    assert "Lead with the cyber guide" in approver.get(f"/desk/editions/{eid}").text


def test_schedule_is_entered_in_the_org_zone_and_stored_in_utc(desk):
    app, db, eid = desk
    approver = _as(app, "ap@example.org")
    # 1 December is winter time in London: 09:30 local is 09:30 UTC; 1 July would be 08:30 UTC
    assert _post(approver, f"/desk/editions/{eid}/schedule", {"when": "2026-12-01T09:30"}).status_code == 303
    assert desk_data.edition(db, eid).scheduled_for == datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    assert _post(approver, f"/desk/editions/{eid}/schedule", {"when": "2027-07-01T09:30"}).status_code == 303
    assert desk_data.edition(db, eid).scheduled_for == datetime(2027, 7, 1, 8, 30, tzinfo=UTC)
    assert 'value="2027-07-01T09:30"' in approver.get(f"/desk/editions/{eid}").text
    assert _post(approver, f"/desk/editions/{eid}/schedule", {"when": "2020-01-01T09:30"}).status_code == 409
    assert _post(approver, f"/desk/editions/{eid}/schedule", {"when": "soon"}).status_code == 409


def test_cancel_stops_the_edition(desk):
    app, db, eid = desk
    assert _post(_as(app, "ap@example.org"), f"/desk/editions/{eid}/cancel", {}).status_code == 303
    assert desk_data.edition(db, eid).status == "cancelled"


def test_send_a_test_to_myself_writes_one_message_to_the_outbox(desk):
    app, db, eid = desk
    editor = _as(app, "ed@example.org")
    assert _post(editor, f"/desk/editions/{eid}/test", {}).status_code == 303
    outbox = app.state.syndicate.config.email.outbox_dir
    slug = desk_data.edition(db, eid).slug
    files = list((__import__("pathlib").Path(outbox) / "email" / f"{slug}-test").glob("*.eml"))
    assert len(files) == 1
    raw = files[0].read_text()
    assert "To: ed@example.org" in raw and "Subject: [Test]" in raw
    banner = " ".join(editor.get(f"/desk/editions/{eid}?done=tested-outbox").text.split())
    folder = (__import__("pathlib").Path(outbox) / "email" / f"{slug}-test").as_posix()
    assert f"written to the outbox as a file, in {folder}/" in banner and "sent to your address" not in banner


def test_a_test_through_sendgrid_says_it_was_sent_through_sendgrid(db, tmp_path):
    from tests.fakes.fake_sendgrid import FakeSendGrid

    config = desk_data.example_config(tmp_path)
    config = config.model_copy(update={"email": config.email.model_copy(update={"provider": "sendgrid"})})
    eid = desk_data.seed_edition(db, config, now=NOW)
    desk_data.seed_staff(db, "ed@example.org", "editor", now=NOW)
    with FakeSendGrid() as fake:
        app = create_app(config=config, db=db, secret_key=SECRET, now=lambda: NOW,
                         env={"SENDGRID_API_KEY": fake.api_key, "SENDGRID_API_HOST": fake.url})
        editor = _as(app, "ed@example.org")
        reply = _post(editor, f"/desk/editions/{eid}/test", {})
        assert reply.status_code == 303 and reply.headers["location"].endswith("done=tested")
        assert fake.received[0] == 1
        banner = " ".join(editor.get(reply.headers["location"]).text.split())
    assert "A test was sent to your address through SendGrid" in banner and "outbox" not in banner
    assert not (tmp_path / "outbox" / "email").exists()


def test_acknowledging_warnings_is_recorded(desk):
    app, db, eid = desk
    with db.session() as session:
        session.get(EditionRow, eid).warnings = ["the email is 120 kB: Gmail clips it"]
    editor = _as(app, "ed@example.org")
    assert "Gmail clips it" in editor.get(f"/desk/editions/{eid}").text
    approver = _as(app, "ap@example.org")
    assert _post(approver, f"/desk/editions/{eid}/approve", {}).status_code == 409  # not acknowledged yet
    assert _post(editor, f"/desk/editions/{eid}/acknowledge", {}).status_code == 303
    assert desk_data.edition(db, eid).warnings_acknowledged_by == "ed@example.org"
    assert _post(approver, f"/desk/editions/{eid}/approve", {}).status_code == 303


def test_thread_edit_voids_its_approval_and_counts_lengths(desk):
    app, db, _ = desk
    config = app.state.syndicate.config
    thread_ids = desk_data.seed_threads(db, config, now=NOW)
    tid = thread_ids[0]
    approver, editor = _as(app, "ap@example.org"), _as(app, "ed@example.org")
    assert _post(approver, f"/desk/threads/{tid}/approve", {}, page="/desk/threads").status_code == 303
    page = editor.get("/desk/threads").text
    assert "estimated X cost $0.200" in page  # one post with a link
    with db.session() as session:
        post_id = session.get(ThreadRow, tid).posts[0].id
    text = "Shorter post https://www.socitm.net/news/1"
    assert _post(editor, f"/desk/threads/{tid}/edit", {f"post-{post_id}": text}, page="/desk/threads").status_code == 303
    with db.session() as session:
        thread = session.get(ThreadRow, tid)
        assert thread.status == "draft" and thread.posts[0].text == text
        assert not ledger.is_approved(session, "thread", tid)
    count = editor.get("/desk/api/count", params={"network": "x", "text": text}).json()
    assert count == {"network": "x", "length": len("Shorter post ") + 23, "max": 280, "over": False, "cost": "0.200",
                     "bytes": len(text.encode()), "max_bytes": None, "why": ""}
    assert editor.get("/desk/api/count", params={"network": "x", "text": "é" * 300}).json()["over"] is True
    assert editor.get("/desk/api/count", params={"network": "myspace", "text": "x"}).status_code == 400


def test_history_resolves_an_ambiguous_batch(desk):
    app, db, eid = desk
    desk_data.seed_subscribers(db, 3, now=NOW)
    with db.session() as session:
        row = session.get(EditionRow, eid)
        deliveries.plan(session, row, batch_size=2, now=NOW, channel="outbox")
    with db.session() as session:
        claimed = deliveries.claim_next_batch(session, eid, worker="w1", now=NOW)
    with db.session() as session:
        deliveries.mark_ambiguous(session, claimed.batch_id, error="read timeout", now=NOW)
    approver = _as(app, "ap@example.org")
    history = approver.get("/desk/history").text
    assert "read timeout" in history and "It was sent" in history
    assert "read timeout" in approver.get("/desk").text
    who = approver.get(f"/desk/history/editions/{eid}", params={"status": "ambiguous"}).text
    assert "reader1@example.org" in who and "reader3@example.org" not in who
    response = _post(approver, f"/desk/batches/{claimed.batch_id}/resolve", {"action": "mark_sent"}, page="/desk/history")
    assert response.status_code == 303
    with db.session() as session:
        assert session.get(DeliveryBatchRow, claimed.batch_id).status == BatchStatus.ACCEPTED
        assert session.get(DeliveryBatchRow, claimed.batch_id).resolved_by == "ap@example.org"
    again = _post(approver, f"/desk/batches/{claimed.batch_id}/resolve", {"action": "resend"}, page="/desk/history")
    assert again.status_code == 409  # no longer ambiguous


def test_subscribers_search_suppress_and_export(desk):
    app, db, _ = desk
    desk_data.seed_subscribers(db, 3, now=NOW)
    with db.session() as session:
        session.add(SubscriberRow(email="=cmd@example.org", name="@formula", status="active", consent_source="x",
                                  created_at=NOW))
    boss = _as(app, "boss@example.org")
    page = boss.get("/desk/subscribers", params={"q": "reader2"}).text
    assert "reader2@example.org" in page and "reader1@example.org" not in page
    with db.session() as session:
        sid = session.scalars(select(SubscriberRow.id).where(SubscriberRow.email == "reader2@example.org")).one()
    assert _post(boss, f"/desk/subscribers/{sid}/suppress", {}, page="/desk/subscribers").status_code == 303
    with db.session() as session:
        assert session.get(SubscriberRow, sid).status == "unsubscribed"
    csv_text = boss.get("/desk/subscribers.csv").text
    assert csv_text.splitlines()[0].startswith("email,name,status")
    assert "reader2@example.org,Reader 2,unsubscribed" in csv_text
    assert "'=cmd@example.org,'@formula" in csv_text  # no formula injection in a spreadsheet


def test_audit_log_shows_who_did_what(desk):
    app, db, eid = desk
    editor, approver = _as(app, "ed@example.org"), _as(app, "ap@example.org")
    _post(editor, f"/desk/editions/{eid}/edit", {"intro": "Audited"})
    _post(approver, f"/desk/editions/{eid}/approve", {})
    _post(approver, f"/desk/editions/{eid}/schedule", {"when": "2026-12-03T10:00"})
    with db.session() as session:
        actions = [(a.actor, a.action) for a in session.scalars(
            select(AuditRow).where(AuditRow.subject_kind == "edition").order_by(AuditRow.id))]
    assert ("ed@example.org", "edit") in actions and ("ap@example.org", "approve") in actions
    assert ("ap@example.org", "schedule") in actions
    page = editor.get("/desk/audit", params={"kind": "edition"}).text
    assert "ed@example.org" in page and "schedule" in page


def test_staff_admin_adds_a_member_and_gets_a_link(desk):
    app, db, _ = desk
    boss = _as(app, "boss@example.org")
    response = _post(boss, "/desk/staff", {"email": "new@example.org", "role": "editor"}, page="/desk/staff")
    assert response.status_code == 200 and "http://127.0.0.1:8000/setup/" in response.text
    link = response.text.split("http://127.0.0.1:8000")[1].split("<")[0]
    assert TestClient(app).get(link).status_code == 200


def test_subscribers_export_streams_every_row_in_batches(desk, monkeypatch):
    """Read a few at a time (here 2), the download still holds every matching subscriber once, in
    id order, and the audit log counts them."""
    from web.subscribers import ExportLimits

    app, db, _ = desk
    desk_data.seed_subscribers(db, 7, now=NOW)
    monkeypatch.setattr(ExportLimits, "batch", 2)
    boss = _as(app, "boss@example.org")
    lines = boss.get("/desk/subscribers.csv").text.splitlines()
    with db.session() as session:
        emails = list(session.scalars(select(SubscriberRow.email).order_by(SubscriberRow.id)))
    assert len(emails) == 7 and [line.split(",")[0] for line in lines[1:]] == emails
    searched = boss.get("/desk/subscribers.csv", params={"q": "reader1"}).text.splitlines()
    assert [line.split(",")[0] for line in searched[1:]] == [e for e in emails if "reader1" in e]
    with db.session() as session:
        counted = [a.detail["rows"] for a in session.scalars(
            select(AuditRow).where(AuditRow.action == "subscribers.export").order_by(AuditRow.id))]
    assert counted == [7, len(searched) - 1]
