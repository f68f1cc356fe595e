"""Domain events, written to the `events` table in the same transaction as the change.

A relay (`flows.relay`) emits them to Prefect later; an event for a change that rolled back is
never written, and one that cannot be relayed yet waits in the table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from state.models import EventRow

ITEM_DISCOVERED = "syndicate.item.discovered"
ITEM_UPDATED = "syndicate.item.updated"
SOURCE_FAILED = "syndicate.source.failed"
SOURCE_MOVED = "syndicate.source.moved"
EDITION_BUILT = "syndicate.edition.built"
EDITION_APPROVED = "syndicate.edition.approved"
EDITION_REJECTED = "syndicate.edition.rejected"
EDITION_HELD = "syndicate.edition.held"
EDITION_SENT = "syndicate.edition.sent"
THREAD_DRAFTED = "syndicate.thread.drafted"
POST_APPROVED = "syndicate.post.approved"
POST_REJECTED = "syndicate.post.rejected"
THREAD_PUBLISHED = "syndicate.thread.published"
THREAD_FAILED = "syndicate.thread.failed"
THREAD_CANCELLED = "syndicate.thread.cancelled"
DELIVERY_AMBIGUOUS = "syndicate.delivery.ambiguous"
DELIVERY_FAILED = "syndicate.delivery.failed"
PAUSED = "syndicate.paused"
RESUMED = "syndicate.resumed"
REPUTATION_WARNED = "syndicate.reputation.warned"
REPUTATION_STOPPED = "syndicate.reputation.stopped"
SUBSCRIBER_SUBSCRIBED = "syndicate.subscriber.subscribed"  # became active (confirmed, imported, the API)
SUBSCRIBER_UNSUBSCRIBED = "syndicate.subscriber.unsubscribed"  # left: unsubscribed, bounced or complained


def resource_id(kind: str, ident: object) -> str:
    """The Prefect resource id of a domain object, e.g. `syndicate.item.42`."""
    return f"syndicate.{kind}.{ident}"


def record_event(
    session: Session, name: str, resource: str, payload: Mapping[str, Any] | None = None, *, now: datetime
) -> None:
    """Add a domain event in the caller's transaction (it is relayed only once that commits). Does not commit."""
    session.add(EventRow(name=name, resource_id=resource, payload=dict(payload or {}), occurred_at=now))


def record_events(session: Session, rows: Iterable[tuple[str, str, Mapping[str, Any]]], *, now: datetime) -> int:
    """Bulk form of `record_event` for the gather hot path."""
    values = [
        {"name": name, "resource_id": resource, "payload": dict(payload), "occurred_at": now, "relay_attempts": 0}
        for name, resource, payload in rows
    ]
    if values:
        session.connection().execute(insert(EventRow.__table__), values)
    return len(values)
