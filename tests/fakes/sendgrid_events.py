"""SendGrid Event Webhook posts, as SendGrid makes them, for what the wire fake accepted.

The shapes follow SendGrid's Event Webhook reference
(https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/event): every event carries
`email`, `timestamp` (Unix seconds), `event`, `sg_event_id`, `sg_message_id` and the message's
`category` list, with the message's `custom_args` copied to the top level (SendGrid's "unique
arguments"); then, by event:
- delivered: `response`, `ip`, `tls`; processed: `smtp-id`
- deferred: `response`, `attempt` (a string)
- bounce: `reason`, `status` (e.g. "5.1.1"), `type` ("bounce" for a hard bounce, "blocked" for a
  block), `bounce_classification` (e.g. "Invalid Address", "Reputation")
- dropped: `reason` (e.g. "Bounced Address", "Invalid", "Spam Reporting Address")
- spamreport, unsubscribe: nothing more
- group_unsubscribe / group_resubscribe: `asm_group_id`, `ip`, `useragent`, `url`
- open: `useragent`, `ip`, `sg_machine_open`; click: `url`, `url_offset`, `useragent`, `ip`

Posts are signed as SendGrid's Signed Event Webhook does (ECDSA P-256 over SHA-256 of the
timestamp header followed by the raw body; base64 DER signature; the public key as base64 DER).
"""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"

_EXTRAS: Mapping[str, Mapping[str, Any]] = {
    "processed": {"smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>"},
    "delivered": {"response": "250 2.0.0 OK 1513299569 k4si13455716qkh.110 - gsmtp", "ip": "168.1.1.1", "tls": 1},
    "deferred": {"response": "421 4.7.0 Try again later", "attempt": "1"},
    "bounce": {"reason": "550 5.1.1 The email account that you tried to reach does not exist", "status": "5.1.1",
               "type": "bounce", "bounce_classification": "Invalid Address"},
    "dropped": {"reason": "Bounced Address", "status": "5.0.0"},
    "spamreport": {},
    "unsubscribe": {},
    "group_unsubscribe": {"asm_group_id": 1, "ip": "255.255.255.255", "useragent": "Mozilla/5.0",
                          "url": "https://sendgrid.com/manage_preferences"},
    "group_resubscribe": {"asm_group_id": 1, "ip": "255.255.255.255", "useragent": "Mozilla/5.0",
                          "url": "https://sendgrid.com/manage_preferences"},
    "open": {"useragent": "Mozilla/5.0", "ip": "255.255.255.255", "sg_machine_open": False},
    "click": {"useragent": "Mozilla/5.0", "ip": "255.255.255.255", "url": "https://example.org/story",
              "url_offset": {"index": 0, "type": "html"}},
}
KINDS = tuple(_EXTRAS)


@dataclass
class EventMaker:
    """Makes events for the messages a `FakeSendGrid` accepted (its `bodies`), and signs posts."""

    start: int  # Unix seconds of the first event
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    private: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))

    @property
    def public_key(self) -> str:
        """The verification key as SendGrid shows it (base64 DER), for SENDGRID_WEBHOOK_PUBLIC_KEY."""
        der = self.private.public_key().public_bytes(serialization.Encoding.DER,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo)
        return base64.b64encode(der).decode()

    def event(self, kind: str, person: Mapping[str, Any], body: Mapping[str, Any] | None = None,
              **extra: Any) -> dict[str, Any]:
        """One event of `kind` for a personalization the fake accepted (its `to` and `custom_args`)."""
        if kind not in _EXTRAS:
            raise ValueError(f"not a SendGrid event: {kind}")
        n = next(self._ids)
        out: dict[str, Any] = {
            "email": person["to"][0]["email"], "timestamp": self.start + n, "event": kind,
            "sg_event_id": base64.urlsafe_b64encode(f"{kind}-{n}".encode()).decode().rstrip("="),
            "sg_message_id": f"14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.{n}",
            "category": list((body or {}).get("categories") or []),
        }
        out.update(person.get("custom_args") or {})
        out.update(_EXTRAS[kind])
        out.update(extra)
        return out

    def people(self, bodies: Iterable[Mapping[str, Any]]) -> list[tuple[Mapping[str, Any], Mapping[str, Any]]]:
        """Every (personalization, body) the fake accepted, in order."""
        return [(person, body) for body in bodies for person in body["personalizations"]]

    def sign(self, events: list[dict[str, Any]], *, timestamp: int) -> tuple[bytes, dict[str, str]]:
        """The raw body and the signature headers of a post of `events` made at `timestamp`."""
        raw = json.dumps(events).encode()
        signature = self.private.sign(str(timestamp).encode() + raw, ec.ECDSA(hashes.SHA256()))
        return raw, {SIGNATURE_HEADER: base64.b64encode(signature).decode(), TIMESTAMP_HEADER: str(timestamp),
                     "Content-Type": "application/json"}
