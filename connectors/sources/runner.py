"""Gathering every source once: fetch concurrently, parse on every core, report per source.

`fetch_sources(sources, cursors)` is what the gather stage calls. It runs its own event
loop with one pooled aiohttp `ClientSession` and parses bodies in a process pool that is created
on first use and reused by later calls (`shutdown()` stops it). One broken source never stops
the others: each gets a `FetchReport`, good or bad, in the order of `sources`.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypedDict

from compose.config import Source as SourceConfig
from compose.models import FetchReport, SourceCursor
from connectors.outbound import OutboundGuard

from .base import Parsed
from .fetch import Fetched, FetchLimits, fetch, make_client
from .registry import SOURCES, parse_body
from .websub import discover


class GatherLimits:
    """Defaults for one gather run."""

    concurrency = 128  # fetches in flight: 500 sources answering in 50 ms each take 4 rounds, not 8
    inline_parse_bytes = 2048  # bodies this small are parsed in the event loop: cheaper than a round trip
    pool_min_sources = 16  # fewer sources than this are parsed in this process (no worker pool to start)
    inline_parse_first = 64  # a run that expects few bodies (validators sent) parses this many here before it
    # starts the pool: 50 changed feeds of 500 cost about 0.3 s of parsing, less than starting the workers
    parse_timeout_s = 120.0
    connect_interval_s = 0.001  # new connections to one host start at least this far apart (a short accept queue
    # drops bursts; a SYN dropped anyway is redialled after `fetch.ClientLimits.redial_after_s`, not the kernel's 1 s).
    # Requests over a connection kept alive are not paced: 500 sources on one host wait 0.128 s for their
    # connections, not 0.5 s for their requests


_DEFAULTS = FetchLimits()
# Imported once by the forkserver, and so already there in every worker it forks: the parsers (`parse_body`'s
# module, without the HTTP client: a worker never fetches) and feedparser (for feeds the fast path cannot read)
_PRELOAD = ("connectors.sources.registry", "feedparser")
_pool: ProcessPoolExecutor | None = None
_pool_workers = 0
_pool_lock = threading.Lock()


def _get_pool(workers: int) -> ProcessPoolExecutor:
    global _pool, _pool_workers
    with _pool_lock:
        if _pool is None or _pool_workers != workers:
            if _pool is not None:
                _pool.shutdown(wait=False, cancel_futures=True)
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(list(_PRELOAD))
            _pool = ProcessPoolExecutor(max_workers=workers, mp_context=context)
            _pool_workers = workers
            for _ in range(workers):
                _pool.submit(os.getpid)  # start each worker now
        return _pool


def shutdown() -> None:
    """Stop the parse worker processes (they are started again on the next gather)."""
    global _pool
    with _pool_lock:
        if _pool is not None:
            _pool.shutdown(wait=True, cancel_futures=True)
            _pool = None


def fetch_sources(
    sources: Sequence[SourceConfig],
    cursors: Mapping[str, SourceCursor] | None = None,
    *,
    concurrency: int = GatherLimits.concurrency,
    parse_workers: int | None = None,
    timeout_s: float = _DEFAULTS.total_timeout_s,
    max_bytes: int = _DEFAULTS.max_bytes,
    allow_hosts: Sequence[str] = (),
) -> list[FetchReport]:
    """Fetch and parse every source once; one `FetchReport` per source, in order.

    `cursors` maps a source name to what it remembered (URL after a permanent redirect, ETag,
    Last-Modified). `parse_workers=0` parses in this process; None uses every core from
    `GatherLimits.pool_min_sources` sources on (fewer parse here: starting workers costs more).
    Call `afetch_sources` instead from code that already runs an event loop.
    """
    return asyncio.run(afetch_sources(sources, cursors, concurrency=concurrency, parse_workers=parse_workers,
                                      timeout_s=timeout_s, max_bytes=max_bytes, allow_hosts=allow_hosts))


async def afetch_sources(
    sources: Sequence[SourceConfig],
    cursors: Mapping[str, SourceCursor] | None = None,
    *,
    concurrency: int = GatherLimits.concurrency,
    parse_workers: int | None = None,
    timeout_s: float = _DEFAULTS.total_timeout_s,
    max_bytes: int = _DEFAULTS.max_bytes,
    allow_hosts: Sequence[str] = (),
) -> list[FetchReport]:
    """The async form of `fetch_sources`. The sources' own hosts (as configured) and `allow_hosts`
    may be internal addresses; anything else a source redirects to must be public (`OutboundGuard`)."""
    cursors = cursors or {}
    if parse_workers is None:  # a handful of sources parse faster here than a worker pool starts
        parse_workers = (os.cpu_count() or 1) if len(sources) >= GatherLimits.pool_min_sources or _pool else 0
    expected = sum(1 for source in sources if _expects_body(source, cursors.get(source.name)))
    pool = _LazyPool(parse_workers, expected_bodies=expected) if parse_workers > 0 and sources else None
    limits = FetchLimits(total_timeout_s=timeout_s, max_bytes=max_bytes,
                         read_timeout_s=min(_DEFAULTS.read_timeout_s, timeout_s),
                         connect_timeout_s=min(_DEFAULTS.connect_timeout_s, timeout_s))
    gate = asyncio.Semaphore(concurrency)
    guard = OutboundGuard.trusting([str(source.url) for source in sources], allow_hosts)
    try:
        async with make_client(concurrency, limits, guard=guard,
                               connect_interval_s=GatherLimits.connect_interval_s) as client:
            tasks = [_gather_one(s, cursors.get(s.name), client, limits, pool, gate) for s in sources]
            return list(await asyncio.gather(*tasks))
    finally:
        if pool is not None:
            pool.settle()


async def _gather_one(
    source: SourceConfig,
    cursor: SourceCursor | None,
    client,
    limits: FetchLimits,
    pool: _LazyPool | None,
    gate: asyncio.Semaphore,
) -> FetchReport:
    url = cursor.url if cursor and cursor.url else str(source.url)
    started = time.perf_counter()
    try:
        async with gate:
            fetched = await fetch(client, url, cursor, limits, accept=SOURCES[source.kind].accept)
        parsed = await _parse(source, fetched, pool) if fetched.ok and not fetched.not_modified else None
    except Exception as exc:  # noqa: BLE001 - one broken source never stops the others
        return FetchReport(source=source.name, cursor=cursor, error=f"unexpected failure: {exc!r}",
                           hint="this looks like a bug in syndicate: please report it",
                           elapsed_ms=(time.perf_counter() - started) * 1000)
    return _report(source, cursor, url, fetched, parsed, (time.perf_counter() - started) * 1000)


def _expects_body(source: SourceConfig, cursor: SourceCursor | None) -> bool:
    """Whether a source will surely answer with a body: it has no validators to send (never
    fetched, or fetched from a server that gives none)."""
    return cursor is None or not (cursor.etag or cursor.last_modified)


class _LazyPool:
    """The parse worker pool of one run, started when it pays: at once when many sources will surely
    send a body (a first gather), else after `GatherLimits.inline_parse_first` bodies were parsed
    here. It starts in a thread (a forkserver that imports the parsers takes a while, and would
    block the event loop); until it is ready, bodies are parsed here. A run where every source
    answers 304 never starts a worker process."""

    def __init__(self, workers: int, *, expected_bodies: int) -> None:
        self.workers = workers
        self.inline_left = 0 if expected_bodies >= GatherLimits.pool_min_sources else GatherLimits.inline_parse_first
        self._ready: ProcessPoolExecutor | None = None
        self._starting: threading.Thread | None = None
        # bodies handed to the workers at once: the parse time limit then counts a parse and the one
        # ahead of it, not the wait behind thousands of others (5,000 feeds timed out under load)
        self.slots = asyncio.Semaphore(2 * workers)
        if not self.inline_left:
            self._start()

    def _start(self) -> None:
        if self._starting is None:
            self._starting = threading.Thread(target=self._build, name="parse-pool", daemon=True)
            self._starting.start()

    def _build(self) -> None:
        self._ready = _get_pool(self.workers)

    def get(self) -> ProcessPoolExecutor | None:
        """The pool, or None: parse this body here (the pool is not wanted yet, or not ready)."""
        if self.inline_left:
            self.inline_left -= 1
            return None
        self._start()
        return self._ready

    def settle(self) -> None:
        """Wait for a pool still starting, so that no worker is left half made when the run ends."""
        if self._starting is not None:
            self._starting.join()


async def _parse(source: SourceConfig, fetched: Fetched, pool: _LazyPool | None) -> Parsed:
    executor = pool.get() if pool is not None and len(fetched.body) > GatherLimits.inline_parse_bytes else None
    if pool is None or executor is None:
        return parse_body(source, fetched.body, fetched.url, fetched.headers)
    loop = asyncio.get_running_loop()
    try:
        async with pool.slots:
            future = loop.run_in_executor(executor, parse_body, source, fetched.body, fetched.url, fetched.headers)
            return await asyncio.wait_for(future, GatherLimits.parse_timeout_s)
    except TimeoutError:
        return Parsed(error=f"parsing took longer than {GatherLimits.parse_timeout_s:g} s",
                      hint="the response is unusually large or complex: check the URL")
    except BrokenProcessPool:
        shutdown()
        return Parsed(error="the parser process died while reading this response",
                      hint="the response may be hostile or far too large: check the URL")


class _ReportCommon(TypedDict):
    """What every FetchReport of one fetch says, whatever its outcome."""

    source: str
    status: int | None
    bytes: int
    elapsed_ms: float
    moved_to: str | None


def _report(source: SourceConfig, cursor: SourceCursor | None, url: str, fetched: Fetched,
            parsed: Parsed | None, elapsed_ms: float) -> FetchReport:
    old = cursor or SourceCursor(url=url)
    common = _ReportCommon(source=source.name, status=fetched.status, bytes=len(fetched.body),
                           elapsed_ms=elapsed_ms, moved_to=fetched.moved_to)
    if not fetched.ok:
        return FetchReport(**common, cursor=old, error=fetched.error, hint=fetched.hint,
                           retry_after_s=fetched.retry_after_s)
    new_cursor = SourceCursor(
        url=fetched.moved_to or url,
        etag=fetched.etag or (old.etag if fetched.not_modified else None),
        last_modified=fetched.last_modified or (old.last_modified if fetched.not_modified else None),
    )
    if fetched.not_modified or parsed is None:
        return FetchReport(**common, cursor=new_cursor, not_modified=True)
    if parsed.error:  # keep the old validators: the next run must fetch the body again
        return FetchReport(**common, cursor=old, error=parsed.error, hint=parsed.hint,
                           feeds_advertised=parsed.feeds_advertised)
    push = discover(fetched.body, fetched.headers, fetched.url)
    return FetchReport(**common, cursor=new_cursor, items=parsed.items, feeds_advertised=parsed.feeds_advertised,
                       hub_url=push.hub, self_url=push.self_url)
