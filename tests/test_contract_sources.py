"""The source contract: every kind in `SOURCES` is checked the same way, from its own fixture.

    class data   `kind` is its registry key; `accept` is the Accept header its fetches send
    items        a good body gives items that are safe to show: http(s) links only, sanitised
                 summaries, one-line titles, the configured section and source name
    bad input    malformed, truncated, hostile or unexpected bodies give an error value with a
                 hint (or items), never an exception
    fetching     through `fetch_sources` on a loopback server: every HTTP failure (4xx, 429 with
                 and without Retry-After, 5xx, redirect loops, bad schemes, oversize bodies,
                 timeouts, refused connections) is a report with an error and a hint, the old
                 cursor kept; a conditional GET answered 304 is parsed not at all

A new kind is covered once it has a fixture in `FIXTURES`; until then
`test_every_source_kind_has_a_fixture` fails.
"""

from __future__ import annotations

import gzip
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
from helpers.feedserver import Responder, body, conditional, redirect, serve, stall

from compose.config import Selectors, Source
from compose.models import SourceCursor
from compose.urls import is_web_url
from connectors.sources import SOURCES, Parsed, fetch_sources, shutdown
from tests.fakes.server import closed_port_url

RSS = b"""<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Blog</title>
<link>https://site.example/</link><description>d</description>
<item><title>First &amp; best</title><link>/news/first?utm_source=rss</link><guid>g1</guid>
<pubDate>Thu, 06 Dec 2018 10:30:00 +0100</pubDate>
<description>&lt;p onclick="x()"&gt;Hello &lt;script&gt;bad()&lt;/script&gt;&lt;a href="javascript:alert(1)"&gt;j&lt;/a&gt;&lt;/p&gt;</description>
<enclosure url="javascript:alert(2)" type="image/png" length="1"/></item>
<item><title>Second
line</title><link>https://site.example/news/second</link><description>Plain</description></item>
</channel></rss>"""

PAGE = b"""<!DOCTYPE html><html><head><title>News</title></head><body>
<article><h2><a href="/news/first?utm_campaign=x">First <em>story</em></a></h2>
<div class="teaser"><p onclick="x()">Teaser <script>bad()</script><a href="javascript:alert(1)">j</a></p></div>
<img src="javascript:alert(2)"></article>
<article><h2><a href="https://site.example/news/second">Second
line</a></h2><div class="teaser">Plain</div></article></body></html>"""


@dataclass(frozen=True)
class SourceFixture:
    """A configured source of one kind and a good body for it (two items, one hostile)."""

    config: Source
    good: bytes
    headers: dict[str, str] = field(default_factory=dict)


FIXTURES: dict[str, SourceFixture] = {
    "feed": SourceFixture(Source(name="Blog", kind="feed", url="https://site.example/feed", section="news"),
                          RSS, {"content-type": "application/rss+xml"}),
    "html": SourceFixture(Source(name="Page", kind="html", url="https://site.example/news", section="blogs",
                                 selectors=Selectors(item="article", title="h2", link="h2 a", summary=".teaser",
                                                     image="img")),
                          PAGE, {"content-type": "text/html; charset=utf-8"}),
}
KINDS = [pytest.param(kind, id=kind) for kind in SOURCES]


@pytest.fixture(scope="module", autouse=True)
def _stop_pool():
    yield
    shutdown()


def fixture_for(kind: str) -> SourceFixture:
    if kind not in FIXTURES:
        pytest.fail(f"source kind {kind!r} is in SOURCES but has no fixture in tests/test_contract_sources.py")
    return FIXTURES[kind]


def parse(kind: str, data: bytes, headers: dict[str, str] | None = None) -> Parsed:
    fixture = fixture_for(kind)
    return SOURCES[kind](fixture.config).parse(data, url=str(fixture.config.url),
                                               headers=fixture.headers if headers is None else headers)


def assert_safe(parsed: Parsed, config: Source) -> None:
    """What every item of every kind promises."""
    for item in parsed.items:
        assert item.url == "" or is_web_url(item.url), item.url
        assert "utm_" not in item.url
        assert item.image_url is None or is_web_url(item.image_url), item.image_url
        for marker in ("<script", "javascript:", "onclick"):
            assert marker not in item.summary_html.lower(), (marker, item.summary_html)
        assert item.title and "\n" not in item.title
        assert (item.section, item.source) == (config.section, config.name)


# --- the registry and class data ---------------------------------------------------------------------


def test_every_source_kind_has_a_fixture() -> None:
    assert set(SOURCES) == set(FIXTURES)


@pytest.mark.parametrize("kind", KINDS)
def test_kind_and_accept_are_class_data(kind: str) -> None:
    cls = SOURCES[kind]
    assert cls.kind == kind == fixture_for(kind).config.kind
    assert cls.accept and "\r" not in cls.accept and "\n" not in cls.accept


# --- parsing -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_a_good_body_gives_items_that_are_safe_to_show(kind: str) -> None:
    parsed = parse(kind, fixture_for(kind).good)
    assert parsed.error is None and len(parsed.items) == 2
    assert parsed.items[0].url == "https://site.example/news/first"
    assert parsed.items[1].title == "Second line"
    assert_safe(parsed, fixture_for(kind).config)


def _nested(depth: int) -> bytes:
    return b"<div>" * depth + b"x" + b"</div>" * depth


MALFORMED: dict[str, tuple[bytes, dict[str, str] | None]] = {
    "empty": (b"", None),
    "whitespace": (b" \r\n\t ", None),
    "binary": (bytes(range(256)) * 8, None),
    "invalid utf-8": (b"\xff\xfe\xfd" * 500, None),
    "truncated": (RSS[: len(RSS) // 2], None),
    "truncated page": (PAGE[: len(PAGE) // 2], None),
    "gzip magic then junk": (b"\x1f\x8b\x08\x00" + b"junk" * 100, None),
    "gzip of nothing useful": (gzip.compress(b"<nothing/>"), None),
    "json, not a feed": (b'{"version": "1", "items": 3}', None),
    "broken json": (b'{"items": [', None),
    "deep nesting": (_nested(2_000), None),
    "entity declarations": (b"<?xml version='1.0'?><!DOCTYPE r [<!ENTITY a 'aaaaaaaaaa'><!ENTITY b '&a;&a;&a;&a;'>]>"
                            b"<rss version='2.0'><channel><item><title>&b;</title></item></channel></rss>", None),
    "a page where a feed was expected": (b"<html><head><link rel='alternate' type='application/rss+xml' "
                                         b"href='/rss'></head><body><p>hi</p></body></html>", None),
    "unknown charset": (PAGE, {"content-type": "text/html; charset=no-such-charset"}),
    "nul bytes": (RSS.replace(b"<title>", b"<title>\x00"), None),
}


@pytest.mark.parametrize("case", list(MALFORMED))
@pytest.mark.parametrize("kind", KINDS)
def test_bad_input_is_an_error_value_never_an_exception(kind: str, case: str) -> None:
    data, headers = MALFORMED[case]
    parsed = parse(kind, data, headers)  # raises nothing: an exception here fails the test
    assert isinstance(parsed, Parsed)
    assert parsed.items or (parsed.error and parsed.hint), parsed
    assert_safe(parsed, fixture_for(kind).config)


# --- fetching ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Failure:
    """A server behaviour, and what the report must say about it."""

    route: Responder | None  # what /f answers (None: the URL is special, see `url`)
    error: str  # in report.error
    hint: str  # in report.hint
    status: int | None = None
    retry_after_s: float | None = None
    url: str | None = None  # instead of the server's /f
    options: dict[str, Any] = field(default_factory=dict)  # fetch_sources keyword arguments


FAILURES: dict[str, Failure] = {
    "404": Failure(body(b"not here", 404), "404", "check the URL in syndicate.toml", 404),
    "410": Failure(body(b"gone", 410), "410", "the feed may have moved", 410),
    "403": Failure(body(b"no", 403), "403", "refused access", 403),
    "429 with Retry-After": Failure(body(b"slow down", 429, {"Retry-After": "120"}), "429", "wait 120 s", 429, 120),
    "429 without Retry-After": Failure(body(b"slow down", 429), "429", "rate limiting", 429),
    "503 with Retry-After": Failure(body(b"busy", 503, {"Retry-After": "120"}), "503", "wait 120 s", 503, 120),
    "500": Failure(body(b"oops", 500), "500", "usually temporary", 500),
    "redirect loop": Failure(redirect("/f", 302), "more than 5 redirects", "redirects in a loop"),
    "redirect to file:": Failure(redirect("file:///etc/passwd"), "non-http", "will not follow", 301),
    "oversize": Failure(body(b"x" * 5000), "too large", "MB", 200, options={"max_bytes": 1000}),
    "read timeout": Failure(stall(2), "time", "try again", options={"timeout_s": 0.5}),
    "connection refused": Failure(None, "could not connect", "host name", url=closed_port_url() + "/f"),
    "not http(s)": Failure(None, "only http and https", "http:// or https://", url="ftp://site.example/f"),
}


@pytest.mark.parametrize("case", list(FAILURES))
@pytest.mark.parametrize("kind", KINDS)
def test_every_fetch_failure_is_a_report_with_a_hint(kind: str, case: str) -> None:
    failure = FAILURES[case]
    config = fixture_for(kind).config
    with serve({"/f": failure.route} if failure.route else {}) as server:
        url = failure.url or server.url("/f")
        old = SourceCursor(url=url, etag='"v0"', last_modified="Thu, 01 Jan 2026 00:00:00 GMT")
        # a source's own host is trusted as configured; an ftp URL can only come from a cursor
        source = config.model_copy(update={"url": url if url.startswith("http") else server.url("/f")})
        started = time.monotonic()
        (report,) = fetch_sources([source], {source.name: old}, **failure.options)
    assert time.monotonic() - started < 5  # a Retry-After is reported, never slept
    assert not report.ok and report.items == ()
    assert failure.error in report.error and failure.hint in report.hint, (report.error, report.hint)
    assert report.status == failure.status and report.retry_after_s == failure.retry_after_s
    assert report.cursor == old  # the next run asks again, with the same validators


@pytest.mark.parametrize("kind", KINDS)
def test_an_unreadable_body_keeps_the_old_cursor(kind: str) -> None:
    config = fixture_for(kind).config
    with serve({"/f": body(b"\x00\x01 not anything", 200, {"ETag": '"new"'})}) as server:
        source = config.model_copy(update={"url": server.url("/f")})
        (report,) = fetch_sources([source])
    assert not report.ok and report.error and report.hint and report.status == 200
    assert report.cursor.etag is None  # "new" is not kept: the body must be fetched again


@pytest.mark.parametrize("kind", KINDS)
def test_a_conditional_get_sends_the_kinds_accept_and_a_304_is_not_parsed(kind: str) -> None:
    fixture = fixture_for(kind)
    with serve({"/f": conditional(fixture.good, '"v1"', fixture.headers["content-type"])}) as server:
        source = fixture.config.model_copy(update={"url": server.url("/f")})
        (first,) = fetch_sources([source])
        (second,) = fetch_sources([source], {source.name: first.cursor})
    assert first.ok and len(first.items) == 2 and first.cursor.etag == '"v1"'
    assert second.ok and second.not_modified and second.items == () and second.cursor == first.cursor
    assert [headers["Accept"] for _, headers in server.requests] == [SOURCES[kind].accept] * 2
    assert server.requests[1][1]["If-None-Match"] == '"v1"'
