"""A fake Bluesky PDS at the wire (XRPC over loopback), for the atproto SDK running unmodified.

Every request is checked against the official lexicons (tests/corpora/atproto-lexicons/, by
tests/fakes/lexicon.py): a query's parameters, a procedure's JSON input, and the record a
createRecord carries (app.bsky.feed.post with its facets, reply, external card or images); every
answer the fake gives is checked against the lexicon's output schema too. On top of the lexicons
it checks what a PDS checks: the bearer token, that every facet's byte range lies inside the UTF-8
text, that a reply's parent exists and its root is the parent's root, and that every blob a
record references was uploaded here with that size and type (a blob larger than its field's
`maxSize` is refused with `BlobTooLarge`).

Served: com.atproto.server.createSession (handle + app password; limited like Bluesky's, 30 per
5 minutes), refreshSession (the refresh token is rotated: the old one stops working),
com.atproto.identity.resolveHandle, com.atproto.repo.uploadBlob (content-addressed: the same
bytes give the same blob), createRecord (3 points of the account's 5,000 an hour, with the
ratelimit-* headers Bluesky sends) and listRecords (newest first, `limit`, `cursor`).

What a test can make happen: `expire_access_tokens()` (the next request with one gets 400
ExpiredToken), `expire_refresh_tokens()`, `refuse_replies` (a reply gets 400 "Reply not allowed"),
`drop_unreferenced_blobs()` (the PDS's clean-up of blobs no record used), `points_per_hour` (429
with ratelimit-reset once spent), and any `Fault` of tests/fakes/server.py (a lost answer:
`Fault(accept=True, reset=True, path=...)`).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.lexicon import BlobTooLargeError, LexiconError, Lexicons
from tests.fakes.server import FakeServer, Fault, RecordedRequest, Reply

XRPC = "/xrpc/"
CREATE_RECORD = XRPC + "com.atproto.repo.createRecord"
UPLOAD_BLOB = XRPC + "com.atproto.repo.uploadBlob"
_MAGIC = ((b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"), (b"GIF8", "image/gif"))


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _jwt(did: str, scope: str, *, jti: str, exp: int) -> str:
    header = {"typ": "at+jwt" if scope != "com.atproto.refresh" else "refresh+jwt", "alg": "HS256"}
    payload = {"scope": scope, "sub": did, "iat": exp - 7200, "exp": exp, "aud": "did:web:fake", "jti": jti}
    return f"{_b64(header)}.{_b64(payload)}.c2lnbmF0dXJl"


def _cid(data: bytes, codec: int = 0x71) -> str:
    """A CIDv1 (sha2-256) in base32: dag-cbor (0x71) for records, raw (0x55) for blobs."""
    digest = bytes([0x01, codec, 0x12, 0x20]) + hashlib.sha256(data).digest()
    return "b" + base64.b32encode(digest).decode().lower().rstrip("=")


def _sniff(data: bytes) -> str:
    for magic, mime in _MAGIC:
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return "application/octet-stream"


def rate_limited(*, reset_at: int | None = None) -> Fault:
    headers = {"ratelimit-limit": "5000", "ratelimit-remaining": "0", "ratelimit-policy": "5000;w=3600"}
    if reset_at is not None:
        headers["ratelimit-reset"] = str(reset_at)
    return Fault(status=429, json={"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
                 headers=headers, path=CREATE_RECORD)


def _error(status: int, error: str, message: str, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, json={"error": error, "message": message}, headers=headers or {})


@dataclass
class FakeBluesky:
    """The fake PDS's state: one account, its post records and blobs, the sessions it issued."""

    handle: str
    app_password: str
    did: str = "did:plc:fakeaccount0000000000000"
    handles: dict[str, str] = field(default_factory=dict)  # other accounts' handles -> DIDs (resolveHandle)
    posts: list[dict] = field(default_factory=list)
    blobs: dict[str, dict] = field(default_factory=dict)  # CID -> {"data", "mimeType", "size"}
    sessions: int = 0  # createSession calls that succeeded
    refreshes: int = 0
    refuse_replies: bool = False
    points_per_hour: int = 5000
    sessions_per_window: int = 30  # createSession: 30 per 5 minutes per handle
    access_lifetime_s: int = 7200
    clock: Callable[[], float] = time.time
    lexicons: Lexicons = field(default_factory=Lexicons.load)
    points: list[tuple[float, int]] = field(default_factory=list)
    _access: dict[str, bool] = field(default_factory=dict)  # token -> still valid (False: expired)
    _refresh: set[str] = field(default_factory=set)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _lock: threading.RLock = field(default_factory=threading.RLock)

    def __post_init__(self) -> None:
        self.handles.setdefault(self.handle.lower(), self.did)

    def server(self) -> FakeServer:
        return FakeServer(self.app)

    def post(self, uri: str) -> dict:
        return next(p for p in self.posts if p["uri"] == uri)

    def referenced_blobs(self) -> set[str]:
        """The CIDs of the blobs the account's records use."""
        found: set[str] = set()

        def walk(value: Any) -> None:
            if isinstance(value, dict):
                if value.get("$type") == "blob":
                    found.add(value["ref"]["$link"])
                for child in value.values():
                    walk(child)
            elif isinstance(value, list):
                for child in value:
                    walk(child)

        walk([p["record"] for p in self.posts])
        return found

    # --- what a test makes happen -------------------------------------------------------------------

    def expire_access_tokens(self) -> None:
        with self._lock:
            self._access = dict.fromkeys(self._access, False)

    def expire_refresh_tokens(self) -> None:
        with self._lock:
            self._refresh.clear()

    def drop_unreferenced_blobs(self) -> None:
        with self._lock:
            used = self.referenced_blobs()
            self.blobs = {cid: blob for cid, blob in self.blobs.items() if cid in used}

    # --- the wire -----------------------------------------------------------------------------------

    def app(self, request: RecordedRequest) -> Reply:
        method = request.path.removeprefix(XRPC)
        handler = {
            "com.atproto.server.createSession": self._create_session,
            "com.atproto.server.refreshSession": self._refresh_session,
            "com.atproto.identity.resolveHandle": self._resolve_handle,
            "com.atproto.repo.uploadBlob": self._upload_blob,
            "com.atproto.repo.createRecord": self._create_record,
            "com.atproto.repo.listRecords": self._list_records,
        }.get(method)
        if handler is None:
            return _error(501, "MethodNotImplemented", f"{method} is not served by the fake PDS")
        try:
            if method in ("com.atproto.identity.resolveHandle", "com.atproto.repo.listRecords"):
                params = self.lexicons.validate_params(method, request.query)
                reply = handler(request, params)
            elif method == "com.atproto.repo.uploadBlob":
                reply = handler(request, {})
            else:
                body = request.json() if request.body else None
                self.lexicons.validate_input(method, body)
                reply = handler(request, body or {})
        except BlobTooLargeError as exc:
            return _error(400, "BlobTooLarge", str(exc))
        except LexiconError as exc:
            return _error(400, "InvalidRequest", f"Invalid {method} request: {exc}")
        if reply.status == 200:
            self.lexicons.validate_output(method, reply.json)  # the fake's own answers keep to the lexicon
        return reply

    def _authorised(self, request: RecordedRequest) -> Reply | None:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        with self._lock:
            valid = self._access.get(token)
        if valid is None:
            return _error(401, "InvalidToken", "Bad token")
        if not valid:
            return _error(400, "ExpiredToken", "Token has expired")
        return None

    def _issue(self) -> dict:
        with self._lock:
            n = next(self._ids)
            exp = int(self.clock()) + self.access_lifetime_s
            access = _jwt(self.did, "com.atproto.appPass", jti=f"a{n}", exp=exp)
            refresh = _jwt(self.did, "com.atproto.refresh", jti=f"r{n}", exp=exp + 90 * 86400)
            self._access[access] = True
            self._refresh.add(refresh)
        return {"did": self.did, "handle": self.handle, "accessJwt": access, "refreshJwt": refresh}

    def _create_session(self, request: RecordedRequest, body: dict) -> Reply:
        if body.get("identifier") not in (self.handle, self.did) or body.get("password") != self.app_password:
            return _error(401, "AuthenticationRequired", "Invalid identifier or password")
        with self._lock:
            if self.sessions >= self.sessions_per_window:
                reset = str(int(self.clock()) + 300)
                return _error(429, "RateLimitExceeded", "Rate Limit Exceeded",
                              {"ratelimit-limit": str(self.sessions_per_window), "ratelimit-remaining": "0",
                               "ratelimit-reset": reset, "ratelimit-policy": f"{self.sessions_per_window};w=300"})
            self.sessions += 1
        return Reply(200, json={**self._issue(), "active": True})

    def _refresh_session(self, request: RecordedRequest, body: dict) -> Reply:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        with self._lock:
            if token not in self._refresh:
                return _error(400, "ExpiredToken", "Token has expired")
            self._refresh.discard(token)  # rotated: the old refresh token stops working
            self.refreshes += 1
        return Reply(200, json=self._issue())

    def _resolve_handle(self, request: RecordedRequest, params: dict) -> Reply:
        did = self.handles.get(params["handle"].lower())
        if did is None:
            return _error(400, "InvalidRequest", "Unable to resolve handle")
        return Reply(200, json={"did": did})

    def _upload_blob(self, request: RecordedRequest, _: dict) -> Reply:
        refused = self._authorised(request)
        if refused is not None:
            return refused
        data = request.body
        mime = _sniff(data)
        cid = _cid(data, codec=0x55)
        with self._lock:
            self.blobs.setdefault(cid, {"data": data, "mimeType": mime, "size": len(data)})
        return Reply(200, json={"blob": {"$type": "blob", "ref": {"$link": cid}, "mimeType": mime,
                                         "size": len(data)}})

    def _points_headers(self, now: float) -> tuple[int, dict[str, str]]:
        spent = sum(p for t, p in self.points if now - t < 3600)
        oldest = min((t for t, _ in self.points if now - t < 3600), default=now)
        return spent, {"ratelimit-limit": str(self.points_per_hour),
                       "ratelimit-remaining": str(max(0, self.points_per_hour - spent)),
                       "ratelimit-reset": str(int(oldest + 3600)),
                       "ratelimit-policy": f"{self.points_per_hour};w=3600"}

    def _check_blobs(self, record: dict) -> None:
        def walk(value: Any, path: str) -> None:
            if isinstance(value, dict):
                if value.get("$type") == "blob":
                    stored = self.blobs.get(value["ref"]["$link"])
                    if stored is None:
                        raise LexiconError(path, f"Could not find blob: {value['ref']['$link']}")
                    if stored["size"] != value["size"] or stored["mimeType"] != value["mimeType"]:
                        raise LexiconError(path, "the blob's size or mimeType is not the uploaded one")
                for name, child in value.items():
                    walk(child, f"{path}/{name}")
            elif isinstance(value, list):
                for index, child in enumerate(value):
                    walk(child, f"{path}/{index}")

        walk(record, "record")

    def _create_record(self, request: RecordedRequest, body: dict) -> Reply:
        refused = self._authorised(request)
        if refused is not None:
            return refused
        record = body["record"]
        if body["repo"] not in (self.did, self.handle) or body["collection"] != "app.bsky.feed.post":
            return _error(400, "InvalidRequest", "unexpected repo or collection")
        self.lexicons.validate_record("app.bsky.feed.post", record)
        encoded = record["text"].encode("utf-8")
        for facet in record.get("facets") or []:
            index = facet["index"]
            if not 0 <= index["byteStart"] < index["byteEnd"] <= len(encoded):
                return _error(400, "InvalidRequest", "facet byte range outside the text")
        with self._lock:
            now = self.clock()
            spent, headers = self._points_headers(now)
            if spent + 3 > self.points_per_hour:
                return _error(429, "RateLimitExceeded", "Rate Limit Exceeded", {**headers, "ratelimit-remaining": "0"})
            self._check_blobs(record)
            reply = record.get("reply")
            if reply:
                if self.refuse_replies:
                    return _error(400, "InvalidRequest", "Reply not allowed: the thread's author limits replies")
                parent = next((p for p in self.posts if p["uri"] == reply["parent"]["uri"]), None)
                if parent is None or parent["cid"] != reply["parent"]["cid"]:
                    return _error(400, "InvalidRequest", "reply parent not found")
                expected_root = parent["root"] or {"uri": parent["uri"], "cid": parent["cid"]}
                if {"uri": reply["root"]["uri"], "cid": reply["root"]["cid"]} != expected_root:
                    return _error(400, "InvalidRequest", "reply root is not the parent's root")
            self.points.append((now, 3))
            rkey = f"3lfake{next(self._ids):07d}"
            uri = f"at://{self.did}/app.bsky.feed.post/{rkey}"
            cid = _cid(json.dumps(record, sort_keys=True).encode())
            self.posts.append({"uri": uri, "cid": cid, "text": record["text"], "record": record,
                               "facets": record.get("facets") or [], "embed": record.get("embed"),
                               "parent": reply["parent"]["uri"] if reply else None,
                               "root": ({"uri": reply["root"]["uri"], "cid": reply["root"]["cid"]}
                                        if reply else None)})
            _, headers = self._points_headers(now)
        return Reply(200, json={"uri": uri, "cid": cid}, headers=headers)

    def _list_records(self, request: RecordedRequest, params: dict) -> Reply:
        if params["repo"] not in (self.did, self.handle) or params["collection"] != "app.bsky.feed.post":
            return _error(400, "InvalidRequest", "unexpected repo or collection")
        limit = params["limit"]
        with self._lock:
            newest_first = list(reversed(self.posts))
        start = int(params.get("cursor") or 0)
        page = newest_first[start:start + limit]
        body: dict = {"records": [{"uri": p["uri"], "cid": p["cid"], "value": p["record"]} for p in page]}
        if start + limit < len(newest_first):
            body["cursor"] = str(start + limit)
        return Reply(200, json=body)
