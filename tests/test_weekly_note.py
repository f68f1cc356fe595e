"""The weekly note to staff on SQLite and PostgreSQL: gathered from a real week (an edition sent by the
deliver stage, provider events, clicks, a failing source, drafts waiting, a pause), sent through the
configured email channel (the outbox here) to admins and approvers, and never twice for one week:
a second run that week sends nothing and says why, a failed send is tried again, a send that may
have left is never repeated."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, date, datetime, timedelta
from email.message import Message
from pathlib import Path

import pytest
from sqlalchemy import select

from compose.models import FetchReport
from connectors.channels.base import BatchReceipt, OutboundEmail, Recipient
from connectors.errors import AmbiguousError, TransientError
from flows.weekly_note import SLUG_PREFIX, send_weekly_note
from state import pauses, provider_events
from state.items import store_report, sync_sources
from state.models import AuditRow, StaffRow, WeeklyNoteRow
from state.weekly_note import note_week
from tests.helpers import desk_data, report_data

SENT = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)  # Thu 3 Dec 2026
MONDAY = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)  # the note's time: Mon 7 Dec, 08:00 GMT
WEEK = date(2026, 11, 30)
STAFF = {"boss@example.org": "admin", "ap@example.org": "approver", "ed@example.org": "editor",
         "gone@example.org": "admin"}


@pytest.fixture
def week(db, tmp_path):
    config = desk_data.example_config(tmp_path)
    edition_id = report_data.send_edition(db, config, now=SENT, subscribers=20)
    people = report_data.recipients(db)
    with db.session() as session:
        provider_events.apply_provider_events(session, [
            *report_data.events_for(edition_id, people[:18], "delivered", at=SENT),
            *report_data.events_for(edition_id, people[18:19], "bounce", at=SENT, type="bounce", reason="550"),
            *report_data.events_for(edition_id, people[:1], "spamreport", at=SENT)], now=SENT + timedelta(hours=1))
    report_data.click_items(db, edition_id, [2, 9, 0, 4], now=SENT + timedelta(hours=1))
    desk_data.seed_threads(db, config, now=SENT)
    with db.session() as session:
        rows = sync_sources(session, config.sources)
        name = config.sources[1].name
        for _ in range(3):
            store_report(session, rows[name], FetchReport(source=name, error="HTTP 503 Service Unavailable",
                                                          hint="the site is down: it is tried again", status=503),
                         now=SENT + timedelta(days=1))
        pauses.pause(session, channels=["x"], reason="the X account is being checked", by=report_data.APPROVER,
                     now=SENT + timedelta(days=2))
        for address, role in STAFF.items():
            session.add(StaffRow(email=address, role=role, failed_logins=0, created_at=SENT))
        session.flush()
        session.scalar(select(StaffRow).where(StaffRow.email == "gone@example.org")).disabled_at = SENT
    return config, edition_id, name


def _outbox(config) -> list[Message]:  # type: ignore[no-untyped-def]
    folder = Path(config.email.outbox_dir) / "email"
    return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in sorted(folder.glob(f"{SLUG_PREFIX}-*/*.eml"))]


def _text(message: Message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            return part.get_payload(decode=True).decode()
    raise AssertionError("no text part")


def test_the_week_runs_monday_to_sunday_before_the_note_in_the_zone(week):
    config, _, _ = week
    assert note_week(MONDAY, config)[0] == WEEK
    assert note_week(MONDAY + timedelta(days=2), config)[0] == WEEK  # sent by hand on Wednesday: the same week
    assert note_week(datetime(2026, 12, 6, 23, 59, tzinfo=UTC), config)[0] == date(2026, 11, 23)
    summer = datetime(2027, 6, 6, 23, 30, tzinfo=UTC)  # Monday 00:30 BST: the new week has begun in London
    assert note_week(summer, config)[0] == date(2027, 5, 31)


def test_the_note_goes_to_admins_and_approvers_once_and_says_what_happened(week, db):
    config, edition_id, failing = week
    outcome = send_weekly_note(db, config, now=MONDAY)
    assert outcome.sent and outcome.week_start == WEEK
    assert sorted(outcome.recipients) == ["ap@example.org", report_data.APPROVER, "boss@example.org"]
    messages = _outbox(config)
    assert sorted(str(m["To"]) for m in messages) == sorted(outcome.recipients)  # not the editor, not the disabled admin
    note = messages[0]
    assert str(note["Subject"]) == "In Our View: the week of 30 Nov – 6 Dec 2026"
    text = _text(note)
    assert "(sent Thu 3 Dec, 10:00 GMT)" in text
    assert "20 recipients, 18 delivered, 1 bounced (5.0%), 1 complaints (5.56%), 0 unsubscribed, 15 clicks" in text
    assert ("Most clicked: Socitm president on AI in public services (9); Designing services with residents (4); "
            "Councils join the digital skills compact (2)") in text
    assert f"{failing}: failed 3 time(s) in a row: HTTP 503 Service Unavailable" in text
    assert "X is paused by approver@socitm.example since Sat 5 Dec 2026, 10:00 GMT: the X account is being checked" in text
    assert "- 4 thread(s) of posts wait for approval: http://127.0.0.1:8000/desk/threads" in text
    with db.session() as session:
        record = session.scalar(select(WeeklyNoteRow).where(WeeklyNoteRow.week_start == WEEK))
        assert record.sent_at == MONDAY and record.claimed_by == "the weekly-note schedule"
        assert session.scalar(select(AuditRow.action).where(AuditRow.subject_kind == "weekly_note")) == "weekly_note.sent"

    again = send_weekly_note(db, config, now=MONDAY + timedelta(days=2), by="boss@example.org")
    assert not again.sent and "never sent twice" in again.said and "went on 2026-12-07 08:00 UTC" in again.said
    assert len(_outbox(config)) == 3

    following = send_weekly_note(db, config, now=MONDAY + timedelta(days=7))
    assert following.sent and following.week_start == date(2026, 12, 7)
    assert "Nothing went out this week." in _text(_outbox(config)[-1])
    assert len(_outbox(config)) == 6


class _Failing:
    """A recording email channel (our own protocol) that raises what it is given, then sends."""

    max_batch_size = 1000

    def __init__(self, error: Exception | None) -> None:
        self.error, self.sent = error, []  # type: ignore[var-annotated]

    def send_batch(self, message: OutboundEmail, recipients: list[Recipient]) -> BatchReceipt:
        if self.error is not None:
            raise self.error
        self.sent.append((message.subject, [r.email for r in recipients]))
        return BatchReceipt(accepted=tuple(r.subscriber_id for r in recipients))

    def close(self) -> None:
        pass


def test_a_failed_send_is_tried_again_and_a_send_that_may_have_left_is_never_repeated(week, db):
    config, _, _ = week
    with pytest.raises(TransientError):
        send_weekly_note(db, config, now=MONDAY, channel=_Failing(TransientError("connection refused")))
    retry = _Failing(None)
    assert send_weekly_note(db, config, now=MONDAY + timedelta(minutes=5), channel=retry).sent
    assert len(retry.sent) == 1
    with db.session() as session:
        actions = list(session.scalars(select(AuditRow.action).where(AuditRow.subject_kind == "weekly_note")
                                       .order_by(AuditRow.id)))
    assert actions == ["weekly_note.failed", "weekly_note.sent"]

    later = MONDAY + timedelta(days=7)
    with pytest.raises(AmbiguousError):
        send_weekly_note(db, config, now=later, channel=_Failing(AmbiguousError("timed out after sending")))
    never = _Failing(None)
    outcome = send_weekly_note(db, config, now=later + timedelta(hours=1), channel=never)
    assert not outcome.sent and never.sent == []
    assert "was being sent since 2026-12-14 08:00 UTC" in outcome.said and "may have gone" in outcome.said


def test_off_or_nobody_to_tell_sends_nothing_and_says_why(week, db):
    config, _, _ = week
    off = config.model_copy(update={"weekly_note": config.weekly_note.model_copy(update={"enabled": False})})
    outcome = send_weekly_note(db, off, now=MONDAY)
    assert not outcome.sent and "[weekly_note] enabled = false" in outcome.said
    editors_only = config.model_copy(update={"weekly_note": config.weekly_note.model_copy(update={"roles": ("editor",)})})
    with db.session() as session:
        session.scalar(select(StaffRow).where(StaffRow.email == "ed@example.org")).disabled_at = SENT
    outcome = send_weekly_note(db, editors_only, now=MONDAY)
    assert not outcome.sent and "no member of staff has one of the roles editor" in outcome.said
    assert _outbox(config) == []
    with db.session() as session:
        assert session.scalar(select(WeeklyNoteRow)) is None


def test_the_desk_shows_this_weeks_note_and_whether_it_went(week, db):
    import html as markup
    import re

    from fastapi.testclient import TestClient

    from web.app import create_app

    config, edition_id, failing = week
    desk_data.seed_staff(db, "viewer@example.org", "editor", now=SENT)
    app = create_app(config=config, db=db, secret_key=report_data.SECRET, now=lambda: MONDAY + timedelta(hours=1),
                     env={})
    client = TestClient(app)
    assert desk_data.sign_in(client, "viewer@example.org").status_code == 303

    def said() -> str:
        page = client.get("/desk/weekly-note")
        assert page.status_code == 200
        return " ".join(markup.unescape(re.sub(r"<[^>]+>", " ", page.text)).split())

    before = said()
    assert "In Our View: the week of 30 Nov – 6 Dec 2026" in before
    assert ("Not sent yet: it goes Monday at 08:00 (Europe/London) to approver@socitm.example, boss@example.org, "
            "ap@example.org") in before
    assert f"{failing} failed 3 time(s) in a row: HTTP 503 Service Unavailable" in before
    assert "X is paused by approver@socitm.example" in before and "4 thread(s) of posts wait for approval" in before
    assert f'href="/desk/reports/editions/{edition_id}"' in client.get("/desk/weekly-note").text
    send_weekly_note(db, config, now=MONDAY)
    assert "Sent Mon 7 Dec 2026, 08:00 GMT to approver@socitm.example, boss@example.org, ap@example.org." in said()
