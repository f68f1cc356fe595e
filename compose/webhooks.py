"""Outgoing webhooks, the pure part: how a message is signed (Standard Webhooks), how a signing
secret is derived and written, and when a failed delivery is tried again.

Signing (https://www.standardwebhooks.com): three headers on every attempt,

    webhook-id         the message id, the same on every retry (receivers de-duplicate by it)
    webhook-timestamp  seconds since the epoch, of this attempt
    webhook-signature  "v1," + base64(HMAC-SHA256(secret, f"{id}.{timestamp}." + body))

The secret is shown to the admin once as `whsec_` + base64 of its bytes, the form the Standard
Webhooks libraries take. It is never stored: it is derived from the ledger's secret key and a random
salt kept on the endpoint's row (`derive_secret`), so a copy of the ledger alone cannot sign.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import timedelta

SECRET_PREFIX = "whsec_"


class WebhookLimits:
    """How hard a delivery is tried: `max_attempts` in all, waiting `first_retry` after the first
    failure and `factor` times longer after each next one, never more than `longest_wait`."""

    max_attempts = 8
    first_retry = timedelta(seconds=30)
    factor = 3
    longest_wait = timedelta(hours=12)
    timeout_s = 10.0  # connect, read and write, each
    error_chars = 500  # how much of an error or answer is kept on the delivery
    per_pass = 200  # deliveries attempted by one relay pass


def derive_secret(server_key: str, salt: str) -> bytes:
    """The 32-byte signing secret of the endpoint whose row keeps `salt`."""
    return hmac.new(server_key.encode(), f"syndicate webhook secret\x00{salt}".encode(), hashlib.sha256).digest()


def secret_text(secret: bytes) -> str:
    """The secret as shown once to the admin and pasted into the receiver: `whsec_<base64>`."""
    return SECRET_PREFIX + base64.b64encode(secret).decode()


def sign(secret: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value for one attempt: `v1,<base64 HMAC-SHA256>`."""
    digest = hmac.new(secret, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(secret: bytes, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """Every header an attempt carries."""
    return {"content-type": "application/json", "webhook-id": message_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secret, message_id, timestamp, body), "user-agent": "syndicate-webhooks/1"}


def retry_wait(failed_attempts: int) -> timedelta | None:
    """How long to wait after the `failed_attempts`-th failure before trying again; None: give up."""
    if failed_attempts < 1:
        raise ValueError(f"failed_attempts counts from 1 (got {failed_attempts})")
    if failed_attempts >= WebhookLimits.max_attempts:
        return None
    wait = WebhookLimits.first_retry * WebhookLimits.factor ** (failed_attempts - 1)
    return min(wait, WebhookLimits.longest_wait)
