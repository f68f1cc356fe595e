"""Posting slots in the ledger: which thread holds which slot of its network's weekly grid
(`compose.slots`), and the times staff fix by hand.

When a slot is taken: on approval (`ledger.approve`, `ledger.auto_approve` call `take_slot`), so
staff see the time at once and threads queue in approval order; and, for an approved thread that
has none (approved before slots were configured), when publish looks for due threads
(`assign_waiting`, in approval order). Only item posts take slots: a roundup goes out with its
edition, and a time staff set explicitly (`move_thread`) is kept.

A thread keeps its slot while it is edited and approved again, as long as the slot is still
ahead; a thread whose slot passed while it was not approved takes the next free one when it is
approved. A cancelled thread frees its slot.

Never one slot for two threads: `thread_slots` has a unique (network, slot_at). Two workers that
choose the same slot at once both insert it; the database lets one in and the other gets an
IntegrityError (inside a savepoint, so the rest of its transaction stands) and takes the next
free slot. Each thread holds at most one row (unique thread_id).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from compose.calendar import QuietCalendar
from compose.config import Config
from compose.post_length import RULES_BY_NETWORK
from compose.slots import NoFreeSlot, next_free_slot, slot_times
from compose.threads import enabled_networks, network_settings
from state.errors import LedgerError
from state.models import ApprovalRow, AuditRow, ThreadRow, ThreadSlotRow, ThreadStatus
from state.roles import editor_of

#: Threads whose time may still change (not yet going out, not cancelled).
MOVABLE = (ThreadStatus.DRAFT, ThreadStatus.REJECTED, ThreadStatus.APPROVED)
_ATTEMPTS = 50  # slots lost to other workers before giving up (each loss means a slot was taken)


def slotted(config: Config, network: str) -> bool:
    """The network has a slot grid in the config (`[social.<network>] slots`)."""
    return network in RULES_BY_NETWORK and bool(network_settings(config, network).slots)


def blocked_for(config: Config, network: str) -> Callable[[datetime], str | None]:
    """Why a moment is closed to the network's posts (quiet time, `[calendar]`), or None: a slot in
    quiet time is skipped, never taken."""
    calendar = QuietCalendar.from_config(config)
    return lambda moment: calendar.quiet_reason(network, moment)


def slot_of(session: Session, thread_id: int) -> ThreadSlotRow | None:
    """The slot (or fixed time) the thread holds, if any."""
    return session.scalars(select(ThreadSlotRow).where(ThreadSlotRow.thread_id == thread_id)).first()


def slots_of(session: Session, thread_ids: list[int]) -> dict[int, ThreadSlotRow]:
    """The slot (or fixed time) each of these threads holds, by thread id (one query, for pages)."""
    if not thread_ids:
        return {}
    return {row.thread_id: row for row in session.scalars(select(ThreadSlotRow)
                                                          .where(ThreadSlotRow.thread_id.in_(thread_ids)))}


def taken_slots(session: Session, network: str, since: datetime, *, but: int | None = None) -> set[datetime]:
    """The network's slots at or after `since` held by a thread (other than `but`) that is not cancelled."""
    query = (select(ThreadSlotRow.slot_at).join(ThreadRow, ThreadRow.id == ThreadSlotRow.thread_id)
             .where(ThreadSlotRow.network == network, ThreadSlotRow.slot_at.is_not(None),
                    ThreadSlotRow.slot_at >= since, ThreadRow.status != ThreadStatus.CANCELLED))
    if but is not None:
        query = query.where(ThreadSlotRow.thread_id != but)
    return {moment for moment in session.scalars(query) if moment is not None}


def _free_cancelled(session: Session, network: str, since: datetime) -> None:
    """Give back the slots ahead held by cancelled threads (they will never use them)."""
    for row in session.scalars(select(ThreadSlotRow).join(ThreadRow, ThreadRow.id == ThreadSlotRow.thread_id)
                               .where(ThreadSlotRow.network == network, ThreadSlotRow.slot_at >= since,
                                      ThreadRow.status == ThreadStatus.CANCELLED)):
        session.delete(row)
    session.flush()


def _hold(session: Session, thread: ThreadRow, moment: datetime | None, *, by: str | None, now: datetime,
          scheduled: datetime) -> bool:
    """Record `thread` as holding slot `moment` (None: a fixed time); False when another thread
    holds that slot already (the savepoint is rolled back, the caller's transaction goes on)."""
    try:
        with session.begin_nested():
            row = slot_of(session, thread.id)
            if row is None:
                row = ThreadSlotRow(thread_id=thread.id, network=thread.network)
                session.add(row)
            row.slot_at, row.set_by, row.at = moment, by, now
            session.flush()
    except IntegrityError:
        return False
    thread.scheduled_for = scheduled
    return True


def _lock(session: Session, thread: ThreadRow) -> None:
    """Write to the thread's row before choosing its slot: another worker placing the same thread
    waits for us (PostgreSQL's row lock), and on SQLite this transaction takes the write lock
    before it reads which slots are taken, so what it reads is current when it writes."""
    session.execute(update(ThreadRow).where(ThreadRow.id == thread.id).values(scheduled_for=ThreadRow.scheduled_for)
                    .execution_options(synchronize_session=False))


def take_slot(session: Session, config: Config, thread: ThreadRow, *, now: datetime) -> datetime | None:
    """Give an approved item post the next free slot of its network from `now` (keeping the one it
    holds while that is still ahead, and a time staff fixed). None when its network has no slots,
    or it is a roundup (it goes out with its edition): its time is then left as it is.
    Raises `LedgerError` when no slot is free for two years (the approval is refused). Does not commit."""
    if thread.kind != "item" or not slotted(config, thread.network):
        return None
    _lock(session, thread)
    _free_cancelled(session, thread.network, now)
    blocked = blocked_for(config, thread.network)
    for _ in range(_ATTEMPTS):
        # read again after a lost race: the worker that won may have given this very thread its slot
        held = slot_of(session, thread.id)
        if held is not None and held.slot_at is None:  # staff fixed a time off the grid: kept
            return thread.scheduled_for
        if held is not None and held.slot_at is not None and held.slot_at >= now:
            thread.scheduled_for = held.slot_at
            return held.slot_at
        taken = taken_slots(session, thread.network, now, but=thread.id)
        try:
            moment = next_free_slot(config, thread.network, now, taken, blocked=blocked)
        except NoFreeSlot as exc:
            raise LedgerError(f"thread {thread.id}: {exc}") from None
        if moment is None:
            return None
        if _hold(session, thread, moment, by=None, now=now, scheduled=moment):
            return moment
    raise LedgerError(f"thread {thread.id}: other workers took {_ATTEMPTS} {thread.network} slots in a row while "
                      f"this one looked for one: approve it again")


def assign_waiting(session: Session, config: Config, *, now: datetime) -> list[int]:
    """Approved item posts on a network with slots that hold none (approved before the slots were
    configured) take the next free slots, in the order they were approved. Returns their ids. Does not commit."""
    networks = [network for network in RULES_BY_NETWORK if slotted(config, network)]
    if not networks:
        return []
    approved_at = (select(ApprovalRow.id).where(ApprovalRow.subject_kind == "thread",
                                                ApprovalRow.subject_id == ThreadRow.id,
                                                ApprovalRow.decision == "approved")
                   .order_by(ApprovalRow.id.desc()).limit(1).scalar_subquery())
    rows = session.scalars(
        select(ThreadRow).outerjoin(ThreadSlotRow, ThreadSlotRow.thread_id == ThreadRow.id)
        .where(ThreadRow.status == ThreadStatus.APPROVED, ThreadRow.kind == "item", ThreadSlotRow.id.is_(None),
               ThreadRow.network.in_(networks))
        .order_by(approved_at, ThreadRow.id)).all()
    given = []
    for row in rows:
        if any(post.status != "pending" for post in row.posts):  # under way: it goes on as it is
            continue
        if take_slot(session, config, row, now=now) is not None:
            given.append(row.id)
    return given


def free_slots(session: Session, config: Config, network: str, *, now: datetime, count: int = 8,
               but: int | None = None) -> list[datetime]:
    """The next `count` slots of the network no thread holds (other than `but`) and not in quiet time."""
    if not slotted(config, network):
        return []
    taken = taken_slots(session, network, now, but=but)
    blocked = blocked_for(config, network)
    found: list[datetime] = []
    start = now
    for _ in range(count):
        moment = next_free_slot(config, network, start, taken, blocked=blocked)
        if moment is None:
            break
        found.append(moment)
        start = moment + timedelta(microseconds=1)
    return found


def move_thread(session: Session, config: Config, thread: ThreadRow, *, to: datetime | None, by: str,
                now: datetime) -> datetime:
    """Move a post to another time, as `by` (a member of staff who may edit), audited: `to` a
    slot of its network (free and not in quiet time), any other moment ahead (a fixed time, kept
    as set), or None for the next free slot. Time is not content: the approval stands. Does not commit."""
    who = editor_of(session, by)
    if thread.kind != "item":
        raise LedgerError(f"thread {thread.id} is the roundup of an edition: it goes out with its edition; "
                          f"reschedule the edition instead")
    if thread.status not in MOVABLE or any(post.status != "pending" for post in thread.posts):
        raise LedgerError(f"thread {thread.id} is {thread.status}: only a thread not yet going out can move")
    _lock(session, thread)
    before = thread.scheduled_for
    held = slot_of(session, thread.id)
    if to is None:
        free = free_slots(session, config, thread.network, now=now, count=1, but=thread.id)
        if not free:
            raise LedgerError(f"{thread.network} has no posting slots: give a time with --to, or add slots to "
                              f"[social.{thread.network}] slots in the config")
        to = free[0]
    if to <= now:
        raise LedgerError(f"{to:%Y-%m-%d %H:%M} UTC has passed: choose a time ahead")
    on_grid = to in slot_times(config, thread.network, to, to + timedelta(microseconds=1))
    reason = blocked_for(config, thread.network)(to)
    if reason:
        what = "slot at" if on_grid else "time"
        raise LedgerError(f"the {thread.network} {what} {to:%Y-%m-%d %H:%M} UTC is in quiet time ({reason}): "
                          f"choose another")
    if on_grid and to in taken_slots(session, thread.network, to, but=thread.id):
        raise LedgerError(f"the {thread.network} slot at {to:%Y-%m-%d %H:%M} UTC is taken by another thread: "
                          f"choose a free one")
    if not _hold(session, thread, to if on_grid else None, by=who, now=now, scheduled=to):
        raise LedgerError(f"another thread took the {thread.network} slot at {to:%Y-%m-%d %H:%M} UTC just now: "
                          f"choose another")
    session.add(AuditRow(at=now, actor=who, action="move", subject_kind="thread", subject_id=thread.id,
                         detail={"network": thread.network, "before": before.isoformat() if before else None,
                                 "after": to.isoformat(), "slot": on_grid,
                                 "held": held.slot_at.isoformat() if held and held.slot_at else None}))
    session.flush()
    return to


@dataclass(frozen=True)
class Slot:
    """One slot of a network's grid as staff see it: who holds it, or why it is closed."""

    at: datetime
    network: str
    thread_id: int | None  # the thread that holds it; None: free
    quiet: str | None = None  # why no post may take it (quiet time)

    @property
    def free(self) -> bool:
        return self.thread_id is None and self.quiet is None


def board(session: Session, config: Config, *, now: datetime, days: int = 7,
          networks: list[str] | None = None) -> list[Slot]:
    """The slots of the next `days` days on each network with slots (or those named), in time order."""
    found = []
    for network in networks if networks is not None else enabled_networks(config):
        if not slotted(config, network):
            continue
        holders = dict(session.execute(
            select(ThreadSlotRow.slot_at, ThreadSlotRow.thread_id).join(ThreadRow, ThreadRow.id == ThreadSlotRow.thread_id)
            .where(ThreadSlotRow.network == network, ThreadSlotRow.slot_at >= now,
                   ThreadRow.status != ThreadStatus.CANCELLED)).tuples().all())
        blocked = blocked_for(config, network)
        for moment in slot_times(config, network, now, now + timedelta(days=days)):
            holder = holders.get(moment)
            found.append(Slot(moment, network, holder, None if holder is not None else blocked(moment)))
    return sorted(found, key=lambda slot: (slot.at, slot.network))
