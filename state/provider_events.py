"""The provider's event webhook: what happened to a message after the provider accepted it.

SendGrid's Event Webhook reports delivered, opened, clicked, bounced, dropped, deferred, spam
reports and unsubscribes. Each event is applied once (by its `sg_event_id`, kept in
`provider_events`), stamps its delivery (each timestamp only when still empty), and a bounce,
complaint or unsubscribe suppresses the subscriber through `state.subscribers.suppress`.
The caller verifies the signature and commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from state.models import DeliveryRow, ProviderEventRow, SubscriberRow, SubscriberStatus
from state.subscribers import suppress

_TIMESTAMP_COLUMN = {"delivered": "delivered_at", "bounce": "bounced_at", "spamreport": "complained_at",
                     "open": "opened_at", "click": "clicked_at"}
_SUPPRESS = {"bounce": SubscriberStatus.BOUNCED, "spamreport": SubscriberStatus.COMPLAINED,
             "unsubscribe": SubscriberStatus.UNSUBSCRIBED, "group_unsubscribe": SubscriberStatus.UNSUBSCRIBED}


@dataclass(frozen=True, slots=True)
class EventsReport:
    """What a webhook delivery did: events applied, duplicates skipped, and events matching no delivery."""

    applied: int
    duplicates: int
    unmatched: int  # no sg_event_id, or no delivery it belongs to


def _int(value: object) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def apply_provider_events(session: Session, batch: Iterable[Mapping[str, Any]], *, now: datetime,
                          provider: str = "sendgrid") -> EventsReport:
    """Apply Event Webhook events once each (by `sg_event_id`). Every effect is itself idempotent too
    (timestamps are only set when empty), since SendGrid may resend an event under a new id."""
    items = [e for e in batch if isinstance(e, Mapping)]
    ids = [str(e["sg_event_id"]) for e in items if e.get("sg_event_id")]
    seen = set(session.scalars(select(ProviderEventRow.event_id).where(ProviderEventRow.event_id.in_(ids)))) if ids else set()
    applied = duplicates = unmatched = 0
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
        session.add(ProviderEventRow(provider=provider, event_id=event_id, kind=kind, payload=dict(event),
                                     received_at=now))
        if _apply_one(session, event, kind, now=now):
            applied += 1
        else:
            unmatched += 1
    return EventsReport(applied, duplicates, unmatched)


def _apply_one(session: Session, event: Mapping[str, Any], kind: str, *, now: datetime) -> bool:
    edition_id, subscriber_id = _int(event.get("edition_id")), _int(event.get("subscriber_id"))
    if subscriber_id is None and event.get("email"):
        subscriber_id = session.scalar(select(SubscriberRow.id).where(
            func.lower(SubscriberRow.email) == str(event["email"]).lower()))
    if subscriber_id is None:
        return False
    stamp = datetime.fromtimestamp(_int(event.get("timestamp")) or now.timestamp(), UTC)
    where = [DeliveryRow.subscriber_id == subscriber_id]
    if edition_id is not None:
        where.append(DeliveryRow.edition_id == edition_id)
    column = _TIMESTAMP_COLUMN.get(kind)
    if kind == "bounce" and event.get("type") == "blocked":
        column = None  # a block is temporary: recorded, not a bounce
    if column is not None and edition_id is not None:
        session.execute(update(DeliveryRow).where(*where, getattr(DeliveryRow, column).is_(None))
                        .values({column: stamp, "updated_at": now}))
    elif kind in ("dropped", "deferred", "bounce") and edition_id is not None:
        reason = str(event.get("reason") or event.get("response") or kind)[:500]
        session.execute(update(DeliveryRow).where(*where).values(error=f"{kind}: {reason}", updated_at=now))
    status = _SUPPRESS.get(kind)
    if status is not None and not (kind == "bounce" and event.get("type") == "blocked"):
        suppress(session, subscriber_id, status, reason=f"provider event {kind}", now=now)
    return True
