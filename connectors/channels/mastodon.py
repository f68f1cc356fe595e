"""Mastodon: publish statuses and threads through Mastodon.py's `status_post`.

A thread is a reply chain (`in_reply_to_id` = the previous status id). Every post carries an
`Idempotency-Key` derived from the thread key, the post it replies to and its text: the same
post at the same place in the same thread always has the same key, so when a retry follows an
unanswered request, Mastodon returns the status it already created instead of a second one.
Mastodon keeps idempotency keys for about an hour.

`find_post` looks for a status among the account's newest ones (`GET /api/v1/accounts/:id/statuses`)
with the same `in_reply_to_id` and the same text. Mastodon serves a status as HTML (`content`:
paragraphs, `<br>`, links split into spans); the text is recovered from it before comparing.

Mastodon.py's own rate-limit handling sleeps (up to 5 minutes per call); it is set to "throw"
and a 429 becomes a `TransientError` with the wait from `X-RateLimit-Reset`.
"""

from __future__ import annotations

import hashlib
import html
import logging
import os
import re
import time
from collections.abc import Callable, Mapping
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
from connectors.channels.base import PostReceipt, comparable_text
from connectors.channels.x import requests_failure
from connectors.errors import AmbiguousError, AuthError, DeliveryError, PermanentError, TransientError
from connectors.retry_after import reset_in_s, retry_after_s

log = logging.getLogger(__name__)


def idempotency_key(text: str, *, reply_to: str | None, thread_key: str) -> str:
    """The same key for the same post at the same place of the same thread."""
    digest = hashlib.sha256("\x00".join((thread_key, reply_to or "", text)).encode("utf-8")).hexdigest()
    return f"syndicate-{digest[:40]}"


def _reset_in(headers: Mapping[str, str], *, now: float) -> float | None:
    """Seconds until Mastodon's `X-RateLimit-Reset` (an ISO time), else from `Retry-After`."""
    wait = reset_in_s(headers.get("X-RateLimit-Reset"), now=now)
    return wait if wait is not None else retry_after_s(headers.get("Retry-After"), now=now)


class MastodonChannel:
    """Publishes statuses on one Mastodon account (an access token with `write:statuses`)."""

    name: ClassVar[str] = "mastodon"
    # class defaults; an instance made with its own `rules` (a longer-post instance) overrides both
    rules: NetworkRules = MASTODON_RULES
    max_weighted_length: int = MASTODON_RULES.max_length
    default_rate_limit_wait_s: ClassVar[float] = 900.0
    lookup_limit: ClassVar[int] = 40  # statuses per lookup page (Mastodon's maximum)

    def __init__(self, *, api_base_url: str, access_token: str, timeout_s: float = 15.0,
                 rules: NetworkRules | None = None, clock: Callable[[], float] = time.time) -> None:
        self.api_base_url = api_base_url.rstrip("/")
        self.timeout_s = timeout_s
        if rules is not None:  # an instance that allows more than 500 characters
            self.rules = rules
            self.max_weighted_length = rules.max_length
        self._clock = clock
        self._last_headers: Mapping[str, str] = {}
        session = requests.Session()
        session.hooks["response"].append(self._remember_headers)
        self._account_id: str | None = None
        self._api = Mastodon(api_base_url=self.api_base_url, access_token=access_token,
                             request_timeout=timeout_s, ratelimit_method="throw",
                             version_check_mode="none", session=session)

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ, *, config: Config | None = None,
                 timeout_s: float = 15.0, clock: Callable[[], float] = time.time) -> MastodonChannel | None:
        """The channel from MASTODON_ACCESS_TOKEN and MASTODON_API_BASE_URL (else the
        configured `social.mastodon.instance_url`); None when either is missing."""
        token = env.get("MASTODON_ACCESS_TOKEN", "").strip()
        base_url = env.get("MASTODON_API_BASE_URL", "").strip()
        if not base_url and config is not None and config.social.mastodon.instance_url:
            base_url = str(config.social.mastodon.instance_url)
        if not token or not base_url:
            return None
        return cls(api_base_url=base_url, access_token=token, timeout_s=timeout_s,
                   rules=rules_for("mastodon", config), clock=clock)

    def __repr__(self) -> str:
        return f"MastodonChannel(api_base_url={self.api_base_url!r}, timeout_s={self.timeout_s}, token=<redacted>)"

    __str__ = __repr__

    def _remember_headers(self, response: requests.Response, *args: object, **kwargs: object) -> None:
        self._last_headers = response.headers

    def publish(self, text: str, *, reply_to: str | None = None, thread_key: str = "") -> PostReceipt:
        """Publish one status, as a reply to the status `reply_to` when given."""
        key = idempotency_key(text, reply_to=reply_to, thread_key=thread_key)
        self._last_headers = {}
        try:
            status = self._api.status_post(text, in_reply_to_id=reply_to, idempotency_key=key)
        except MastodonNetworkError as exc:
            raise self._network_error(exc) from exc
        except MastodonRatelimitError as exc:
            wait = _reset_in(self._last_headers, now=self._clock())
            wait = self.default_rate_limit_wait_s if wait is None else max(1.0, wait)
            raise TransientError("mastodon: rate limited", status=429, retry_after_s=wait,
                                 hint=f"the instance's posting limit is spent; wait {wait:.0f} s") from exc
        except MastodonAPIError as exc:
            raise _api_error(exc) from exc
        status_id = str(status["id"])
        log.info("mastodon: published status %s (thread %s, reply to %s)", status_id, thread_key or "-",
                 reply_to or "-")
        return PostReceipt(provider_id=status_id, url=status.get("url"))

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


def _api_error(exc: MastodonAPIError) -> DeliveryError:
    args = exc.args
    status = args[1] if len(args) > 1 and isinstance(args[1], int) else None
    message = str(args[3]) if len(args) > 3 and args[3] else (str(args[2]) if len(args) > 2 else str(exc))
    if isinstance(exc, MastodonUnauthorizedError) or status in (401, 403):
        return AuthError("mastodon: access token refused", hint="create a new access token with the "
                         "write:statuses scope and set MASTODON_ACCESS_TOKEN",
                         status=status, provider_message=message)
    if isinstance(exc, MastodonServerError) or (status is not None and status >= 500):
        return TransientError("mastodon: server error", hint="the instance failed; retry later",
                              status=status, provider_message=message)
    return PermanentError(f"mastodon: status refused ({status})", hint="fix the post; retrying it "
                          "unchanged will fail again", status=status, provider_message=message)


_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
_PARAGRAPH = re.compile(r"</p>\s*<p[^>]*>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]+>")


def status_text(content: str) -> str:
    """The plain text of a status's HTML `content` (paragraphs, line breaks, links as their text)."""
    text = _TAG.sub("", _BREAK.sub("\n", _PARAGRAPH.sub("\n\n", content)))
    return html.unescape(text)
