"""Bluesky: publish posts and threads through the atproto SDK (`Client.send_post`).

Links and hashtags are not detected by Bluesky from the text: each becomes a facet whose
range counts **UTF-8 bytes**, not characters. A reply needs strong references (uri + cid) to
both its parent and the thread's root, so a post's provider id keeps what the next reply
needs: "uri|cid" for the first post of a thread, "uri|cid|root_uri|root_cid" for a reply.
The caller stores the provider id and passes it back as `reply_to`; nothing else is needed.

The session (com.atproto.server.createSession with an app password) is opened on the first
publish, not at construction. Bluesky has no idempotency key and no duplicate check, so
`find_post` reads the account's own post records from its PDS (`com.atproto.repo.listRecords`,
newest first: immediate, unlike the AppView's author feed) and matches text and reply parent.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Mapping
from typing import ClassVar

import httpx
from atproto import Client, models
from atproto_client import exceptions as atx
from atproto_client.request import Request
from twitter_text import extract_urls_with_indices

from compose.config import Config
from compose.post_length import BLUESKY_RULES, NetworkRules
from connectors.channels.base import PostReceipt
from connectors.errors import (
    AmbiguousError,
    AuthError,
    DeliveryError,
    PermanentError,
    ReplyNotAllowedError,
    TransientError,
)

log = logging.getLogger(__name__)

DEFAULT_SERVICE_URL = "https://bsky.social"
_HASHTAG = re.compile(r"(?<![\w#&])#(\w*[^\W\d]\w*)")


def facet_spans(text: str) -> list[tuple[int, int, str, str]]:
    """(byte_start, byte_end, "link"|"tag", value) for every URL and hashtag of `text`."""
    spans = []

    def byte_offset(index: int) -> int:
        return len(text[:index].encode("utf-8"))

    for entity in extract_urls_with_indices(text):
        start, end = entity["indices"]
        url = entity["url"]
        uri = url if re.match(r"(?i)https?://", url) else f"https://{url}"
        spans.append((byte_offset(start), byte_offset(end), "link", uri))
    for match in _HASHTAG.finditer(text):
        start = byte_offset(match.start())
        if not any(s <= start < e for s, e, _, _ in spans):
            spans.append((start, byte_offset(match.end()), "tag", match.group(1)))
    return sorted(spans)


def _facets(text: str) -> list[models.AppBskyRichtextFacet.Main]:
    facets = []
    for start, end, kind, value in facet_spans(text):
        feature = (models.AppBskyRichtextFacet.Link(uri=value) if kind == "link"
                   else models.AppBskyRichtextFacet.Tag(tag=value))
        facets.append(models.AppBskyRichtextFacet.Main(
            features=[feature], index=models.AppBskyRichtextFacet.ByteSlice(byte_start=start, byte_end=end)))
    return facets


def _reply_ref(reply_to: str) -> tuple[models.AppBskyFeedPost.ReplyRef, tuple[str, str]]:
    """The reply reference for a reply to the post whose provider id is `reply_to`, and the root."""
    parts = reply_to.split("|")
    if len(parts) not in (2, 4):
        raise PermanentError(f"bluesky: {reply_to!r} is not a post reference",
                             hint='expected "uri|cid" or "uri|cid|root_uri|root_cid"')
    parent = (parts[0], parts[1])
    root = (parts[2], parts[3]) if len(parts) == 4 else parent
    ref = models.AppBskyFeedPost.ReplyRef(
        parent=models.ComAtprotoRepoStrongRef.Main(uri=parent[0], cid=parent[1]),
        root=models.ComAtprotoRepoStrongRef.Main(uri=root[0], cid=root[1]))
    return ref, root


class BlueskyChannel:
    """Publishes posts on one Bluesky account (handle + app password)."""

    name: ClassVar[str] = "bluesky"
    rules: ClassVar[NetworkRules] = BLUESKY_RULES
    max_weighted_length: ClassVar[int] = BLUESKY_RULES.max_length
    default_rate_limit_wait_s: ClassVar[float] = 900.0
    lookup_limit: ClassVar[int] = 100  # records per listRecords page (the lexicon's maximum)
    lookup_pages: ClassVar[int] = 3

    def __init__(self, *, handle: str, app_password: str, service_url: str = DEFAULT_SERVICE_URL,
                 timeout_s: float = 15.0, clock: Callable[[], float] = time.time) -> None:
        self.handle = handle
        self.service_url = service_url.rstrip("/")
        self.timeout_s = timeout_s
        self._password = app_password
        self._clock = clock
        self._client = Client(base_url=self.service_url, request=Request(timeout=httpx.Timeout(timeout_s)))
        self._did: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ, *, config: Config | None = None,
                 timeout_s: float = 15.0,
                 clock: Callable[[], float] = time.time) -> BlueskyChannel | None:
        """The channel from BLUESKY_HANDLE, BLUESKY_APP_PASSWORD and BLUESKY_SERVICE_URL;
        None when the handle or the app password is missing."""
        handle = env.get("BLUESKY_HANDLE", "").strip()
        password = env.get("BLUESKY_APP_PASSWORD", "").strip()
        if not handle or not password:
            return None
        return cls(handle=handle, app_password=password, timeout_s=timeout_s, clock=clock,
                   service_url=env.get("BLUESKY_SERVICE_URL") or DEFAULT_SERVICE_URL)

    def __repr__(self) -> str:
        return (f"BlueskyChannel(handle={self.handle!r}, service_url={self.service_url!r}, "
                f"timeout_s={self.timeout_s}, app_password=<redacted>)")

    __str__ = __repr__

    def _login(self) -> str:
        if self._did is None:
            try:
                profile = self._client.login(self.handle, self._password)
            except Exception as exc:
                error = self._error(exc)
                if isinstance(error, AmbiguousError):  # a failed login created nothing
                    error = TransientError(f"bluesky: login failed ({error.message})",
                                           hint="the service did not answer the login; retry later")
                raise error from exc
            self._did = profile.did if profile is not None else self._client._session.did
        return self._did

    def publish(self, text: str, *, reply_to: str | None = None, thread_key: str = "") -> PostReceipt:
        """Publish one post, as a reply to the post `reply_to` ("uri|cid[|root_uri|root_cid]")."""
        did = self._login()
        reply_ref, root = _reply_ref(reply_to) if reply_to else (None, None)
        try:
            created = self._client.send_post(text, reply_to=reply_ref, facets=_facets(text) or None)
        except Exception as exc:
            raise self._error(exc) from exc
        provider_id = f"{created.uri}|{created.cid}" + (f"|{root[0]}|{root[1]}" if root else "")
        rkey = created.uri.rsplit("/", 1)[-1]
        log.info("bluesky: published post %s (thread %s)", created.uri, thread_key or "-")
        return PostReceipt(provider_id=provider_id, url=f"https://bsky.app/profile/{did}/post/{rkey}")

    def find_post(self, text: str, *, reply_to: str | None = None, thread_key: str = "") -> PostReceipt | None:
        """The account's post with exactly this text, replying to `reply_to` (or to nothing),
        among its newest records; None when there is none. A failed lookup raises a `DeliveryError`."""
        did = self._login()
        parent = reply_to.split("|")[0] if reply_to else None
        cursor: str | None = None
        for _ in range(self.lookup_pages):
            try:
                page = self._client.com.atproto.repo.list_records(models.ComAtprotoRepoListRecords.Params(
                    repo=did, collection="app.bsky.feed.post", limit=self.lookup_limit, cursor=cursor))
            except Exception as exc:
                error = self._error(exc)
                raise (TransientError(f"bluesky: looking up the account's posts failed ({error.message})",
                                      hint="the service did not answer the lookup; the post's fate is unknown",
                                      status=error.status) if isinstance(error, AmbiguousError) else error) from exc
            for record in page.records:
                value = record.value
                reply = getattr(value, "reply", None)
                if getattr(value, "text", None) != text or (reply.parent.uri if reply else None) != parent:
                    continue
                provider_id = f"{record.uri}|{record.cid}" + (f"|{reply.root.uri}|{reply.root.cid}" if reply else "")
                log.info("bluesky: found post %s already published (thread %s)", record.uri, thread_key or "-")
                return PostReceipt(provider_id=provider_id,
                                   url=f"https://bsky.app/profile/{did}/post/{record.uri.rsplit('/', 1)[-1]}")
            cursor = page.cursor
            if not cursor:
                return None
        return None

    def close(self) -> None:
        self._client.request.close()

    def _error(self, exc: Exception) -> DeliveryError:
        if isinstance(exc, atx.RequestErrorBase) and exc.response is not None:
            return self._response_error(exc)
        cause = exc.__cause__ if isinstance(exc, atx.RequestErrorBase) else exc
        if isinstance(cause, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
            return TransientError("bluesky: could not connect",
                                  hint="the service was unreachable; nothing was posted, retry later")
        if isinstance(cause, httpx.TransportError) or isinstance(exc, atx.NetworkError):
            return AmbiguousError(f"bluesky: the request was sent but no answer came back "
                                  f"({type(cause).__name__})",
                                  hint="check the account: the post may exist; resend or mark it sent")
        if isinstance(exc, DeliveryError):
            return exc
        return PermanentError(f"bluesky: {type(exc).__name__}: {exc}", hint="see the provider message")

    def _response_error(self, exc: atx.RequestErrorBase) -> DeliveryError:
        status = exc.response.status_code
        content = exc.response.content
        message = (f"{getattr(content, 'error', '')}: {getattr(content, 'message', '') or ''}".strip(": ")
                   if not isinstance(content, bytes | dict) else str(content)[:200])
        context = {"status": status, "provider_message": message}
        lowered = message.lower()
        if isinstance(exc, atx.RateLimitExceededError):
            wait = exc.retry_after
            if wait is None and exc.reset_at is not None:
                wait = exc.reset_at.timestamp() - self._clock()
            wait = self.default_rate_limit_wait_s if wait is None else max(1.0, wait)
            return TransientError("bluesky: rate limited", retry_after_s=wait,
                                  hint=f"Bluesky's rate limit is spent; wait {wait:.0f} s", **context)
        if status in (401, 403):
            return AuthError("bluesky: credentials refused", hint="check BLUESKY_HANDLE and create a new "
                             "app password (Settings > App passwords)", **context)
        if "repl" in lowered and ("not allowed" in lowered or "blocked" in lowered):
            return ReplyNotAllowedError("bluesky: reply refused", hint="post the rest as standalone posts "
                                        "or stop", **context)
        if status >= 500 or status == 409:
            return TransientError("bluesky: server error", hint="retry later", **context)
        return PermanentError(f"bluesky: post refused ({status})", hint="fix the post; retrying it "
                              "unchanged will fail again", **context)

