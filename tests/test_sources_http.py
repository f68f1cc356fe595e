"""Fetching through `fetch_sources` against a loopback server: conditional GET, redirects,
size and time limits, one broken source among good ones, redialling a dropped SYN, and the
per-host pacing of new connections in one gather run. (Every HTTP failure becoming an error with
a hint, for every source kind, is the source contract: tests/test_contract_sources.py.)"""

from __future__ import annotations

import asyncio
import gzip
import socket
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from helpers.feedserver import body, conditional, endless, redirect, serve

from compose.config import Selectors, Source
from connectors.sources import fetch_sources, shutdown
from connectors.sources.fetch import USER_AGENT, Fetched, FetchLimits, fetch, make_client

RSS = b"""<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>
<item><title>One</title><link>https://site.example/one</link><description>Body</description></item>
<item><title>Two</title><link>https://site.example/two</link></item></channel></rss>"""


def feed(name: str, url: str) -> Source:
    return Source(name=name, kind="feed", url=url, section="news")


@pytest.fixture(scope="module", autouse=True)
def _stop_pool():
    yield
    shutdown()


def test_conditional_get_304_costs_no_parsing() -> None:
    with serve({"/f": conditional(RSS, '"v1"')}) as server:
        source = feed("f", server.url("/f"))
        (first,) = fetch_sources([source], {})
        assert first.ok and len(first.items) == 2 and first.cursor.etag == '"v1"'
        (second,) = fetch_sources([source], {"f": first.cursor})
        assert second.ok and second.not_modified and second.items == () and second.status == 304
        assert second.cursor == first.cursor
    assert server.requests[1][1].get("If-None-Match") == '"v1"'
    assert server.requests[0][1]["User-Agent"] == USER_AGENT


def test_gzip_and_parse_workers_in_process() -> None:
    with serve({"/gz": body(gzip.compress(RSS), headers={"Content-Encoding": "gzip"})}) as server:
        (report,) = fetch_sources([feed("g", server.url("/gz"))], parse_workers=0)
    assert report.ok and [i.title for i in report.items] == ["One", "Two"]


def test_permanent_redirect_is_reported_as_moved_to() -> None:
    with serve({"/old": redirect("/mid", 301), "/mid": redirect("/new", 302), "/new": body(RSS)}) as server:
        (report,) = fetch_sources([feed("r", server.url("/old"))])
    assert report.ok and report.moved_to == server.url("/mid")
    assert report.cursor.url == server.url("/mid") and len(report.items) == 2


def test_temporary_redirect_is_not_moved() -> None:
    with serve({"/a": redirect("/b", 307), "/b": body(RSS)}) as server:
        (report,) = fetch_sources([feed("t", server.url("/a"))])
    assert report.ok and report.moved_to is None and report.cursor.url == server.url("/a")


def test_oversize_response_is_cut_off() -> None:
    big = RSS.replace(b"Body", b"x" * 300_000)
    with serve({"/big": body(big)}) as server:
        (report,) = fetch_sources([feed("big", server.url("/big"))], max_bytes=100_000)
    assert "too large" in report.error and "MB" in report.hint and report.items == ()


def test_endless_response_is_cut_off() -> None:
    with serve({"/endless": endless()}) as server:
        start = time.perf_counter()
        (report,) = fetch_sources([feed("e", server.url("/endless"))], max_bytes=1_000_000)
    assert "cut off" in report.error and time.perf_counter() - start < 5


def test_slow_endless_response_hits_the_total_timeout() -> None:
    with serve({"/drip": endless(b"<x/>", pause_s=0.05)}) as server:
        start = time.perf_counter()
        (report,) = fetch_sources([feed("d", server.url("/drip"))], timeout_s=1.0)
    assert report.error and "1 s" in report.error and time.perf_counter() - start < 4


def test_one_broken_source_never_stops_the_others() -> None:
    page = b"<html><body><ul><li><a href='/p1'>Page one</a></li></ul></body></html>"
    routes = {"/ok": body(RSS), "/bad": body(b"<rss><channel><title>x</ti"), "/page": body(page)}
    with serve(routes) as server:
        sources = [
            feed("bad", server.url("/bad")),
            feed("ok", server.url("/ok")),
            feed("gone", server.url("/gone")),
            Source(name="page", kind="html", url=server.url("/page"), section="news",
                   selectors=Selectors(item="li", title="a")),
        ]
        reports = fetch_sources(sources)
    assert [r.source for r in reports] == ["bad", "ok", "gone", "page"]
    assert [r.ok for r in reports] == [False, True, False, True]
    assert reports[3].items[0].url == server.url("/p1")
    assert all(r.hint for r in reports if not r.ok)


def test_gzip_is_asked_for_and_deflate_is_decoded() -> None:
    with serve({"/z": body(zlib.compress(RSS), headers={"Content-Encoding": "deflate"})}) as server:
        (report,) = fetch_sources([feed("z", server.url("/z"))], parse_workers=0)
    assert report.ok and len(report.items) == 2
    assert server.requests[0][1]["Accept-Encoding"] == "gzip, deflate"


@contextmanager
def _full_accept_queue() -> Iterator[socket.socket]:
    """A listener whose one-deep accept queue is already full: the kernel drops new SYNs."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=0)
    filler = socket.create_connection(listener.getsockname())
    try:
        yield listener
    finally:
        filler.close()
        listener.close()


def _fetch_once(url: str, limits: FetchLimits) -> Fetched:
    async def run() -> Fetched:
        async with make_client(4, limits) as client:
            return await fetch(client, url, None, limits)

    return asyncio.run(run())


def test_a_dropped_syn_is_redialled_instead_of_waiting_a_second() -> None:
    with _full_accept_queue() as listener:
        def serve_after_queue_frees() -> None:
            time.sleep(0.05)
            listener.accept()[0].close()  # the filler: the queue has room again
            conn, _ = listener.accept()
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")

        server = threading.Thread(target=serve_after_queue_frees, daemon=True)
        server.start()
        fetched = _fetch_once(f"http://127.0.0.1:{listener.getsockname()[1]}/f", FetchLimits(total_timeout_s=5))
        server.join(5)
    assert fetched.ok and fetched.body == b"ok"
    assert fetched.elapsed_ms < 700  # the kernel alone would resend the dropped SYN after 1 s


def test_redials_share_one_connect_timeout() -> None:
    with _full_accept_queue() as listener:
        start = time.perf_counter()
        fetched = _fetch_once(f"http://127.0.0.1:{listener.getsockname()[1]}/f",
                              FetchLimits(connect_timeout_s=0.3, total_timeout_s=5))
        took = time.perf_counter() - start
    assert fetched.error == "connect timeout" and "temporary" in fetched.hint
    assert 0.25 < took < 0.9


def test_the_pacer_paces_new_connections_to_each_host_but_not_across_hosts() -> None:
    from connectors.sources.fetch import ConnectPacer

    async def run() -> dict[str, list[float]]:
        pacer, starts = ConnectPacer(0.02), {"same": [], "spread": []}

        async def one(host: str, kind: str) -> None:
            await pacer.wait(host, 80)
            starts[kind].append(time.monotonic())

        hosts = [("one.example", "same")] * 4 + [(f"h{i}.example", "spread") for i in range(4)]
        await asyncio.gather(*(one(host, kind) for host, kind in hosts))
        return starts

    starts = asyncio.run(run())
    same, spread = sorted(starts["same"]), sorted(starts["spread"])
    # the planned starts are 20 ms apart; a loaded machine may wake one late and the next on time,
    # so the check is on the whole run: four connections to one host span at least three intervals
    assert len(same) == 4 and same[-1] - same[0] >= 3 * 0.019
    assert spread[-1] - spread[0] < 0.015


@contextmanager
def _keep_alive_server() -> Iterator[str]:
    """HTTP/1.1 on loopback: the same feed at every path, every connection kept alive between requests."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Length", str(len(RSS)))
            self.end_headers()
            self.wfile.write(RSS)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_requests_over_a_kept_alive_connection_are_not_paced() -> None:
    async def run(base: str) -> tuple[int, list[Fetched]]:
        async with make_client(1, connect_interval_s=30.0) as client:  # a second connection would wait 30 s
            fetched = [await fetch(client, f"{base}/f{n}") for n in range(5)]
            pacer = client.connector.pacer  # type: ignore[union-attr]
            return pacer.paced, fetched

    with _keep_alive_server() as base:
        paced, fetched = asyncio.run(run(base))
    assert all(f.ok and f.body == RSS for f in fetched)
    assert paced == 1  # one connection, dialled once, carried all five requests


def test_the_parse_pool_starts_for_a_first_gather_but_not_for_a_run_of_304s() -> None:
    from dataclasses import replace

    from connectors.sources import runner

    items = "".join(f"<item><title>Item {n}</title><link>https://site.example/{n}</link>"
                    f"<description>{'words ' * 20}</description></item>" for n in range(20))
    big = f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{items}</channel></rss>'.encode()
    assert len(big) > runner.GatherLimits.inline_parse_bytes
    count = runner.GatherLimits.pool_min_sources
    with serve({f"/f{n}": conditional(big, f'"v{n}"') for n in range(count)}) as server:
        sources = [feed(f"f{n}", server.url(f"/f{n}")) for n in range(count)]
        shutdown()
        first = fetch_sources(sources, {})
        assert all(len(r.items) == 20 for r in first) and runner._pool is not None, "a first gather parses on every core"
        shutdown()
        again = fetch_sources(sources, {r.source: r.cursor for r in first})
        assert all(r.not_modified for r in again) and runner._pool is None, "nothing to parse: no worker started"
        changed = fetch_sources(sources, {r.source: replace(r.cursor, etag='"old"') for r in first})
        assert all(len(r.items) == 20 for r in changed) and runner._pool is None, "a few bodies are parsed here"
