"""Subscribers changed through the JSON API (`/api/v1`): an upsert by email, and unsubscribe.

What an upsert does (the rules a membership system's sync can rely on):

- a new address with a consent record (`consent_source`, `consent_at`: where and when the person
  agreed, e.g. "membership form 2026", as a membership system keeps it) becomes active at once,
  as an import does; without one it is *pending* and the caller sends the confirmation email the
  sign-up form sends (double opt-in): nobody is mailed on the API's word alone;
- a known address gets the name, sections and tags given (what is left out stays as it is); a
  pending one given a consent record becomes active;
- unsubscribe always wins: an address that unsubscribed, bounced, complained, is suppressed or was
  erased is never re-subscribed or changed (`AddressLeft`, nothing written); only the person
  coming back through the sign-up form, or an admin, can undo that.

Every change is recorded (`record_change`, door "api", by the token's name); events for outgoing
webhooks come from `state.subscribers` (`subscriber.subscribed`, `subscriber.unsubscribed`).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from state.errors import LedgerError
from state.ledger import audit
from state.lifecycle import check_initial, move
from state.models import SUBSCRIBER_LIFECYCLE, SubscriberRow, SubscriberStatus
from state.subscriber_changes import record_change
from state.subscribers import LEFT, announce_subscribed, find, suppression_of, unsubscribe


class AddressLeft(LedgerError):
    """The address left (unsubscribed, bounced, complained, suppressed or erased): an API call never
    brings it back. The message says why and the only ways back."""


@dataclass(frozen=True, slots=True)
class Upsert:
    """What the API asks for one address; None (or absent) means "leave as it is"."""

    email: str
    name: str | None = None
    sections: list[str] | None = None  # [] is refused by the caller; None leaves them (NULL = every section)
    every_section: bool = False  # true: clear the choice, the reader gets every section
    tags: list[str] | None = None
    consent_source: str | None = None
    consent_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class UpsertResult:
    """The subscriber after the upsert and what happened: created, activated, the fields changed, and
    whether a confirmation email should go (a new address without consent)."""

    subscriber: SubscriberRow
    created: bool = False
    activated: bool = False
    changed: tuple[str, ...] = field(default=())
    confirm: bool = False


def is_erased(session: Session, email: str) -> bool:
    """Whether the address was erased on request (GDPR): `state.erasure.is_erased`, once that module
    exists in this install; until then nothing is ever erased."""
    try:
        erasure: Any = importlib.import_module("state.erasure")
    except ModuleNotFoundError:
        return False
    return bool(erasure.is_erased(session, email))


def refusal(session: Session, email: str, row: SubscriberRow | None) -> str | None:
    """Why the API may not touch this address (it left), or None."""
    if is_erased(session, email):
        return (f"{email} was erased at its owner's request: the API, an import and the sign-up form never add it "
                "again. An admin re-adds it with the person's fresh consent (`syndicate subscribers readd`)")
    suppression = suppression_of(session, email)
    if suppression is not None:
        return suppression.refusal(email)
    if row is not None and row.status in LEFT:
        when = f" on {row.status_changed_at:%Y-%m-%d}" if row.status_changed_at else ""
        return (f"{row.email} is {row.status}{when}: unsubscribe always wins, so the API never re-subscribes or "
                "changes it. The person comes back by signing up again and confirming from their inbox")
    return None


def upsert_subscriber(session: Session, wanted: Upsert, *, by: str, now: datetime) -> UpsertResult:
    """Create or update the subscriber `wanted.email` (already normalised and checked) for the API token
    `by`. Refused (`AddressLeft`) for an address that left; nothing is written then. Does not commit."""
    row = find(session, wanted.email)
    reason = refusal(session, wanted.email, row)
    if reason is not None:
        raise AddressLeft(reason)
    consent = f"api:{by}:{wanted.consent_source}" if wanted.consent_source else None
    created = activated = False
    if row is None:
        status = SubscriberStatus.ACTIVE if consent else SubscriberStatus.PENDING
        check_initial(SUBSCRIBER_LIFECYCLE, status)
        row = SubscriberRow(email=wanted.email, name="", status=status,
                            consent_source=consent or f"api:{by}", consent_at=wanted.consent_at or now,
                            confirmed_at=now if consent else None, status_changed_at=now, created_at=now,
                            tags=[])
        session.add(row)
        session.flush()
        created = True
        record_change(session, row, door="api", field="status", old=None, new=str(status), now=now, by=by)
        if consent:
            announce_subscribed(session, row.id, door="api", now=now)
    elif row.status == SubscriberStatus.PENDING and consent:
        record_change(session, row, door="api", field="status", old=str(row.status), new="active", now=now, by=by)
        move(row, SubscriberStatus.ACTIVE)
        row.consent_source, row.consent_at = consent, wanted.consent_at or now
        row.confirmed_at, row.status_changed_at, row.status_reason = now, now, f"consent given through the API ({by})"
        announce_subscribed(session, row.id, door="api", now=now)
        activated = True
    changed = _apply(session, row, wanted, by=by, now=now)
    if created or activated or changed:
        audit(session, actor=f"api:{by}", action="api-upsert", kind="subscriber", ident=row.id, now=now,
              created=created, activated=activated, changed=list(changed))
    return UpsertResult(subscriber=row, created=created, activated=activated, changed=() if created else changed,
                        confirm=created and not consent)


def _apply(session: Session, row: SubscriberRow, wanted: Upsert, *, by: str, now: datetime) -> tuple[str, ...]:
    """Set the fields given and record each change; returns the names of those that changed."""
    updates: list[tuple[str, Any]] = []
    if wanted.name is not None:
        updates.append(("name", wanted.name))
    if wanted.every_section:
        updates.append(("sections", None))
    elif wanted.sections is not None:
        updates.append(("sections", list(wanted.sections)))
    if wanted.tags is not None:
        updates.append(("tags", list(wanted.tags)))
    changed: list[str] = []
    for name, value in updates:
        old = getattr(row, name)
        old = list(old) if isinstance(old, list) else old
        if old != value:
            record_change(session, row, door="api", field=name, old=old, new=value, now=now, by=by)
            setattr(row, name, value)
            changed.append(name)
    return tuple(changed)


def unsubscribe_subscriber(session: Session, email: str, *, by: str, reason: str, now: datetime) -> SubscriberRow:
    """Unsubscribe the address for the API token `by` (idempotent; `NotFound` for an unknown address).
    Recorded with door "api". Does not commit."""
    row = find(session, email)
    before = str(row.status) if row is not None else None
    text = " ".join((reason or "").split())[:200]
    row = unsubscribe(session, email, reason=f"api ({by})" + (f": {text}" if text else ""), now=now,
                      by=f"api:{by}")
    record_change(session, row, door="api", field="status", old=before, new=str(row.status), now=now, by=by)
    return row


def subscriber_document(row: SubscriberRow) -> dict[str, Any]:
    """A subscriber as the API shows it."""
    return {"email": row.email, "name": row.name, "status": str(row.status),
            "sections": list(row.sections) if row.sections is not None else None, "tags": list(row.tags or []),
            "consent": {"source": row.consent_source, "at": _iso(row.consent_at)},
            "confirmed_at": _iso(row.confirmed_at), "paused_until": _iso(row.paused_until),
            "status_changed_at": _iso(row.status_changed_at), "created_at": _iso(row.created_at)}


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    from datetime import UTC

    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC).isoformat().replace("+00:00", "Z")


def sections_refused(sections: Sequence[str], known: Sequence[str]) -> str | None:
    """What is wrong with a list of section keys, or None."""
    unknown = [s for s in sections if s not in known]
    if unknown:
        return f"unknown section(s) {', '.join(map(repr, unknown))}: use some of {', '.join(known)}"
    if not sections:
        return ("an empty list would send this reader nothing: give at least one section, or set "
                "every_section to true for all of them")
    return None
