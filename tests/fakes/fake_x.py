"""A fake X API v2 at the wire, for tweepy running unmodified: `POST /2/tweets`, the v2 media
upload (`POST /2/media/upload` in one request; `/2/media/upload/initialize`, `/{id}/append`,
`/{id}/finalize` in chunks; `GET /2/media/upload?command=STATUS` while `processing_rounds` says
the upload is still processing; `POST /2/media/metadata` for alt text), and the
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

Media requests are validated against the same spec (multipart bodies included), then checked as
X would: a file over 5 MB (`MAX_IMAGE_BYTES`) or bytes that are not the image type they claim are
refused with 400, chunks must arrive in order and add up to `total_bytes`, and a post may only
carry media ids this account uploaded and finished (else X's 400 "Your media IDs are invalid.").
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
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
MAX_IMAGE_BYTES = 5 * 1024 * 1024
INVALID_MEDIA_MESSAGE = "Your media IDs are invalid."
_OAUTH_PARAM = re.compile(r'(\w+)="([^"]*)"')
_USER_TWEETS = re.compile(r"/2/users/[0-9]{1,19}/tweets")
_MEDIA = re.compile(r"/2/media/upload(?:/initialize|/[0-9]{1,19}/(?:append|finalize))?|/2/media/metadata")
_MAGIC = {"image/png": (b"\x89PNG\r\n\x1a\n",), "image/jpeg": (b"\xff\xd8\xff",), "image/gif": (b"GIF87a", b"GIF89a"),
          "image/webp": (b"RIFF",)}


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


def oversized_image() -> Fault:
    """X's refusal of a file over its image limit (what `_finished` answers for a real one)."""
    return Fault(status=400, json=_too_large(MAX_IMAGE_BYTES + 1).json, path="/2/media/upload")


def _invalid(message: str) -> Reply:
    return Reply(400, json={"errors": [{"message": message}], "title": "Invalid Request", "detail": message,
                            "type": "https://api.twitter.com/2/problems/invalid-request"})


def _too_large(size: int) -> Reply:
    return _invalid(f"File size {size} exceeds the limit of {MAX_IMAGE_BYTES} bytes for images.")


def _form_parts(request: RecordedRequest) -> dict[str, bytes]:
    """The fields of a multipart/form-data body, as bytes."""
    head = f"Content-Type: {request.headers.get('content-type', '')}\r\n\r\n".encode("latin-1")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + request.body)
    return {part.get_param("name", header="content-disposition"): part.get_payload(decode=True)
            for part in message.iter_parts()}


def _sniff(data: bytes) -> str:
    """The image type the bytes are, by their signature ("" when none)."""
    for media_type, signatures in _MAGIC.items():
        if data.startswith(signatures) and (media_type != "image/webp" or data[8:12] == b"WEBP"):
            return media_type
    return ""


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
    return _unmarshal(request)[0]


def _unmarshal(request: object) -> tuple[str | None, object]:
    """(the spec's complaint or None, the request body as the spec reads it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Unsupported scheme type" for the OAuth1 UserToken scheme
        result = _openapi().unmarshal_request(request)
    if result.errors:
        exc = result.errors[0]
        return f"{exc}: {exc.__cause__ or exc}", None
    return None, result.body


def validate_media(method: str, path: str, body: bytes, content_type: str, query: dict[str, list[str]],
                   authorization: str) -> tuple[str | None, object]:
    """(the spec's complaint or None, the parsed body) for a request to a media endpoint."""
    from openapi_core.testing import MockRequest
    from werkzeug.datastructures import ImmutableMultiDict

    args = ImmutableMultiDict([(key, value) for key, values in query.items() for value in values])
    typed = {"content_type": content_type} if content_type else {}
    return _unmarshal(MockRequest(SPEC_SERVER, method.lower(), path, args=args, data=body or None,
                                  headers={"Authorization": authorization}, **typed))


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
    media: dict[str, dict] = field(default_factory=dict)  # media id -> upload (bytes, type, alt text, state)
    processing_rounds: int = 0  # STATUS answers "in_progress" this many times before "succeeded"
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1_850_000_000_000_000_001))
    _media_ids: itertools.count = field(default_factory=lambda: itertools.count(1_880_000_000_000_000_001))
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
        media = bool(_MEDIA.fullmatch(route[1]))
        if route != ("POST", "/2/tweets") and not read and not media:
            return Reply(404, json=_problem(404, "Not Found", f"no route {request.method} {request.path}"))
        authorization = request.headers.get("authorization", "")
        if self._auth_problem(authorization):
            return Reply(401, json=_problem(401, "Unauthorized", "Unauthorized"))
        if media:
            return self._media(request, authorization)
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
        media_ids = (body.get("media") or {}).get("media_ids", [])
        with self._lock:
            if any(self.media.get(m, {}).get("state") != "succeeded" for m in media_ids):
                return Reply(400, json={"errors": [{"message": INVALID_MEDIA_MESSAGE}], "title": "Invalid Request",
                                        "detail": INVALID_MEDIA_MESSAGE,
                                        "type": "https://api.twitter.com/2/problems/invalid-request"})
            if any(p["text"] == text for p in self.posts):
                return Reply(403, json=_problem(403, "Forbidden", DUPLICATE_MESSAGE))
            post_id = str(next(self._ids))
            reply_to = (body.get("reply") or {}).get("in_reply_to_tweet_id")
            self.posts.append({"id": post_id, "text": text, "in_reply_to": reply_to, "media_ids": media_ids})
            remaining = str(100 - len(self.posts))
        return Reply(201, json={"data": {"id": post_id, "text": text, "edit_history_tweet_ids": [post_id]}},
                     headers={"x-rate-limit-limit": "100", "x-rate-limit-remaining": remaining,
                              "x-rate-limit-reset": "1893456000",
                              "x-user-limit-24hour-limit": "10000", "x-user-limit-24hour-remaining": remaining,
                              "x-user-limit-24hour-reset": "1893456000"})

    # --- media -------------------------------------------------------------------------------------

    def _media(self, request: RecordedRequest, authorization: str) -> Reply:
        complaint, body = validate_media(request.method, request.path, request.body,
                                         request.headers.get("content-type", ""), request.query, authorization)
        if complaint:
            self.invalid_bodies.append(complaint)
            return _invalid(complaint)
        fields = body if isinstance(body, dict) else {}
        path = request.path
        with self._lock:
            if path == "/2/media/upload" and request.method == "POST":
                data = _form_parts(request)["media"]  # the spec's reading keeps no bytes for `anyOf` binary
                return self._finished(self._new_media(data, _sniff(data), len(data)))
            if path == "/2/media/upload":  # GET ?command=STATUS
                return self._status(request.query.get("media_id", [""])[-1])
            if path == "/2/media/upload/initialize":
                if fields.get("total_bytes", 0) > MAX_IMAGE_BYTES:
                    return _too_large(fields["total_bytes"])
                upload = self._new_media(b"", fields.get("media_type", ""), fields.get("total_bytes", 0))
                upload["state"] = "initialized"
                return Reply(200, json={"data": {"id": upload["id"], "media_key": f"3_{upload['id']}",
                                                 "expires_after_secs": 86399}})
            if path == "/2/media/metadata":
                return self._metadata(fields)
            media_id, step = path.split("/")[4:6]
            upload = self.media.get(media_id)
            if upload is None or upload["state"] != "initialized":
                return _invalid(f"media {media_id} has no open upload session")
            if step == "append":
                if fields["segment_index"] != len(upload["segments"]):
                    return _invalid(f"segment {fields['segment_index']} out of order")
                upload["segments"].append(base64.b64decode(fields["media"]))
                return Reply(200, json={"data": {"expires_at": 1893456000}})
            data = b"".join(upload.pop("segments"))
            if len(data) != upload["size"]:
                return _invalid(f"received {len(data)} bytes, total_bytes was {upload['size']}")
            if _sniff(data) != upload["media_type"]:
                return _invalid(f"the bytes are not {upload['media_type']}")
            upload.update(data=data, segments=[])
            return self._finished(upload)

    def _new_media(self, data: bytes, media_type: str, size: int) -> dict:
        media_id = str(next(self._media_ids))
        upload = {"id": media_id, "data": data, "media_type": media_type, "size": size, "segments": [],
                  "alt": None, "state": "pending"}
        self.media[media_id] = upload
        return upload

    def _finished(self, upload: dict) -> Reply:
        """The answer to a one-request upload or a finalize: processed, or still processing."""
        if upload["size"] > MAX_IMAGE_BYTES:
            del self.media[upload["id"]]
            return _too_large(upload["size"])
        if not upload["media_type"]:
            del self.media[upload["id"]]
            return _invalid("media type unrecognized")
        upload["state"] = "in_progress" if self.processing_rounds else "succeeded"
        upload["rounds"] = self.processing_rounds
        return Reply(200, json={"data": self._media_data(upload)})

    def _media_data(self, upload: dict) -> dict:
        data = {"id": upload["id"], "media_key": f"3_{upload['id']}", "size": upload["size"],
                "expires_after_secs": 86400}
        if upload["state"] in ("pending", "in_progress"):
            data["processing_info"] = {"state": upload["state"], "check_after_secs": 1, "progress_percent": 50}
        elif upload["rounds"]:
            data["processing_info"] = {"state": "succeeded", "progress_percent": 100}
        return data

    def _status(self, media_id: str) -> Reply:
        upload = self.media.get(media_id)
        if upload is None:
            return _invalid(f"unknown media id {media_id}")
        if upload["state"] == "in_progress":
            upload["rounds"] -= 1
            if upload["rounds"] <= 0:
                upload["state"], upload["rounds"] = "succeeded", 1
        return Reply(200, json={"data": self._media_data(upload)})

    def _metadata(self, fields: dict) -> Reply:
        upload = self.media.get(fields["id"])
        if upload is None:
            return _invalid(f"unknown media id {fields['id']}")
        alt = ((fields.get("metadata") or {}).get("alt_text") or {}).get("text")
        upload["alt"] = alt
        return Reply(200, json={"data": {"id": upload["id"], "associated_metadata": fields.get("metadata") or {}}})

    # --- reads -------------------------------------------------------------------------------------

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
