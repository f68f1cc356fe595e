"""A fake Mastodon instance at the wire, for Mastodon.py running unmodified.

Serves what Mastodon.py calls: `GET /api/v1/instance` and `/api/v2/instance` (only used when a
version check is enabled; our channel disables it, and the tests prove it makes no call at
construction), `GET /api/v1/accounts/verify_credentials` and `POST /api/v1/statuses`, which
checks the bearer token, counts length like Mastodon (URLs 23), refuses a reply to an
unknown status with 404, and honours `Idempotency-Key` (same key: same status, not a new one).
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field

from compose.posts import MASTODON_RULES, weighted_length
from tests.fakes.server import FakeServer, Fault, RecordedRequest, Reply

CREATED_AT = "2026-11-26T10:00:00.000Z"


def rate_limited(*, reset_at: str | None = None) -> Fault:
    """A 429; `reset_at` (ISO time) goes in X-RateLimit-Reset when given."""
    headers = {"X-RateLimit-Limit": "300", "X-RateLimit-Remaining": "0"}
    if reset_at is not None:
        headers["X-RateLimit-Reset"] = reset_at
    return Fault(status=429, json={"error": "Too many requests"}, headers=headers, path="/api/v1/statuses")


@dataclass
class FakeMastodon:
    """The fake instance's state: one account, its statuses and the idempotency keys seen."""

    access_token: str
    domain: str = "social.example"
    max_characters: int = MASTODON_RULES.max_length
    statuses: list[dict] = field(default_factory=list)
    idempotency: dict[str, dict] = field(default_factory=dict)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(113_000_000_000_000_001))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def server(self) -> FakeServer:
        return FakeServer(self.app)

    @property
    def account(self) -> dict:
        return {"id": "109000000000000001", "username": "socitm", "acct": "socitm", "display_name": "Socitm",
                "locked": False, "bot": False, "created_at": CREATED_AT, "note": "",
                "url": f"https://{self.domain}/@socitm", "avatar": "", "header": "", "followers_count": 1,
                "following_count": 1, "statuses_count": len(self.statuses), "emojis": [], "fields": []}

    def instance(self) -> dict:
        return {"domain": self.domain, "uri": self.domain, "title": "Example social", "version": "4.3.0",
                "api_versions": {"mastodon": 2},
                "configuration": {"statuses": {"max_characters": self.max_characters,
                                               "characters_reserved_per_url": 23}}}

    def app(self, request: RecordedRequest) -> Reply:
        route = (request.method, request.path.rstrip("/"))
        if route in {("GET", "/api/v1/instance"), ("GET", "/api/v2/instance")}:
            return Reply(200, json=self.instance())
        if request.headers.get("authorization") != f"Bearer {self.access_token}":
            return Reply(401, json={"error": "The access token is invalid"})
        if route == ("GET", "/api/v1/accounts/verify_credentials"):
            return Reply(200, json=self.account)
        if route == ("POST", "/api/v1/statuses"):
            return self._post_status(request)
        return Reply(404, json={"error": "Record not found"})

    def _post_status(self, request: RecordedRequest) -> Reply:
        fields = request.json() if "json" in request.headers.get("content-type", "") else {
            key: values[-1] for key, values in request.form().items()}
        text = fields.get("status") or ""
        key = request.headers.get("idempotency-key")
        with self._lock:
            if key and key in self.idempotency:
                return Reply(200, json=self.idempotency[key])
            if not text.strip():
                return Reply(422, json={"error": "Validation failed: Text can't be blank"})
            if weighted_length(text, MASTODON_RULES) > self.max_characters:
                return Reply(422, json={"error": f"Validation failed: Text character limit of "
                                                 f"{self.max_characters} exceeded"})
            reply_to = fields.get("in_reply_to_id") or None
            if reply_to and not any(s["id"] == reply_to for s in self.statuses):
                return Reply(404, json={"error": "Record not found"})
            status_id = str(next(self._ids))
            status = {
                "id": status_id, "created_at": CREATED_AT, "in_reply_to_id": reply_to,
                "in_reply_to_account_id": self.account["id"] if reply_to else None, "sensitive": False,
                "spoiler_text": "", "visibility": fields.get("visibility", "public"), "language": "en",
                "uri": f"https://{self.domain}/users/socitm/statuses/{status_id}",
                "url": f"https://{self.domain}/@socitm/{status_id}", "replies_count": 0,
                "reblogs_count": 0, "favourites_count": 0, "content": f"<p>{text}</p>", "text": text,
                "reblog": None, "account": self.account, "media_attachments": [], "mentions": [],
                "tags": [], "emojis": [], "card": None, "poll": None,
            }
            self.statuses.append(status)
            if key:
                self.idempotency[key] = status
        return Reply(200, json=status, headers={"X-RateLimit-Limit": "300",
                                                "X-RateLimit-Remaining": str(300 - len(self.statuses))})
