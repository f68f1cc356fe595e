"""Mastodon: publish statuses and threads through Mastodon.py's `status_post`.

A thread is a reply chain (`in_reply_to_id` = the previous status id). Every post carries an
`Idempotency-Key` derived from its ledger row: the thread key, the post it replies to (which
fixes its place in the thread: post k replies to post k-1, only post 0 to nothing), its text and
its uploaded media. The same post at the same place in the same thread always has the same key,
so when a retry follows an unanswered request, Mastodon returns the status it already created
instead of a second one. Mastodon keeps idempotency keys for about an hour: a retry later than
that relies on `find_post` (the publish stage asks it before resending after a lost answer).

`find_post` looks for a status among the account's newest ones (`GET /api/v1/accounts/:id/statuses`)
with the same `in_reply_to_id` and the same text. Mastodon serves a status as HTML (`content`:
paragraphs, `<br>`, links split into spans); the text is recovered from it before comparing.

Mastodon.py's own rate-limit handling sleeps (up to 5 minutes per call); it is set to "throw"
and a 429 becomes a `TransientError` with the wait from `X-RateLimit-Reset`.

Images: `upload` sends the image with its alt text as `description` to `POST /api/v2/media`.
Mastodon answers 200 when the file is processed, or 202 while it still is: then
`GET /api/v1/media/:id` is polled until the attachment has its `url` (at most
`media_processing_wait_s`). The attachment id is the media reference `publish` sends as
`media_ids[]`; it is part of the idempotency key, so a retried post carries the same image. An
upload whose answer is lost is simply made again: an attachment never used in a status is
removed by the instance, and nobody ever sees it. Link cards are built by the instance from the
page's Open Graph tags (`builds_cards = False`). What the instance takes (`image_limits`,
`max_weighted_length`) is read from `GET /api/v2/instance` and cached: see
`connectors.channels.mastodon_instance`.
"""

from __future__ import annotations

import hashlib
import html
import logging
import os
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import ClassVar

import requests
from mastodon import (
    Mastodon,
    MastodonAPIError,
    MastodonNetworkError,
    MastodonRatelimitError,
    MastodonServerError,
    MastodonUnauthorizedError,
)

from compose.config import Config
from compose.post_length import MASTODON_RULES, NetworkRules, rules_for
from connectors.channels.base import Attachment, ImageLimits, PostReceipt, comparable_text
from connectors.channels.mastodon_instance import (
    CACHE_DIR,
    InstanceLimits,
    base_url_from,
    instance_limits,
    with_instance_limits,
)
from connectors.channels.x import requests_failure
from connectors.errors import AmbiguousError, AuthError, DeliveryError, PermanentError, TransientError
from connectors.retry_after import reset_in_s, retry_after_s

log = logging.getLogger(__name__)


__all__ = ["MastodonChannel", "idempotency_key", "instance_limits", "status_text", "with_instance_limits"]


def idempotency_key(text: str, *, reply_to: str | None, thread_key: str, media_ref: str | None = None) -> str:
    """The same key for the same post (text and media) at the same place of the same thread."""
    parts = (thread_key, reply_to or "", text) + ((media_ref,) if media_ref else ())
    digest = hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()
    return f"syndicate-{digest[:40]}"


def _reset_in(headers: Mapping[str, str], *, now: float) -> float | None:
    """Seconds until Mastodon's `X-RateLimit-Reset` (an ISO time), else from `Retry-After`."""
    wait = reset_in_s(headers.get("X-RateLimit-Reset"), now=now)
    return wait if wait is not None else retry_after_s(headers.get("Retry-After"), now=now)


class MastodonChannel:
    """Publishes statuses on one Mastodon account (an access token with `write:statuses` and
    `write:media`)."""

    name: ClassVar[str] = "mastodon"
    builds_cards: ClassVar[bool] = False  # the instance fetches the page's Open Graph tags itself
    # class defaults; an instance made with its own `rules` (a longer-post instance) overrides both
    rules: NetworkRules = MASTODON_RULES
    max_weighted_length: int = MASTODON_RULES.max_length
    default_rate_limit_wait_s: ClassVar[float] = 900.0
    lookup_limit: ClassVar[int] = 40  # statuses per lookup page (Mastodon's maximum)
    media_processing_wait_s: ClassVar[float] = 60.0  # how long an upload may stay "processing"
    media_poll_interval_s: ClassVar[float] = 1.0
    unprocessed_media_wait_s: ClassVar[float] = 30.0  # the wait after "not finished processing"
    # what Mastodon.py assumes of the server (v2 media, idempotency keys): every Mastodon since 4.0
    assumed_version: ClassVar[str] = "4.0.0"

    def __init__(self, *, api_base_url: str, access_token: str, timeout_s: float = 15.0,
                 rules: NetworkRules | None = None, clock: Callable[[], float] = time.time,
                 limits: InstanceLimits | None = None, cache_dir: Path | None = CACHE_DIR,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.api_base_url = api_base_url.rstrip("/")
        self.timeout_s = timeout_s
        if rules is not None:  # an instance that allows more than 500 characters
            self.rules = rules
            self.max_weighted_length = rules.max_length
        self._clock = clock
        self._sleep = sleep
        self._limits = limits
        self._cache_dir = cache_dir
        self._last_headers: Mapping[str, str] = {}
        session = requests.Session()
        session.hooks["response"].append(self._remember_headers)
        self._account_id: str | None = None
        self._api = Mastodon(api_base_url=self.api_base_url, access_token=access_token,
                             request_timeout=timeout_s, ratelimit_method="throw",
                             mastodon_version=self.assumed_version, version_check_mode="created", session=session)

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ, *, config: Config | None = None,
                 timeout_s: float = 15.0, clock: Callable[[], float] = time.time,
                 cache_dir: Path | None = CACHE_DIR) -> MastodonChannel | None:
        """The channel from MASTODON_ACCESS_TOKEN and MASTODON_API_BASE_URL (else the
        configured `social.mastodon.instance_url`); None when either is missing. Its length
        limit is `social.mastodon.max_characters` as `with_instance_limits` sets it from the
        instance (the cached read; nothing is asked of the network here)."""
        token = env.get("MASTODON_ACCESS_TOKEN", "").strip()
        base_url = base_url_from(env, config)
        if not token or not base_url:
            return None
        if config is not None and cache_dir is not None:
            config = with_instance_limits(config, {**env, "MASTODON_API_BASE_URL": base_url},
                                          cache_dir=cache_dir, clock=clock, refresh=False)
        return cls(api_base_url=base_url, access_token=token, timeout_s=timeout_s,
                   rules=rules_for("mastodon", config), clock=clock, cache_dir=cache_dir)

    def __repr__(self) -> str:
        return f"MastodonChannel(api_base_url={self.api_base_url!r}, timeout_s={self.timeout_s}, token=<redacted>)"

    __str__ = __repr__

    @property
    def instance(self) -> InstanceLimits:
        """The instance's limits, read once per channel (from the day-old cache when there is one)."""
        if self._limits is None:
            self._limits = instance_limits(self.api_base_url, cache_dir=self._cache_dir, clock=self._clock,
                                           timeout_s=self.timeout_s, session=self._api.session)
        return self._limits

    @property
    def image_limits(self) -> ImageLimits:
        """What the instance takes as an image (`configuration.media_attachments`)."""
        return self.instance.image

    def _remember_headers(self, response: requests.Response, *args: object, **kwargs: object) -> None:
        self._last_headers = response.headers

    def upload(self, attachment: Attachment, *, thread_key: str = "") -> str | None:
        """Upload the attachment's image with its alt text (`description`); its attachment id, once
        the instance has processed it. None without an image (the instance builds link cards)."""
        image = attachment.image
        if image is None:
            return None
        if not image.alt.strip():
            raise PermanentError("mastodon: an image without alt text is never published",
                                 hint="add alt text to the post's image on the desk")
        limits = self.image_limits
        if len(image.data) > limits.max_bytes or image.mime_type not in limits.mime_types:
            raise PermanentError(f"mastodon: the instance does not take this image ({image.mime_type}, "
                                 f"{len(image.data)} bytes)", hint=f"images must be one of "
                                 f"{', '.join(limits.mime_types)} and at most {limits.max_bytes} bytes; "
                                 "fetch it again within the instance's limits")
        self._last_headers = {}
        try:
            media = self._api.media_post(image.data, mime_type=image.mime_type,
                                         description=image.alt[:limits.max_alt_chars],
                                         file_name=_file_name(image.mime_type))
            media_id = str(media["id"])
            waited = 0.0
            while not media.get("url"):  # 202: still processing
                if waited >= self.media_processing_wait_s:
                    raise TransientError(f"mastodon: image {media_id} still processing after {waited:.0f} s",
                                         retry_after_s=self.media_processing_wait_s,
                                         hint="the instance is busy; the upload is retried later")
                self._sleep(self.media_poll_interval_s)
                waited += self.media_poll_interval_s
                media = self._api.media(media_id)
        except MastodonNetworkError as exc:
            # the upload may have landed: an unused attachment is never seen and the instance
            # removes it, so uploading again is safe
            raise TransientError("mastodon: the image upload got no answer",
                                 hint="uploading again is safe: an unused upload is never shown") from exc
        except MastodonRatelimitError as exc:
            raise self._rate_limited(exc) from exc
        except MastodonAPIError as exc:
            raise _api_error(exc, what="image") from exc
        log.info("mastodon: uploaded image %s (thread %s)", media_id, thread_key or "-")
        return media_id

    def publish(self, text: str, *, reply_to: str | None = None, thread_key: str = "",
                attachment: Attachment | None = None, media_ref: str | None = None) -> PostReceipt:
        """Publish one status, as a reply to the status `reply_to` when given, with the media
        `upload` returned (`media_ref`)."""
        if attachment is not None and attachment.image is not None and not media_ref:
            raise PermanentError("mastodon: the post's image was not uploaded",
                                 hint="upload the image first (the publish stage records its media id)")
        media_ids = [media_ref] if media_ref else None
        key = idempotency_key(text, reply_to=reply_to, thread_key=thread_key, media_ref=media_ref)
        self._last_headers = {}
        try:
            status = self._api.status_post(text, in_reply_to_id=reply_to, media_ids=media_ids, idempotency_key=key)
        except MastodonNetworkError as exc:
            raise self._network_error(exc) from exc
        except MastodonRatelimitError as exc:
            raise self._rate_limited(exc) from exc
        except MastodonAPIError as exc:
            raise _api_error(exc, unprocessed_wait_s=self.unprocessed_media_wait_s) from exc
        status_id = str(status["id"])
        log.info("mastodon: published status %s (thread %s, reply to %s)", status_id, thread_key or "-",
                 reply_to or "-")
        return PostReceipt(provider_id=status_id, url=status.get("url"))

    def _rate_limited(self, exc: MastodonRatelimitError) -> TransientError:
        wait = _reset_in(self._last_headers, now=self._clock())
        wait = self.default_rate_limit_wait_s if wait is None else max(1.0, wait)
        return TransientError("mastodon: rate limited", status=429, retry_after_s=wait,
                              hint=f"the instance's limit is spent; wait {wait:.0f} s")

    def find_post(self, text: str, *, reply_to: str | None = None, thread_key: str = "") -> PostReceipt | None:
        """The account's status with this text, replying to `reply_to` (or to nothing), among its
        newest statuses (those after `reply_to` for a reply); None when there is none. A failed
        lookup raises a `DeliveryError`."""
        wanted = comparable_text(text)
        try:
            if self._account_id is None:
                self._account_id = str(self._api.account_verify_credentials()["id"])
            statuses = self._api.account_statuses(self._account_id, since_id=reply_to, limit=self.lookup_limit,
                                                  exclude_reblogs=True)
        except MastodonNetworkError as exc:
            raise TransientError("mastodon: looking up the account's statuses failed",
                                 hint="the instance did not answer the lookup; the post's fate is unknown") from exc
        except MastodonAPIError as exc:
            raise _api_error(exc) from exc
        for status in statuses:
            parent = status.get("in_reply_to_id")
            if (str(parent) if parent else None) == reply_to and comparable_text(status_text(status["content"])) == wanted:
                log.info("mastodon: found status %s already published (thread %s)", status["id"], thread_key or "-")
                return PostReceipt(provider_id=str(status["id"]), url=status.get("url"))
        return None

    def close(self) -> None:
        self._api.session.close()

    def _network_error(self, exc: MastodonNetworkError) -> DeliveryError:
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, requests.RequestException):
            return requests_failure(cause, network="mastodon")
        return AmbiguousError("mastodon: the request failed without an answer",
                              hint="check the account: the status may exist; resending with the "
                              "same idempotency key within an hour is safe")


def _api_error(exc: MastodonAPIError, *, what: str = "status", unprocessed_wait_s: float = 30.0) -> DeliveryError:
    args = exc.args
    status = args[1] if len(args) > 1 and isinstance(args[1], int) else None
    message = str(args[3]) if len(args) > 3 and args[3] else (str(args[2]) if len(args) > 2 else str(exc))
    if isinstance(exc, MastodonUnauthorizedError) or status in (401, 403):
        return AuthError("mastodon: access token refused", hint="create a new access token with the "
                         "write:statuses and write:media scopes and set MASTODON_ACCESS_TOKEN",
                         status=status, provider_message=message)
    if isinstance(exc, MastodonServerError) or (status is not None and status >= 500):
        return TransientError("mastodon: server error", hint="the instance failed; retry later",
                              status=status, provider_message=message)
    if status == 422 and "processing" in message.lower():  # "Cannot attach files that have not finished processing"
        return TransientError("mastodon: the image is still being processed", status=status,
                              retry_after_s=unprocessed_wait_s, provider_message=message,
                              hint="the instance has not finished the image; the post is retried shortly")
    if what == "image":
        return PermanentError(f"mastodon: image refused ({status})", hint="the instance refused the image "
                              "(too large or an unsupported type); fetch it within the instance's limits",
                              status=status, provider_message=message)
    return PermanentError(f"mastodon: status refused ({status})", hint="fix the post; retrying it "
                          "unchanged will fail again", status=status, provider_message=message)


def _file_name(mime_type: str) -> str:
    """A name for the upload (Mastodon ignores it; other servers show it)."""
    return "image" + {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp", "image/gif": ".gif"}.get(
        mime_type, "")


_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
_PARAGRAPH = re.compile(r"</p>\s*<p[^>]*>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]+>")


def status_text(content: str) -> str:
    """The plain text of a status's HTML `content` (paragraphs, line breaks, links as their text)."""
    text = _TAG.sub("", _BREAK.sub("\n", _PARAGRAPH.sub("\n\n", content)))
    return html.unescape(text)
