"""SendGrid v3 mail/send: one request per batch of up to 1,000 recipients, one personalization each.

Each personalization carries the recipient's substitutions (`{{first_name}}`, `{{unsubscribe_url}}`,
`{{preferences_url}}`; SendGrid puts one value in every part, so the HTML part carries its own tokens,
`{{first_name_html}}`, `{{unsubscribe_url_html}}` and `{{preferences_url_html}}`, whose values are HTML-escaped: a name never becomes markup),
their own List-Unsubscribe headers (RFC 8058 one-click; SendGrid's subscription tracking is off so
it does not add its own) and `custom_args` (edition_id, subscriber_id) that come back on every
Event Webhook event.

How answers map to our errors (SendGrid has no idempotency key, see notes/email-and-x.md §2):
- 202 accepted; 400 PermanentError with SendGrid's message; 401/403 AuthError (stop, alert);
  413 PermanentError(status=413): the caller splits the batch and retries each half;
  429 TransientError with retry_after_s from X-RateLimit-Reset (not accepted, safe to retry);
- connection refused / connect timeout: TransientError (nothing left this machine);
- 500 and 503, SendGrid's own documented server errors ("an error occurred when SendGrid attempted
  to process it", "the v3 Web API is not available"): TransientError, retried with backoff.
- 502 and 504 (a gateway answering for SendGrid: the mail may have been queued behind it), any other
  5xx, a read timeout or a dropped connection after the body was sent: AmbiguousError, never
  retried blindly: staff check the activity feed and resend or mark the batch sent.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
import urllib.error
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from python_http_client import exceptions as http_errors
from sendgrid import SendGridAPIClient
from sendgrid.helpers.eventwebhook import EventWebhook

from compose.clicks import READER_TOKEN
from compose.config import Config
from compose.errors import SyndicateError
from connectors.channels.base import (
    FIRST_NAME_TOKEN,
    PREFERENCES_TOKEN,
    UNSUBSCRIBE_TOKEN,
    BatchReceipt,
    OutboundEmail,
    Recipient,
    first_name,
    header_text,
    personal_value,
)
from connectors.errors import AmbiguousError, AuthError, PermanentError, TransientError
from connectors.redact import SecretFilter
from connectors.retry_after import reset_in_s, retry_after_s

DEFAULT_HOST = "https://api.sendgrid.com"
_LIBRARY_LOGGER = "python_http_client.client"


class WebhookRejected(SyndicateError, ValueError):
    """An Event Webhook request that is not provably from SendGrid, or is too old (a replay)."""


class SendGridChannel:
    """Sends an edition through SendGrid's v3 mail/send API with the official library."""

    name: ClassVar[str] = "sendgrid"
    max_batch_size: ClassVar[int] = 1000
    max_categories: ClassVar[int] = 10
    default_rate_limit_wait_s: ClassVar[float] = 1.0  # a 429 without X-RateLimit-Reset
    token_first_name: ClassVar[str] = FIRST_NAME_TOKEN
    token_unsubscribe: ClassVar[str] = UNSUBSCRIBE_TOKEN
    token_first_name_html: ClassVar[str] = "{{first_name_html}}"
    token_unsubscribe_html: ClassVar[str] = "{{unsubscribe_url_html}}"
    token_preferences: ClassVar[str] = PREFERENCES_TOKEN
    token_preferences_html: ClassVar[str] = "{{preferences_url_html}}"

    def __init__(self, api_key: str, *, host: str = DEFAULT_HOST, timeout_s: float = 30.0,
                 sandbox_mode: bool = False, clock: Callable[[], float] = time.time) -> None:
        self._api_key = api_key
        self._clock = clock
        self.host = host.rstrip("/")
        self.timeout_s = timeout_s
        self.sandbox_mode = sandbox_mode
        self._client = SendGridAPIClient(api_key, host=self.host)
        self._client.client.timeout = timeout_s  # the library has no timeout by default
        # python-http-client logs request headers (our Authorization header) at DEBUG
        self._redact = SecretFilter([api_key], mask="SG.***").attach(_LIBRARY_LOGGER)

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, config: Config) -> SendGridChannel | None:
        key = env.get("SENDGRID_API_KEY")
        if not key:
            return None
        return cls(key, host=env.get("SENDGRID_API_HOST") or DEFAULT_HOST, timeout_s=config.email.timeout_s,
                   sandbox_mode=config.email.sandbox_mode)

    def __repr__(self) -> str:
        return f"SendGridChannel(host={self.host!r}, api_key='SG.***', sandbox_mode={self.sandbox_mode})"

    def close(self) -> None:
        self._redact.detach()

    # --- the request ------------------------------------------------------------------------------

    def request_body(self, message: OutboundEmail, recipients: Sequence[Recipient]) -> tuple[dict[str, Any], dict[int, str]]:
        """The mail/send JSON for one batch, and the recipients left out (duplicate addresses)."""
        if len(recipients) > self.max_batch_size:
            raise PermanentError(f"{len(recipients)} recipients in one batch; SendGrid takes at most "
                                 f"{self.max_batch_size}", hint="plan smaller batches")
        personalizations: list[dict[str, Any]] = []
        names_reader = READER_TOKEN in message.html or READER_TOKEN in message.text  # [tracking], docs/clicks.md
        rejected: dict[int, str] = {}
        seen: dict[str, int] = {}
        for person in recipients:
            key = person.email.lower()
            if key in seen:
                rejected[person.subscriber_id] = f"same address as subscriber {seen[key]} in this batch"
                continue
            if any(c in person.email for c in "\r\n\0<>,;") or "@" not in person.email:
                rejected[person.subscriber_id] = f"{person.email!r} is not an address a message can go to"
                continue
            seen[key] = person.subscriber_id
            to: dict[str, str] = {"email": person.email}
            name = header_text(person.name)
            if name:
                to["name"] = name
            given = first_name(person.name)
            personalizations.append({
                "to": [to],
                "substitutions": {self.token_first_name: personal_value(given, "header"),
                                  self.token_unsubscribe: person.unsubscribe_url,
                                  self.token_first_name_html: personal_value(given, "html"),
                                  self.token_unsubscribe_html: personal_value(person.unsubscribe_url, "html"),
                                  self.token_preferences: person.preferences_url,
                                  self.token_preferences_html: personal_value(person.preferences_url, "html"),
                                  **({READER_TOKEN: person.reader} if names_reader else {})},
                "headers": _unsubscribe_headers(person.unsubscribe_url, message.list_unsubscribe_mailto),
                "custom_args": {"edition_id": str(message.edition_id), "subscriber_id": str(person.subscriber_id)},
            })
        body: dict[str, Any] = {
            "personalizations": personalizations,
            "from": {"email": message.from_email, "name": header_text(message.from_name)},
            "reply_to": {"email": message.reply_to},
            "subject": header_text(message.subject),
            "content": [{"type": "text/plain", "value": message.text},
                        {"type": "text/html", "value": message.html.replace(self.token_first_name, self.token_first_name_html)
                         .replace(self.token_unsubscribe, self.token_unsubscribe_html)
                         .replace(self.token_preferences, self.token_preferences_html)}],
            "tracking_settings": {"subscription_tracking": {"enable": False}},
            "mail_settings": {"sandbox_mode": {"enable": self.sandbox_mode}},
        }
        if message.categories:
            body["categories"] = list(dict.fromkeys(message.categories))[: self.max_categories]
        return body, rejected

    def send_batch(self, message: OutboundEmail, recipients: Sequence[Recipient]) -> BatchReceipt:
        body, rejected = self.request_body(message, recipients)
        if not body["personalizations"]:
            return BatchReceipt(accepted=(), rejected=rejected)
        try:
            response = self._client.client.mail.send.post(request_body=body)
        except http_errors.HTTPError as exc:
            raise self._translate(exc) from None
        except urllib.error.URLError as exc:
            raise _connection_error(exc.reason) from None
        except (TimeoutError, http.client.HTTPException, ConnectionError) as exc:
            raise AmbiguousError(f"no answer from SendGrid after the request was sent ({type(exc).__name__})",
                                 hint="it may have been accepted: check SendGrid's activity feed, then resend "
                                      "or mark the batch sent") from None
        if response.status_code not in (200, 202):
            raise AmbiguousError(f"unexpected answer {response.status_code} from SendGrid", status=response.status_code,
                                 hint="check SendGrid's activity feed, then resend or mark the batch sent")
        provider_id = (response.headers.get("X-Message-Id") if response.headers else None)
        accepted = tuple(p.subscriber_id for p in recipients if p.subscriber_id not in rejected)
        return BatchReceipt(accepted=accepted, provider_id=provider_id, rejected=rejected)

    def scopes(self) -> frozenset[str]:
        """The permissions of the API key in use (`GET /v3/scopes`), for the pre-flight check.
        Errors as for a send: 401/403 AuthError, 429/500/503 TransientError, connection failures."""
        try:
            response = self._client.client.scopes.get()
        except http_errors.HTTPError as exc:
            raise self._translate(exc) from None
        except urllib.error.URLError as exc:
            raise _connection_error(exc.reason) from None
        except (TimeoutError, http.client.HTTPException, ConnectionError) as exc:
            raise TransientError(f"no answer from SendGrid to the scopes request ({type(exc).__name__})",
                                 hint="nothing was changed; try again") from None
        try:
            listed = json.loads(response.body or b"{}")["scopes"]
            if not isinstance(listed, list) or not all(isinstance(s, str) for s in listed):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            raise PermanentError("SendGrid's answer to GET /v3/scopes holds no list of scopes",
                                 status=response.status_code, hint="check SENDGRID_API_HOST points at SendGrid") from None
        return frozenset(listed)

    def _translate(self, exc: http_errors.HTTPError) -> Exception:
        status = exc.status_code
        said = _provider_message(exc)
        if status in (401, 403):
            return AuthError(f"SendGrid refused the API key ({status}): {said}", status=status, provider_message=said,
                             hint="check SENDGRID_API_KEY and its mail.send permission; the send is stopped")
        if status == 413:
            return PermanentError(f"the request is too large for SendGrid: {said}", status=413, provider_message=said,
                                  hint="split the batch")
        if status == 429:
            reset = reset_in_s((exc.headers or {}).get("X-RateLimit-Reset"), now=self._clock())
            wait = self.default_rate_limit_wait_s if reset is None else max(0.0, reset)
            return TransientError(f"SendGrid rate limit reached: {said}", status=429, retry_after_s=wait,
                                  provider_message=said, hint="retried after the reset time")
        if status in (500, 503):
            retry = retry_after_s((exc.headers or {}).get("Retry-After"), now=self._clock())
            return TransientError(f"SendGrid could not process the request ({status}): {said}", status=status,
                                  provider_message=said,
                                  retry_after_s=retry,
                                  hint="SendGrid reports it did not process the request; retried with backoff")
        if status >= 500:
            return AmbiguousError(f"SendGrid answered {status} after receiving the request: {said}", status=status,
                                  provider_message=said,
                                  hint="it may have been accepted: check SendGrid's activity feed, then resend or "
                                       "mark the batch sent")
        return PermanentError(f"SendGrid rejected the request ({status}): {said}", status=status, provider_message=said,
                              hint="fix the message or the recipients, then resend")


def _unsubscribe_headers(url: str, mailto: str | None) -> dict[str, str]:
    targets = [f"<{url}>"] if url else []
    if mailto:
        targets.append(f"<{mailto}>")
    if not targets:
        return {}
    headers = {"List-Unsubscribe": ", ".join(targets)}
    if url.startswith("https://") or url.startswith("http://"):
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return headers


def _provider_message(exc: http_errors.HTTPError) -> str:
    try:
        data = json.loads(exc.body or b"{}")
        return "; ".join(str(e.get("message")) + (f" (field {e['field']})" if e.get("field") not in (None, "null") else "")
                         for e in data.get("errors", []))
    except (ValueError, AttributeError, TypeError):
        return (exc.body or b"").decode("utf-8", "replace")[:500]


def _connection_error(reason: object) -> Exception:
    if isinstance(reason, ConnectionRefusedError | socket.gaierror | TimeoutError):
        return TransientError(f"could not connect to SendGrid ({reason})", hint="nothing was sent; retried later")
    return AmbiguousError(f"the connection to SendGrid failed ({reason})",
                          hint="it may have been accepted: check SendGrid's activity feed, then resend")


def verify_event_webhook(public_key_pem: str, raw_body: bytes, signature: str, timestamp: str, *, now: float,
                         max_age_s: float = 600, headers_only: bool = False) -> None:
    """Check a signed Event Webhook request (ECDSA P-256 over timestamp + raw body); raise `WebhookRejected`.

    `public_key_pem` is SendGrid's verification key, as shown in its UI (base64 DER) or as PEM.
    `now` is the current unix time. A timestamp older (or newer) than `max_age_s` is a replay.
    `headers_only` checks what can be checked before the body is read (present, fresh, not absurdly long).
    """
    if len(signature) > 512 or len(timestamp) > 40:
        raise WebhookRejected("the webhook signature headers are too long to be SendGrid's")
    if not public_key_pem or not signature or not timestamp:
        raise WebhookRejected("unsigned Event Webhook request: signature and timestamp headers are required")
    try:
        stamp = int(timestamp)
    except ValueError:
        raise WebhookRejected(f"the webhook timestamp {timestamp[:40]!r} is not a unix time") from None
    if abs(now - stamp) > max_age_s:
        raise WebhookRejected(f"the webhook timestamp is {int(now - stamp)} s from now (more than {int(max_age_s)} s): "
                              "refused as a possible replay")
    if headers_only:
        return
    key = "".join(line for line in public_key_pem.strip().splitlines() if not line.startswith("-----"))
    try:
        verifier = EventWebhook(key)
        ok = verifier.verify_signature(raw_body.decode("utf-8"), signature, timestamp)
    except (ValueError, TypeError, UnicodeDecodeError) as exc:  # bad base64 (binascii.Error), bad key, bad bytes
        raise WebhookRejected(f"the webhook signature could not be checked: {type(exc).__name__}") from None
    if not ok:
        raise WebhookRejected("the webhook signature does not match: not sent by SendGrid, or altered")
