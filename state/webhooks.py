"""Outgoing webhooks in the ledger: endpoints (added and removed by admins, audited), and one
delivery row per event per endpoint with every attempt's outcome.

Events come from the `events` table (written in the same transaction as the change they announce):
`fan_out` turns each new row of a wanted kind into a delivery for every endpoint that asked for it,
advancing the endpoint's own cursor (`after_event_id`), so an endpoint added today is sent what
happens from today, and nothing is lost while the relay is stopped. The body is built once, at fan
out, and signed as is on every attempt (`compose.webhooks`).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from compose.webhooks import WebhookLimits, derive_secret, retry_wait, secret_text
from state import events
from state.errors import LedgerError, NotFound
from state.ledger import audit
from state.models import EditionRow, EventRow, SubscriberRow, WebhookDeliveryRow, WebhookEndpointRow
from state.roles import require_role

#: The events an endpoint may ask for, and the domain event each comes from.
WEBHOOK_EVENTS: Mapping[str, str] = {
    "subscriber.subscribed": events.SUBSCRIBER_SUBSCRIBED,
    "subscriber.unsubscribed": events.SUBSCRIBER_UNSUBSCRIBED,
    "edition.sent": events.EDITION_SENT,
}
_BY_DOMAIN = {domain: name for name, domain in WEBHOOK_EVENTS.items()}
ADMIN_ROLES = ("admin",)


class WebhookRefused(LedgerError):
    """An endpoint that cannot be added as asked: the message says what to change."""


def signing_secret(server_key: str, endpoint: WebhookEndpointRow) -> bytes:
    return derive_secret(server_key, endpoint.salt)


def check_events(names: Sequence[str]) -> list[str]:
    """The event names, checked (`WebhookRefused` naming the known ones) and without repeats."""
    wanted = [n.strip() for name in names for n in name.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in WEBHOOK_EVENTS]
    if unknown or not wanted:
        raise WebhookRefused(f"{'unknown event(s) ' + ', '.join(unknown) if unknown else 'no events'}: "
                             f"use one or more of {', '.join(WEBHOOK_EVENTS)}")
    return list(dict.fromkeys(wanted))


def check_url(url: str) -> str:
    parts = urlsplit((url or "").strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise WebhookRefused(f"{url!r} is not a web address: give the full https://... address of the receiver")
    if parts.username or parts.password:
        raise WebhookRefused("put no user name or password in the address: receivers check the signature instead")
    return parts.geturl()


def add_endpoint(session: Session, url: str, event_names: Sequence[str], *, by: str, server_key: str,
                 now: datetime) -> tuple[WebhookEndpointRow, str]:
    """A new endpoint (admins only, audited) and its signing secret (`whsec_...`), shown only now. It is
    sent the events that happen from now on."""
    who = require_role(session, by, ADMIN_ROLES, "add webhooks")
    address, wanted = check_url(url), check_events(event_names)
    after = session.scalar(select(func.max(EventRow.id))) or 0
    row = WebhookEndpointRow(url=address, events=wanted, salt=secrets.token_hex(16), after_event_id=after,
                             created_by=who, created_at=now)
    session.add(row)
    session.flush()
    audit(session, actor=who, action="webhook-add", kind="webhook", ident=row.id, now=now, url=address, events=wanted)
    return row, secret_text(signing_secret(server_key, row))


def endpoints(session: Session, *, removed: bool = False) -> Sequence[WebhookEndpointRow]:
    """The endpoints in use (and removed ones too when `removed`), oldest first. Reads only."""
    query = select(WebhookEndpointRow).order_by(WebhookEndpointRow.id)
    return session.scalars(query if removed else query.where(WebhookEndpointRow.removed_at.is_(None))).all()


def remove_endpoint(session: Session, endpoint_id: int, *, by: str, now: datetime) -> WebhookEndpointRow:
    """Stop sending to an endpoint (admins only, audited). Its deliveries stay for the record; those
    still waiting are given up."""
    who = require_role(session, by, ADMIN_ROLES, "remove webhooks")
    row = session.get(WebhookEndpointRow, endpoint_id)
    if row is None or row.removed_at is not None:
        raise NotFound(f"there is no webhook {endpoint_id} in use: `syndicate webhooks list` shows them")
    row.removed_at, row.removed_by = now, who
    for delivery in session.scalars(select(WebhookDeliveryRow).where(
            WebhookDeliveryRow.endpoint_id == row.id, WebhookDeliveryRow.delivered_at.is_(None),
            WebhookDeliveryRow.gave_up_at.is_(None))):
        delivery.gave_up_at, delivery.next_attempt_at = now, None
        delivery.last_error = f"the webhook was removed by {who}"
    audit(session, actor=who, action="webhook-remove", kind="webhook", ident=row.id, now=now, url=row.url)
    return row


# --- events to deliveries ----------------------------------------------------------------------------


def fan_out(session: Session, *, now: datetime, batch: int = 500) -> int:
    """Turn the events each endpoint has not looked at yet into deliveries; returns how many were made.
    Does not commit."""
    made = 0
    for endpoint in endpoints(session):
        rows = session.scalars(select(EventRow).where(EventRow.id > endpoint.after_event_id)
                               .order_by(EventRow.id).limit(batch)).all()
        wanted = {WEBHOOK_EVENTS[name] for name in endpoint.events if name in WEBHOOK_EVENTS}
        for row in rows:
            if row.name in wanted:
                session.add(_delivery(session, endpoint, row, now=now))
                made += 1
        if rows:
            endpoint.after_event_id = rows[-1].id
    session.flush()
    return made


def _delivery(session: Session, endpoint: WebhookEndpointRow, row: EventRow, *, now: datetime) -> WebhookDeliveryRow:
    name = _BY_DOMAIN[row.name]
    body = {"type": name, "timestamp": _iso(row.occurred_at), "data": event_data(session, row)}
    return WebhookDeliveryRow(endpoint_id=endpoint.id, event_row_id=row.id, message_id=f"msg_{uuid.uuid4().hex}",
                              event=name, payload=body, attempts=0, next_attempt_at=now, created_at=now)


def event_data(session: Session, row: EventRow) -> dict[str, Any]:
    """What a webhook says about the subscriber or edition an event is about, read now."""
    payload = dict(row.payload or {})
    ident = int(payload.get("id") or 0)
    if row.name == events.EDITION_SENT:
        edition = session.get(EditionRow, ident)
        figures = {k: v for k, v in payload.items() if k not in ("id", "slug") and isinstance(v, int)}
        data: dict[str, Any] = {"id": ident, "slug": payload.get("slug"), "figures": figures}
        if edition is not None:
            data.update(subject=edition.subject, sent_at=_iso(edition.sent_at))
        return data
    subscriber = session.get(SubscriberRow, ident)
    if subscriber is None:  # erased since: say only that it happened
        return {"id": ident}
    data = {"id": ident, "email": subscriber.email, "name": subscriber.name, "status": str(subscriber.status)}
    if row.name == events.SUBSCRIBER_UNSUBSCRIBED:
        data["reason"] = payload.get("status", "unsubscribed")
    else:
        data.update(sections=subscriber.sections, tags=list(subscriber.tags or []))
    return data


# --- attempts ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Due:
    """A delivery to attempt now, detached from the session."""

    delivery_id: int
    message_id: str
    url: str
    salt: str
    payload: dict[str, Any]


def due_deliveries(session: Session, *, now: datetime, limit: int = WebhookLimits.per_pass) -> list[Due]:
    """The deliveries whose next attempt is due, oldest first, for endpoints in use. Reads only."""
    d, e = WebhookDeliveryRow, WebhookEndpointRow
    rows = session.execute(select(d, e).join(e, e.id == d.endpoint_id).where(
        d.delivered_at.is_(None), d.gave_up_at.is_(None), d.next_attempt_at <= now, e.removed_at.is_(None))
        .order_by(d.next_attempt_at, d.id).limit(limit)).all()
    return [Due(delivery.id, delivery.message_id, endpoint.url, endpoint.salt, dict(delivery.payload))
            for delivery, endpoint in rows]


def record_attempt(session: Session, delivery_id: int, *, now: datetime, status: int | None,
                   error: str | None) -> WebhookDeliveryRow:
    """One attempt's outcome: delivered on a 2xx answer; else tried again after `retry_wait`, or given
    up after the last attempt (the error stays visible). Does not commit."""
    row = session.get(WebhookDeliveryRow, delivery_id)
    if row is None:
        raise NotFound(f"there is no webhook delivery {delivery_id}")
    row.attempts += 1
    row.last_attempt_at, row.last_status = now, status
    if status is not None and 200 <= status < 300:
        row.delivered_at, row.next_attempt_at, row.last_error = now, None, None
        return row
    row.last_error = (error or f"answered HTTP {status}")[: WebhookLimits.error_chars]
    wait = retry_wait(row.attempts)
    if wait is None:
        row.gave_up_at, row.next_attempt_at = now, None
    else:
        row.next_attempt_at = now + wait
    return row


def deliveries(session: Session, *, endpoint_id: int | None = None, failing: bool = False,
               limit: int = 50) -> Sequence[WebhookDeliveryRow]:
    """The latest deliveries (of one endpoint; only those not delivered when `failing`), newest first."""
    query = select(WebhookDeliveryRow).order_by(WebhookDeliveryRow.id.desc()).limit(limit)
    if endpoint_id is not None:
        query = query.where(WebhookDeliveryRow.endpoint_id == endpoint_id)
    if failing:
        query = query.where(WebhookDeliveryRow.delivered_at.is_(None),
                            or_(WebhookDeliveryRow.attempts > 0, WebhookDeliveryRow.gave_up_at.is_not(None)))
    return session.scalars(query).all()


def delivery_state(row: WebhookDeliveryRow) -> str:
    """delivered, failed (given up), retrying, or waiting (not tried yet)."""
    if row.delivered_at is not None:
        return "delivered"
    if row.gave_up_at is not None:
        return "failed"
    return "retrying" if row.attempts else "waiting"


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC).isoformat().replace("+00:00", "Z")


def forget_address(session: Session, email: str) -> int:
    """Delete the deliveries whose body names `email` (for erasure on request); returns how many.
    Does not commit."""
    address = email.strip().lower()
    gone = 0
    for row in session.scalars(select(WebhookDeliveryRow).where(WebhookDeliveryRow.event.like("subscriber.%"))):
        data = (row.payload or {}).get("data") or {}
        if str(data.get("email", "")).lower() == address:
            session.delete(row)
            gone += 1
    return gone
