"""The provider's event webhook: what happened to a message after the provider accepted it.

SendGrid's Event Webhook reports delivered, opened, clicked, bounced, dropped, deferred, spam
reports and unsubscribes (shapes: tests/fakes/sendgrid_events.py, after SendGrid's Event Webhook
reference). Each event is applied once (by its `sg_event_id`, kept in `provider_events`), stamps
its delivery (each stamp only when still empty, and then counted in the edition's figures:
`state.figures.count_stamps`), and changes the subscriber through `state.subscribers.suppress`:
- a hard bounce (`type` "bounce", or none) and a spam report suppress the address for good;
- a bounce of `type` "blocked" is counted as blocked and suppresses nothing: SendGrid uses it
  when the receiving server refused the message for a reason not about the address (its content,
  our sending IP or domain's reputation, a rate limit), so the address may well work next time;
  a surge of blocks is a reputation problem, which staff see in the figures;
- an unsubscribe or group_unsubscribe unsubscribes;
- a drop whose reason names one of SendGrid's own suppression lists ("Bounced Address", "Spam
  Reporting Address", "Unsubscribed Address") follows it; other drops are only counted;
- processed, deferred, open, click and group_resubscribe change no subscriber (a resubscribe on
  SendGrid's page never re-activates anyone here: only a fresh double opt-in does).
The caller verifies the signature and commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Update, func, insert, select, update
from sqlalchemy.orm import Session

from state import figures
from state.figures import STAMPS
from state.models import DeliveryRow, ProviderEventRow, SubscriberRow, SubscriberStatus
from state.subscribers import suppress

#: The figure each event counts towards (a bounce: "bounced", or "blocked" for a blocked one).
_FIGURE = {"delivered": "delivered", "dropped": "dropped", "deferred": "deferred", "spamreport": "complaints",
           "unsubscribe": "unsubscribes", "group_unsubscribe": "unsubscribes", "open": "opened", "click": "clicked"}
_SUPPRESS = {"spamreport": SubscriberStatus.COMPLAINED, "unsubscribe": SubscriberStatus.UNSUBSCRIBED,
             "group_unsubscribe": SubscriberStatus.UNSUBSCRIBED}
#: A drop's reason (SendGrid's words, any case) when it names one of SendGrid's own suppression lists.
_DROPPED = {"bounced address": SubscriberStatus.BOUNCED, "spam reporting address": SubscriberStatus.COMPLAINED,
            "unsubscribed address": SubscriberStatus.UNSUBSCRIBED}


@dataclass(frozen=True, slots=True)
class EventsReport:
    """What a webhook delivery did: events applied, duplicates skipped, and events matching no delivery."""

    applied: int
    duplicates: int
    unmatched: int  # no sg_event_id, or no delivery it belongs to
    editions: tuple[int, ...] = ()  # the editions the applied events were about (for the reputation guard)


def _int(value: object) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


#: The figures whose events only stamp their delivery (no error kept, no subscriber changed): the
#: bulk of a webhook delivery, applied a statement per edition and figure (`_stamp_many`).
_PLAIN = frozenset({"delivered", "opened", "clicked"})


def apply_provider_events(session: Session, batch: Iterable[Mapping[str, Any]], *, now: datetime,
                          provider: str = "sendgrid") -> EventsReport:
    """Apply Event Webhook events once each (by `sg_event_id`). Every effect is itself idempotent too
    (timestamps are only set when empty), since SendGrid may resend an event under a new id.

    A delivery of 1,000 events costs a handful of statements, not thousands: the events are stored
    in one INSERT, and the stamps of delivered, open and click events that name their subscriber
    and edition (the custom arguments every email we send carries) in one UPDATE per edition and
    figure; the rest (bounces, drops, deferrals, complaints, unsubscribes, events known only by
    address) are applied one by one (`_apply_one`)."""
    items = [e for e in batch if isinstance(e, Mapping)]
    ids = [str(e["sg_event_id"]) for e in items if e.get("sg_event_id")]
    seen = set(session.scalars(select(ProviderEventRow.event_id).where(ProviderEventRow.event_id.in_(ids)))) if ids else set()
    applied = duplicates = unmatched = 0
    editions: dict[int, None] = {}
    rows: list[dict[str, Any]] = []
    plain: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for event in items:
        event_id = str(event.get("sg_event_id") or "")
        if not event_id:
            unmatched += 1
            continue
        if event_id in seen:
            duplicates += 1
            continue
        seen.add(event_id)
        kind = str(event.get("event") or "")
        rows.append({"provider": provider, "event_id": event_id, "kind": kind, "payload": dict(event),
                     "received_at": now})
        edition_id, subscriber_id, figure = _int(event.get("edition_id")), _int(event.get("subscriber_id")), \
            _kind_of(kind, event)
        if edition_id is not None and subscriber_id is not None and figure in _PLAIN:
            plain.setdefault((edition_id, figure), []).append({"subscriber": subscriber_id, "at": _stamp(event, now)})
            applied += 1
            editions[edition_id] = None
        elif _apply_one(session, event, kind, now=now):
            applied += 1
            if edition_id is not None:
                editions[edition_id] = None
        else:
            unmatched += 1
    if rows:
        session.execute(insert(ProviderEventRow), rows)
    counted: dict[int, dict[str, int]] = {}
    for (edition_id, figure), stamps in sorted(plain.items()):
        counted.setdefault(edition_id, {})[figure] = _stamp_many(session, edition_id, figure, stamps, now=now)
    for edition_id, counts in sorted(counted.items()):  # last: each counter row stays locked only until the commit
        figures.count_stamps(session, edition_id, counts, now=now)
    return EventsReport(applied, duplicates, unmatched, tuple(editions))


def _stamp(event: Mapping[str, Any], now: datetime) -> datetime:
    return datetime.fromtimestamp(_int(event.get("timestamp")) or now.timestamp(), UTC)


def _stamp_many(session: Session, edition_id: int, figure: str, stamps: list[dict[str, Any]], *, now: datetime) -> int:
    """Stamp one edition's deliveries with `figure`'s events (each only when still empty, the first
    event winning) in one executemany (`figures.stamp_many`); how many were newly stamped, counted
    by the caller once per edition after every stamp (one counter update, the hot row locked last)."""
    return figures.stamp_many(session, edition_id, figure, [(s["subscriber"], s["at"], now) for s in stamps],
                              count=False)


def _kind_of(kind: str, event: Mapping[str, Any]) -> str | None:
    """The figure an event counts towards (`state.figures.STAMPS`), or None for one only recorded."""
    if kind == "bounce":
        return "blocked" if str(event.get("type") or "bounce") == "blocked" else "bounced"
    return _FIGURE.get(kind)


def _apply_one(session: Session, event: Mapping[str, Any], kind: str, *, now: datetime) -> bool:
    edition_id, subscriber_id = _int(event.get("edition_id")), _int(event.get("subscriber_id"))
    if subscriber_id is None and event.get("email"):
        subscriber_id = session.scalar(select(SubscriberRow.id).where(
            func.lower(SubscriberRow.email) == str(event["email"]).lower()))
    if subscriber_id is None:
        return False
    stamp = _stamp(event, now)
    figure = _kind_of(kind, event)
    if edition_id is not None and figure is not None:
        where = (DeliveryRow.subscriber_id == subscriber_id, DeliveryRow.edition_id == edition_id)
        column = getattr(DeliveryRow, STAMPS[figure])
        values: dict[str, object] = {STAMPS[figure]: stamp, "updated_at": now}
        if kind in ("dropped", "deferred", "bounce"):
            values["error"] = f"{kind}: {_reason(event, kind)}"
        stamped = _dml(session, update(DeliveryRow).where(*where, column.is_(None)).values(values)).rowcount or 0
        if not stamped and "error" in values:  # a later deferral or bounce: its reason is the news
            session.execute(update(DeliveryRow).where(*where).values(error=values["error"], updated_at=now))
        figures.count_stamps(session, edition_id, {figure: stamped}, now=now)
    status = _suppression(kind, event)
    if status is not None:
        suppress(session, subscriber_id, status, reason=f"provider event {kind}: {_reason(event, kind)}"[:500],
                 now=now, edition_id=edition_id)
    return True


def _reason(event: Mapping[str, Any], kind: str) -> str:
    return str(event.get("reason") or event.get("response") or kind)[:400]


def _suppression(kind: str, event: Mapping[str, Any]) -> SubscriberStatus | None:
    """What an event does to the subscriber: a hard bounce and a spam report suppress the address
    for good, an unsubscribe unsubscribes; a blocked bounce does nothing (see the module's notes).
    A drop says SendGrid already suppresses the address: we follow when its reason says why."""
    if kind == "bounce":
        return None if str(event.get("type") or "bounce") == "blocked" else SubscriberStatus.BOUNCED
    if kind == "dropped":
        return _DROPPED.get(str(event.get("reason") or "").strip().lower())
    return _SUPPRESS.get(kind)


def _dml(session: Session, statement: Update, params: list[dict[str, Any]] | None = None) -> CursorResult[Any]:
    return cast(CursorResult[Any], session.execute(statement, params))
