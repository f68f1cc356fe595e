"""Sending outgoing webhooks: one signed POST per attempt, through the guarded fetcher.

The receiver's address was typed by an admin, yet it is still checked like any address content
names (`connectors.outbound`): no loopback, private or link-local address, unless `[fetch]
allow_hosts` names the host. Redirects are not followed (a receiver answers where it was registered).
An attempt never raises: its outcome is an `Attempt` (the HTTP status, or what went wrong).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from compose.webhooks import WebhookLimits
from connectors.outbound import OutboundGuard, OutboundRefused, Resolver, guarded_transport


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one POST came to: `status` (None when no answer came) and, unless 2xx, `error`."""

    status: int | None
    error: str | None = None

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class WebhookSender:
    """POSTs signed bodies to receivers, one connection pool for a relay pass."""

    def __init__(self, guard: OutboundGuard, *, timeout_s: float = WebhookLimits.timeout_s,
                 resolver: Resolver | None = None) -> None:
        self._client = httpx.Client(transport=guarded_transport(guard, asynchronous=False, resolver=resolver),
                                    timeout=httpx.Timeout(timeout_s), follow_redirects=False)

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> Attempt:
        try:
            response = self._client.post(url, content=body, headers=headers)
        except OutboundRefused as exc:
            return Attempt(None, f"{exc}: {exc.hint}")
        except httpx.TimeoutException as exc:
            return Attempt(None, f"no answer within {self._client.timeout.read:g} s ({type(exc).__name__})")
        except httpx.HTTPError as exc:
            cause: Any = exc.__cause__ or exc.__context__
            if isinstance(cause, OutboundRefused):
                return Attempt(None, f"{cause}: {cause.hint}")
            return Attempt(None, f"{type(exc).__name__}: {exc}")
        if 200 <= response.status_code < 300:
            return Attempt(response.status_code)
        text = " ".join(response.text.split())[:200]
        return Attempt(response.status_code, f"answered HTTP {response.status_code}" + (f": {text}" if text else ""))

    def close(self) -> None:
        self._client.close()
