"""Held editions: a draft whose send time passed is held (never sent) and staff are told by email."""

from __future__ import annotations

import email
from datetime import UTC, datetime, timedelta
from email import policy
from pathlib import Path

from sqlalchemy import select

from connectors.channels.outbox_email import OutboxEmailChannel
from flows.notify import hold_overdue_editions, overdue_drafts
from flows.scheduling import send_run_key, upcoming_sends
from flows.settings import load_config
from state import events, ledger
from state.db import Database
from state.events import EDITION_HELD
from state.models import EditionRow, EditionStatus, EventRow, StaffRow
from tests.helpers.staff import add_staff_rows

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "syndicate.toml"


def _edition(db: Database, slug: str, *, scheduled_for: datetime | None, approve: bool = False) -> int:
    with db.session() as session:
        row = EditionRow(slug=slug, title="In Our View", subject=f"In Our View: {slug}", html="<p>x</p>", text="x",
                         content_hash="h" * 64, built_at=NOW - timedelta(days=1), scheduled_for=scheduled_for)
        session.add(row)
        session.flush()
        if approve:
            add_staff_rows(session, {"approver@socitm.example": "approver"})
            ledger.approve(session, "edition", row.id, by="approver@socitm.example", now=NOW - timedelta(hours=2))
        return row.id


class FailingChannel:
    name = "broken"
    max_batch_size = 1000

    def send_batch(self, message, recipients):  # type: ignore[no-untyped-def]
        raise ConnectionError("mail relay down")

    def close(self) -> None:
        return None


def test_an_overdue_draft_is_held_and_staff_are_emailed(db: Database, tmp_path: Path) -> None:
    overdue = _edition(db, "2026-11-26", scheduled_for=NOW - timedelta(minutes=1))
    future = _edition(db, "2026-12-03", scheduled_for=NOW + timedelta(days=7))
    approved = _edition(db, "2026-11-19", scheduled_for=NOW - timedelta(hours=1), approve=True)
    with db.session() as session:
        add_staff_rows(session, {"approver@socitm.example": "approver"})
        session.add(StaffRow(email="writer@socitm.example", role="editor", created_at=NOW))
    config = load_config(EXAMPLE)
    outbox = OutboxEmailChannel(tmp_path / "outbox", now=NOW)

    report = hold_overdue_editions(db, config, now=NOW, channel=outbox)

    assert (report.held, report.notified, report.errors) == ([overdue], [overdue], {})
    with db.session() as session:
        status = {row.id: row.status for row in session.scalars(select(EditionRow))}
        event = session.scalars(select(EventRow).where(EventRow.name == EDITION_HELD)).one()
    assert status == {overdue: EditionStatus.HELD, future: EditionStatus.DRAFT, approved: EditionStatus.APPROVED}
    assert event.resource_id == f"syndicate.edition.{overdue}" and "not approved" in event.payload["reason"]
    mails = sorted((tmp_path / "outbox" / "email").glob("*/*.eml"))
    to = sorted(email.message_from_bytes(p.read_bytes())["To"] for p in mails)
    assert to == ["Socitm In Our View <hello@socitm.example>", "approver@socitm.example"]  # reply-to + approvers
    body = email.message_from_bytes(mails[0].read_bytes(), policy=policy.default)
    assert body["Subject"] == "Held: In Our View: 2026-11-26"
    text = body.get_body(("plain",)).get_content()  # type: ignore[attr-defined]
    assert "give it a new send time in the review desk, then approve it" in text
    assert "Thursday 26 November 2026 09:59 GMT" in text  # in the edition's zone

    again = hold_overdue_editions(db, config, now=NOW + timedelta(minutes=5), channel=outbox)
    assert again.held == [] and len(list((tmp_path / "outbox" / "email").glob("*/*.eml"))) == 2


def test_a_failed_email_keeps_the_hold_and_reports_it(db: Database) -> None:
    overdue = _edition(db, "2026-11-26", scheduled_for=NOW - timedelta(seconds=1))
    report = hold_overdue_editions(db, load_config(EXAMPLE), now=NOW, channel=FailingChannel())
    assert report.held == [overdue] and report.notified == []
    assert "mail relay down" in report.errors[overdue]
    assert overdue_drafts(db, now=NOW) == []
    with db.session() as session:
        assert ledger.get_edition(session, overdue).status == EditionStatus.HELD


def test_a_draft_due_exactly_now_is_held_but_not_one_due_later(db: Database) -> None:
    due = _edition(db, "a", scheduled_for=NOW)
    _edition(db, "b", scheduled_for=NOW + timedelta(seconds=1))
    _edition(db, "c", scheduled_for=None)
    assert overdue_drafts(db, now=NOW) == [due]


def test_approved_editions_ahead_get_one_send_run_each(db: Database) -> None:
    later = _edition(db, "later", scheduled_for=NOW + timedelta(days=7), approve=True)
    sooner = _edition(db, "sooner", scheduled_for=NOW + timedelta(hours=1), approve=True)
    _edition(db, "draft", scheduled_for=NOW + timedelta(hours=2))
    _edition(db, "due", scheduled_for=NOW, approve=True)
    upcoming = upcoming_sends(db, now=NOW)
    assert [ident for ident, _ in upcoming] == [sooner, later]
    assert upcoming[0][1] == NOW + timedelta(hours=1)
    assert send_run_key(sooner, upcoming[0][1]) == f"send-edition:{sooner}:2026-11-26T11:00:00+00:00"


def test_failures_are_told_to_staff_once(db, tmp_path):
    """A failed thread, an ambiguous batch and a source failing 3 times in a row: one email, then nothing new."""
    from compose.models import FetchReport
    from flows.notify import notify_failures
    from state.items import store_report, sync_sources
    from state.models import EventRow

    config = _failure_config(tmp_path)
    with db.session() as session:
        rows = sync_sources(session, config.sources)
        source = next(iter(rows.values()))
        for attempt in range(4):
            store_report(session, source, FetchReport(source=source.name, status=500, error="the server returned 500",
                                                      hint="try later"), now=NOW + timedelta(minutes=attempt))
        events.record_event(session, events.DELIVERY_AMBIGUOUS, "syndicate.edition.1",
                            {"batch_id": 3, "error": "no answer from SendGrid"}, now=NOW)
        events.record_event(session, events.THREAD_FAILED, "syndicate.thread.2",
                            {"id": 2, "network": "x", "error": "credentials refused"}, now=NOW)
    told = notify_failures(db, config, now=NOW)
    assert len(told) == 3
    assert any("failed 3 times in a row" in line for line in told)
    assert any("ambiguous" in line for line in told) and any("x thread 2 stopped" in line for line in told)
    notices = sorted((tmp_path / "outbox" / "email").glob("staff-notice-failures-*/*.eml"))
    assert notices, "staff got an email through the outbox"
    assert notify_failures(db, config, now=NOW) == []  # told once
    with db.session() as session:
        assert session.query(EventRow).filter(EventRow.name == "syndicate.staff.notified").count() == 1


def _failure_config(tmp_path: Path):  # type: ignore[no-untyped-def]
    config = load_config(EXAMPLE)
    return config.model_copy(update={"email": config.email.model_copy(update={"outbox_dir": str(tmp_path / "outbox")})})
