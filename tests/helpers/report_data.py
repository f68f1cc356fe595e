"""Real figures for the report tests: an edition built from the example items, approved, sent to
the outbox by the real deliver stage, then SendGrid's signed event webhook posted to the real app
(delivered, bounce, spamreport, unsubscribe, ...) and clicks through the email's signed links
(`/r/<token>`), which the redirect counts in the clicks ledger.

Nothing is written into the figures directly: they are what the ledger makes of a real send and
real events.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from compose.config import Config
from compose.signing import click_token
from flows.stages.deliver import deliver_edition
from state import ledger
from state.clicks import record_click
from state.db import Database
from state.models import EditionItemRow, SubscriberRow
from tests.helpers import desk_data
from tests.helpers.staff import add_staff_rows

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

SECRET = "report-test-secret-key-0123456789"
APPROVER = "approver@socitm.example"
BROWSER = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"


class WebhookKeys:
    """An ECDSA P-256 key pair as SendGrid signs its Event Webhook with; `public` goes in the env."""

    def __init__(self) -> None:
        self.private = ec.generate_private_key(ec.SECP256R1())
        der = self.private.public_key().public_bytes(serialization.Encoding.DER,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo)
        self.public = base64.b64encode(der).decode()

    def signed(self, events: Sequence[dict[str, Any]], *, now: datetime) -> tuple[bytes, dict[str, str]]:
        raw = json.dumps(list(events)).encode()
        stamp = str(int(now.timestamp()))
        signature = base64.b64encode(self.private.sign(stamp.encode() + raw, ec.ECDSA(hashes.SHA256()))).decode()
        return raw, {SIGNATURE_HEADER: signature, TIMESTAMP_HEADER: stamp, "Content-Type": "application/json"}


def send_edition(db: Database, config: Config, *, now: datetime, subscribers: int = 40, first: bool = True) -> int:
    """Build an edition from the example items (the first time, with `subscribers` readers who joined
    weeks before), approve it and send it to the outbox through the real deliver stage."""
    if first:
        desk_data.seed_subscribers(db, subscribers, now=now - timedelta(weeks=6))
        edition_id = desk_data.seed_edition(db, config, now=now)
    else:
        from flows.stages.edition import build_next_edition

        with db.session() as session:
            result = build_next_edition(session, config, now=now)
        assert result.edition_id is not None, result.reason
        edition_id = result.edition_id
    with db.session() as session:
        add_staff_rows(session, {APPROVER: "approver"})
        ledger.approve(session, "edition", edition_id, by=APPROVER, now=now, config=config)
    summary = deliver_edition(db, config, now=now, edition_id=edition_id, secret_key=SECRET)
    assert summary.accepted == summary.recipients > 0, summary
    return edition_id


def recipients(db: Database) -> list[tuple[int, str]]:
    with db.session() as session:
        return [(row.id, row.email) for row in session.scalars(select(SubscriberRow).order_by(SubscriberRow.id))]


def events_for(edition_id: int, people: Sequence[tuple[int, str]], kind: str, *, at: datetime, tag: str = "",
               **extra: object) -> list[dict[str, Any]]:
    """One SendGrid event of `kind` per subscriber, as the webhook posts them (with our custom args)."""
    return [{"email": email, "event": kind, "sg_event_id": f"{tag or kind}-{edition_id}-{ident}",
             "timestamp": int(at.timestamp()), "edition_id": str(edition_id), "subscriber_id": str(ident), **extra}
            for ident, email in people]


def click_items(db: Database, edition_id: int, clicks: Sequence[int], *, now: datetime,
                client: TestClient | None = None) -> list[int]:
    """Clicks on the edition's items in order (`clicks[n]` on the n-th item); returns the item ids.

    With `client` (an app whose `[tracking] flush_seconds` is 0), each click follows the signed link
    the email carries (`/r/<token>`) as a reader's browser would, and the redirect counts it;
    without, each is counted by the clicks ledger's own `record_click`."""
    with db.session() as session:
        items = [(row.item_id, row.item.url) for row in session.scalars(
            select(EditionItemRow).where(EditionItemRow.edition_id == edition_id)
            .order_by(EditionItemRow.section_position, EditionItemRow.position))]
        for (item_id, url), count in zip(items, clicks, strict=False):
            for _ in range(count):
                if client is None:
                    record_click(session, edition_id=edition_id, item_id=item_id, url=url, subscriber_id=None, now=now)
                    continue
                token = click_token(SECRET, edition_id=edition_id, item_id=item_id)
                answer = client.get(f"/r/{token}", headers={"User-Agent": BROWSER}, follow_redirects=False)
                assert answer.status_code == 302 and answer.headers["location"].startswith(url.split("?")[0]), answer
    return [item_id for item_id, _ in items]


def counting_config(config: Config) -> Config:
    """`config` with clicks written to the ledger at once (no batching), for tests that read them back."""
    return config.model_copy(update={"tracking": config.tracking.model_copy(update={"flush_seconds": 0})})
