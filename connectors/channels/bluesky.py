"""Bluesky: publish posts and threads through the atproto SDK, with link cards, images with alt
text, clickable links, hashtags and mentions, a reused session and a points budget.

Rich text: Bluesky does not find links, hashtags or mentions in the text: each becomes a facet
whose range counts **UTF-8 bytes**, not characters. They are detected as the Bluesky app does
(the SDK's port of @atproto/api's `detectFacets`); a mention `@handle.domain` is resolved to a DID
with com.atproto.identity.resolveHandle, and one that does not resolve stays plain text.

Media: `upload` sends the image (or, for a post without one, the link card's thumbnail) with
com.atproto.repo.uploadBlob and returns the blob reference as JSON; `publish` embeds it as
`app.bsky.embed.images` (alt text and aspect ratio) or `app.bsky.embed.external` (the card we build:
uri, title, description, thumb). A post carries one embed: with an image, the link stays a facet.
Blobs are content-addressed, so uploading the same bytes again (a resumed run) gives the same
blob. A blob the PDS dropped because no record used it in time is uploaded again and the post
retried once.

Threads: a reply needs strong references (uri + cid) to its parent and the thread's root, so a
post's provider id keeps what the next reply needs: "uri|cid" for the first post of a thread,
"uri|cid|root_uri|root_cid" for a reply. Bluesky has no idempotency key and no duplicate check, so
`find_post` reads the account's own post records from its PDS (com.atproto.repo.listRecords,
newest first) and matches text and reply parent.

Sessions and limits: see `connectors.channels.bluesky_session` (the session file, mode 0600, and
the points budget). An expired access token is refreshed (refreshSession) and the request retried
once; a new session is created only when the refresh token is refused too.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import httpx
from atproto import Client, models
from atproto_client import exceptions as atx
from atproto_client.client.session import Session, SessionEvent
from atproto_client.models.blob_ref import BlobRef
from atproto_client.request import Request
from atproto_client.utils.facet_detection import detect_facets, detect_mentions

from compose.config import Config
from compose.post_length import BLUESKY_RULES, NetworkRules
from connectors.channels.base import Attachment, ImageLimits, PostImage, PostReceipt
from connectors.channels.bluesky_session import PointsBudget, SessionStore, default_session_file
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
_T = TypeVar("_T")
_TOKEN_ERRORS = frozenset({"ExpiredToken", "InvalidToken"})


def facet_spans(text: str, dids: Mapping[str, str | None] | None = None) -> list[tuple[int, int, str, str]]:
    """(byte_start, byte_end, "link"|"tag"|"mention", value) for every link, hashtag and mention of
    `text`, as the Bluesky app detects them; a mention's value is its DID from `dids` (handle ->
    DID, None when it does not resolve: no facet)."""
    spans = []
    for facet in detect_facets(text):
        feature = facet.features[0]
        kind, value = (("link", feature.uri) if isinstance(feature, models.AppBskyRichtextFacet.Link)
                       else ("tag", feature.tag))
        spans.append((facet.index.byte_start, facet.index.byte_end, kind, value))
    for mention in detect_mentions(text):
        did = (dids or {}).get(mention.handle.lower())
        if did and not any(s < mention.byte_end and mention.byte_start < e for s, e, _, _ in spans):
            spans.append((mention.byte_start, mention.byte_end, "mention", did))
    return sorted(spans)


def _facet(start: int, end: int, kind: str, value: str) -> models.AppBskyRichtextFacet.Main:
    feature: Any = {"link": lambda: models.AppBskyRichtextFacet.Link(uri=value),
                    "tag": lambda: models.AppBskyRichtextFacet.Tag(tag=value),
                    "mention": lambda: models.AppBskyRichtextFacet.Mention(did=value)}[kind]()
    return models.AppBskyRichtextFacet.Main(
        features=[feature], index=models.AppBskyRichtextFacet.ByteSlice(byte_start=start, byte_end=end))


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


def _has_bytes(attachment: Attachment | None) -> bool:
    """Whether the attachment holds its media's bytes (not only a recorded reference to them)."""
    if attachment is None:
        return False
    media = attachment.image or (attachment.card.thumb if attachment.card is not None else None)
    return media is not None and bool(media.data)


def _xrpc_error(exc: Exception) -> str:
    """The XRPC error name of a refused request ("ExpiredToken", "BlobTooLarge"), or ""."""
    response = getattr(exc, "response", None)
    content = getattr(response, "content", None)
    return str(getattr(content, "error", "") or "")


class BlueskyChannel:
    """Publishes posts on one Bluesky account (handle + app password)."""

    name: ClassVar[str] = "bluesky"
    rules: ClassVar[NetworkRules] = BLUESKY_RULES
    max_weighted_length: ClassVar[int] = BLUESKY_RULES.max_length
    # app.bsky.embed.images / external: blobs of at most 1,000,000 bytes; the app shows at most
    # 2,000 px a side and takes 2,000 characters of alt text
    image_limits: ClassVar[ImageLimits] = ImageLimits(
        max_bytes=1_000_000, max_edge_px=2000, mime_types=("image/jpeg", "image/png", "image/webp"),
        max_alt_chars=2000)
    builds_cards: ClassVar[bool] = True  # Bluesky shows the card the client sends: we build it
    budget: ClassVar[PointsBudget] = PointsBudget()
    default_rate_limit_wait_s: ClassVar[float] = 900.0
    lookup_limit: ClassVar[int] = 100  # records per listRecords page (the lexicon's maximum)
    lookup_pages: ClassVar[int] = 3

    def __init__(self, *, handle: str, app_password: str, service_url: str = DEFAULT_SERVICE_URL,
                 session_file: str | os.PathLike[str] = Path("var") / "bluesky-session.json",
                 timeout_s: float = 15.0, clock: Callable[[], float] = time.time) -> None:
        self.handle = handle
        self.service_url = service_url.rstrip("/")
        self.timeout_s = timeout_s
        self._password = app_password
        self._clock = clock
        self._store = SessionStore(Path(session_file), handle=handle, service_url=self.service_url)
        self._client = Client(base_url=self.service_url, request=Request(timeout=httpx.Timeout(timeout_s)))
        self._client.on_session_change(self._session_changed)
        self._did: str | None = None
        self._dids: dict[str, str | None] = {}  # handle -> DID (None: does not resolve), per channel

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ, *, config: Config | None = None,
                 timeout_s: float = 15.0,
                 clock: Callable[[], float] = time.time) -> BlueskyChannel | None:
        """The channel from BLUESKY_HANDLE, BLUESKY_APP_PASSWORD, BLUESKY_SERVICE_URL and
        BLUESKY_SESSION_FILE; None when the handle or the app password is missing."""
        handle = env.get("BLUESKY_HANDLE", "").strip()
        password = env.get("BLUESKY_APP_PASSWORD", "").strip()
        if not handle or not password:
            return None
        return cls(handle=handle, app_password=password, timeout_s=timeout_s, clock=clock,
                   service_url=env.get("BLUESKY_SERVICE_URL") or DEFAULT_SERVICE_URL,
                   session_file=default_session_file(env))

    def __repr__(self) -> str:
        return (f"BlueskyChannel(handle={self.handle!r}, service_url={self.service_url!r}, "
                f"timeout_s={self.timeout_s}, app_password=<redacted>)")

    __str__ = __repr__

    # --- the session ------------------------------------------------------------------------------

    def _session_changed(self, event: SessionEvent, session: Session) -> None:
        if event in (SessionEvent.CREATE, SessionEvent.REFRESH):
            self._store.save_session(session.export())
            self._did = session.did
            log.info("bluesky: session %s for %s", "created" if event is SessionEvent.CREATE else "refreshed",
                     self.handle)

    def _login(self) -> str:
        """The account's DID, with a session: the stored one, else a new one (createSession)."""
        if self._did is not None:
            return self._did
        stored = self._store.session_string()
        if stored is not None:
            try:
                self._client.login(session_string=stored, fetch_bsky_profile=False)
                session = self._client._session
                if session is not None and session.handle.lower() == self.handle.lower():
                    self._did = session.did
                    return self._did
            except (ValueError, atx.AtProtocolError):
                log.warning("bluesky: the stored session could not be used; creating a new one")
        return self._create_session()

    def _create_session(self) -> str:
        try:
            self._client.login(self.handle, self._password, fetch_bsky_profile=False)
        except Exception as exc:
            error = self._error(exc)
            if isinstance(error, AmbiguousError):  # a failed login created nothing
                error = TransientError(f"bluesky: login failed ({error.message})",
                                       hint="the service did not answer the login; retry later")
            raise error from exc
        session = self._client._session
        assert session is not None
        self._did = session.did
        return self._did

    def _renew(self) -> None:
        """After the service refused the access token: refresh the session, else create one."""
        try:
            self._client._refresh_and_set_session()  # the SDK's own refresh: refreshSession, callbacks
            return
        except Exception as exc:  # the refresh token is refused too (or missing): a new session
            log.info("bluesky: the session could not be refreshed (%s); creating a new one",
                     _xrpc_error(exc) or type(exc).__name__)
        self._store.forget_session()
        self._did = None
        self._create_session()

    def _call(self, request: Callable[[], _T]) -> _T:
        """Make `request` with a live session: an expired or invalid token is renewed and the
        request made once more (the service refused it before doing anything)."""
        self._login()
        try:
            return request()
        except (atx.BadRequestError, atx.UnauthorizedError) as exc:
            if _xrpc_error(exc) not in _TOKEN_ERRORS:
                raise
        self._renew()
        return request()

    # --- limits -------------------------------------------------------------------------------------

    def _spend(self, points: int) -> None:
        """Count a write against the budget, or defer it (TransientError) when it would not fit."""
        wait = self._store.spend(points, now=self._clock(), budget=self.budget)
        if wait is not None:
            raise TransientError("bluesky: the account's write budget is nearly spent",
                                 retry_after_s=max(1.0, wait),
                                 hint=f"Bluesky allows {self.budget.per_hour:,} points an hour and "
                                      f"{self.budget.per_day:,} a day (a post costs {self.budget.record_cost}); "
                                      f"posting resumes in {wait:.0f} s")

    # --- media --------------------------------------------------------------------------------------

    def _check_image(self, image: PostImage) -> None:
        limits = self.image_limits
        if len(image.data) > limits.max_bytes:
            raise PermanentError(f"bluesky: the image is {len(image.data):,} bytes; Bluesky takes at most "
                                 f"{limits.max_bytes:,}", hint="resize or re-encode it (connectors.images does "
                                 "this within the channel's image_limits)")
        if image.mime_type not in limits.mime_types:
            raise PermanentError(f"bluesky: {image.mime_type} images are not taken",
                                 hint=f"use one of {', '.join(limits.mime_types)}")

    def _upload_blob(self, image: PostImage) -> dict[str, Any]:
        self._check_image(image)
        try:
            uploaded = self._call(lambda: self._client.upload_blob(image.data))
        except Exception as exc:
            raise self._error(exc) from exc
        blob: dict[str, Any] = uploaded.blob.to_json_representation().model_dump(mode="json", by_alias=True)
        log.info("bluesky: uploaded a %s blob of %d bytes", blob["mimeType"], blob["size"])
        return blob

    def upload(self, attachment: Attachment, *, thread_key: str = "") -> str | None:
        """Upload the image (with its alt text and size for the embed), else the card's thumbnail;
        the reference is JSON: {"images": [{blob, alt, width, height}]} or {"thumb": blob}."""
        if attachment.image is not None:
            image = attachment.image
            return json.dumps({"images": [{"blob": self._upload_blob(image), "alt": image.alt,
                                           "width": image.width, "height": image.height}]})
        if attachment.card is not None and attachment.card.thumb is not None:
            return json.dumps({"thumb": self._upload_blob(attachment.card.thumb)})
        return None

    def _embed(self, attachment: Attachment | None, media_ref: str | None) -> Any:
        if attachment is None or (attachment.image is None and attachment.card is None):
            return None
        ref = json.loads(media_ref) if media_ref else None
        if attachment.image is not None:
            if not ref or "images" not in ref:
                ref = json.loads(self.upload(attachment) or "{}")
            return models.AppBskyEmbedImages.Main(images=[
                models.AppBskyEmbedImages.Image(
                    image=BlobRef.model_validate(item["blob"]), alt=attachment.image.alt or item["alt"],
                    aspect_ratio=models.AppBskyEmbedDefs.AspectRatio(width=item["width"], height=item["height"])
                    if item.get("width") and item.get("height") else None)
                for item in ref["images"]])
        card = attachment.card
        assert card is not None
        if card.thumb is not None and (not ref or "thumb" not in ref):
            ref = json.loads(self.upload(attachment) or "{}")
        thumb = BlobRef.model_validate(ref["thumb"]) if ref and "thumb" in ref else None
        return models.AppBskyEmbedExternal.Main(external=models.AppBskyEmbedExternal.External(
            uri=card.url, title=card.title, description=card.description, thumb=thumb))

    # --- rich text ----------------------------------------------------------------------------------

    def _resolve(self, handle: str) -> str | None:
        key = handle.lower()
        if key not in self._dids:
            try:
                self._dids[key] = self._call(lambda: self._client.resolve_handle(key)).did
            except atx.BadRequestError:
                log.info("bluesky: @%s does not resolve; it stays plain text", key)
                self._dids[key] = None
            except Exception as exc:
                raise self._error(exc) from exc
        return self._dids[key]

    def facets(self, text: str) -> list[models.AppBskyRichtextFacet.Main]:
        """The facets of `text`: links, hashtags, and mentions of handles that resolve."""
        dids = {mention.handle.lower(): self._resolve(mention.handle) for mention in detect_mentions(text)}
        return [_facet(*span) for span in facet_spans(text, dids)]

    # --- posts --------------------------------------------------------------------------------------

    def publish(self, text: str, *, reply_to: str | None = None, thread_key: str = "",
                attachment: Attachment | None = None, media_ref: str | None = None) -> PostReceipt:
        """Publish one post, as a reply to the post `reply_to` ("uri|cid[|root_uri|root_cid]"),
        with the attachment's embed (its blobs from `media_ref`, uploaded now if it has none)."""
        did = self._login()
        reply_ref, root = _reply_ref(reply_to) if reply_to else (None, None)
        facets = self.facets(text) or None
        embed = self._embed(attachment, media_ref)

        def send() -> Any:
            return self._call(lambda: self._client.send_post(
                text, profile_identify=did, reply_to=reply_ref, facets=facets, embed=embed))

        self._spend(self.budget.record_cost)
        try:
            try:
                created = send()
            except atx.BadRequestError as exc:
                if embed is None or "could not find blob" not in str(exc).lower():
                    raise
                if not _has_bytes(attachment):  # a resumed run holds the reference, not the image
                    raise PermanentError("bluesky: the uploaded image expired before the post went out",
                                         hint="Bluesky drops an upload no post uses within minutes; the image "
                                              "must be uploaded again", status=400,
                                         provider_message=str(exc)) from exc
                log.info("bluesky: the uploaded media expired before the post; uploading it again")
                embed = self._embed(attachment, None)
                created = send()
        except Exception as exc:
            raise self._error(exc) from exc
        provider_id = f"{created.uri}|{created.cid}" + (f"|{root[0]}|{root[1]}" if root else "")
        rkey = created.uri.rsplit("/", 1)[-1]
        log.info("bluesky: published post %s (thread %s)", created.uri, thread_key or "-")
        return PostReceipt(provider_id=provider_id, url=f"https://bsky.app/profile/{did}/post/{rkey}")

    def find_post(self, text: str, *, reply_to: str | None = None, thread_key: str = "") -> PostReceipt | None:
        """The account's post with exactly this text, replying to `reply_to` (or to nothing),
        among its newest records; None when there is none. A failed lookup raises a `DeliveryError`."""
        parent = reply_to.split("|")[0] if reply_to else None
        cursor: str | None = None
        for _ in range(self.lookup_pages):
            try:
                did = self._login()
                params = models.ComAtprotoRepoListRecords.Params(repo=did, collection="app.bsky.feed.post",
                                                                 limit=self.lookup_limit, cursor=cursor)
                page = self._call(functools.partial(self._client.com.atproto.repo.list_records, params))
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
            self._store.block_until(self._clock() + wait)
            return TransientError("bluesky: rate limited", retry_after_s=wait,
                                  hint=f"Bluesky's rate limit is spent; wait {wait:.0f} s", **context)
        if _xrpc_error(exc) == "BlobTooLarge" or status == 413:
            return PermanentError("bluesky: the image is too large for Bluesky", hint="Bluesky takes images of "
                                  f"at most {self.image_limits.max_bytes:,} bytes: resize it", **context)
        if status in (401, 403) or _xrpc_error(exc) in _TOKEN_ERRORS:
            return AuthError("bluesky: credentials refused", hint="check BLUESKY_HANDLE and create a new "
                             "app password (Settings > App passwords)", **context)
        if "repl" in lowered and ("not allowed" in lowered or "blocked" in lowered):
            return ReplyNotAllowedError("bluesky: reply refused", hint="post the rest as standalone posts "
                                        "or stop", **context)
        if status >= 500 or status == 409:
            return TransientError("bluesky: server error", hint="retry later", **context)
        return PermanentError(f"bluesky: post refused ({status})", hint="fix the post; retrying it "
                              "unchanged will fail again", **context)

