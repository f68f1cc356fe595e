"""Everything held about one address, as JSON (UK GDPR article 15, the right of access).

`export_address` gathers the subscriber row, their consent record, every change to them (with its
door), their deliveries (edition, status, times), the provider events about them, their clicks
and opens when per-reader tracking kept any, their suppressions, and whether the address was
erased. Reads only; the caller audits who asked (`audit_export`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from state.erasure import canonical_address, is_erased
from state.ledger import audit
from state.models import (
    ClickRow,
    DeliveryRow,
    EditionRow,
    ProviderEventRow,
    ReaderClickRow,
    ReaderOpenRow,
    SubscriberRow,
    SuppressionRow,
)
from state.roles import require_role
from state.subscriber_changes import changes_of

EXPORTING_ROLES = ("admin",)  # who sees every subscriber's address on the desk
FORMAT = "syndicate.subscriber-export.v1"


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _subscriber(row: SubscriberRow) -> dict[str, Any]:
    return {"id": row.id, "email": row.email, "name": row.name, "status": str(row.status),
            "status_reason": row.status_reason, "status_changed_at": _when(row.status_changed_at),
            "created_at": _when(row.created_at), "sections": row.sections, "tags": list(row.tags or []),
            "paused_until": _when(row.paused_until)}


def _deliveries(session: Session, subscriber_id: int) -> list[dict[str, Any]]:
    query = (select(DeliveryRow, EditionRow.slug, EditionRow.subject).join(EditionRow, EditionRow.id == DeliveryRow.edition_id)
             .where(DeliveryRow.subscriber_id == subscriber_id).order_by(DeliveryRow.edition_id))
    out = []
    for row, slug, subject in session.execute(query):
        out.append({"edition_id": row.edition_id, "edition": slug, "subject": subject, "status": str(row.status),
                    "provider_message_id": row.provider_message_id, "error": row.error,
                    **{name: _when(getattr(row, name)) for name in (
                        "delivered_at", "bounced_at", "complained_at", "opened_at", "clicked_at", "blocked_at",
                        "dropped_at", "deferred_at", "unsubscribed_at", "updated_at")}})
    return out


def _events(session: Session, address: str, subscriber_id: int | None) -> list[dict[str, Any]]:
    about = func.lower(ProviderEventRow.payload["email"].as_string()) == address
    if subscriber_id is not None:
        about = or_(about, ProviderEventRow.payload["subscriber_id"].as_string() == str(subscriber_id))
    rows = session.scalars(select(ProviderEventRow).where(about).order_by(ProviderEventRow.received_at,
                                                                         ProviderEventRow.id))
    return [{"provider": r.provider, "kind": r.kind, "event_id": r.event_id, "received_at": _when(r.received_at),
             "payload": r.payload} for r in rows]


def _clicks(session: Session, subscriber_id: int) -> list[dict[str, Any]]:
    query = (select(ReaderClickRow, ClickRow.url)
             .outerjoin(ClickRow, (ClickRow.edition_id == ReaderClickRow.edition_id) & (ClickRow.link == ReaderClickRow.link))
             .where(ReaderClickRow.subscriber_id == subscriber_id).order_by(ReaderClickRow.edition_id, ReaderClickRow.id))
    return [{"edition_id": r.edition_id, "link": r.link, "url": url, "clicks": r.clicks,
             "first_at": _when(r.first_at), "last_at": _when(r.last_at)} for r, url in session.execute(query)]


def _opens(session: Session, subscriber_id: int) -> list[dict[str, Any]]:
    rows = session.scalars(select(ReaderOpenRow).where(ReaderOpenRow.subscriber_id == subscriber_id)
                           .order_by(ReaderOpenRow.edition_id))
    return [{"edition_id": r.edition_id, "opens": r.opens, "first_at": _when(r.first_at), "last_at": _when(r.last_at)}
            for r in rows]


def _suppressions(session: Session, address: str, subscriber_id: int | None) -> list[dict[str, Any]]:
    about = func.lower(SuppressionRow.email) == address
    if subscriber_id is not None:
        about = or_(about, SuppressionRow.subscriber_id == subscriber_id)
    rows = session.scalars(select(SuppressionRow).where(about).order_by(SuppressionRow.id))
    return [{"kind": r.kind, "detail": r.detail, "edition_id": r.edition_id, "suppressed_at": _when(r.suppressed_at),
             "lifted_at": _when(r.lifted_at), "lifted_by": r.lifted_by, "lifted_reason": r.lifted_reason} for r in rows]


def export_address(session: Session, email: str, *, now: datetime) -> dict[str, Any]:
    """Everything held about `email` (any case), as a JSON-ready dict. An address we hold nothing
    about gives `"subscriber": null` and empty lists. Reads only."""
    address = canonical_address(email)
    row = session.scalars(select(SubscriberRow).where(func.lower(SubscriberRow.email) == address)).first()
    sid = row.id if row is not None else None
    return {
        "format": FORMAT,
        "email": row.email if row is not None else email.strip(),
        "exported_at": now.isoformat(),
        "subscriber": _subscriber(row) if row is not None else None,
        "consent": {"source": row.consent_source, "given_at": _when(row.consent_at),
                    "confirmed_at": _when(row.confirmed_at)} if row is not None else None,
        "changes": [{"at": _when(c.at), "door": c.door, "field": c.field, "old": c.old, "new": c.new, "by": c.by}
                    for c in changes_of(session, sid)] if sid is not None else [],
        "deliveries": _deliveries(session, sid) if sid is not None else [],
        "provider_events": _events(session, address, sid),
        "clicks": _clicks(session, sid) if sid is not None else [],
        "opens": _opens(session, sid) if sid is not None else [],
        "suppressions": _suppressions(session, address, sid),
        "erased": is_erased(session, address),
    }


def audit_export(session: Session, email: str, *, by: str, now: datetime, subscriber_id: int | None,
                 door: str) -> str:
    """Check that `by` may export a subscriber's data (admins) and audit it; who, as recorded.
    Does not commit."""
    who = require_role(session, by, EXPORTING_ROLES, "export a subscriber's data")
    audit(session, actor=who, action="subscriber.export", kind="subscriber", ident=subscriber_id, now=now,
          email=canonical_address(email), door=door)
    return who
