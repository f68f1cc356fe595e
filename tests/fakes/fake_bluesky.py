"""A fake Bluesky PDS at the wire (XRPC over loopback), for the atproto SDK running unmodified.

Serves what `Client.login` and `Client.send_post` call: com.atproto.server.createSession
(handle + app password), com.atproto.server.refreshSession, app.bsky.actor.getProfile and
com.atproto.repo.createRecord. createRecord checks the bearer token, the record type, the
300-grapheme limit, that every facet's byte range lies inside the UTF-8 text, and that a
reply's parent exists and its root is the parent's root. com.atproto.repo.listRecords lists
the account's records newest first (`limit`, `cursor`), as a PDS does.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import threading
from dataclasses import dataclass, field

from compose.post_length import BLUESKY_RULES, weighted_length
from tests.fakes.server import FakeServer, Fault, RecordedRequest, Reply

XRPC = "/xrpc/"


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _jwt(did: str, scope: str) -> str:
    header = {"typ": "at+jwt", "alg": "HS256"}
    payload = {"scope": scope, "sub": did, "iat": 1764150000, "exp": 4102444800, "aud": "did:web:fake"}
    return f"{_b64(header)}.{_b64(payload)}.c2lnbmF0dXJl"


def _cid(data: bytes) -> str:
    return "bafyrei" + base64.b32encode(hashlib.sha256(data).digest()).decode().lower().rstrip("=")[:52]


def rate_limited(*, reset_at: int | None = None) -> Fault:
    headers = {"ratelimit-limit": "5000", "ratelimit-remaining": "0", "ratelimit-policy": "5000;w=3600"}
    if reset_at is not None:
        headers["ratelimit-reset"] = str(reset_at)
    return Fault(status=429, json={"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
                 headers=headers, path=XRPC + "com.atproto.repo.createRecord")


def _invalid(message: str) -> Reply:
    return Reply(400, json={"error": "InvalidRequest", "message": message})


@dataclass
class FakeBluesky:
    """The fake PDS's state: one account and its post records."""

    handle: str
    app_password: str
    did: str = "did:plc:fakeaccount0000000000000"
    posts: list[dict] = field(default_factory=list)
    sessions: int = 0
    _rkeys: itertools.count = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def server(self) -> FakeServer:
        return FakeServer(self.app)

    def post(self, uri: str) -> dict:
        return next(p for p in self.posts if p["uri"] == uri)

    def app(self, request: RecordedRequest) -> Reply:
        method = request.path.removeprefix(XRPC)
        if method == "com.atproto.server.createSession":
            body = request.json() or {}
            if body.get("identifier") != self.handle or body.get("password") != self.app_password:
                return Reply(401, json={"error": "AuthenticationRequired",
                                        "message": "Invalid identifier or password"})
            self.sessions += 1
            return Reply(200, json=self._session())
        if method == "com.atproto.server.refreshSession":
            return Reply(200, json=self._session())
        if request.headers.get("authorization") != f"Bearer {_jwt(self.did, 'com.atproto.appPass')}":
            return Reply(401, json={"error": "InvalidToken", "message": "Bad token"})
        if method == "app.bsky.actor.getProfile":
            return Reply(200, json={"did": self.did, "handle": self.handle, "displayName": "Socitm",
                                    "followersCount": 1, "followsCount": 1, "postsCount": len(self.posts)})
        if method == "com.atproto.repo.createRecord":
            return self._create_record(request.json() or {})
        if method == "com.atproto.repo.listRecords":
            return self._list_records({key: values[-1] for key, values in request.query.items()})
        return Reply(501, json={"error": "MethodNotImplemented", "message": f"{method} is not served"})

    def _session(self) -> dict:
        return {"did": self.did, "handle": self.handle, "active": True,
                "accessJwt": _jwt(self.did, "com.atproto.appPass"),
                "refreshJwt": _jwt(self.did, "com.atproto.refresh")}

    def _create_record(self, body: dict) -> Reply:
        record = body.get("record") or {}
        if body.get("repo") not in (self.did, self.handle) or body.get("collection") != "app.bsky.feed.post":
            return _invalid("unexpected repo or collection")
        if record.get("$type") != "app.bsky.feed.post" or "createdAt" not in record:
            return _invalid("Invalid app.bsky.feed.post record")
        text = record.get("text", "")
        encoded = text.encode("utf-8")
        if weighted_length(text, BLUESKY_RULES) > BLUESKY_RULES.max_length or len(encoded) > 3000:
            return _invalid("Invalid app.bsky.feed.post record: Record/text must not be longer than 300 graphemes")
        for facet in record.get("facets") or []:
            index = facet["index"]
            if not 0 <= index["byteStart"] < index["byteEnd"] <= len(encoded):
                return _invalid("facet byte range outside the text")
        with self._lock:
            reply = record.get("reply")
            if reply:
                parent = next((p for p in self.posts if p["uri"] == reply["parent"]["uri"]), None)
                if parent is None or parent["cid"] != reply["parent"]["cid"]:
                    return _invalid("reply parent not found")
                expected_root = parent["root"] or {"uri": parent["uri"], "cid": parent["cid"]}
                if {"uri": reply["root"]["uri"], "cid": reply["root"]["cid"]} != expected_root:
                    return _invalid("reply root is not the parent's root")
            rkey = f"3lfake{next(self._rkeys):07d}"
            uri = f"at://{self.did}/app.bsky.feed.post/{rkey}"
            cid = _cid(json.dumps(record, sort_keys=True).encode())
            self.posts.append({"uri": uri, "cid": cid, "text": text, "record": record, "facets": record.get("facets") or [],
                               "parent": reply["parent"]["uri"] if reply else None,
                               "root": ({"uri": reply["root"]["uri"], "cid": reply["root"]["cid"]}
                                        if reply else None)})
        return Reply(200, json={"uri": uri, "cid": cid, "validationStatus": "valid",
                                "commit": {"cid": _cid(uri.encode()), "rev": rkey}})

    def _list_records(self, query: dict[str, str]) -> Reply:
        if query.get("repo") not in (self.did, self.handle) or query.get("collection") != "app.bsky.feed.post":
            return _invalid("unexpected repo or collection")
        limit = int(query.get("limit", "50"))
        if not 1 <= limit <= 100:
            return _invalid("limit must be between 1 and 100")
        with self._lock:
            newest_first = list(reversed(self.posts))
        start = int(query.get("cursor") or 0)
        page = newest_first[start:start + limit]
        body: dict = {"records": [{"uri": p["uri"], "cid": p["cid"], "value": p["record"]} for p in page]}
        if start + limit < len(newest_first):
            body["cursor"] = str(start + limit)
        return Reply(200, json=body)
