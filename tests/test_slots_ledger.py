"""Posting slots in the ledger (state.slots), on SQLite and PostgreSQL: approved item posts take the
next free slot in approval order, keep it through an edit while it is ahead, take the next one
when it passed; roundups and staff-fixed times keep their time; moves are audited and keep the
approval; two workers racing for one slot never both get it; publish waits for the slot."""

from __future__ import annotations

import threading
import time as clock
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from compose.config import Config
from compose.threads import thread_hash
from connectors.channels.outbox_posts import OutboxPostChannel
from flows.stages.publish import publish_due_posts
from state import ledger
from state.db import Database
from state.models import AuditRow, PostRow, PostStatus, ThreadRow, ThreadSlotRow, ThreadStatus
from state.slots import assign_waiting, board, free_slots, move_thread, slot_of, taken_slots
from state.threads import write_posts
from tests.helpers.staff import add_staff_rows

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)  # Monday 7 December 2026, 08:00 in London (GMT)
APPROVER, OTHER, EDITOR = "approver@socitm.example", "a@socitm.example", "editor@socitm.example"


def make_config(tmp_path: Path, slots: list[str] | None = None, calendar: dict | None = None, **x: object) -> Config:
    return Config.model_validate({
        "organisation": {"name": "Example Org", "site_url": "https://example.org", "postal_address": "1 High St"},
        "edition": {"from_email": "news@example.org", "from_name": "Example News", "reply_to": "ed@example.org"},
        "sections": [{"key": "news", "title": "News"}],
        "social": {"outbox_dir": str(tmp_path / "outbox"),
                   "x": {"slots": slots if slots is not None else ["weekdays 09:00", "weekdays 13:00"], **x}},
        **({"calendar": calendar} if calendar else {}),
    })


def london(*args: int) -> datetime:
    return datetime(*args, tzinfo=LONDON).astimezone(UTC)  # type: ignore[arg-type,misc]


def add_thread(db: Database, n: int, *, kind: str = "item", network: str = "x") -> int:
    texts = [f"Post {n}: councils share what works https://example.org/{n}"]
    with db.session() as session:
        add_staff_rows(session)
        row = ledger.create_thread(session, network=network, key=f"{kind}:{n}", kind=kind, texts=texts,
                                   content_hash=thread_hash(texts), now=NOW - timedelta(hours=2),
                                   scheduled_for=NOW - timedelta(hours=2))
        session.commit()
        return row.id


def approve(db: Database, config: Config, thread_id: int, *, now: datetime = NOW, by: str = APPROVER) -> datetime | None:
    with db.session() as session:
        ledger.approve(session, "thread", thread_id, by=by, now=now, config=config)
        session.commit()
        return ledger.get_thread(session, thread_id).scheduled_for


def scheduled(db: Database, thread_id: int) -> datetime | None:
    with db.session() as session:
        return ledger.get_thread(session, thread_id).scheduled_for


def test_approved_posts_take_the_next_free_slots_in_approval_order(db: Database, tmp_path: Path) -> None:
    config = make_config(tmp_path)
    first, second, third = (add_thread(db, n) for n in (1, 2, 3))
    assert approve(db, config, third) == london(2026, 12, 7, 9, 0)  # approved first: the first slot
    assert approve(db, config, first) == london(2026, 12, 7, 13, 0)
    assert approve(db, config, second) == london(2026, 12, 8, 9, 0)
    with db.session() as session:
        assert [r.thread_id for r in session.scalars(select(ThreadSlotRow).order_by(ThreadSlotRow.slot_at))] == [
            third, first, second]
        approval = ledger.latest_approval(session, "thread", second)
        assert approval is not None and approval.decision == "approved"


def test_without_slots_a_post_keeps_its_time_as_today(db: Database, tmp_path: Path) -> None:
    config = make_config(tmp_path, slots=[])
    thread = add_thread(db, 1)
    assert approve(db, config, thread) == NOW - timedelta(hours=2)  # due at once, as before slots
    with db.session() as session:
        assert slot_of(session, thread) is None


def test_a_roundup_follows_its_edition_and_takes_no_slot(db: Database, tmp_path: Path) -> None:
    config = make_config(tmp_path)
    roundup = add_thread(db, 1, kind="roundup")
    assert approve(db, config, roundup) == NOW - timedelta(hours=2)
    item = add_thread(db, 2)
    assert approve(db, config, item) == london(2026, 12, 7, 9, 0)  # the roundup left the first slot free


def test_an_edited_post_keeps_its_slot_while_ahead_and_takes_the_next_when_it_passed(db: Database,
                                                                                    tmp_path: Path) -> None:
    config = make_config(tmp_path)
    kept, late = add_thread(db, 1), add_thread(db, 2)
    assert approve(db, config, kept) == london(2026, 12, 7, 9, 0)
    assert approve(db, config, late) == london(2026, 12, 7, 13, 0)
    for thread_id in (kept, late):
        with db.session() as session:
            row = ledger.get_thread(session, thread_id)
            write_posts(session, row, [row.posts[0].text + " (edited)"], by=EDITOR, now=NOW)
            session.commit()
            assert row.status == ThreadStatus.DRAFT  # content changed: approval voided
    assert approve(db, config, kept, now=NOW + timedelta(minutes=30)) == london(2026, 12, 7, 9, 0)  # still ahead
    # the 13:00 slot passed while `late` waited for approval: it takes the next free one, Tuesday 09:00
    assert approve(db, config, late, now=london(2026, 12, 7, 14, 0)) == london(2026, 12, 8, 9, 0)


def test_a_cancelled_thread_gives_its_slot_back(db: Database, tmp_path: Path) -> None:
    config = make_config(tmp_path)
    cancelled, waiting = add_thread(db, 1), add_thread(db, 2)
    approve(db, config, cancelled)
    with db.session() as session:
        ledger.cancel_thread(session, ledger.get_thread(session, cancelled), by=APPROVER, now=NOW, reason="duplicate")
        session.commit()
    assert approve(db, config, waiting) == london(2026, 12, 7, 9, 0)


def test_staff_move_a_post_to_a_free_slot_audited_and_still_approved(db: Database, tmp_path: Path) -> None:
    config = make_config(tmp_path)
    moved, other = add_thread(db, 1), add_thread(db, 2)
    approve(db, config, moved)
    approve(db, config, other)  # 13:00
    with db.session() as session:
        assert free_slots(session, config, "x", now=NOW, count=3) == [
            london(2026, 12, 8, 9, 0), london(2026, 12, 8, 13, 0), london(2026, 12, 9, 9, 0)]
        row = ledger.get_thread(session, moved)
        with pytest.raises(ledger.LedgerError, match="slot at 2026-12-07 13:00 UTC is taken by another thread"):
            move_thread(session, config, row, to=london(2026, 12, 7, 13, 0), by=EDITOR, now=NOW)
        with pytest.raises(ledger.LedgerError, match="has passed: choose a time ahead"):
            move_thread(session, config, row, to=NOW - timedelta(minutes=1), by=EDITOR, now=NOW)
        move_thread(session, config, row, to=london(2026, 12, 9, 9, 0), by=EDITOR, now=NOW)
        session.commit()
    assert scheduled(db, moved) == london(2026, 12, 9, 9, 0)
    with db.session() as session:
        assert ledger.is_approved(session, "thread", moved)  # time is not content
        assert ledger.get_thread(session, moved).status == ThreadStatus.APPROVED
        audit = session.scalars(select(AuditRow).where(AuditRow.action == "move")).one()
        assert (audit.actor, audit.subject_id) == (EDITOR, moved)
        assert audit.detail["before"] == london(2026, 12, 7, 9, 0).isoformat()
        assert audit.detail["after"] == london(2026, 12, 9, 9, 0).isoformat()
        assert taken_slots(session, "x", NOW) == {london(2026, 12, 7, 13, 0), london(2026, 12, 9, 9, 0)}
    third = add_thread(db, 3)
    assert approve(db, config, third) == london(2026, 12, 7, 9, 0)  # the slot it left is free again


def test_a_time_staff_fix_off_the_grid_is_kept_through_approval(db: Database, tmp_path: Path) -> None:
    config = make_config(tmp_path)
    thread = add_thread(db, 1)
    breaking = london(2026, 12, 7, 10, 17)
    with db.session() as session:
        move_thread(session, config, ledger.get_thread(session, thread), to=breaking, by=EDITOR, now=NOW)
        session.commit()
    assert approve(db, config, thread) == breaking
    next_one = add_thread(db, 2)
    assert approve(db, config, next_one) == london(2026, 12, 7, 9, 0)  # a fixed time holds no slot


def test_next_slot_and_what_cannot_move(db: Database, tmp_path: Path) -> None:
    config = make_config(tmp_path)
    first, second = add_thread(db, 1), add_thread(db, 2)
    approve(db, config, first)
    with db.session() as session:
        assert move_thread(session, config, ledger.get_thread(session, second), to=None, by=EDITOR,
                           now=NOW) == london(2026, 12, 7, 13, 0)
        session.commit()
    roundup = add_thread(db, 3, kind="roundup")
    with db.session() as session:
        with pytest.raises(ledger.LedgerError, match="goes out with its edition; reschedule the edition instead"):
            move_thread(session, config, ledger.get_thread(session, roundup), to=None, by=EDITOR, now=NOW)
        with pytest.raises(ledger.NotStaff):
            move_thread(session, config, ledger.get_thread(session, first), to=None, by="nobody@example.org", now=NOW)
    unslotted = make_config(tmp_path, slots=[])
    with db.session() as session, pytest.raises(ledger.LedgerError, match=r"x has no posting slots: give a time"):
        move_thread(session, unslotted, ledger.get_thread(session, first), to=None, by=EDITOR, now=NOW)


def test_posts_approved_before_slots_existed_take_them_in_approval_order_at_publish(db: Database,
                                                                                   tmp_path: Path) -> None:
    before = make_config(tmp_path, slots=[])
    older, newer = add_thread(db, 1), add_thread(db, 2)
    approve(db, before, newer, now=NOW - timedelta(minutes=10))  # approved first
    approve(db, before, older, now=NOW - timedelta(minutes=5))
    summary = publish_due_posts(db.sessions, make_config(tmp_path), now=NOW,
                                channel_for=lambda network: OutboxPostChannel(network, tmp_path / "outbox"))
    assert summary.posted == 0  # slots configured now: nothing goes before its slot
    assert (scheduled(db, newer), scheduled(db, older)) == (london(2026, 12, 7, 9, 0), london(2026, 12, 7, 13, 0))


def test_publish_waits_for_the_slot_then_keeps_the_caps_and_spacing(db: Database, tmp_path: Path) -> None:
    config = make_config(tmp_path, slots=["monday 09:00", "monday 09:01"], min_spacing_minutes=5)
    first, second = add_thread(db, 1), add_thread(db, 2)
    approve(db, config, first)
    approve(db, config, second)

    def run(now: datetime) -> int:
        return publish_due_posts(db.sessions, config, now=now,
                                 channel_for=lambda network: OutboxPostChannel(network, tmp_path / "outbox")).posted

    assert run(london(2026, 12, 7, 8, 59)) == 0
    assert run(london(2026, 12, 7, 9, 0)) == 1  # the first slot
    assert run(london(2026, 12, 7, 9, 1)) == 0  # its slot came, but the minimum spacing still holds it
    assert run(london(2026, 12, 7, 9, 5)) == 1
    with db.session() as session:
        posted = session.scalars(select(PostRow).where(PostRow.status == PostStatus.POSTED)
                                 .order_by(PostRow.posted_at)).all()
        assert [p.thread_id for p in posted] == [first, second]


def test_two_workers_approving_at_once_never_share_a_slot(db: Database, tmp_path: Path) -> None:
    """Worker A holds the first slot, uncommitted; worker B, looking at the same moment, does not
    see it. B either waits for A's write (SQLite) or inserts the same slot and is refused by the
    unique constraint once A commits (PostgreSQL): either way B ends in the next slot."""
    config = make_config(tmp_path)
    a_thread, b_thread = add_thread(db, 1), add_thread(db, 2)
    a_session = db.sessions()
    ledger.approve(a_session, "thread", a_thread, by=APPROVER, now=NOW, config=config)
    a_session.flush()
    result: dict[str, object] = {}

    def worker_b() -> None:
        try:
            result["slot"] = approve(db, config, b_thread, by=OTHER)
        except Exception as exc:  # noqa: BLE001  # reported by the assertion below
            result["error"] = exc

    b = threading.Thread(target=worker_b)
    b.start()
    clock.sleep(0.5)  # B is now waiting on A's write (SQLite) or on A's unique key (PostgreSQL)
    assert b.is_alive()
    a_session.commit()
    a_session.close()
    b.join(timeout=30)
    assert "error" not in result, result
    assert scheduled(db, a_thread) == london(2026, 12, 7, 9, 0)
    assert result["slot"] == london(2026, 12, 7, 13, 0)


def test_many_workers_approving_many_posts_fill_the_grid_once_each(db: Database, tmp_path: Path) -> None:
    config = make_config(tmp_path)
    ids = [add_thread(db, n) for n in range(12)]
    errors: list[BaseException] = []
    gate = threading.Barrier(4)

    def worker(mine: list[int]) -> None:
        gate.wait()
        for thread_id in mine:
            try:
                approve(db, config, thread_id)
            except BaseException as exc:  # noqa: BLE001  # reported by the assertion below
                errors.append(exc)

    workers = [threading.Thread(target=worker, args=(ids[k::4],)) for k in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=60)
    assert not errors, errors
    with db.session() as session:
        held = sorted(r.slot_at for r in session.scalars(select(ThreadSlotRow)) if r.slot_at)
        times = sorted(t for t in session.scalars(select(ThreadRow.scheduled_for)) if t)
    expected = [london(2026, 12, d, h, 0) for d in range(7, 12) for h in (9, 13)] + [
        london(2026, 12, 14, 9, 0), london(2026, 12, 14, 13, 0)]
    assert held == expected == times  # twelve threads, the twelve first slots, none twice


QUIET = {"holidays": "england",
         "windows": [{"channel": "x", "days": "weekdays", "start": "08:00", "end": "18:00"}]}


def test_slots_in_quiet_time_are_skipped_by_the_queue_and_refused_to_a_move(db: Database, tmp_path: Path) -> None:
    """x may post on weekdays 08:00-18:00 and not on English bank holidays: a daily 09:00 slot on a
    Saturday, a Sunday or Christmas Day is never taken, and staff cannot move a post there."""
    config = make_config(tmp_path, slots=["daily 09:00"], calendar=QUIET)
    ids = [add_thread(db, n) for n in range(7)]
    given = [approve(db, config, thread_id, now=london(2026, 12, 21, 8, 0)) for thread_id in ids]
    assert given == [london(2026, 12, d, 9, 0) for d in (21, 22, 23, 24)] + [  # 25 Christmas, 26-27 weekend,
        london(2026, 12, d, 9, 0) for d in (29, 30, 31)]  # 28 the Boxing Day substitute holiday
    with db.session() as session:
        spare = add_thread_in(session)
        with pytest.raises(ledger.LedgerError, match=r"the x slot at 2027-01-02 09:00 UTC is in quiet time \("):
            move_thread(session, config, spare, to=london(2027, 1, 2, 9, 0), by=EDITOR, now=london(2026, 12, 21, 8, 0))
        with pytest.raises(ledger.LedgerError, match=r"the x time 2026-12-21 19:00 UTC is in quiet time \(outside"):
            move_thread(session, config, spare, to=london(2026, 12, 21, 19, 0), by=EDITOR, now=london(2026, 12, 21, 8, 0))
        week = board(session, config, now=london(2026, 12, 24, 0, 0), days=5)
    assert [(s.at.day, s.thread_id is not None, s.quiet is not None) for s in week] == [
        (24, True, False), (25, False, True), (26, False, True), (27, False, True), (28, False, True)]
    assert "Christmas" in (week[1].quiet or "")


def add_thread_in(session) -> ThreadRow:  # type: ignore[no-untyped-def]
    texts = ["A spare post https://example.org/spare"]
    return ledger.create_thread(session, network="x", key="item:spare", kind="item", texts=texts,
                                content_hash=thread_hash(texts), now=NOW, scheduled_for=NOW)


def test_two_publish_workers_giving_waiting_posts_their_slots_give_each_post_one(db: Database, tmp_path: Path) -> None:
    """Posts approved before the network had slots: worker A gives the first its slot (uncommitted);
    worker B, doing the same at once, loses the race on that post and finds it already placed: it
    does not move it to another slot, and gives the second post the next one."""
    before = make_config(tmp_path, slots=[])
    first, second = add_thread(db, 1), add_thread(db, 2)
    approve(db, before, first, now=NOW - timedelta(minutes=10))
    approve(db, before, second, now=NOW - timedelta(minutes=5))
    config = make_config(tmp_path)
    a_session = db.sessions()
    assert assign_waiting(a_session, config, now=NOW) == [first, second]
    a_session.flush()
    result: dict[str, object] = {}

    def worker_b() -> None:
        try:
            with db.session() as session:
                result["given"] = assign_waiting(session, config, now=NOW)
        except Exception as exc:  # noqa: BLE001  # reported by the assertion below
            result["error"] = exc

    b = threading.Thread(target=worker_b)
    b.start()
    clock.sleep(0.5)
    a_session.commit()
    a_session.close()
    b.join(timeout=30)
    assert "error" not in result, result
    with db.session() as session:
        held = {r.thread_id: r.slot_at for r in session.scalars(select(ThreadSlotRow))}
    assert held == {first: london(2026, 12, 7, 9, 0), second: london(2026, 12, 7, 13, 0)}
    assert (scheduled(db, first), scheduled(db, second)) == (london(2026, 12, 7, 9, 0), london(2026, 12, 7, 13, 0))


def test_moving_is_not_editing_for_the_two_person_rule(db: Database, tmp_path: Path) -> None:
    """Time is not content: an approver who moved a draft post may still approve it (they changed
    when it goes, not what it says), and the move voids nothing."""
    config = make_config(tmp_path)
    thread = add_thread(db, 1)
    with db.session() as session:
        move_thread(session, config, ledger.get_thread(session, thread), to=london(2026, 12, 8, 13, 0), by=OTHER,
                    now=NOW)
        session.commit()
        assert ledger.editors_since_approval(session, "thread", thread) == []
        assert ledger.why_not_approve(session, "thread", thread, by=OTHER, now=NOW, config=config) is None
    assert approve(db, config, thread, by=OTHER) == london(2026, 12, 8, 13, 0)  # and it keeps the slot it was moved to
