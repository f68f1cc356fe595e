"""Figures: what became of an edition's messages, and totals over a span of time. The one place
that computes them: the desk, the reports, `syndicate status` and the reputation guard read these.

Where the numbers come from (all from the ledger):
- `recipients`, `accepted`, `failed`, `ambiguous`, `skipped`, `pending`: the deliveries' statuses.
  While an edition is being sent they are counted live (the `ix_deliveries_edition_status` index
  makes that an index scan); when it is sent they are frozen in its `edition_counters` row
  (`settle`), since a sent edition's deliveries never change status again.
- `delivered`, `bounced` (hard bounces), `blocked` (SendGrid's soft "blocked" bounces), `dropped`,
  `deferred`, `complaints` (spam reports), `unsubscribes`, `opened`, `clicked`: counters kept in
  `edition_counters`, moved by `count_stamps` in the same transaction as the delivery stamp they
  count, and only when the stamp was empty, so each delivery counts once per kind however often
  the provider repeats itself. `recount` rebuilds them from the stamps (and checks them in tests).

So reading an edition's figures is one primary-key read once it is sent (and one index scan
while it is sending), whatever the size of the list: measured in tests/test_figures_scale.py.

Rates: properties of `EditionFigures` (`compose.figures`, where each rate is defined once).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, and_, bindparam, case, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from compose.figures import EditionFigures
from state.models import (
    DeliveryRow,
    DeliveryStatus,
    EditionCountersRow,
    EditionRow,
    EditionStatus,
    SubscriberRow,
    SubscriberStatus,
)

#: Event counters, each with the delivery stamp that counts it once per delivery.
STAMPS: Mapping[str, str] = {
    "delivered": "delivered_at", "bounced": "bounced_at", "blocked": "blocked_at", "dropped": "dropped_at",
    "deferred": "deferred_at", "complaints": "complained_at", "unsubscribes": "unsubscribed_at",
    "opened": "opened_at", "clicked": "clicked_at",
}
#: Status counts, frozen when an edition is sent.
STATUS_COUNTS = ("recipients", "accepted", "failed", "ambiguous", "skipped", "pending")
#: Statuses of a subscriber who left the list (when: `status_changed_at`).
_LEFT = (SubscriberStatus.UNSUBSCRIBED, SubscriberStatus.BOUNCED, SubscriberStatus.COMPLAINED)


def _status_counts(session: Session, edition_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """Live status counts of these editions' deliveries, by edition."""
    ids = list(edition_ids)
    out = {ident: dict.fromkeys(STATUS_COUNTS, 0) for ident in ids}
    if not ids:
        return out
    d = DeliveryRow
    for edition_id, status, count in session.execute(
            select(d.edition_id, d.status, func.count()).where(d.edition_id.in_(ids))
            .group_by(d.edition_id, d.status)):
        counts = out[edition_id]
        counts["recipients"] += count
        if status in (DeliveryStatus.PLANNED, DeliveryStatus.SENDING):
            counts["pending"] += count
        elif str(status) in counts:
            counts[str(status)] += count
    return out


def _figures(edition_id: int, row: EditionCountersRow | None, live: Mapping[str, int] | None) -> EditionFigures:
    events = {name: getattr(row, name) if row is not None else 0 for name in STAMPS}
    if row is not None and row.settled_at is not None:
        statuses = {name: getattr(row, name) for name in STATUS_COUNTS}
    else:
        statuses = dict(live or dict.fromkeys(STATUS_COUNTS, 0))
    return EditionFigures(edition_id, **events, **statuses)


def edition_figures(session: Session, edition_id: int) -> EditionFigures:
    """One edition's figures (all zero for an edition never sent). Reads only."""
    row = session.get(EditionCountersRow, edition_id)
    live = None if row is not None and row.settled_at is not None else _status_counts(session, [edition_id])[edition_id]
    return _figures(edition_id, row, live)


def many_figures(session: Session, edition_ids: Iterable[int]) -> dict[int, EditionFigures]:
    """Several editions' figures at once (a desk list): two queries whatever their number. Reads only."""
    ids = list(dict.fromkeys(edition_ids))
    if not ids:
        return {}
    rows = {row.edition_id: row for row in session.scalars(
        select(EditionCountersRow).where(EditionCountersRow.edition_id.in_(ids)))}
    unsettled = [i for i in ids if i not in rows or rows[i].settled_at is None]
    live = _status_counts(session, unsettled)
    return {i: _figures(i, rows.get(i), live.get(i)) for i in ids}


def sent_moment() -> Any:
    """When an edition counts as sent for spans of time: when it was sent, or, while it is being
    sent, its send time (or when it was built)."""
    return func.coalesce(EditionRow.sent_at, EditionRow.scheduled_for, EditionRow.built_at)


def editions_between(session: Session, *, since: datetime, until: datetime) -> list[int]:
    """Editions sent (or being sent) in [since, until), oldest first. Reads only."""
    moment = sent_moment()
    return list(session.scalars(select(EditionRow.id).where(
        EditionRow.status.in_([EditionStatus.SENDING, EditionStatus.SENT]), moment >= since, moment < until)
        .order_by(moment, EditionRow.id)))


def rolling_figures(session: Session, *, since: datetime, until: datetime) -> EditionFigures:
    """Totals over the editions sent (or being sent) in [since, until): `edition_id` None and
    `editions` how many. The rates are over those editions' messages taken together. Reads only."""
    total = EditionFigures(None, editions=0)
    for figures in many_figures(session, editions_between(session, since=since, until=until)).values():
        total = total + figures
    return total


def list_size_history(session: Session, *, until: datetime, weeks: int) -> list[tuple[date, int]]:
    """Active subscribers at the end of each of the `weeks` weeks up to `until`, oldest first:
    (the week's last day, how many were active then). Read from when each subscriber arrived
    (`confirmed_at`, or `created_at`) and left (`status_changed_at` of a status that left), so a
    week's figure is exact as long as nobody came back after leaving (a fresh opt-in after an
    unsubscribe counts from the return). Reads only.

    Who was active at the end of a week is who is active now, less those of them who arrived
    after it, plus those who left after it having arrived by then: the active are counted from
    the status index, and only the subscribers who arrived or left within the span are read
    (ix_subscribers_status_arrived, ix_subscribers_status_changed), not every subscriber."""
    if weeks < 1:
        return []
    arrived = func.coalesce(SubscriberRow.confirmed_at, SubscriberRow.created_at)
    changed = SubscriberRow.status_changed_at
    ends = [until - timedelta(weeks=back) for back in range(weeks - 1, -1, -1)]
    active = session.scalar(select(func.count()).select_from(SubscriberRow)
                            .where(SubscriberRow.status == SubscriberStatus.ACTIVE)) or 0
    # the active who arrived after a week's end: not yet there then
    came = session.execute(select(*(func.count(case((arrived > end, 1))) for end in ends))
                           .where(SubscriberRow.status == SubscriberStatus.ACTIVE, arrived > ends[0])).one()
    # those who left after a week's end, having arrived by then: still there then
    went = session.execute(select(*(func.count(case((and_(changed > end, arrived <= end), 1))) for end in ends))
                           .where(SubscriberRow.status.in_(_LEFT), changed > ends[0])).one()
    return [((end - timedelta(microseconds=1)).date(), active - int(late) + int(gone))
            for end, late, gone in zip(ends, came, went, strict=True)]


# --- writing (state.provider_events, flows.stages.deliver) ----------------------------------------


def _insert(session: Session) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(EditionCountersRow)


def _ensure(session: Session, edition_id: int, *, now: datetime) -> None:
    """The edition's counters row, created at zero if missing (concurrent writers both safe)."""
    values = {name: 0 for name in (*STAMPS, *STATUS_COUNTS)}
    session.execute(_insert(session).values(edition_id=edition_id, updated_at=now, **values)
                    .on_conflict_do_nothing(index_elements=["edition_id"]))


def count_stamps(session: Session, edition_id: int, counted: Mapping[str, int], *, now: datetime) -> None:
    """Add to the edition's event counters (`counted`: counter name -> deliveries newly stamped).
    The caller stamped those deliveries in this transaction. Does not commit."""
    moves = {name: n for name, n in counted.items() if n}
    unknown = set(moves) - set(STAMPS)
    if unknown:
        raise ValueError(f"not an event counter: {', '.join(sorted(unknown))}")
    if not moves:
        return
    _ensure(session, edition_id, now=now)
    c = EditionCountersRow
    session.execute(update(c).where(c.edition_id == edition_id)
                    .values({getattr(c, name): getattr(c, name) + n for name, n in moves.items()} | {c.updated_at: now}))


def stamp_many(session: Session, edition_id: int, figure: str, stamps: Sequence[tuple[int, datetime, datetime]], *,
               count: bool = True) -> int:
    """Stamp many deliveries of one edition at once with `figure`'s event: each (subscriber id, event time, now)
    stamps that subscriber's delivery when its stamp is still empty (the first one for a
    subscriber winning), in one executemany in subscriber order (two transactions lock the
    deliveries they share in the same order), and those newly stamped are counted in one counter
    update (unless `count` is False: the caller counts them with `count_stamps`, in this
    transaction). Returns how many were new. Does not commit."""
    if not stamps:
        return 0
    column = STAMPS[figure]
    table = DeliveryRow.__table__
    first: dict[int, tuple[datetime, datetime]] = {}
    for subscriber_id, at, now in stamps:
        first.setdefault(subscriber_id, (at, now))
    statement = (update(table).where(table.c.edition_id == edition_id, table.c.subscriber_id == bindparam("subscriber"),
                                     table.c[column].is_(None))
                 .values({column: bindparam("at"), "updated_at": bindparam("now")}))
    result = cast(CursorResult[Any], session.execute(
        statement, [{"subscriber": s, "at": at, "now": now} for s, (at, now) in sorted(first.items())]))
    stamped = int(result.rowcount or 0)  # an executemany's rows summed by the drivers (checked in tests)
    if count:
        count_stamps(session, edition_id, {figure: stamped}, now=max(now for _, _, now in stamps))
    return stamped


def settle(session: Session, edition_id: int, *, now: datetime) -> None:
    """Freeze the edition's status counts: it was sent, its deliveries will not change status
    again. Called in the transaction that marks it sent. Does not commit."""
    _ensure(session, edition_id, now=now)
    live = _status_counts(session, [edition_id])[edition_id]
    c = EditionCountersRow
    session.execute(update(c).where(c.edition_id == edition_id).values(**live, settled_at=now, updated_at=now))


def recount(session: Session, edition_id: int, *, now: datetime) -> EditionFigures:
    """Rebuild the edition's event counters from its deliveries' stamps (after a repair by hand, or
    to check them); returns the figures. Does not commit."""
    d = DeliveryRow
    counts = session.execute(select(*(func.count(getattr(d, column)) for column in STAMPS.values()))
                             .where(d.edition_id == edition_id)).one()
    _ensure(session, edition_id, now=now)
    c = EditionCountersRow
    session.execute(update(c).where(c.edition_id == edition_id)
                    .values(dict(zip(STAMPS, (int(n) for n in counts), strict=True)) | {"updated_at": now}))
    return edition_figures(session, edition_id)
