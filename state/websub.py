"""WebSub subscriptions in the ledger: the only code that changes a subscription's state.

A subscription's life, one row per source:

    discovered --request--> requested --hub verifies (GET)--> verified --80% of the lease--> requested ...
        |                      |  \\--hub says denied--> denied (asked again after a day)
        |                      \\--request failed--> failed (asked again after an hour)
        \\--source removed / push disabled--> unsubscribing --hub verifies--> unsubscribed

Every subscription (and every change of hub or topic) gets its own random callback token and
hub.secret, so a push from an old subscription lands on an unknown token and is refused (410).
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from state.models import SourceRow, WebSubSubscriptionRow


class PushState(StrEnum):
    """Where a WebSub subscription stands with its hub; changed only by this module."""

    DISCOVERED = "discovered"  # the source advertises a hub; not asked yet
    REQUESTED = "requested"  # the hub accepted the request and will verify our intent
    VERIFIED = "verified"  # the hub confirmed: pushes arrive until `expires_at`
    DENIED = "denied"  # the hub (or the publisher) refused, with a reason
    FAILED = "failed"  # the request did not get through
    UNSUBSCRIBING = "unsubscribing"
    UNSUBSCRIBED = "unsubscribed"


ACTIVE = (PushState.REQUESTED, PushState.VERIFIED)


class PushPolicy:
    """When to ask a hub (again)."""

    renew_at = 0.8  # fraction of a granted lease after which it is renewed
    retry_unverified_after = timedelta(hours=6)  # the hub accepted but never verified
    retry_failed_after = timedelta(hours=1)
    retry_denied_after = timedelta(days=1)
    token_bytes = 24
    secret_bytes = 32  # the spec caps hub.secret at 200 bytes
    max_lease_seconds = 366 * 24 * 3600  # a longer lease from a hub is read as this


def _new_token() -> str:
    return secrets.token_urlsafe(PushPolicy.token_bytes)


def _new_secret() -> str:
    return secrets.token_urlsafe(PushPolicy.secret_bytes)


def note_discovery(session: Session, source: SourceRow, *, hub: str, topic: str, now: datetime) -> WebSubSubscriptionRow:
    """Record the hub and topic a fetch of `source` advertised. A new hub or topic starts a new
    subscription (new token and secret); the same ones leave the row as it is."""
    row = session.scalars(select(WebSubSubscriptionRow).where(WebSubSubscriptionRow.source_id == source.id)).first()
    if row is None:
        row = WebSubSubscriptionRow(source_id=source.id, source=source, hub_url=hub, topic_url=topic,
                                    token=_new_token(), secret=_new_secret(), state=PushState.DISCOVERED,
                                    discovered_at=now, pushes=0, rejected_pushes=0)
        session.add(row)
        session.flush()
        return row
    if (row.hub_url, row.topic_url) != (hub, topic):
        row.hub_url, row.topic_url, row.discovered_at = hub, topic, now
        _restart(row)
    return row


def _restart(row: WebSubSubscriptionRow) -> None:
    row.token, row.secret, row.state = _new_token(), _new_secret(), PushState.DISCOVERED
    row.requested_at = row.verified_at = row.expires_at = None
    row.lease_seconds = None


def subscriptions(session: Session) -> list[WebSubSubscriptionRow]:
    """Every subscription row with its source, oldest first."""
    return list(session.scalars(select(WebSubSubscriptionRow).options(joinedload(WebSubSubscriptionRow.source))
                                .order_by(WebSubSubscriptionRow.id)))


def by_token(session: Session, token: str) -> WebSubSubscriptionRow | None:
    """The subscription behind a callback URL's token (with its source), or None."""
    return session.scalars(select(WebSubSubscriptionRow).options(joinedload(WebSubSubscriptionRow.source))
                           .where(WebSubSubscriptionRow.token == token)).first()


def renewal_due_at(row: WebSubSubscriptionRow) -> datetime | None:
    """When a verified subscription should be renewed (at `PushPolicy.renew_at` of its lease)."""
    if row.verified_at is None or row.expires_at is None:
        return None
    return row.verified_at + (row.expires_at - row.verified_at) * PushPolicy.renew_at


def needs_subscribe(row: WebSubSubscriptionRow, *, now: datetime) -> bool:
    """Whether the gather stage should ask the hub (again) now, when push is on for this source."""
    state = PushState(row.state)
    if state in (PushState.DISCOVERED, PushState.UNSUBSCRIBED, PushState.UNSUBSCRIBING):
        return True
    if state is PushState.VERIFIED:
        due = renewal_due_at(row)
        return due is None or now >= due
    if state is PushState.REQUESTED:
        return row.requested_at is None or now >= row.requested_at + PushPolicy.retry_unverified_after
    wait = PushPolicy.retry_failed_after if state is PushState.FAILED else PushPolicy.retry_denied_after
    return row.last_error_at is None or now >= row.last_error_at + wait


def needs_unsubscribe(row: WebSubSubscriptionRow) -> bool:
    """Whether the hub may still push to this subscription (so it must be told to stop)."""
    return row.state in ACTIVE


def mark_requested(row: WebSubSubscriptionRow, *, lease_seconds: int, now: datetime) -> None:
    """A (re)subscription request is about to leave: written before the call."""
    if row.state in (PushState.UNSUBSCRIBING, PushState.UNSUBSCRIBED):
        _restart(row)  # a new subscription after an unsubscription: new token and secret
    row.state, row.requested_at, row.lease_seconds = PushState.REQUESTED, now, lease_seconds


def mark_failed(row: WebSubSubscriptionRow, error: str, hint: str | None, *, now: datetime) -> None:
    """The hub did not accept the request: recorded with what to do."""
    if row.state == PushState.REQUESTED:
        row.state = PushState.FAILED
    row.last_error, row.last_error_hint, row.last_error_at = error, hint, now


def mark_unsubscribing(row: WebSubSubscriptionRow, *, now: datetime) -> None:
    """An unsubscription request is about to leave. Pushes from now on are refused (410)."""
    row.state, row.requested_at = PushState.UNSUBSCRIBING, now


def mark_unsubscribed(row: WebSubSubscriptionRow, *, now: datetime, error: str | None = None) -> None:
    """The hub confirmed (or could not be told: its pushes get 410 and the lease runs out)."""
    row.state, row.expires_at = PushState.UNSUBSCRIBED, None
    if error:
        row.last_error, row.last_error_hint, row.last_error_at = (
            error, "the hub may push until the lease ends; those pushes are refused", now)


def confirm_intent(session: Session, token: str, *, mode: str, topic: str, lease_seconds: int | None,
                   now: datetime) -> bool:
    """The hub's verification of intent (GET to the callback): True when we did ask for this."""
    row = by_token(session, token)
    if row is None or topic != row.topic_url:
        return False
    if mode == "subscribe" and row.state in ACTIVE:
        lease = lease_seconds if lease_seconds and lease_seconds > 0 else row.lease_seconds
        lease = min(lease or PushPolicy.max_lease_seconds, PushPolicy.max_lease_seconds)
        row.state, row.verified_at, row.lease_seconds = PushState.VERIFIED, now, lease
        row.expires_at = now + timedelta(seconds=lease)
        row.last_error = row.last_error_hint = None
        return True
    if mode == "unsubscribe" and row.state in (PushState.UNSUBSCRIBING, PushState.UNSUBSCRIBED):
        mark_unsubscribed(row, now=now)
        return True
    return False


def record_denial(session: Session, token: str, *, topic: str, reason: str, now: datetime) -> bool:
    """The hub says the subscription is denied (`hub.mode=denied`); False if it is not ours."""
    row = by_token(session, token)
    if row is None or topic != row.topic_url:
        return False
    row.state, row.expires_at = PushState.DENIED, None
    row.last_error = f"the hub denied the subscription: {reason or 'no reason given'}"
    row.last_error_hint, row.last_error_at = "polling goes on; syndicate asks again after a day", now
    return True


def accepts_pushes(row: WebSubSubscriptionRow) -> bool:
    """Whether content pushed to this subscription's callback is taken (else 410 Gone)."""
    return row.state in ACTIVE


def record_push(row: WebSubSubscriptionRow, *, now: datetime, count: int = 1) -> None:
    """Count `count` pushes that were taken, in the database (`pushes = pushes + count`, so two
    processes counting at once both count). Does not commit."""
    row.pushes = func.coalesce(WebSubSubscriptionRow.pushes, 0) + count
    row.last_push_at = now


def record_rejected_push(row: WebSubSubscriptionRow, reason: str, *, now: datetime, count: int = 1) -> None:
    """`count` pushes that were ignored (bad signature, wrong content): counted (as `record_push`
    counts) and the last reason kept for staff. Does not commit."""
    row.rejected_pushes = func.coalesce(WebSubSubscriptionRow.rejected_pushes, 0) + count
    row.last_rejected_at, row.last_rejected_reason = now, reason
