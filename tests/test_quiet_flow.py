"""Quiet time through the real stages on a real ledger (SQLite and PostgreSQL): a build whose send
time falls in quiet time moves it and records why; a thread drafted in its network's quiet time
moves; a send or post due inside quiet time that was not moved waits and says why, and goes out
once, later; an admin's override (with a reason, audited) lets it go at the time it was due."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from compose.calendar import QuietCalendar
from compose.config import Config
from connectors.channels.outbox_posts import OutboxPostChannel
from flows.settings import parse_config
from flows.stages.deliver import deliver_edition
from flows.stages.edition import build_edition_and_threads
from flows.stages.publish import publish_due_posts
from state import ledger, quiet
from state.db import Database
from state.models import AuditRow, DeliveryRow, EditionRow, EditionStatus, PostStatus, ThreadRow, ThreadStatus
from tests.helpers.desk_data import EXAMPLE_CONFIG, seed_items, seed_subscribers
from tests.helpers.staff import add_staff_rows

SECRET = "test-secret-key-not-for-production"
CHRISTMAS = """
[calendar]
holidays = "england"

[[calendar.periods]]
name = "Christmas shutdown"
start = 2027-12-20
end = 2027-12-24
channels = ["email"]

[[calendar.windows]]
channel = "email"
days = "weekdays"
start = "08:00"
end = "18:00"

[[calendar.windows]]
channel = "x"
days = "weekdays"
start = "09:00"
end = "17:30"
"""


def config_with(tmp_path: Path, calendar: str = "") -> Config:
    """The example config with its outbox under `tmp_path`, and `calendar` as its [calendar] table."""
    text = EXAMPLE_CONFIG.read_text("utf-8").replace('outbox_dir = "outbox"', f'outbox_dir = "{tmp_path / "outbox"}"')
    head, _, _ = text.partition("\n[calendar]\n")
    return parse_config(head + "\n" + calendar)


def london(text: str) -> datetime:
    from zoneinfo import ZoneInfo

    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo("Europe/London")).astimezone(UTC)


def build(db: Database, config: Config, now: datetime) -> int:
    seed_items(db, config, now=now)
    with db.session() as session:
        built = build_edition_and_threads(session, config, now=now)
    assert built["built"], built["reason"]
    return int(built["id"])


def approve_all(db: Database, edition_id: int, now: datetime) -> None:
    with db.session() as session:
        add_staff_rows(session)
        ledger.approve(session, "edition", edition_id, by="approver@socitm.example", now=now)
        for thread in ledger.edition_threads(session, edition_id):
            ledger.approve(session, "thread", thread.id, by="approver@socitm.example", now=now)


def sent_to(db: Database, edition_id: int) -> int:
    with db.session() as session:
        return len(session.scalars(select(DeliveryRow.id).where(DeliveryRow.edition_id == edition_id)).all())


def audit_actions(db: Database, kind: str, ident: int) -> list[str]:
    with db.session() as session:
        return list(session.scalars(select(AuditRow.action).where(AuditRow.subject_kind == kind, AuditRow.subject_id == ident)
                                    .order_by(AuditRow.id)))


def test_a_build_whose_send_time_is_quiet_moves_it_and_says_why(db: Database, tmp_path: Path) -> None:
    config = config_with(tmp_path, CHRISTMAS)
    built_at = london("2027-12-16 14:00")  # the next send slot is Thursday 23 December 10:00
    edition_id = build(db, config, built_at)
    calendar = QuietCalendar.from_config(config)
    with db.session() as session:
        row = session.get(EditionRow, edition_id)
        assert row is not None
        # 20-24 Dec shutdown (email), 25-28 Dec bank holidays (with the observed days), then email's hours
        assert row.scheduled_for == london("2027-12-29 08:00")
        note = quiet.quiet_note(session, calendar, row)
        assert note is not None and note.state == "moved"
        assert note.due_at == london("2027-12-23 10:00") and note.goes_at == london("2027-12-29 08:00")
        assert note.reasons[0] == "Christmas shutdown"
        assert "Christmas Day (bank holiday in England, observed)" in note.reasons
        assert note.sentence(config.zone) == (
            "moved by quiet time from Thu 23 Dec 2027 10:00 GMT to Wed 29 Dec 2027 08:00 GMT: "
            + "; ".join(note.reasons))
        roundup = ledger.edition_threads(session, edition_id)[0]
        assert roundup.network == "x"
        # x is not in the shutdown, and 08:00 is before x's hours: the roundup moves again, on its own
        assert roundup.scheduled_for == london("2027-12-29 09:00")
        thread_note = quiet.quiet_note(session, calendar, roundup)
        assert thread_note is not None and thread_note.due_at == london("2027-12-29 08:00")
    assert audit_actions(db, "edition", edition_id)[:2] == ["quiet-move", "build"]


def test_without_a_calendar_nothing_moves(db: Database, tmp_path: Path) -> None:
    config = config_with(tmp_path)
    edition_id = build(db, config, london("2027-12-16 14:00"))
    with db.session() as session:
        row = session.get(EditionRow, edition_id)
        assert row is not None and row.scheduled_for == london("2027-12-23 10:00")
        assert quiet.quiet_note(session, QuietCalendar.from_config(config), row) is None
        assert quiet.move_record(session, "edition", edition_id) is None


def test_a_send_due_in_quiet_time_that_was_not_moved_waits_then_goes_once(db: Database, tmp_path: Path) -> None:
    plain, calm = config_with(tmp_path), config_with(tmp_path, CHRISTMAS)
    edition_id = build(db, plain, london("2027-12-16 14:00"))  # built before [calendar] was set
    approve_all(db, edition_id, london("2027-12-17 09:00"))
    with db.session() as session:
        seed_subscribers(db, 3, now=london("2027-12-01 09:00"))
    due = london("2027-12-23 10:00")
    summary = deliver_edition(db, calm, now=due, secret_key=SECRET)
    assert not summary.sent and sent_to(db, edition_id) == 0
    assert summary.message.startswith(f"edition {edition_id} waits: quiet time on email (Christmas shutdown")
    assert "it goes out at Wed 29 Dec 2027 08:00 GMT" in summary.message
    assert "syndicate override-quiet edition" in summary.message
    with db.session() as session:
        row = session.get(EditionRow, edition_id)
        assert row is not None and row.status == EditionStatus.APPROVED
        assert row.scheduled_for == london("2027-12-29 08:00")
    # not due on the days between; due, and sent once, when quiet time ends
    assert deliver_edition(db, calm, now=london("2027-12-27 12:00"), secret_key=SECRET).message == "no approved edition is due"
    assert deliver_edition(db, calm, now=london("2027-12-29 08:00"), secret_key=SECRET).sent
    assert sent_to(db, edition_id) == 3
    again = deliver_edition(db, calm, now=london("2027-12-29 09:00"), secret_key=SECRET)
    assert again.message == "no approved edition is due" and sent_to(db, edition_id) == 3
    assert "quiet-wait" in audit_actions(db, "edition", edition_id)


def test_sending_an_edition_by_hand_in_quiet_time_waits_too(db: Database, tmp_path: Path) -> None:
    config = config_with(tmp_path, CHRISTMAS)
    edition_id = build(db, config, london("2027-12-16 14:00"))
    approve_all(db, edition_id, london("2027-12-17 09:00"))
    seed_subscribers(db, 2, now=london("2027-12-01 09:00"))
    summary = deliver_edition(db, config, now=london("2027-12-18 20:00"), edition_id=edition_id, secret_key=SECRET)
    assert "waits: quiet time on email (outside email's sending hours (weekdays 08:00-18:00); Christmas shutdown" \
        in summary.message
    assert sent_to(db, edition_id) == 0


def test_an_admin_override_with_a_reason_sends_at_the_time_it_was_due(db: Database, tmp_path: Path) -> None:
    config = config_with(tmp_path, CHRISTMAS)
    calendar = QuietCalendar.from_config(config)
    edition_id = build(db, config, london("2027-12-16 14:00"))
    approve_all(db, edition_id, london("2027-12-17 09:00"))
    seed_subscribers(db, 2, now=london("2027-12-01 09:00"))
    at = london("2027-12-17 10:00")
    with db.session() as session:
        with pytest.raises(ledger.NotAllowed, match="only admins may override quiet time for edition"):
            quiet.override(session, calendar, "edition", edition_id, by="approver@socitm.example", reason="urgent", now=at)
        with pytest.raises(ledger.LedgerError, match="needs a reason"):
            quiet.override(session, calendar, "edition", edition_id, by="admin@socitm.example", reason="  ", now=at)
        with pytest.raises(ledger.NotStaff):
            quiet.override(session, calendar, "edition", edition_id, by="nobody@example.org", reason="x", now=at)
    with db.session() as session:
        quiet.override(session, calendar, "edition", edition_id, by="ADMIN@socitm.example",
                       reason="Urgent safety notice agreed with the CEO", now=at)
    with db.session() as session:
        row = session.get(EditionRow, edition_id)
        assert row is not None and row.scheduled_for == london("2027-12-23 10:00")
        note = quiet.quiet_note(session, calendar, row)
        assert note is not None and note.state == "overridden"
        assert note.sentence(config.zone) == (
            "quiet time overridden by admin@socitm.example on Fri 17 Dec 2027 10:00 GMT: "
            "\u201cUrgent safety notice agreed with the CEO\u201d; it goes out at Thu 23 Dec 2027 10:00 GMT (inside: "
            "Christmas shutdown; Christmas Day (bank holiday in England); "
            "outside email's sending hours (weekdays 08:00-18:00); Christmas Day (bank holiday in England, observed); Boxing Day (bank holiday in England, observed))")
        # its roundup follows it back, and is then held by x's own quiet time only if there is one then
        roundup = ledger.edition_threads(session, edition_id)[0]
        assert roundup.scheduled_for == london("2027-12-23 10:00")
        entry = session.scalars(select(AuditRow).where(AuditRow.action == "quiet-override")).one()
        assert entry.actor == "admin@socitm.example" and entry.detail["reason"] == "Urgent safety notice agreed with the CEO"
        assert entry.detail["previous"] == london("2027-12-29 08:00").isoformat()
    summary = deliver_edition(db, config, now=london("2027-12-23 10:00"), secret_key=SECRET)
    assert summary.sent and sent_to(db, edition_id) == 2


def test_an_item_post_drafted_in_quiet_time_moves_and_publishes_once_when_it_ends(db: Database, tmp_path: Path) -> None:
    from state.threads import draft_item_posts

    config = config_with(tmp_path, CHRISTMAS)
    evening = london("2027-06-02 19:00")  # a Wednesday, after x's hours
    seed_items(db, config, now=evening)
    with db.session() as session:
        add_staff_rows(session)
        ids = draft_item_posts(session, config, now=evening)
        assert ids
        for ident in ids:
            ledger.approve(session, "thread", ident, by="approver@socitm.example", now=evening)
        times = {session.get(ThreadRow, ident).scheduled_for for ident in ids}  # type: ignore[union-attr]
    assert times == {london("2027-06-03 09:00")}

    def channel_for(network: str) -> OutboxPostChannel:
        return OutboxPostChannel(network, tmp_path / "outbox")

    assert publish_due_posts(db.sessions, config, now=evening, channel_for=channel_for).posted == 0
    assert publish_due_posts(db.sessions, config, now=london("2027-06-03 08:59"), channel_for=channel_for).posted == 0
    first = publish_due_posts(db.sessions, config, now=london("2027-06-03 09:00"), channel_for=channel_for, sleep=lambda s: None)
    assert first.posted >= 1
    with db.session() as session:
        posted = session.scalars(select(ThreadRow).where(ThreadRow.status == ThreadStatus.PUBLISHED)).all()
        assert all(p.status == PostStatus.POSTED and p.posted_at >= london("2027-06-03 09:00")
                   for t in posted for p in t.posts)


def test_a_post_due_in_quiet_time_that_was_not_moved_waits_and_says_why(db: Database, tmp_path: Path) -> None:
    from state.threads import draft_item_posts

    plain, calm = config_with(tmp_path), config_with(tmp_path, CHRISTMAS)
    noon = london("2027-06-05 12:00")  # a Saturday: x posts on weekdays only under `calm`
    seed_items(db, plain, now=noon)
    with db.session() as session:
        add_staff_rows(session)
        ids = draft_item_posts(session, plain, now=noon)
        for ident in ids:
            ledger.approve(session, "thread", ident, by="approver@socitm.example", now=noon)
    summary = publish_due_posts(db.sessions, calm, now=noon, channel_for=lambda n: OutboxPostChannel(n, tmp_path / "o"))
    assert summary.posted == 0
    assert summary.waiting and all("waits: quiet time on x (outside x's posting hours (weekdays 09:00-17:30))" in w
                                   for w in summary.waiting)
    assert all("it goes out at Mon 7 Jun 2027 09:00 BST" in w for w in summary.waiting)
    with db.session() as session:
        assert {session.get(ThreadRow, i).scheduled_for for i in ids} == {london("2027-06-07 09:00")}  # type: ignore[union-attr]
        assert len(quiet.open_notes(session, QuietCalendar.from_config(calm))) == len(ids)


def test_an_override_of_a_thread_is_audited_and_lets_it_post(db: Database, tmp_path: Path) -> None:
    from state.threads import draft_item_posts

    config = config_with(tmp_path, CHRISTMAS)
    calendar = QuietCalendar.from_config(config)
    evening = london("2027-06-02 19:00")
    seed_items(db, config, now=evening)
    with db.session() as session:
        add_staff_rows(session)
        ident = draft_item_posts(session, config, now=evening)[0]
        ledger.approve(session, "thread", ident, by="approver@socitm.example", now=evening)
        quiet.override(session, calendar, "thread", ident, by="admin@socitm.example", reason="Breaking news", now=evening)
        assert session.get(ThreadRow, ident).scheduled_for == evening  # type: ignore[union-attr]
    summary = publish_due_posts(db.sessions, config, now=evening + timedelta(minutes=1),
                                channel_for=lambda n: OutboxPostChannel(n, tmp_path / "o"), thread_id=ident)
    assert summary.posted == 1 and summary.threads_done == [ident]
    assert audit_actions(db, "thread", ident).count("quiet-override") == 1
