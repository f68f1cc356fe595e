"""A fake X API v2 at the wire, for tweepy running unmodified: `POST /2/tweets` and the
"Owned Reads" a publisher needs to find its own posts, `GET /2/users/me` and
`GET /2/users/:id/tweets` (newest first, `since_id`, `max_results`, `pagination_token`; a
post's text comes back as X serves it: `&<>` HTML-escaped and links as t.co links with the
originals in `entities.urls`; `referenced_tweets` and `entities` only when asked for).

It checks the OAuth 1.0a Authorization header (presence, consumer key and token), validates
every body against the official OpenAPI spec (`tests/corpora/openapi/x-api/openapi.json`,
`CreatePostsRequest`, loaded with spec validation off because the spec repeats an enum value,
and matched against its own server URL https://api.x.com), refuses duplicate text with X's real 403 body, and answers 201 with
the JSON and rate-limit headers X sends. Faults (`tests.fakes.server.Fault`) script the rest;
the helpers below build X's real error bodies.
"""

from __future__ import annotations

import functools
import html
import itertools
import json
import re
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from twitter_text import extract_urls_with_indices, parse_tweet

from tests.fakes.server import FakeServer, Fault, RecordedRequest, Reply

SPEC_PATH = Path(__file__).resolve().parents[1] / "corpora" / "openapi" / "x-api" / "openapi.json"
SPEC_SERVER = "https://api.x.com"
DUPLICATE_MESSAGE = "You are not allowed to create a Tweet with duplicate content."
REPLY_NOT_ALLOWED_MESSAGE = (
    "Reply to this conversation is not allowed because you have not been mentioned or otherwise "
    "engaged by the author of the post you are replying to."
)
_OAUTH_PARAM = re.compile(r'(\w+)="([^"]*)"')
_USER_TWEETS = re.compile(r"/2/users/[0-9]{1,19}/tweets")


def _problem(status: int, title: str, detail: str) -> dict:
    return {"title": title, "detail": detail, "type": "about:blank", "status": status}


def rate_limited(*, reset_at: int | None = None) -> Fault:
    """A 429; `reset_at` (epoch seconds) goes in x-rate-limit-reset when given."""
    headers = {"x-rate-limit-limit": "100", "x-rate-limit-remaining": "0"}
    if reset_at is not None:
        headers["x-rate-limit-reset"] = str(reset_at)
    return Fault(status=429, json={"title": "Too Many Requests", "detail": "Too Many Requests",
                                   "type": "about:blank", "status": 429}, headers=headers)


def duplicate() -> Fault:
    return Fault(status=403, json=_problem(403, "Forbidden", DUPLICATE_MESSAGE))


def reply_not_allowed() -> Fault:
    return Fault(status=403, json=_problem(403, "Forbidden", REPLY_NOT_ALLOWED_MESSAGE))


def unauthorized() -> Fault:
    return Fault(status=401, json=_problem(401, "Unauthorized", "Unauthorized"))


def server_error(status: int = 503) -> Fault:
    return Fault(status=status, json=_problem(status, "Service Unavailable", "Service Unavailable"))


def accepted_but_slow(delay_s: float) -> Fault:
    """The post is created, but the answer comes after `delay_s` (past the client timeout)."""
    return Fault(accept=True, delay_s=delay_s)


def accepted_then_reset() -> Fault:
    """The post is created, then the connection is dropped without an answer."""
    return Fault(accept=True, reset=True)


@functools.lru_cache(maxsize=1)
def _openapi():
    from openapi_core import Config, OpenAPI

    if not SPEC_PATH.exists():
        raise FileNotFoundError(f"the X OpenAPI spec is missing: {SPEC_PATH}")
    return OpenAPI.from_file_path(str(SPEC_PATH), config=Config(spec_validator_cls=None))


def validate_create_post(body: bytes, authorization: str) -> str | None:
    """The spec's complaint about a POST /2/tweets body, or None when it is valid."""
    from openapi_core.testing import MockRequest

    request = MockRequest(SPEC_SERVER, "post", "/2/tweets", data=body, content_type="application/json",
                          headers={"Authorization": authorization})
    return _spec_complaint(request)


def validate_read(path: str, query: dict[str, list[str]], authorization: str) -> str | None:
    """The spec's complaint about a GET request (path and query), or None when it is valid."""
    from openapi_core.testing import MockRequest
    from werkzeug.datastructures import ImmutableMultiDict

    args = ImmutableMultiDict([(key, value) for key, values in query.items() for value in values])
    return _spec_complaint(MockRequest(SPEC_SERVER, "get", path, args=args, headers={"Authorization": authorization}))


def _spec_complaint(request: object) -> str | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Unsupported scheme type" for the OAuth1 UserToken scheme
        try:
            _openapi().validate_request(request)
        except Exception as exc:  # openapi-core raises several unrelated classes
            cause = exc.__cause__ or exc
            return f"{exc}: {cause}"
    return None


@dataclass
class FakeX:
    """The fake's state: the account's posts and the credentials it accepts."""

    consumer_key: str
    access_token: str
    posts: list[dict] = field(default_factory=list)
    invalid_bodies: list[str] = field(default_factory=list)
    user_id: str = "1500000000000000001"
    username: str = "socitm"
    reads: int = 0  # successful GET /2/users/:id/tweets pages served
    refuse_replies: bool = False  # X's 2026 rule for self-serve tiers: no API replies unless summoned
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1_850_000_000_000_000_001))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def server(self) -> FakeServer:
        """A server for this fake (the spec is loaded first: it takes most of a second)."""
        _openapi()
        return FakeServer(self.app)

    def post(self, post_id: str) -> dict:
        return next(p for p in self.posts if p["id"] == post_id)

    def _auth_problem(self, header: str) -> str | None:
        if not header.startswith("OAuth "):
            return "no OAuth 1.0a Authorization header"
        params = dict(_OAUTH_PARAM.findall(header))
        if not params.get("oauth_signature") or params.get("oauth_signature_method") != "HMAC-SHA1":
            return "unsigned request"
        if params.get("oauth_consumer_key") != self.consumer_key or params.get("oauth_token") != self.access_token:
            return "unknown consumer key or token"
        return None

    def app(self, request: RecordedRequest) -> Reply:
        route = (request.method, request.path)
        read = request.method == "GET" and (route[1] == "/2/users/me" or _USER_TWEETS.fullmatch(route[1]))
        if route != ("POST", "/2/tweets") and not read:
            return Reply(404, json=_problem(404, "Not Found", f"no route {request.method} {request.path}"))
        authorization = request.headers.get("authorization", "")
        if self._auth_problem(authorization):
            return Reply(401, json=_problem(401, "Unauthorized", "Unauthorized"))
        if read:
            return self._read(request, authorization)
        complaint = validate_create_post(request.body, authorization)
        if complaint:
            self.invalid_bodies.append(complaint)
            return Reply(400, json={"errors": [{"message": complaint}], "title": "Invalid Request",
                                    "detail": "One or more parameters to your request was invalid.",
                                    "type": "https://api.twitter.com/2/problems/invalid-request"})
        body = json.loads(request.body)
        text = body.get("text", "")
        if not parse_tweet(text).valid:
            return Reply(403, json=_problem(403, "Forbidden", "Your Tweet text is too long. For more "
                                            "information on how Twitter determines text length, see ..."))
        if self.refuse_replies and body.get("reply"):
            return Reply(403, json=_problem(403, "Forbidden", REPLY_NOT_ALLOWED_MESSAGE))
        with self._lock:
            if any(p["text"] == text for p in self.posts):
                return Reply(403, json=_problem(403, "Forbidden", DUPLICATE_MESSAGE))
            post_id = str(next(self._ids))
            reply_to = (body.get("reply") or {}).get("in_reply_to_tweet_id")
            self.posts.append({"id": post_id, "text": text, "in_reply_to": reply_to})
            remaining = str(100 - len(self.posts))
        return Reply(201, json={"data": {"id": post_id, "text": text, "edit_history_tweet_ids": [post_id]}},
                     headers={"x-rate-limit-limit": "100", "x-rate-limit-remaining": remaining,
                              "x-rate-limit-reset": "1893456000",
                              "x-user-limit-24hour-limit": "10000", "x-user-limit-24hour-remaining": remaining,
                              "x-user-limit-24hour-reset": "1893456000"})

    def _read(self, request: RecordedRequest, authorization: str) -> Reply:
        complaint = validate_read(request.path, request.query, authorization)
        if complaint:
            self.invalid_bodies.append(complaint)
            return Reply(400, json={"errors": [{"message": complaint}], "title": "Invalid Request",
                                    "type": "https://api.twitter.com/2/problems/invalid-request"})
        if request.path == "/2/users/me":
            return Reply(200, json={"data": {"id": self.user_id, "name": "Socitm", "username": self.username}})
        if request.path.split("/")[3] != self.user_id:
            return Reply(200, json={"data": [], "meta": {"result_count": 0}})
        query = {key: values[-1] for key, values in request.query.items()}
        fields = set(query.get("tweet.fields", "").split(","))
        size = int(query.get("max_results", "10"))
        with self._lock:
            newest_first = [p for p in reversed(self.posts) if int(p["id"]) > int(query.get("since_id", "0"))]
            start = int(query.get("pagination_token", "0"))
            self.reads += 1
        page = newest_first[start:start + size]
        meta: dict = {"result_count": len(page)}
        if page:
            meta.update(newest_id=page[0]["id"], oldest_id=page[-1]["id"])
        if start + size < len(newest_first):
            meta["next_token"] = str(start + size)
        return Reply(200, json={"data": [self._served(p, fields) for p in page], "meta": meta} if page
                     else {"meta": meta})

    def _served(self, post: dict, fields: set[str]) -> dict:
        """A stored post as X serves it: escaped text, t.co links, only the fields asked for."""
        text, urls = html.escape(post["text"], quote=False), []
        for number, entity in enumerate(extract_urls_with_indices(text)):
            short = f"https://t.co/fake{int(post['id']) % 100000:05d}{number}"
            original = html.unescape(entity["url"])
            urls.append({"start": entity["indices"][0], "end": entity["indices"][1], "url": short,
                         "expanded_url": original, "display_url": original.split("://", 1)[-1][:26]})
        for link in urls:
            text = text.replace(html.escape(link["expanded_url"], quote=False), link["url"], 1)
        served: dict = {"id": post["id"], "text": text, "edit_history_tweet_ids": [post["id"]]}
        if "referenced_tweets" in fields and post["in_reply_to"]:
            served["referenced_tweets"] = [{"type": "replied_to", "id": post["in_reply_to"]}]
        if "entities" in fields and urls:
            served["entities"] = {"urls": urls}
        if "created_at" in fields:
            served["created_at"] = "2026-11-26T14:00:00.000Z"
        return served
