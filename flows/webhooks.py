"""The webhook relay: events to deliveries, and every delivery that is due sent once per pass.

`deliver_webhooks` is one pass (run by `syndicate serve`'s relay loop every few seconds, or by
`syndicate webhooks send`): it fans new domain events out to the endpoints that want them, then
sends each due delivery, signed, through the guarded fetcher, and records the attempt before
going on. One receiver that fails or hangs never stops the others; its delivery is tried again
after a growing wait and given up after `WebhookLimits.max_attempts`, the error kept.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from compose.config import Config
from compose.webhooks import derive_secret, signed_headers
from connectors.outbound import OutboundGuard
from connectors.webhooks import Attempt, WebhookSender
from state.db import Database
from state.webhooks import due_deliveries, fan_out, record_attempt


@dataclass
class WebhookReport:
    """What one pass did."""

    queued: int = 0  # deliveries made from new events
    delivered: int = 0
    retrying: int = 0
    failed: int = 0  # given up on this pass
    errors: dict[str, str] = field(default_factory=dict)  # message id -> last error

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def body_bytes(payload: dict[str, object]) -> bytes:
    """The exact bytes signed and sent (the same on every attempt of a delivery)."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, sort_keys=True).encode()


def deliver_webhooks(db: Database, *, server_key: str, guard: OutboundGuard, now: datetime,
                     sender: WebhookSender | None = None,
                     clock: Callable[[], datetime] | None = None) -> WebhookReport:
    """One relay pass. `now` decides what is due and is the time recorded; `clock` (default: `now`)
    gives each attempt's `webhook-timestamp`."""
    report = WebhookReport()
    with db.session() as session:
        report.queued = fan_out(session, now=now)
    with db.session() as session:
        due = due_deliveries(session, now=now)
    if not due:
        return report
    own = sender is None
    sender = sender or WebhookSender(guard)
    try:
        for item in due:
            body = body_bytes(item.payload)
            stamp = int((clock() if clock else now).timestamp())
            headers = signed_headers(derive_secret(server_key, item.salt), item.message_id, stamp, body)
            attempt: Attempt = sender.post(item.url, body, headers)
            with db.session() as session:
                row = record_attempt(session, item.delivery_id, now=now, status=attempt.status, error=attempt.error)
                outcome = "delivered" if row.delivered_at else "failed" if row.gave_up_at else "retrying"
            setattr(report, outcome, getattr(report, outcome) + 1)
            if attempt.error:
                report.errors[item.message_id] = attempt.error
    finally:
        if own:
            sender.close()
    return report


def webhook_pass(db: Database, config: Config, server_key: str) -> Callable[[], WebhookReport]:
    """One pass at the current time, for `syndicate serve`'s relay loop: the guard trusts only
    `[fetch] allow_hosts` among internal addresses."""
    guard = OutboundGuard.trusting(allow_hosts=config.fetch.allow_hosts)

    def run() -> WebhookReport:
        return deliver_webhooks(db, server_key=server_key, guard=guard, now=datetime.now(UTC))

    return run
