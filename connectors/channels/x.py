"""X (Twitter): publish posts and threads through tweepy's v2 `Client.create_tweet`.

A thread is a reply chain: the caller publishes post 0, stores its id, then publishes post
k with `reply_to=<id of post k-1>`. X has no idempotency key, so `thread_key` is only used
in logs; after an `AmbiguousError` the post may exist and must not be resent blindly:
`find_post` asks X (an "Owned Read": `GET /2/users/me`, then the account's recent posts with
`GET /2/users/:id/tweets`) whether a post with exactly this text, replying to exactly that
post, exists. X returns a post's text with `&`, `<`, `>` HTML-escaped and its links as t.co
links (the originals in `entities.urls`): both are undone before comparing.

Images: tweepy (4.17) uploads media only through the retired v1.1 endpoints, so `upload` speaks
X's v2 media API itself, on tweepy's own session and OAuth 1.0a signing (the same user tokens):
`POST /2/media/upload` in one request for an image up to `chunk_bytes`, else the chunked
`/2/media/upload/initialize`, `/{id}/append` (one segment per `chunk_bytes`) and `/{id}/finalize`;
while X reports `processing_info` pending, `GET /2/media/upload?command=STATUS` after the
`check_after_secs` it asks for. The alt text is set with `POST /2/media/metadata` (`alt_text`,
at most 1,000 characters). The media id is what `publish` sends as `media.media_ids`. An upload
whose answer is lost is made again (a `TransientError`, not an ambiguous one): media never
attached to a post expires unseen. Link cards are X's own (its crawler reads the page's tags):
`builds_cards = False`.

tweepy hard-codes https://api.twitter.com and sets no timeout. A transport adapter mounted
on the client's session sends each (already OAuth1-signed) request to `X_API_BASE_URL` and
applies our timeout. tweepy's `wait_on_rate_limit` is off: it retries a 429 with no reset
header immediately and forever; here a 429 becomes a `TransientError` with a wait.
"""

from __future__ import annotations

import base64
import html
import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import ClassVar
from urllib.parse import urlsplit

import requests
import tweepy
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from compose.config import Config
from compose.post_length import X_RULES, NetworkRules
from connectors.channels.base import Attachment, ImageLimits, PostImage, PostReceipt, comparable_text
from connectors.errors import (
    AmbiguousError,
    AuthError,
    DeliveryError,
    DuplicateContentError,
    PermanentError,
    ReplyNotAllowedError,
    TransientError,
)
from connectors.redact import SecretFilter
from connectors.retry_after import reset_in_s

log = logging.getLogger(__name__)

TWEEPY_HOST = "https://api.twitter.com"
_ENV_KEYS = ("X_API_KEY", "X_API_SECRET", "X_ACCESS_TOKEN", "X_ACCESS_TOKEN_SECRET")
_AUTH_WORDS = ("oauth", "permission", "not permitted", "developer app", "project", "suspended",
               "credentials", "forbidden from accessing", "client-not-enrolled")


_SIGNING_LOGGERS = ("requests_oauthlib.oauth1_auth", "oauthlib.oauth1.rfc5849", "tweepy.client")


class _EndpointAdapter(HTTPAdapter):
    """Sends requests signed for `TWEEPY_HOST` to `base_url`, with a default timeout."""

    def __init__(self, base_url: str | None, timeout_s: float) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/") if base_url else None
        self.timeout_s = timeout_s

    def send(self, request: requests.PreparedRequest, **kwargs):  # type: ignore[override]
        if self.base_url and request.url:
            split = urlsplit(request.url)
            request.url = self.base_url + split.path + (f"?{split.query}" if split.query else "")
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout_s
        return super().send(request, **kwargs)


def _is_connect_failure(exc: BaseException) -> bool:
    """True when the request never reached the server (refused, DNS, connect timeout)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    seen: set[int] = set()
    stack: list[object] = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen or current is None:
            continue
        seen.add(id(current))
        if isinstance(current, NewConnectionError | ConnectTimeoutError | ConnectionRefusedError):
            return True
        if isinstance(current, BaseException):
            stack += [*current.args, current.__cause__, current.__context__, getattr(current, "reason", None)]
    return False


def requests_failure(exc: requests.RequestException, *, network: str) -> DeliveryError:
    """Our error for a `requests` transport failure: before sending it is transient; after the
    request left (read timeout, reset, dropped connection) the post may exist: ambiguous."""
    if _is_connect_failure(exc):
        return TransientError(f"{network}: could not connect", status=None,
                              hint="the service was unreachable; nothing was posted, retry later")
    return AmbiguousError(
        f"{network}: the request was sent but no answer came back ({type(exc).__name__})",
        hint="check the account's timeline: the post may exist; resend or mark it sent",
    )


def retry_after_from_headers(headers: Mapping[str, str], *, now: float, default_s: float) -> float:
    """Seconds to wait after an X 429: until `x-rate-limit-reset` (or the 24-hour reset when
    the daily quota is spent); `default_s` when the header is missing or unusable."""
    resets = []
    for prefix in ("x-rate-limit", "x-user-limit-24hour", "x-app-limit-24hour"):
        reset = headers.get(f"{prefix}-reset")
        remaining = headers.get(f"{prefix}-remaining")
        if reset is None or (prefix != "x-rate-limit" and remaining != "0"):
            continue
        wait = reset_in_s(reset, now=now)
        if wait is not None:
            resets.append(wait)
    if not resets:
        return default_s
    return max(1.0, max(resets))


class XChannel:
    """Publishes posts on X as the account whose OAuth 1.0a user tokens are configured."""

    name: ClassVar[str] = "x"
    rules: ClassVar[NetworkRules] = X_RULES
    max_weighted_length: ClassVar[int] = X_RULES.max_length
    default_rate_limit_wait_s: ClassVar[float] = 900.0  # one 15-minute window: never a hot loop
    lookup_page_size: ClassVar[int] = 100  # GET /2/users/:id/tweets allows 5..100
    lookup_pages: ClassVar[int] = 3  # how far back `find_post` looks: the newest 300 posts
    builds_cards: ClassVar[bool] = False  # X's crawler builds the card from the page's tags
    # images: 5 MB, JPEG, PNG, WebP or GIF (docs.x.com, media best practices); alt text 1,000
    # characters (CreateMediaMetadataMetadataAltText in X's OpenAPI)
    image_limits: ClassVar[ImageLimits] = ImageLimits(
        max_bytes=5 * 1024 * 1024, max_edge_px=4096,
        mime_types=("image/jpeg", "image/png", "image/webp", "image/gif"), max_alt_chars=1000)
    chunk_bytes: ClassVar[int] = 1024 * 1024  # larger images go in chunks of this size
    media_processing_wait_s: ClassVar[float] = 60.0  # the longest wait for X to process an upload

    def __init__(
        self,
        *,
        api_key: str,
        api_secret: str,
        access_token: str,
        access_token_secret: str,
        base_url: str = TWEEPY_HOST,
        timeout_s: float = 15.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self._clock = clock
        self._sleep = sleep
        self._client = tweepy.Client(
            consumer_key=api_key, consumer_secret=api_secret,
            access_token=access_token, access_token_secret=access_token_secret,
            wait_on_rate_limit=False,
        )
        # oauthlib logs the access token in its signature base string and headers at DEBUG
        self._redactor = SecretFilter([api_secret, access_token, access_token_secret]).attach(*_SIGNING_LOGGERS)
        redirect = None if self.base_url == TWEEPY_HOST else self.base_url
        self._client.session.mount(f"{TWEEPY_HOST}/", _EndpointAdapter(redirect, timeout_s))
        self._user_id: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ, *, config: Config | None = None,
                 timeout_s: float = 15.0,
                 clock: Callable[[], float] = time.time) -> XChannel | None:
        """The channel from X_API_KEY, X_API_SECRET, X_ACCESS_TOKEN, X_ACCESS_TOKEN_SECRET and
        X_API_BASE_URL; None when any credential is missing (the outbox takes over)."""
        values = [env.get(key, "").strip() for key in _ENV_KEYS]
        if not all(values):
            return None
        api_key, api_secret, access_token, access_token_secret = values
        return cls(api_key=api_key, api_secret=api_secret, access_token=access_token,
                   access_token_secret=access_token_secret,
                   base_url=env.get("X_API_BASE_URL") or TWEEPY_HOST, timeout_s=timeout_s, clock=clock)

    def __repr__(self) -> str:
        return f"XChannel(base_url={self.base_url!r}, timeout_s={self.timeout_s}, credentials=<redacted>)"

    __str__ = __repr__

    def upload(self, attachment: Attachment, *, thread_key: str = "") -> str | None:
        """Upload the attachment's image through X's v2 media API and give it its alt text; the
        media id. None without an image (X builds link cards itself)."""
        image = attachment.image
        if image is None:
            return None
        limits = self.image_limits
        if not image.alt.strip():
            raise PermanentError("x: an image without alt text is never published",
                                 hint="add alt text to the post's image on the desk")
        if len(image.data) > limits.max_bytes or image.mime_type not in limits.mime_types:
            raise PermanentError(f"x: X does not take this image ({image.mime_type}, {len(image.data)} bytes)",
                                 hint=f"images must be one of {', '.join(limits.mime_types)} and at most "
                                 f"{limits.max_bytes} bytes; fetch it again within X's limits")
        media = self._upload_simple(image) if len(image.data) <= self.chunk_bytes else self._upload_chunked(image)
        media_id = str(media["id"])
        self._wait_processed(media_id, media.get("processing_info"))
        self._media_request("POST", "/2/media/metadata", json={
            "id": media_id, "metadata": {"alt_text": {"text": image.alt[:limits.max_alt_chars]}}})
        log.info("x: uploaded image %s with alt text (thread %s)", media_id, thread_key or "-")
        return media_id

    def _upload_simple(self, image: PostImage) -> dict:
        return self._media_request("POST", "/2/media/upload", data={"media_category": "tweet_image"},
                                   files={"media": (_file_name(image.mime_type), image.data, image.mime_type)})

    def _upload_chunked(self, image: PostImage) -> dict:
        session = self._media_request("POST", "/2/media/upload/initialize", json={
            "media_type": image.mime_type, "total_bytes": len(image.data), "media_category": "tweet_image"})
        media_id = str(session["id"])
        for index, start in enumerate(range(0, len(image.data), self.chunk_bytes)):
            chunk = image.data[start:start + self.chunk_bytes]
            # JSON with the chunk in base64 (the spec's other form): a multipart field is text, and
            # segment_index is an integer
            self._media_request("POST", f"/2/media/upload/{media_id}/append", json={
                "media": base64.b64encode(chunk).decode("ascii"), "segment_index": index})
        return self._media_request("POST", f"/2/media/upload/{media_id}/finalize")

    def _wait_processed(self, media_id: str, processing: dict | None) -> None:
        """Until X has processed the upload (`processing_info` gone or succeeded)."""
        waited = 0.0
        while processing and processing.get("state") in ("pending", "in_progress"):
            if waited >= self.media_processing_wait_s:
                raise TransientError(f"x: image {media_id} still processing after {waited:.0f} s",
                                     retry_after_s=self.media_processing_wait_s,
                                     hint="X is slow to process the image; the upload is retried later")
            pause = max(1.0, float(processing.get("check_after_secs") or 1))
            self._sleep(pause)
            waited += pause
            processing = self._media_request("GET", "/2/media/upload", params={
                "command": "STATUS", "media_id": media_id}).get("processing_info")
        if processing and processing.get("state") == "failed":
            raise PermanentError(f"x: X could not process image {media_id}",
                                 hint="the image is damaged or of a kind X refuses; fetch it again or leave it out")

    def _media_request(self, method: str, path: str, **kwargs: object) -> dict:
        """One signed request to X's media API; its `data`. Errors become ours; a lost answer is
        transient (an upload never attached to a post is never seen: making it again is safe)."""
        client = self._client
        auth = tweepy.OAuth1UserHandler(client.consumer_key, client.consumer_secret, client.access_token,
                                        client.access_token_secret).apply_auth()
        try:
            response = client.session.request(method, TWEEPY_HOST + path, auth=auth,
                                              headers={"User-Agent": client.user_agent}, **kwargs)
        except requests.RequestException as exc:
            failure = requests_failure(exc, network="x")
            if isinstance(failure, AmbiguousError):
                raise TransientError(f"x: the media request got no answer ({type(exc).__name__})",
                                     hint="uploading again is safe: media never attached to a post expires "
                                     "unseen") from exc
            raise failure from exc
        with response:
            if not 200 <= response.status_code < 300:
                raise self._http_error(tweepy.HTTPException(response))
            body = response.json() if response.content else {}
        data: dict = body.get("data") or {}
        return data

    def publish(self, text: str, *, reply_to: str | None = None, thread_key: str = "",
                attachment: Attachment | None = None, media_ref: str | None = None) -> PostReceipt:
        """Publish one post, as a reply to the post `reply_to` when given, with the media
        `upload` returned (`media_ref`)."""
        if attachment is not None and attachment.image is not None and not media_ref:
            raise PermanentError("x: the post's image was not uploaded",
                                 hint="upload the image first (the publish stage records its media id)")
        try:
            response = self._client.create_tweet(text=text, in_reply_to_tweet_id=reply_to, user_auth=True,
                                                 media_ids=[media_ref] if media_ref else None)
        except tweepy.HTTPException as exc:
            raise self._http_error(exc) from exc
        except requests.RequestException as exc:
            raise requests_failure(exc, network="x") from exc
        post_id = str(response.data["id"])
        log.info("x: published post %s (thread %s, reply to %s)", post_id, thread_key or "-", reply_to or "-")
        return PostReceipt(provider_id=post_id, url=f"https://x.com/i/web/status/{post_id}")

    def find_post(self, text: str, *, reply_to: str | None = None, thread_key: str = "") -> PostReceipt | None:
        """The account's post with exactly this text, replying to `reply_to` (or to nothing), if X
        has it among the account's newest posts; None when it does not. A failed lookup raises
        a `DeliveryError` (never "not found")."""
        wanted = comparable_text(text)
        token: str | None = None
        try:
            user_id = self._me()
            for _ in range(self.lookup_pages):
                response = self._client.get_users_tweets(
                    user_id, user_auth=True, max_results=self.lookup_page_size, since_id=reply_to,
                    pagination_token=token, tweet_fields=["referenced_tweets", "entities", "created_at"])
                for tweet in response.data or []:
                    if _replied_to(tweet) == reply_to and _tweet_text(tweet) == wanted:
                        post_id = str(tweet.id)
                        log.info("x: found post %s already published (thread %s)", post_id, thread_key or "-")
                        return PostReceipt(provider_id=post_id, url=f"https://x.com/i/web/status/{post_id}")
                token = (response.meta or {}).get("next_token")
                if not token:
                    return None
        except tweepy.HTTPException as exc:
            raise self._http_error(exc) from exc
        except requests.RequestException as exc:
            raise TransientError(f"x: looking up the account's posts failed ({type(exc).__name__})",
                                 hint="X did not answer the lookup; the post's fate is unknown") from exc
        return None

    def _me(self) -> str:
        if self._user_id is None:
            self._user_id = str(self._client.get_me(user_auth=True).data.id)
        return self._user_id

    def close(self) -> None:
        self._client.session.close()
        self._redactor.detach()

    def _http_error(self, exc: tweepy.HTTPException) -> DeliveryError:
        status = exc.response.status_code
        message = "; ".join(exc.api_messages) or str(exc)
        lowered = message.lower()
        context = {"status": status, "provider_message": message}
        if status == 429:
            wait = retry_after_from_headers(exc.response.headers, now=self._clock(),
                                            default_s=self.default_rate_limit_wait_s)
            return TransientError("x: rate limited", retry_after_s=wait,
                                  hint=f"X's posting quota is spent; wait {wait:.0f} s", **context)
        if status == 401:
            return AuthError("x: credentials refused", hint="check X_API_KEY/SECRET and the access "
                             "token pair; regenerate them in the developer portal", **context)
        if status == 403 and "duplicate" in lowered:
            return DuplicateContentError("x: duplicate post", hint="X already has a post with exactly "
                                         "this text; edit the text or mark it sent", **context)
        if status == 403 and "repl" in lowered and ("not allowed" in lowered or "not permitted" in lowered):
            return ReplyNotAllowedError("x: reply refused", hint="X refused a reply from this app; "
                                        "post the rest as standalone posts or stop", **context)
        if status == 403 and any(word in lowered for word in _AUTH_WORDS):
            return AuthError("x: not permitted", hint="give the app Read and Write permission and "
                             "regenerate the access token", **context)
        if status >= 500:
            return TransientError("x: server error", hint="X failed before accepting the post; retry later",
                                  **context)
        return PermanentError(f"x: post refused ({status})", hint="fix the post; retrying it unchanged "
                              "will fail again", **context)


def _file_name(mime_type: str) -> str:
    return "image" + {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp", "image/gif": ".gif"}.get(
        mime_type, "")


def _tweet_text(tweet: tweepy.Tweet) -> str:
    """A post's text as it was written: t.co links expanded, HTML escapes undone."""
    text = tweet.text
    for link in (tweet.entities or {}).get("urls", []):
        if link.get("url") and link.get("expanded_url"):
            text = text.replace(link["url"], link["expanded_url"])
    return comparable_text(html.unescape(text))


def _replied_to(tweet: tweepy.Tweet) -> str | None:
    for reference in tweet.referenced_tweets or []:
        if reference.type == "replied_to":
            return str(reference.id)
    return None
