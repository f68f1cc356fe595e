"""A fake Mastodon instance at the wire, for Mastodon.py running unmodified.

Serves what Mastodon.py calls: `GET /api/v1/instance` and `/api/v2/instance` (only used when a
version check is enabled; our channel disables it, and the tests prove it makes no call at
construction), `GET /api/v1/accounts/verify_credentials` and `POST /api/v1/statuses`, which
checks the bearer token, counts length like Mastodon (URLs 23), refuses a reply to an
unknown status with 404, and honours `Idempotency-Key` (same key: same status, not a new one).
`GET /api/v1/accounts/:id/statuses` lists the account's statuses newest first (`since_id`,
`limit`), each with `content` rendered as Mastodon does: escaped HTML paragraphs, `<br />`,
links split into invisible/ellipsis spans, hashtags as links.
"""

from __future__ import annotations

import html
import itertools
import re
import threading
from dataclasses import dataclass, field

from twitter_text import extract_urls_with_indices

from compose.post_length import MASTODON_RULES, weighted_length
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
    texts: dict[str, str] = field(default_factory=dict)  # status id -> the text as posted
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
        if route == ("GET", f"/api/v1/accounts/{self.account['id']}/statuses"):
            return self._account_statuses(request)
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
                "reblogs_count": 0, "favourites_count": 0, "content": render_content(text),
                "reblog": None, "account": self.account, "media_attachments": [], "mentions": [],
                "tags": [], "emojis": [], "card": None, "poll": None,
            }
            self.statuses.append(status)
            if key:
                self.idempotency[key] = status
            self.texts[status_id] = text
        return Reply(200, json=status, headers={"X-RateLimit-Limit": "300",
                                                "X-RateLimit-Remaining": str(300 - len(self.statuses))})

    def _account_statuses(self, request: RecordedRequest) -> Reply:
        query = {key: values[-1] for key, values in request.query.items()}
        limit = min(int(query.get("limit", "20")), 40)
        since = int(query.get("since_id") or 0)
        with self._lock:
            newest_first = [s for s in reversed(self.statuses) if int(s["id"]) > since]
        return Reply(200, json=newest_first[:limit])


def render_content(text: str) -> str:
    """A status's text as Mastodon serves it in `content`."""
    escaped = html.escape(text, quote=False)
    for entity in reversed(extract_urls_with_indices(escaped)):
        start, end = entity["indices"]
        url = html.unescape(entity["url"])
        scheme, _, rest = url.partition("://")
        link = (f'<a href="{html.escape(url)}" target="_blank" rel="nofollow noopener noreferrer">'
                f'<span class="invisible">{scheme}://</span><span class="ellipsis">{html.escape(rest[:30])}</span>'
                f'<span class="invisible">{html.escape(rest[30:])}</span></a>')
        escaped = escaped[:start] + link + escaped[end:]
    escaped = re.sub(r"(?<![\w/\">])#(\w+)", r'<a href="https://social.example/tags/\1" class="mention hashtag" '
                     r'rel="tag">#<span>\1</span></a>', escaped)
    paragraphs = [p.replace("\n", "<br />") for p in escaped.split("\n\n")]
    return "".join(f"<p>{p}</p>" for p in paragraphs)
