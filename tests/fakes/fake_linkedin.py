"""A fake LinkedIn (Community Management API) at the wire, for the LinkedIn channel's httpx calls.

Every request is checked against the documented shapes kept in tests/corpora/linkedin/ (headers:
bearer token, `LinkedIn-Version: YYYYMM`, `X-Restli-Protocol-Version: 2.0.0`; bodies of posts and
image uploads), and so is every answer the fake gives; a request that breaks them gets a 400 naming
the problem and is kept in `violations` (the tests assert there are none).

    POST /rest/images?action=initializeUpload   an image URN and an upload URL on this server
    PUT  /dms-uploads/{token}                   the bytes: JPG, PNG or GIF under 36,152,320 pixels,
                                                at most `max_upload_bytes` (else 413 / 400)
    GET  /rest/images/{urn}                     the image and its status
    POST /rest/posts                            201 with `x-restli-id`; 422 for a duplicate of one of
                                                the page's posts, over 3,000 characters, or an image
                                                that is not uploaded
    GET  /rest/posts?author=...&q=author        the author's posts, newest first

It reproduces what goes wrong: an expired token (`expired = True`: 401 EXPIRED_ACCESS_TOKEN), a
missing permission (take it out of `permissions`: 403), a duplicate (422), and with the server's
faults a 429 (`rate_limited`) and a lost answer (`Fault(accept=True, reset=True)`).
"""

from __future__ import annotations

import io
import itertools
import json
import threading
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from jsonschema import Draft202012Validator
from PIL import Image, UnidentifiedImageError

from compose.linkedin_posts import plain_text
from compose.post_length import LINKEDIN_RULES, weighted_length
from tests.fakes.server import FakeServer, Fault, RecordedRequest, Reply

CORPUS = Path(__file__).resolve().parents[1] / "corpora" / "linkedin"
MAX_PIXELS = 36_152_320
PUBLISHED_AT = 1_796_000_000_000


@cache
def schema(name: str) -> Draft202012Validator:
    return Draft202012Validator(json.loads((CORPUS / f"{name}.schema.json").read_text(encoding="utf-8")))


def problems(name: str, value: Any) -> list[str]:
    """What in `value` breaks the documented shape `name` ([] when nothing does)."""
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in schema(name).iter_errors(value)]


def error(status: int, message: str, code: str = "", service_code: int | None = None) -> Reply:
    body: dict[str, Any] = {"status": status, "message": message}
    if code:
        body["code"] = code
    if service_code is not None:
        body["serviceErrorCode"] = service_code
    assert not problems("error.response", body)
    return Reply(status, json=body)


def rate_limited(*, retry_after: int | None = None) -> Fault:
    """A 429 on POST /rest/posts; `Retry-After` in seconds when given."""
    headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
    return Fault(status=429, json={"status": 429, "message": "Resource level throttle APPLICATION DAY limit for "
                                   "calls to this resource is reached."}, headers=headers, path="/rest/posts")


@dataclass
class FakeLinkedIn:
    """One organisation page: its posts and images, and what its token may do."""

    access_token: str
    organization_id: str = "2414183"
    permissions: set[str] = field(default_factory=lambda: {"w_organization_social", "r_organization_social"})
    expired: bool = False
    max_upload_bytes: int = 10_000_000
    upload_expires_at_ms: int = 4_102_444_800_000  # 2100: upload URLs that last (a test may make them expire)
    upload_base: str | None = None  # where upload URLs point (default: this server, as Host names it)
    posts: list[dict] = field(default_factory=list)
    images: dict[str, dict] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(7_300_000_000_000_000_001))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def author(self) -> str:
        return f"urn:li:organization:{self.organization_id}"

    def server(self) -> FakeServer:
        return FakeServer(self.app)

    def uploaded(self) -> list[str]:
        """The images whose bytes arrived."""
        return [urn for urn, image in self.images.items() if image["status"] == "AVAILABLE"]

    def referenced(self) -> set[str]:
        """The images the page's posts show (an image post's media, an article's thumbnail)."""
        found = set()
        for post in self.posts:
            content = post.get("content") or {}
            urn = (content.get("media") or {}).get("id") or (content.get("article") or {}).get("thumbnail")
            if urn:
                found.add(urn)
        return found

    def _refuse(self, where: str, found: list[str]) -> Reply:
        self.violations.extend(f"{where}: {problem}" for problem in found)
        return error(400, f"{where}: " + "; ".join(found), code="ILLEGAL_ARGUMENT", service_code=100)

    def app(self, request: RecordedRequest) -> Reply:
        path = request.path.rstrip("/")
        if path.startswith("/dms-uploads/") and request.method == "PUT":
            return self._upload(request, path.rsplit("/", 1)[1])
        found = problems("request-headers", request.headers)
        if found:
            return self._refuse(f"{request.method} {path} headers", found)
        if request.headers["authorization"] != f"Bearer {self.access_token}":
            return error(401, "Invalid access token", code="INVALID_ACCESS_TOKEN", service_code=65600)
        if self.expired:
            return error(401, "The token used in the request has expired", code="EXPIRED_ACCESS_TOKEN",
                         service_code=65601)
        if (request.method, path) == ("POST", "/rest/images") and request.query.get("action") == ["initializeUpload"]:
            return self._initialize(request)
        if request.method == "GET" and path.startswith("/rest/images/"):
            return self._image(unquote(path.removeprefix("/rest/images/")))
        if (request.method, path) == ("POST", "/rest/posts"):
            return self._create(request)
        if (request.method, path) == ("GET", "/rest/posts") and request.query.get("q") == ["author"]:
            return self._by_author(request)
        return error(404, f"No resource for {request.method} {path}", code="NOT_FOUND")

    def _denied(self, permission: str) -> Reply | None:
        if permission in self.permissions:
            return None
        return error(403, f"Not enough permissions to access: {permission} is not granted", code="ACCESS_DENIED",
                     service_code=100)

    def _initialize(self, request: RecordedRequest) -> Reply:
        body = request.json()
        found = problems("images.initialize-upload.request", body)
        if found:
            return self._refuse("initializeUpload", found)
        denied = self._denied("w_organization_social")
        if denied or body["initializeUploadRequest"]["owner"] != self.author:
            return denied or error(403, "Not enough permissions to upload for this owner", code="ACCESS_DENIED")
        with self._lock:
            number = next(self._ids)
            urn, token = f"urn:li:image:D4E10AQ{number}", f"up-{number}"
            self.images[urn] = {"status": "WAITING_UPLOAD", "owner": self.author, "token": token, "data": b""}
        base = self.upload_base or f"http://{request.headers.get('host', '127.0.0.1')}"
        answer = {"value": {"uploadUrlExpiresAt": self.upload_expires_at_ms, "image": urn,
                            "uploadUrl": f"{base}/dms-uploads/{token}"}}
        assert not problems("images.initialize-upload.response", answer)
        return Reply(200, json=answer)

    def _upload(self, request: RecordedRequest, token: str) -> Reply:
        image = next((i for i in self.images.values() if i["token"] == token), None)
        if image is None:
            return error(404, "Unknown upload")
        if request.headers.get("authorization") != f"Bearer {self.access_token}":
            return error(401, "Invalid access token", code="INVALID_ACCESS_TOKEN", service_code=65600)
        if len(request.body) > self.max_upload_bytes:
            return error(413, f"The image is {len(request.body):,} bytes: too large")
        try:
            with Image.open(io.BytesIO(request.body)) as opened:
                kind, (width, height) = opened.format, opened.size
        except (UnidentifiedImageError, OSError):
            return error(400, "The upload is not an image")
        if kind not in ("JPEG", "PNG", "GIF") or width * height >= MAX_PIXELS:
            return error(400, f"The image is {kind} {width}x{height}: JPG, PNG or GIF under {MAX_PIXELS:,} pixels only")
        with self._lock:
            image.update(status="AVAILABLE", data=request.body)
        return Reply(201)

    def _image(self, urn: str) -> Reply:
        denied = self._denied("r_organization_social")
        if denied:
            return denied
        image = self.images.get(urn)
        if image is None:
            return error(404, f"{urn} not found", code="NOT_FOUND")
        answer = {"id": urn, "owner": image["owner"], "status": image["status"]}
        assert not problems("image.response", answer)
        return Reply(200, json=answer)

    def _create(self, request: RecordedRequest) -> Reply:
        body = request.json()
        found = problems("post.create.request", body)
        if found:
            return self._refuse("POST /rest/posts", found)
        denied = self._denied("w_organization_social")
        if denied or body["author"] != self.author:
            return denied or error(403, "Not enough permissions to post as this author", code="ACCESS_DENIED")
        text = plain_text(body["commentary"])
        if weighted_length(text, LINKEDIN_RULES) > LINKEDIN_RULES.max_length:
            return error(422, f"/commentary: length {len(text)} exceeds the maximum of {LINKEDIN_RULES.max_length}",
                         code="UNPROCESSABLE_ENTITY")
        content = body.get("content") or {}
        urn = (content.get("media") or {}).get("id") or (content.get("article") or {}).get("thumbnail")
        with self._lock:
            if urn and (self.images.get(urn) or {}).get("status") != "AVAILABLE":
                return error(422, f"{urn} is not an uploaded image of this owner", code="UNPROCESSABLE_ENTITY")
            twin = next((p for p in self.posts if p["author"] == body["author"] and p["commentary"] == body["commentary"]),
                        None)
            if twin is not None:
                return error(422, f"Content is a duplicate of {twin['id']}", code="DUPLICATE_POST")
            post_id = f"urn:li:share:{next(self._ids)}"
            self.posts.append({**body, "id": post_id, "createdAt": PUBLISHED_AT + len(self.posts),
                               "publishedAt": PUBLISHED_AT + len(self.posts),
                               "lastModifiedAt": PUBLISHED_AT + len(self.posts)})
        return Reply(201, headers={"x-restli-id": post_id, "x-linkedin-id": post_id.rsplit(":", 1)[1]})

    def _by_author(self, request: RecordedRequest) -> Reply:
        denied = self._denied("r_organization_social")
        if denied:
            return denied
        author = request.query.get("author", [""])[-1]
        count = min(int(request.query.get("count", ["10"])[-1]), 100)
        with self._lock:
            newest_first = [p for p in reversed(self.posts) if p["author"] == author][:count]
        answer = {"paging": {"start": 0, "count": count, "links": []}, "elements": newest_first}
        assert not problems("posts.by-author.response", answer)
        return Reply(200, json=answer)
