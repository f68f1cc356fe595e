"""Fetching a source over HTTP: conditional GET, redirects, limits, and useful errors.

One pooled aiohttp client per gather run (`make_client`), several times cheaper in CPU per
request than httpx, which matters when hundreds of sources answer 304 in one run.
`fetch(client, url, cursor, limits)` never raises for a network or server problem: the
outcome, good or bad, is a `Fetched` value carrying the body (decompressed), the validators
for the next conditional GET, the first permanent redirect and, on failure, an error with a
hint that tells the operator what to do.

Every connection is checked by an `connectors.outbound.OutboundGuard` (`make_client(guard=...)`):
a redirect to an internal address is refused unless its host is a configured source or allowed.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass, field, replace
from urllib.parse import urljoin, urlsplit

import aiohttp
import certifi
from aiohttp.abc import AbstractResolver

from compose.models import SourceCursor
from compose.urls import is_web_url
from connectors.outbound import OutboundGuard, OutboundRefused, check_addr_infos
from connectors.retry_after import retry_after_s

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


_ssl_context: ssl.SSLContext | None = None


def _tls() -> ssl.SSLContext:
    """One verifying TLS context per process, built by the first https request (loading certifi's
    bundle costs about 90 ms: a run of http:// sources never pays it)."""
    global _ssl_context
    if _ssl_context is None:
        _ssl_context = ssl.create_default_context(cafile=certifi.where())
    return _ssl_context


class ClientLimits:
    """Settings of the shared client's connection pool and of following redirects."""

    dns_cache_s = 300  # one gather run resolves each host once
    connect_attempts = 4  # each address is dialled up to this many times in one connect race
    redial_after_s = 0.1  # a SYN unanswered this long is raced by a new one (the kernel waits 1 s to resend)
    redirect_codes = frozenset((301, 302, 303, 307, 308))
    permanent_codes = frozenset((301, 308))


class ConnectPacer:
    """New connections to one host (and port) start at least `interval_s` apart: a burst of SYNs
    overflows a short accept queue. Requests over a connection kept alive are not paced; `paced`
    counts the connections that went through here."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self.paced = 0
        self._next: dict[tuple[str, int | None], float] = {}

    async def wait(self, host: str, port: int | None) -> None:
        """Return when a new connection to `host`:`port` may be dialled."""
        self.paced += 1
        now = time.monotonic()
        start = max(now, self._next.get((host, port), now))
        self._next[(host, port)] = start + self.interval_s
        if start > now:
            await asyncio.sleep(start - now)


class _RedialConnector(aiohttp.TCPConnector):
    """A connection pool that dials an address again when its SYN goes unanswered for a moment.

    A server whose accept queue is full drops SYNs silently, and the kernel resends one only
    after 1 s. Racing a fresh attempt every `redial_after_s` (aiohttp's happy eyeballs, over
    the same addresses repeated) turns that second into a tenth of one; the first attempt to
    connect wins and the others are closed. The race as a whole keeps one connect timeout.
    New connections to one host are paced by `pacer` when there is one.
    """

    guard: OutboundGuard | None = None
    pacer: ConnectPacer | None = None

    async def _wrap_create_connection(self, *args, addr_infos, req, **kwargs):  # noqa: ANN002, ANN003, ANN202 - aiohttp's hook
        if self.guard is not None:  # the addresses about to be dialled, on every hop: no DNS rebinding
            check_addr_infos(self.guard, req.url.raw_host or "", req.port, addr_infos)
        if self.pacer is not None:
            await self.pacer.wait(req.url.raw_host or "", req.port)
        return await super()._wrap_create_connection(
            *args, addr_infos=list(addr_infos) * ClientLimits.connect_attempts, req=req, **kwargs)


def make_client(concurrency: int = 64, limits: FetchLimits | None = None, *, guard: OutboundGuard | None = None,
                resolver: AbstractResolver | None = None, connect_interval_s: float = 0.0) -> aiohttp.ClientSession:
    """One client with a connection pool, shared by every fetch of a run (create it inside the event loop).

    `guard` checks every address dialled (None: no check, for callers whose every URL is trusted);
    `resolver` replaces aiohttp's DNS resolver (tests); `connect_interval_s` paces new connections
    to one host (`ConnectPacer`: `client.connector.pacer`)."""
    limits = limits or FetchLimits()
    connector = _RedialConnector(limit=concurrency, ttl_dns_cache=ClientLimits.dns_cache_s,
                                 happy_eyeballs_delay=ClientLimits.redial_after_s, resolver=resolver)
    connector.guard = guard
    if connect_interval_s > 0:
        connector.pacer = ConnectPacer(connect_interval_s)
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=limits.connect_timeout_s,
                                      sock_read=limits.read_timeout_s),
        headers={"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate"},
        cookie_jar=aiohttp.DummyCookieJar(),  # sources are fetched anonymously, one like the next
        trust_env=False,
    )


async def fetch(
    client: aiohttp.ClientSession,
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
        result = _failed(state, failure.error, failure.hint, status=failure.status,
                         retry_after_s=failure.retry_after_s)
    except OutboundRefused as refused:
        result = _failed(state, str(refused), refused.hint)
    except aiohttp.ServerTimeoutError as exc:  # before TimeoutError: it is one
        kind = "connect" if isinstance(exc, aiohttp.ConnectionTimeoutError) else "read"
        result = _failed(state, f"{kind} timeout",
                         "the server did not answer in time: usually temporary, syndicate will try again next run")
    except TimeoutError:
        result = _failed(state, f"timed out: no complete answer within {limits.total_timeout_s:g} s",
                         "the server is too slow or sends without end: try again later, or check the URL")
    except aiohttp.ClientConnectorError as exc:
        result = _failed(state, f"could not connect: {exc}", "check the host name in syndicate.toml and that the site is up")
    except aiohttp.ClientPayloadError as exc:
        result = _failed(state, f"bad or incomplete body: {exc}",
                         "the server sent a corrupt or cut-short (gzip/deflate) body: usually temporary")
    except (aiohttp.ClientError, ValueError) as exc:
        result = _failed(state, f"HTTP error: {exc!r}", "the connection failed: check the URL and try again later")
    return replace(result, elapsed_ms=(time.perf_counter() - started) * 1000)


def _failed(state: dict, error: str, hint: str, *, status: int | None = None,
            retry_after_s: float | None = None) -> Fetched:
    return Fetched(url=state["url"], status=status, moved_to=state["moved_to"], error=error, hint=hint,
                   retry_after_s=retry_after_s)


async def _follow(client: aiohttp.ClientSession, url: str, headers: dict, limits: FetchLimits, state: dict) -> Fetched:
    for _ in range(limits.max_redirects + 1):
        if not is_web_url(url):
            raise _Failure(f"refusing to fetch {url!r}: only http and https URLs",
                           "use an http:// or https:// URL for this source in syndicate.toml")
        state["url"] = url
        tls = _tls() if url[:6].lower() == "https:" else True  # every https hop verified against certifi's roots
        async with client.get(url, headers=headers, allow_redirects=False, ssl=tls) as response:
            location = response.headers.get("Location")
            if response.status in ClientLimits.redirect_codes and location is not None:
                target = urljoin(url, location)
                if not is_web_url(target):
                    raise _Failure(f"redirected to a non-http(s) URL {target!r}",
                                   "the site redirects somewhere syndicate will not follow: check the URL",
                                   status=response.status)
                if response.status in ClientLimits.permanent_codes and state["moved_to"] is None:
                    state["moved_to"] = target
                if urlsplit(target)._replace(fragment="") != urlsplit(url)._replace(fragment=""):
                    headers = {k: v for k, v in headers.items() if not k.startswith("If-")}
                url = target
                continue
            return await _read(response, url, limits, state)
    raise _Failure(f"more than {limits.max_redirects} redirects", "the site redirects in a loop: check the URL")


async def _read(response: aiohttp.ClientResponse, url: str, limits: FetchLimits, state: dict) -> Fetched:
    status, received = response.status, response.headers
    etag = received.get("ETag")
    last_modified = received.get("Last-Modified")
    if status == 304:
        return Fetched(url=url, status=304, not_modified=True, moved_to=state["moved_to"], etag=etag,
                       last_modified=last_modified)
    if status >= 400:
        retry = retry_after_s(received.get("Retry-After"), now=time.time()) if status in (429, 503) else None
        raise _Failure(f"the server returned {status}", _status_hint(status, retry), status=status,
                       retry_after_s=retry)
    declared = received.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limits.max_bytes and "Content-Encoding" not in received:
        raise _Failure(f"response too large: {int(declared):,} bytes declared (limit {limits.max_bytes:,})",
                       _too_big_hint(limits), status=status)
    chunks, size = [], 0
    async for chunk in response.content.iter_any():  # decompressed as it arrives
        size += len(chunk)
        if size > limits.max_bytes:
            response.close()  # drop the connection: never drain an oversize body
            raise _Failure(f"response too large: cut off after {limits.max_bytes:,} bytes",
                           _too_big_hint(limits), status=status)
        chunks.append(chunk)
    return Fetched(url=url, status=status, headers={k.lower(): v for k, v in received.items()},
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
