"""A fake Mastodon instance at the wire, for Mastodon.py running unmodified.

Serves what Mastodon.py calls: `GET /api/v1/instance` and `/api/v2/instance` (the limits: the
channel reads v2 for `image_limits`; Mastodon.py's own version check stays off, and the tests
prove construction makes no call), `GET /api/v1/accounts/verify_credentials`, `POST /api/v2/media`
and `GET /api/v1/media/:id`, and `POST /api/v1/statuses`, which checks the bearer token, counts
length like Mastodon (URLs 23), refuses a reply to an unknown status with 404, attaches only
media this account uploaded and the instance finished processing, and honours
`Idempotency-Key` (same key: same status, not a new one). `GET /api/v1/accounts/:id/statuses`
lists the account's statuses newest first (`since_id`, `limit`), each with `content` rendered as
Mastodon does: escaped HTML paragraphs, `<br />`, links split into invisible/ellipsis spans,
hashtags as links.

Every request is checked against Mastodon's documented parameters, kept as JSON Schema in
`tests/corpora/mastodon/requests.schema.json` (see its PROVENANCE.md): an unknown or malformed
parameter is refused with 422 and recorded in `invalid_requests`. Media: a file over the
instance's `image_size_limit`, of a type it does not list, or whose bytes are not what its type
says is refused with 422 as Mastodon words it; an alt text (`description`) over
`description_limit` too; `processing_rounds` makes an upload answer 202 (`url: null`) and
`GET /api/v1/media/:id` answer 206 that many times before 200. Faults script the rest
(`rate_limited`, `expired_token`).
"""

from __future__ import annotations

import email.parser
import email.policy
import functools
import html
import itertools
import json
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

from jsonschema import Draft202012Validator
from twitter_text import extract_urls_with_indices

from compose.post_length import MASTODON_RULES, weighted_length
from tests.fakes.server import FakeServer, Fault, RecordedRequest, Reply

CREATED_AT = "2026-11-26T10:00:00.000Z"
SCHEMA_PATH = Path(__file__).resolve().parents[1] / "corpora" / "mastodon" / "requests.schema.json"
NOT_PROCESSED = "Cannot attach files that have not finished processing. Try again in a moment!"
_MEDIA_ID = re.compile(r"/api/v1/media/([0-9]+)")
_ACCOUNT_STATUSES = re.compile(r"/api/v1/accounts/[0-9]+/statuses")
_MAGIC = {"image/png": (b"\x89PNG\r\n\x1a\n",), "image/jpeg": (b"\xff\xd8\xff",), "image/gif": (b"GIF87a", b"GIF89a"),
          "image/webp": (b"RIFF",)}


def rate_limited(*, reset_at: str | None = None, path: str = "/api/v1/statuses") -> Fault:
    """A 429; `reset_at` (ISO time) goes in X-RateLimit-Reset when given."""
    headers = {"X-RateLimit-Limit": "300", "X-RateLimit-Remaining": "0"}
    if reset_at is not None:
        headers["X-RateLimit-Reset"] = reset_at
    return Fault(status=429, json={"error": "Too many requests"}, headers=headers, path=path)


def expired_token(path: str | None = None) -> Fault:
    """The instance no longer knows the token (revoked, or the app was removed)."""
    return Fault(status=401, json={"error": "The access token is invalid"}, path=path)


@functools.lru_cache(maxsize=1)
def _schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text("utf-8"))


def schema_complaint(endpoint: str, part: str, value: object) -> str | None:
    """What the documented schema says is wrong with one part ("headers", "form", "query") of a
    request to `endpoint` ("POST /api/v1/statuses"), or None."""
    root = _schema()
    schema = root["endpoints"][endpoint].get(part)
    if schema is None:
        return None
    validator = Draft202012Validator({**schema, "$defs": root["$defs"]})
    errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
    if not errors:
        return None
    where = "/".join(str(p) for p in errors[0].absolute_path) or part
    return f"{endpoint} {where}: {errors[0].message}"


def _fields(pairs: dict[str, list[str]]) -> dict[str, object]:
    """Form or query fields as the schema reads them: `name[]` as a list, the rest as text."""
    return {key: values if key.endswith("[]") else values[-1] for key, values in pairs.items()}


def _multipart(request: RecordedRequest) -> dict[str, object]:
    """A multipart body's fields: text as text, a file as its bytes and headers."""
    head = f"Content-Type: {request.headers.get('content-type', '')}\r\n\r\n".encode("latin-1")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + request.body)
    fields: dict[str, object] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        if filename is not None:
            fields[name] = {"content_type": part.get_content_type(), "filename": filename, "size": len(payload),
                            "data": payload}
        else:
            fields[name] = payload.decode("utf-8")
    return fields


def _sniff(data: bytes) -> str:
    for media_type, signatures in _MAGIC.items():
        if data.startswith(signatures) and (media_type != "image/webp" or data[8:12] == b"WEBP"):
            return media_type
    return ""


@dataclass
class FakeMastodon:
    """The fake instance's state: one account, its statuses and media, the idempotency keys seen."""

    access_token: str
    domain: str = "social.example"
    max_characters: int = MASTODON_RULES.max_length
    image_size_limit: int = 16 * 1024 * 1024
    image_matrix_limit: int = 33_177_600  # 7680 x 4320, Mastodon 4.x
    description_limit: int = 1500
    supported_mime_types: tuple[str, ...] = ("image/jpeg", "image/png", "image/gif", "image/heic", "image/heif",
                                             "image/webp", "image/avif", "video/mp4")
    processing_rounds: int = 0  # uploads answer 202, then GET /api/v1/media/:id 206, this many times
    statuses: list[dict] = field(default_factory=list)
    media: dict[str, dict] = field(default_factory=dict)
    idempotency: dict[str, dict] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)  # status id -> the text as posted
    invalid_requests: list[str] = field(default_factory=list)
    instance_reads: int = 0
    _ids: itertools.count = field(default_factory=lambda: itertools.count(113_000_000_000_000_001))
    _media_ids: itertools.count = field(default_factory=lambda: itertools.count(112_000_000_000_000_001))
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
        return {"domain": self.domain, "uri": self.domain, "title": "Example social", "version": "4.4.0",
                "api_versions": {"mastodon": 5},
                "configuration": {
                    "statuses": {"max_characters": self.max_characters, "max_media_attachments": 4,
                                 "characters_reserved_per_url": 23},
                    "media_attachments": {"supported_mime_types": list(self.supported_mime_types),
                                          "description_limit": self.description_limit,
                                          "image_size_limit": self.image_size_limit,
                                          "image_matrix_limit": self.image_matrix_limit,
                                          "video_size_limit": 103_809_024, "video_frame_rate_limit": 120,
                                          "video_matrix_limit": 8_294_400}}}

    def app(self, request: RecordedRequest) -> Reply:
        route = (request.method, request.path.rstrip("/"))
        if route in {("GET", "/api/v1/instance"), ("GET", "/api/v2/instance")}:
            self.instance_reads += 1
            return Reply(200, json=self.instance())
        if request.headers.get("authorization") != f"Bearer {self.access_token}":
            return Reply(401, json={"error": "The access token is invalid"})
        endpoint = self._endpoint(*route)
        if endpoint is None:
            return Reply(404, json={"error": "Record not found"})
        complaint = self._check(endpoint, request)
        if complaint:
            self.invalid_requests.append(complaint)
            return Reply(422, json={"error": f"Validation failed: {complaint}"})
        if route == ("GET", "/api/v1/accounts/verify_credentials"):
            return Reply(200, json=self.account)
        if route == ("POST", "/api/v1/statuses"):
            return self._post_status(request)
        if route == ("POST", "/api/v2/media"):
            return self._upload(request)
        if endpoint == "GET /api/v1/media/:id":
            return self._media_status(route[1].rsplit("/", 1)[1])
        if route == ("GET", f"/api/v1/accounts/{self.account['id']}/statuses"):
            return self._account_statuses(request)
        return Reply(404, json={"error": "Record not found"})

    @staticmethod
    def _endpoint(method: str, path: str) -> str | None:
        if _MEDIA_ID.fullmatch(path):
            return f"{method} /api/v1/media/:id" if method == "GET" else None
        if _ACCOUNT_STATUSES.fullmatch(path):
            return f"{method} /api/v1/accounts/:id/statuses" if method == "GET" else None
        endpoint = f"{method} {path}"
        return endpoint if endpoint in _schema()["endpoints"] else None

    @staticmethod
    def _check(endpoint: str, request: RecordedRequest) -> str | None:
        """The schema's complaint about the request's headers and parameters, or None."""
        complaint = schema_complaint(endpoint, "headers", request.headers)
        if complaint or request.method == "GET":
            return complaint or schema_complaint(endpoint, "query", _fields(request.query))
        content_type = request.headers.get("content-type", "")
        if "multipart/form-data" in content_type:
            form = {key: ({k: v for k, v in value.items() if k != "data"} if isinstance(value, dict) else value)
                    for key, value in _multipart(request).items()}
        elif "json" in content_type:
            form = request.json()
        else:
            form = _fields(request.form())
        return schema_complaint(endpoint, "form", form)

    # --- media -------------------------------------------------------------------------------------

    def _upload(self, request: RecordedRequest) -> Reply:
        fields = _multipart(request)
        file = fields["file"]
        assert isinstance(file, dict)
        description = str(fields.get("description") or "")
        data: bytes = file["data"]
        if file["content_type"] not in self.supported_mime_types or _sniff(data) != file["content_type"]:
            return Reply(422, json={"error": "Validation failed: File content type is invalid, File is invalid"})
        if len(data) > self.image_size_limit:
            return Reply(422, json={"error": f"Validation failed: File file size must be less than "
                                             f"{self.image_size_limit // (1024 * 1024)} MB"})
        if len(description) > self.description_limit:
            return Reply(422, json={"error": f"Validation failed: Description is too long (maximum is "
                                             f"{self.description_limit} characters)"})
        with self._lock:
            media_id = str(next(self._media_ids))
            self.media[media_id] = {"id": media_id, "data": data, "type": file["content_type"],
                                    "description": description, "rounds": self.processing_rounds,
                                    "status_id": None}
            attachment = self._attachment(media_id)
        return Reply(202 if attachment["url"] is None else 200, json=attachment)

    def _attachment(self, media_id: str) -> dict:
        media = self.media[media_id]
        base = f"https://files.{self.domain}/media_attachments/files/{media_id}"
        return {"id": media_id, "type": "image", "url": None if media["rounds"] else f"{base}/original/image",
                "preview_url": f"{base}/small/image", "remote_url": None, "text_url": None,
                "meta": {"original": {"width": 64, "height": 48, "size": "64x48", "aspect": 1.3333333333333333}},
                "description": media["description"] or None, "blurhash": "UFBWY:8_0Jxv4mx]t8t64.%M-:IUWGWAt6M}"}

    def _media_status(self, media_id: str) -> Reply:
        with self._lock:
            media = self.media.get(media_id)
            if media is None:
                return Reply(404, json={"error": "Record not found"})
            if media["rounds"]:
                media["rounds"] -= 1
                if media["rounds"]:
                    return Reply(206, json=self._attachment(media_id))
            return Reply(200, json=self._attachment(media_id))

    # --- statuses ----------------------------------------------------------------------------------

    def _post_status(self, request: RecordedRequest) -> Reply:
        fields = request.json() if "json" in request.headers.get("content-type", "") else _fields(request.form())
        text = str(fields.get("status") or "")
        media_ids = [str(m) for m in fields.get("media_ids[]") or fields.get("media_ids") or []]
        key = request.headers.get("idempotency-key")
        with self._lock:
            if key and key in self.idempotency:
                return Reply(200, json=self.idempotency[key])
            if not text.strip() and not media_ids:
                return Reply(422, json={"error": "Validation failed: Text can't be blank"})
            if weighted_length(text, MASTODON_RULES) > self.max_characters:
                return Reply(422, json={"error": f"Validation failed: Text character limit of "
                                                 f"{self.max_characters} exceeded"})
            if len(media_ids) > 4:
                return Reply(422, json={"error": "Validation failed: Media attachments too many"})
            for media_id in media_ids:
                media = self.media.get(media_id)
                if media is None or media["status_id"] is not None:
                    return Reply(422, json={"error": "Validation failed: Media attachments invalid"})
                if media["rounds"]:
                    return Reply(422, json={"error": NOT_PROCESSED})
            reply_to = fields.get("in_reply_to_id") or None
            if reply_to and not any(s["id"] == reply_to for s in self.statuses):
                return Reply(404, json={"error": "Record not found"})
            status_id = str(next(self._ids))
            for media_id in media_ids:
                self.media[media_id]["status_id"] = status_id
            status = {
                "id": status_id, "created_at": CREATED_AT, "in_reply_to_id": reply_to,
                "in_reply_to_account_id": self.account["id"] if reply_to else None, "sensitive": False,
                "spoiler_text": "", "visibility": fields.get("visibility", "public"), "language": "en",
                "uri": f"https://{self.domain}/users/socitm/statuses/{status_id}",
                "url": f"https://{self.domain}/@socitm/{status_id}", "replies_count": 0,
                "reblogs_count": 0, "favourites_count": 0, "content": render_content(text),
                "reblog": None, "account": self.account,
                "media_attachments": [self._attachment(m) for m in media_ids], "mentions": [],
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
