"""Fetching a source over HTTP: conditional GET, redirects, limits, and useful errors.

`fetch(client, url, cursor, limits)` never raises for a network or server problem: the
outcome, good or bad, is a `Fetched` value carrying the body (decompressed), the validators
for the next conditional GET, the first permanent redirect and, on failure, an error with a
hint that tells the operator what to do.
"""

from __future__ import annotations

import asyncio
import email.utils
import ssl
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit

import httpx

from compose.models import SourceCursor

USER_AGENT = "syndicate/0.1 (newsletter and social syndication; +https://github.com/syndicate)"


@dataclass(frozen=True, slots=True)
class FetchLimits:
    """Limits on one response. A response over `max_bytes` (decompressed) is cut off while
    streaming; `total_timeout_s` bounds the whole exchange, redirects and slow bodies included."""

    connect_timeout_s: float = 10.0
    read_timeout_s: float = 20.0
    total_timeout_s: float = 60.0
    max_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 5


@dataclass(frozen=True, slots=True)
class Fetched:
    """The outcome of one HTTP fetch of a source."""

    url: str  # the URL that answered (after redirects)
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    not_modified: bool = False
    moved_to: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    error: str | None = None
    hint: str | None = None
    retry_after_s: float | None = None
    elapsed_ms: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


class _Failure(Exception):
    def __init__(self, error: str, hint: str, *, status: int | None = None, retry_after_s: float | None = None):
        super().__init__(error)
        self.error, self.hint, self.status, self.retry_after_s = error, hint, status, retry_after_s


def _scheme_ok(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


_ssl_context: ssl.SSLContext | None = None


def _tls() -> ssl.SSLContext:
    """One verifying TLS context per process (building one costs about 90 ms)."""
    global _ssl_context
    if _ssl_context is None:
        _ssl_context = httpx.create_ssl_context()
    return _ssl_context


def make_client(concurrency: int = 64, limits: FetchLimits | None = None) -> httpx.AsyncClient:
    """One client with a connection pool, shared by every fetch of a run."""
    limits = limits or FetchLimits()
    return httpx.AsyncClient(
        timeout=httpx.Timeout(limits.read_timeout_s, connect=limits.connect_timeout_s),
        limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        headers={"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate"},
        follow_redirects=False,
        trust_env=False,
        verify=_tls(),
    )


async def fetch(
    client: httpx.AsyncClient,
    url: str,
    cursor: SourceCursor | None = None,
    limits: FetchLimits | None = None,
    accept: str = "*/*",
) -> Fetched:
    """GET `url` once, conditionally when `cursor` holds validators for this URL."""
    limits = limits or FetchLimits()
    started = time.perf_counter()
    headers = {"Accept": accept}
    if cursor is not None and cursor.url == url:
        if cursor.etag:
            headers["If-None-Match"] = cursor.etag
        if cursor.last_modified:
            headers["If-Modified-Since"] = cursor.last_modified
    state: dict = {"url": url, "moved_to": None}
    try:
        async with asyncio.timeout(limits.total_timeout_s):
            result = await _follow(client, url, headers, limits, state)
    except _Failure as failure:
        result = Fetched(url=state["url"], status=failure.status, moved_to=state["moved_to"], error=failure.error,
                         hint=failure.hint, retry_after_s=failure.retry_after_s)
    except TimeoutError:
        result = Fetched(url=state["url"], moved_to=state["moved_to"],
                         error=f"timed out: no complete answer within {limits.total_timeout_s:g} s",
                         hint="the server is too slow or sends without end: try again later, or check the URL")
    except httpx.TimeoutException as exc:
        kind = "connect" if isinstance(exc, httpx.ConnectTimeout) else "read"
        result = Fetched(url=state["url"], moved_to=state["moved_to"], error=f"{kind} timeout",
                         hint="the server did not answer in time: usually temporary, syndicate will try again next run")
    except httpx.ConnectError as exc:
        result = Fetched(url=state["url"], moved_to=state["moved_to"], error=f"could not connect: {exc}",
                         hint="check the host name in syndicate.toml and that the site is up")
    except httpx.DecodingError as exc:
        result = Fetched(url=state["url"], moved_to=state["moved_to"], error=f"bad compressed body: {exc}",
                         hint="the server sent a corrupt gzip/deflate body: usually temporary")
    except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
        result = Fetched(url=state["url"], moved_to=state["moved_to"], error=f"HTTP error: {exc!r}",
                         hint="the connection failed: check the URL and try again later")
    elapsed = (time.perf_counter() - started) * 1000
    return replace(result, elapsed_ms=elapsed)


async def _follow(client: httpx.AsyncClient, url: str, headers: dict, limits: FetchLimits, state: dict) -> Fetched:
    for _ in range(limits.max_redirects + 1):
        if not _scheme_ok(url):
            raise _Failure(f"refusing to fetch {url!r}: only http and https URLs",
                           "use an http:// or https:// URL for this source in syndicate.toml")
        state["url"] = url
        async with client.stream("GET", url, headers=headers) as response:
            if response.has_redirect_location:
                target = urljoin(url, response.headers.get("location", ""))
                if not _scheme_ok(target):
                    raise _Failure(f"redirected to a non-http(s) URL {target!r}",
                                   "the site redirects somewhere syndicate will not follow: check the URL",
                                   status=response.status_code)
                if response.status_code in (301, 308) and state["moved_to"] is None:
                    state["moved_to"] = target
                if urlsplit(target)._replace(fragment="") != urlsplit(url)._replace(fragment=""):
                    headers = {k: v for k, v in headers.items() if not k.startswith("If-")}
                url = target
                continue
            return await _read(response, url, limits, state)
    raise _Failure(f"more than {limits.max_redirects} redirects", "the site redirects in a loop: check the URL")


async def _read(response: httpx.Response, url: str, limits: FetchLimits, state: dict) -> Fetched:
    status = response.status_code
    etag = response.headers.get("etag")
    last_modified = response.headers.get("last-modified")
    if status == 304:
        return Fetched(url=url, status=304, not_modified=True, moved_to=state["moved_to"], etag=etag,
                       last_modified=last_modified)
    if status >= 400:
        retry = _retry_after(response.headers.get("retry-after")) if status in (429, 503) else None
        raise _Failure(f"the server returned {status}", _status_hint(status, retry), status=status,
                       retry_after_s=retry)
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limits.max_bytes and "content-encoding" not in response.headers:
        raise _Failure(f"response too large: {int(declared):,} bytes declared (limit {limits.max_bytes:,})",
                       _too_big_hint(limits), status=status)
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limits.max_bytes:
            raise _Failure(f"response too large: cut off after {limits.max_bytes:,} bytes",
                           _too_big_hint(limits), status=status)
        chunks.append(chunk)
    return Fetched(url=url, status=status, headers={k.lower(): v for k, v in response.headers.items()},
                   body=b"".join(chunks), moved_to=state["moved_to"], etag=etag, last_modified=last_modified)


def _too_big_hint(limits: FetchLimits) -> str:
    return (f"the response is larger than {limits.max_bytes // (1024 * 1024)} MB: is this the right URL? "
            "A feed is usually far smaller")


def _status_hint(status: int, retry_after_s: float | None) -> str:
    if status in (429, 503) and retry_after_s is not None:
        return f"the server asks us to wait {retry_after_s:g} s: syndicate will try again on a later run"
    if status == 429:
        return "the server is rate limiting us: fetch this source less often"
    if status in (404, 410):
        return f"the server returned {status}: check the URL in syndicate.toml (the feed may have moved)"
    if status in (401, 403):
        return (f"the server refused access ({status}): the feed may need a login or block robots; "
                "check the URL in a browser")
    if status >= 500:
        return f"the server failed ({status}): usually temporary, syndicate will try again next run"
    return f"the server returned {status}: check the URL in syndicate.toml"


def _retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
