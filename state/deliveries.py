"""The delivery ledger: one row per (edition, subscriber), grouped into batches (one provider request each).

A batch moves planned -> sending -> accepted | failed | ambiguous; each move is a function here and
the caller commits around every provider request, so `sending` is on disk BEFORE the request leaves.

Decisions, documented for staff:
- Planning happens once, when an edition starts sending; the recipient list is then frozen.
  Someone who subscribes later gets the next edition, not this one. Someone who leaves between
  planning and sending is SKIPPED when their batch is claimed (unsubscribe is effective at once).
- A batch found in `sending` for this worker when it starts again means the process died between
  the claim and the answer: the request may have left, so the batch becomes AMBIGUOUS and is never
  resent blindly. (The claim is committed immediately before the request is built and sent; a
  batch killed in that window is reported ambiguous although nothing left: staff resend it.)
  Staff call `resolve_ambiguous(..., action="resend" | "mark_sent")` after checking the provider.
- Worker names must be unique per live process; `recover_interrupted` only touches its own batches.
- Each reader gets their sections (issue 18): planning places every active reader with
  `compose.segments.place` and groups the batches by section set, so a batch carries one body
  (`sections`, None for the whole edition as approved, and that body's `content_hash`). A reader
  outside the edition's segment gets no delivery; a paused one, or one with nothing in their
  sections, gets a SKIPPED delivery with the reason, and a reader who pauses after planning is
  SKIPPED when their batch is claimed. Still one delivery per reader: never twice.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Text, Update, and_, func, insert, literal, or_, select, update
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session

from compose.segments import Placement, Segment, place, set_key
from state import events, figures
from state.editions import FEATURED
from state.ledger import SYSTEM, LedgerError, NotFound, audit
from state.lifecycle import check_initial, check_transition
from state.models import (
    BATCH_LIFECYCLE,
    DELIVERY_LIFECYCLE,
    BatchStatus,
    DeliveryBatchRow,
    DeliveryRow,
    DeliveryStatus,
    EditionItemRow,
    EditionRow,
    ItemRow,
    SubscriberRow,
    SubscriberStatus,
    UTCDateTime,
)

TERMINAL = (BatchStatus.ACCEPTED, BatchStatus.FAILED)


@dataclass(frozen=True, slots=True)
class ClaimedRecipient:
    """One subscriber a claimed batch goes to, as read when it was claimed."""

    subscriber_id: int
    email: str
    name: str


@dataclass(frozen=True, slots=True)
class ClaimedBatch:
    """A batch this worker marked SENDING, with the recipients still subscribed and how many left since planning."""

    batch_id: int
    edition_id: int
    attempts: int
    recipients: tuple[ClaimedRecipient, ...]
    skipped: int
    sections: str | None = None  # the section set of its one body (`compose.segments.set_key`); None: the whole edition
    content_hash: str | None = None  # that body's content hash, fixed when the edition was planned


# --- planning ------------------------------------------------------------------------------------


def plan(session: Session, edition: EditionRow, *, batch_size: int, now: datetime, channel: str,
         bodies: Callable[[str | None], str] | None = None) -> int:
    """Freeze the recipient list of an edition: a delivery per active subscriber it goes to, in batches.

    Each reader is placed by `compose.segments.place` (their sections, the edition's segment, a
    pause); batches are grouped by section set, so each batch carries one body: `sections` None is
    the whole edition as approved, else the section keys ("blogs,news"), with that body's content
    hash from `bodies(set key)` when given. A reader who is paused, or whose sections have
    nothing this edition, gets a SKIPPED delivery with the reason (no batch); a reader outside the
    segment gets no delivery. Idempotent: an edition already planned is left as it is. Returns the
    number of new deliveries. Every batch and delivery starts planned. Does not commit.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    check_initial(DELIVERY_LIFECYCLE, DeliveryStatus.PLANNED)
    # one planner at a time per edition (PostgreSQL row lock; SQLite serialises writers anyway)
    session.execute(select(EditionRow.id).where(EditionRow.id == edition.id).with_for_update())
    if session.scalar(select(func.count()).select_from(DeliveryRow).where(DeliveryRow.edition_id == edition.id)):
        return 0
    if Segment.from_json(edition.segment).everyone and not _anyone_chose(session, now=now):
        return _plan_whole(session, edition, batch_size=batch_size, now=now, channel=channel,
                           content_hash=bodies(None) if bodies else None)
    groups, skipped = recipient_groups(session, edition, now=now)
    planned = 0
    for key in sorted(groups, key=lambda k: (k is not None, k or "")):
        ids = groups[key]
        for start in range(0, len(ids), batch_size):
            chunk = ids[start:start + batch_size]
            batch = _new_batch(session, edition.id, channel=channel, size=len(chunk), now=now, sections=key,
                               content_hash=bodies(key) if bodies else None)
            _insert_deliveries(session, edition.id, chunk, batch_id=batch.id, now=now)
            planned += len(chunk)
    for reason, ids in sorted(skipped.items()):
        _insert_deliveries(session, edition.id, ids, batch_id=None, now=now)
        moved = session.scalars(select(DeliveryRow.id).where(DeliveryRow.edition_id == edition.id,
                                                            DeliveryRow.batch_id.is_(None),
                                                            DeliveryRow.status == DeliveryStatus.PLANNED)).all()
        _set_status(session, moved, DeliveryStatus.PLANNED, DeliveryStatus.SKIPPED, now=now, error=reason)
    batches = sum(-(-len(ids) // batch_size) for ids in groups.values())
    audit(session, actor=SYSTEM, action="plan", kind="edition", ident=edition.id, now=now,
          recipients=planned, batches=batches, bodies=len(groups),
          skipped={reason: len(ids) for reason, ids in sorted(skipped.items())})
    return planned + sum(len(ids) for ids in skipped.values())


def _anyone_chose(session: Session, *, now: datetime) -> bool:
    """Whether an active reader chose sections or is paused (else everyone gets the whole edition)."""
    chose = and_(SubscriberRow.sections.is_not(None), sql_cast(SubscriberRow.sections, Text) != "null")
    return bool(session.scalar(select(SubscriberRow.id).where(
        SubscriberRow.status == SubscriberStatus.ACTIVE, or_(chose, SubscriberRow.paused_until > now)).limit(1)))


def _plan_whole(session: Session, edition: EditionRow, *, batch_size: int, now: datetime, channel: str,
                content_hash: str | None) -> int:
    """Every active reader gets the whole edition: batches of contiguous id ranges, each filled by
    one INSERT ... SELECT (nothing per reader in Python)."""
    subscriber_ids = session.scalars(
        select(SubscriberRow.id).where(SubscriberRow.status == SubscriberStatus.ACTIVE).order_by(SubscriberRow.id)
    ).all()
    active = SubscriberRow.status == SubscriberStatus.ACTIVE
    for start in range(0, len(subscriber_ids), batch_size):
        chunk = subscriber_ids[start:start + batch_size]
        batch = _new_batch(session, edition.id, channel=channel, size=len(chunk), now=now, content_hash=content_hash)
        session.execute(insert(DeliveryRow.__table__).from_select(
            ["edition_id", "subscriber_id", "batch_id", "status", "updated_at"],
            select(literal(edition.id), SubscriberRow.id, literal(batch.id), literal(str(DeliveryStatus.PLANNED)),
                   literal(now, UTCDateTime())).where(active, SubscriberRow.id.between(chunk[0], chunk[-1]))))
    rows = len(subscriber_ids)
    audit(session, actor=SYSTEM, action="plan", kind="edition", ident=edition.id, now=now,
          recipients=rows, batches=-(-rows // batch_size) if rows else 0, bodies=1 if rows else 0, skipped={})
    return rows


def _insert_deliveries(session: Session, edition_id: int, ids: Sequence[int], *, batch_id: int | None,
                       now: datetime) -> None:
    """A planned delivery per subscriber of `ids`, in one executemany of plain tuples: the time is
    converted for the driver once (`updated_at`'s own bind processing), not once per row, which
    keeps planning 100,000 readers in bulk-insert time."""
    dialect = session.get_bind().dialect
    process = DeliveryRow.__table__.c.updated_at.type.dialect_impl(dialect).bind_processor(dialect)
    stamp = process(now) if process else now
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    sql = (f"INSERT INTO {DeliveryRow.__tablename__} (edition_id, subscriber_id, batch_id, status, updated_at) "
           f"VALUES ({', '.join([mark] * 5)})")
    status = str(DeliveryStatus.PLANNED)
    session.connection().exec_driver_sql(sql, [(edition_id, ident, batch_id, status, stamp) for ident in ids])


def stored_sections(session: Session, edition_id: int) -> frozenset[str]:
    """The sections that have something in a stored edition (its featured item counts for its
    own section). Reads only."""
    rows = session.execute(select(EditionItemRow.section, ItemRow.section)
                           .join(ItemRow, ItemRow.id == EditionItemRow.item_id)
                           .where(EditionItemRow.edition_id == edition_id)).all()
    return frozenset(item_section if placed == FEATURED else placed for placed, item_section in rows)


def recipient_groups(session: Session, edition: EditionRow, *,
                     now: datetime) -> tuple[dict[str | None, list[int]], dict[str, list[int]]]:
    """The edition's recipients grouped by the section set of their email (`set_key`; None: the
    whole edition), and the readers it skips grouped by reason. An edition without stored items
    (nothing to choose among) goes whole to every reader it reaches. Reads only."""
    sections = stored_sections(session, edition.id)
    segment = Segment.from_json(edition.segment)
    groups: dict[str | None, list[int]] = {}
    skipped: dict[str, list[int]] = {}
    # the JSON columns as their text, decoded once per distinct value (a list has few distinct choices)
    query = (select(SubscriberRow.id, sql_cast(SubscriberRow.sections, Text), sql_cast(SubscriberRow.tags, Text),
                    SubscriberRow.paused_until)
             .where(SubscriberRow.status == SubscriberStatus.ACTIVE).order_by(SubscriberRow.id))
    keys: dict[frozenset[str], str | None] = {}
    decoded: dict[str | None, Any] = {None: None, "null": None}
    placements: dict[tuple[str | None, str | None], Placement] = {}  # readers who are not paused, by choice
    for ident, chosen_json, tags_json, paused_until in session.execute(query):
        placed = placements.get((chosen_json, tags_json)) if paused_until is None else None
        if placed is None:
            for text in (chosen_json, tags_json):
                if text not in decoded:
                    decoded[text] = json.loads(text)
            placed = place(sections=decoded[chosen_json] if sections else None, tags=decoded[tags_json],
                           paused_until=paused_until, edition_sections=sections or frozenset({""}), segment=segment,
                           now=now)
            if paused_until is None:
                placements[chosen_json, tags_json] = placed
        if placed.outside:
            continue
        if placed.skip:
            skipped.setdefault(placed.skip, []).append(ident)
            continue
        if placed.sections not in keys:
            keys[placed.sections] = None if placed.sections >= sections else set_key(placed.sections)
        groups.setdefault(keys[placed.sections], []).append(ident)
    return groups, skipped


def _new_batch(session: Session, edition_id: int, *, channel: str, size: int, now: datetime,
               sections: str | None = None, content_hash: str | None = None) -> DeliveryBatchRow:
    check_initial(BATCH_LIFECYCLE, BatchStatus.PLANNED)
    batch = DeliveryBatchRow(edition_id=edition_id, channel=channel, status=BatchStatus.PLANNED, size=size,
                             attempts=0, created_at=now, updated_at=now, sections=sections,
                             content_hash=content_hash)
    session.add(batch)
    session.flush()
    return batch


# --- claiming and the transitions around a request ------------------------------------------------


def claim_next_batch(session: Session, edition_id: int, *, worker: str, now: datetime) -> ClaimedBatch | None:
    """Take the next planned batch for this worker (never one another worker holds), mark it SENDING.

    PostgreSQL: SELECT ... FOR UPDATE SKIP LOCKED. SQLite: one atomic UPDATE ... WHERE status='planned'.
    The caller must commit before sending. Recipients who left since planning are SKIPPED.
    Returns None when no planned batch is due.
    """
    check_transition(BATCH_LIFECYCLE, None, BatchStatus.PLANNED, BatchStatus.SENDING)
    due = and_(DeliveryBatchRow.edition_id == edition_id, DeliveryBatchRow.status == BatchStatus.PLANNED,
               or_(DeliveryBatchRow.not_before.is_(None), DeliveryBatchRow.not_before <= now))
    if session.get_bind().dialect.name == "postgresql":
        batch_id = session.scalar(select(DeliveryBatchRow.id).where(due).order_by(DeliveryBatchRow.id).limit(1)
                                  .with_for_update(skip_locked=True))
        if batch_id is None:
            return None
        session.execute(update(DeliveryBatchRow).where(DeliveryBatchRow.id == batch_id)
                        .values(status=BatchStatus.SENDING, claimed_by=worker, updated_at=now,
                                attempts=DeliveryBatchRow.attempts + 1))
    else:
        candidate = select(DeliveryBatchRow.id).where(due).order_by(DeliveryBatchRow.id).limit(1).scalar_subquery()
        batch_id = session.scalar(
            update(DeliveryBatchRow)
            .where(DeliveryBatchRow.id == candidate, DeliveryBatchRow.status == BatchStatus.PLANNED)
            .values(status=BatchStatus.SENDING, claimed_by=worker, updated_at=now,
                    attempts=DeliveryBatchRow.attempts + 1)
            .returning(DeliveryBatchRow.id)
        )
        if batch_id is None:
            return None
    # by batch_id only (then by primary key), so no database is tempted to scan the status index
    rows = session.execute(
        select(DeliveryRow.id, DeliveryRow.status, SubscriberRow.id, SubscriberRow.email, SubscriberRow.name,
               SubscriberRow.status, SubscriberRow.paused_until)
        .join(SubscriberRow, DeliveryRow.subscriber_id == SubscriberRow.id)
        .where(DeliveryRow.batch_id == batch_id).order_by(SubscriberRow.id)
    ).all()
    planned = [r for r in rows if r[1] == DeliveryStatus.PLANNED]
    going = [r for r in planned if r[5] == SubscriberStatus.ACTIVE and (r[6] is None or r[6] <= now)]
    left = [r[0] for r in planned if r[5] != SubscriberStatus.ACTIVE]
    paused = [r for r in planned if r[5] == SubscriberStatus.ACTIVE and r[6] is not None and r[6] > now]
    _set_status(session, left, DeliveryStatus.PLANNED, DeliveryStatus.SKIPPED, now=now, error="left before sending")
    for until in sorted({r[6] for r in paused if r[6] is not None}):  # paused since planning: skipped, saying until when
        _set_status(session, [r[0] for r in paused if r[6] == until], DeliveryStatus.PLANNED, DeliveryStatus.SKIPPED,
                    now=now, error=f"paused until {until:%Y-%m-%d %H:%M} UTC")
    _set_status(session, [r[0] for r in going], DeliveryStatus.PLANNED, DeliveryStatus.SENDING, now=now)
    attempts, sections, content_hash = session.execute(
        select(DeliveryBatchRow.attempts, DeliveryBatchRow.sections, DeliveryBatchRow.content_hash)
        .where(DeliveryBatchRow.id == batch_id)).one()
    return ClaimedBatch(batch_id, edition_id, attempts or 1,
                        tuple(ClaimedRecipient(r[2], r[3], r[4]) for r in going), len(left) + len(paused),
                        sections, content_hash)


def _set_status(session: Session, ids: Sequence[int], frm: DeliveryStatus, to: DeliveryStatus, *, now: datetime,
                **values: Any) -> None:
    """Move the deliveries `ids`, read as `frm`, to `to` (checked against the table; rows no longer
    in `frm` are left alone)."""
    check_transition(DELIVERY_LIFECYCLE, None, frm, to)
    for start in range(0, len(ids), 900):
        session.execute(update(DeliveryRow).where(DeliveryRow.id.in_(ids[start:start + 900]), DeliveryRow.status == frm)
                        .values(status=to, updated_at=now, **values))


def _dml(session: Session, statement: Update) -> CursorResult[Any]:
    """An UPDATE run in the session: its result is a CursorResult (with `rowcount`), which
    Session.execute's annotation widens to Result."""
    return cast(CursorResult[Any], session.execute(statement))


def _move_batch(session: Session, batch_id: int, to: BatchStatus, *, now: datetime,
                allowed: Sequence[BatchStatus] = (BatchStatus.SENDING,), **values: Any) -> None:
    """Move a batch to `to` from one of `allowed` in one UPDATE (so two workers never both move it);
    refused, naming where it is, when the table or `allowed` does not let it move from there."""
    sources = BATCH_LIFECYCLE.sources(to) & frozenset(allowed)
    result = _dml(session, update(DeliveryBatchRow)
                  .where(DeliveryBatchRow.id == batch_id, DeliveryBatchRow.status.in_(sorted(sources)))
                  .values(status=to, updated_at=now, **values))
    if not result.rowcount:
        current = session.scalar(select(DeliveryBatchRow.status).where(DeliveryBatchRow.id == batch_id))
        if current is None:
            raise NotFound(f"there is no delivery batch {batch_id}")
        check_transition(BATCH_LIFECYCLE, batch_id, current, to, only=allowed,
                         reason=f"delivery batch {batch_id} is {current}, not {' or '.join(allowed)}: it cannot become {to}")


def _move_deliveries(session: Session, batch_id: int, frm: Sequence[DeliveryStatus], to: DeliveryStatus, *,
                     now: datetime, **values: Any) -> int:
    """Move the batch's deliveries that are in one of `frm` to `to` (each move checked against the
    table); the others are left alone. Returns how many moved."""
    for status in frm:
        check_transition(DELIVERY_LIFECYCLE, None, status, to)
    result = _dml(session, update(DeliveryRow)
                  .where(DeliveryRow.batch_id == batch_id, DeliveryRow.status.in_(list(frm)))
                  .values(status=to, updated_at=now, **values))
    return result.rowcount or 0


def mark_accepted(session: Session, batch_id: int, *, provider_id: str | None, rejected: Mapping[int, str],
                  now: datetime) -> int:
    """The provider accepted the request (202). Rejected recipients (e.g. duplicates) are FAILED with the reason.

    Also allowed from AMBIGUOUS: a late answer is better evidence than the guess made on restart.
    Refused from any other batch status. Returns how many deliveries were accepted. Does not commit.
    """
    _move_batch(session, batch_id, BatchStatus.ACCEPTED, now=now, allowed=(BatchStatus.SENDING, BatchStatus.AMBIGUOUS),
                provider_id=provider_id, error=None)
    live = (DeliveryStatus.SENDING, DeliveryStatus.AMBIGUOUS)
    for status in live:
        check_transition(DELIVERY_LIFECYCLE, None, status, DeliveryStatus.FAILED)
    for subscriber_id, reason in rejected.items():
        session.execute(update(DeliveryRow).where(DeliveryRow.batch_id == batch_id,
                                                  DeliveryRow.subscriber_id == subscriber_id,
                                                  DeliveryRow.status.in_(live))
                        .values(status=DeliveryStatus.FAILED, error=reason, updated_at=now))
    return _move_deliveries(session, batch_id, live, DeliveryStatus.ACCEPTED, now=now, provider_message_id=provider_id)


def mark_failed(session: Session, batch_id: int, *, error: str, now: datetime) -> None:
    """Not accepted and retrying will not help (e.g. a 400): the reason is kept against every recipient.
    Refused unless the batch is sending. Does not commit."""
    _move_batch(session, batch_id, BatchStatus.FAILED, now=now, error=error)
    count = _move_deliveries(session, batch_id, (DeliveryStatus.SENDING,), DeliveryStatus.FAILED, now=now, error=error)
    edition_id = session.scalar(select(DeliveryBatchRow.edition_id).where(DeliveryBatchRow.id == batch_id))
    events.record_event(session, events.DELIVERY_FAILED, events.resource_id("edition", edition_id),
                        {"edition_id": edition_id, "batch_id": batch_id, "recipients": count, "error": error}, now=now)


def mark_ambiguous(session: Session, batch_id: int, *, error: str, now: datetime) -> None:
    """The request may have been accepted: hold the batch for staff, never resend it blindly.
    Refused unless the batch is sending. Does not commit."""
    _move_batch(session, batch_id, BatchStatus.AMBIGUOUS, now=now, error=error)
    count = _move_deliveries(session, batch_id, (DeliveryStatus.SENDING,), DeliveryStatus.AMBIGUOUS, now=now,
                             error=error)
    edition_id = session.scalar(select(DeliveryBatchRow.edition_id).where(DeliveryBatchRow.id == batch_id))
    events.record_event(session, events.DELIVERY_AMBIGUOUS, events.resource_id("edition", edition_id),
                        {"edition_id": edition_id, "batch_id": batch_id, "recipients": count, "error": error}, now=now)


def release(session: Session, batch_id: int, *, error: str, not_before: datetime | None, now: datetime) -> None:
    """Not accepted, safe to retry (429, connection refused, auth stop): back to planned, not before
    `not_before`. Refused unless the batch is sending. Does not commit."""
    _move_batch(session, batch_id, BatchStatus.PLANNED, now=now, error=error, not_before=not_before, claimed_by=None)
    _move_deliveries(session, batch_id, (DeliveryStatus.SENDING,), DeliveryStatus.PLANNED, now=now)


def split(session: Session, batch_id: int, *, now: datetime) -> int | None:
    """Payload too large (413): keep the first half in this batch, move the second to a new one; both planned.

    Returns the new batch id, or None when the batch has a single recipient (then it is FAILED).
    Refused unless the batch is sending. Does not commit.
    """
    batch = session.get(DeliveryBatchRow, batch_id)
    if batch is None:
        raise NotFound(f"there is no delivery batch {batch_id}")
    ids = session.scalars(select(DeliveryRow.id).where(DeliveryRow.batch_id == batch_id,
                                                       DeliveryRow.status == DeliveryStatus.SENDING)
                          .order_by(DeliveryRow.subscriber_id)).all()
    if len(ids) <= 1:
        mark_failed(session, batch_id, error="the message alone is larger than the provider accepts", now=now)
        return None
    half = len(ids) // 2
    other = _new_batch(session, batch.edition_id, channel=batch.channel, size=len(ids) - half, now=now,
                       sections=batch.sections, content_hash=batch.content_hash)
    _set_status(session, ids[half:], DeliveryStatus.SENDING, DeliveryStatus.PLANNED, now=now, batch_id=other.id)
    release(session, batch_id, error="payload too large: split in two", not_before=None, now=now)
    session.execute(update(DeliveryBatchRow).where(DeliveryBatchRow.id == batch_id).values(size=half))
    return other.id


def recover_interrupted(session: Session, edition_id: int, *, worker: str, now: datetime,
                        stale_after: timedelta | None = None) -> list[int]:
    """Batches left in `sending` by a sender that died mid-request become AMBIGUOUS: this worker's own,
    and (with `stale_after`) anyone's that has not moved for longer than a request can take.
    Returns their ids. Does not commit."""
    claimed_here = DeliveryBatchRow.claimed_by == worker
    condition = claimed_here if stale_after is None else or_(claimed_here, DeliveryBatchRow.updated_at < now - stale_after)
    stuck = session.execute(select(DeliveryBatchRow.id, DeliveryBatchRow.claimed_by).where(
        DeliveryBatchRow.edition_id == edition_id, DeliveryBatchRow.status == BatchStatus.SENDING, condition)).all()
    for batch_id, owner in stuck:
        mark_ambiguous(session, batch_id, now=now,
                       error=f"interrupted: sender {owner} stopped while this batch was sending")
    return [batch_id for batch_id, _ in stuck]


def resolve_ambiguous(session: Session, batch_id: int, *, action: str, by: str, now: datetime) -> None:
    """Staff decision on an ambiguous batch: `resend` it (planned again) or `mark_sent` (accepted), audited.
    Refused for a batch that is not ambiguous, or another action. Does not commit."""
    if action == "resend":
        _move_batch(session, batch_id, BatchStatus.PLANNED, now=now, allowed=(BatchStatus.AMBIGUOUS,), resolved_by=by,
                    claimed_by=None, not_before=None)
        _move_deliveries(session, batch_id, (DeliveryStatus.AMBIGUOUS,), DeliveryStatus.PLANNED, now=now, error=None)
    elif action == "mark_sent":
        _move_batch(session, batch_id, BatchStatus.ACCEPTED, now=now, allowed=(BatchStatus.AMBIGUOUS,), resolved_by=by)
        _move_deliveries(session, batch_id, (DeliveryStatus.AMBIGUOUS,), DeliveryStatus.ACCEPTED, now=now)
    else:
        raise LedgerError(f"unknown action {action!r}: use resend or mark_sent")
    audit(session, actor=by, action=f"delivery.{action}", kind="delivery_batch", ident=batch_id, now=now)


# --- reading ----------------------------------------------------------------------------------------


def batch_counts(session: Session, edition_id: int) -> dict[str, int]:
    """How many of an edition's batches are in each status (every status present, zero or more). Reads only."""
    counts = {str(status): 0 for status in BatchStatus}
    for status, count in session.execute(select(DeliveryBatchRow.status, func.count())
                                         .where(DeliveryBatchRow.edition_id == edition_id)
                                         .group_by(DeliveryBatchRow.status)):
        counts[str(status)] = count
    return counts


def ambiguous_batches(session: Session, edition_id: int | None = None) -> Sequence[DeliveryBatchRow]:
    """Batches whose request may have been accepted, held for staff (of one edition, or all). Reads only."""
    query = select(DeliveryBatchRow).where(DeliveryBatchRow.status == BatchStatus.AMBIGUOUS)
    if edition_id is not None:
        query = query.where(DeliveryBatchRow.edition_id == edition_id)
    return session.scalars(query.order_by(DeliveryBatchRow.id)).all()


def skip_reasons(session: Session, edition_id: int) -> dict[str, int]:
    """How many of an edition's deliveries were skipped, by reason ("paused until ...", "chose no
    sections", "nothing in their sections this edition", "left before sending"). Reads only."""
    rows = session.execute(select(DeliveryRow.error, func.count()).where(
        DeliveryRow.edition_id == edition_id, DeliveryRow.status == DeliveryStatus.SKIPPED)
        .group_by(DeliveryRow.error).order_by(func.count().desc(), DeliveryRow.error))
    return {reason or "skipped": count for reason, count in rows}


def next_retry_at(session: Session, edition_id: int) -> datetime | None:
    """When the earliest planned batch waiting for a rate-limit reset may go."""
    return session.scalar(select(func.min(DeliveryBatchRow.not_before)).where(
        DeliveryBatchRow.edition_id == edition_id, DeliveryBatchRow.status == BatchStatus.PLANNED))


def edition_figures(session: Session, edition_id: int) -> dict[str, Any]:
    """An edition's delivery figures for staff as a dict (recipients, accepted, delivered, bounced,
    complained, opened, failed, pending, the rates...): `state.figures.edition_figures`, the one
    place figures are computed. Reads only."""
    return figures.edition_figures(session, edition_id).as_dict()
