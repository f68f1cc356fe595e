"""HtmlSource with CSS selectors (a page written here and real saved pages), feed discovery."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from helpers.feedserver import body, serve

from compose.config import Selectors, Source
from connectors.sources import HtmlSource, discover, discover_feeds

PAGES = Path(__file__).resolve().parent / "corpora" / "html-pages"

PAGE = b"""<!DOCTYPE html><html><head><base href="https://cdn.example/news/"><title>News</title>
<link rel="alternate" type="application/atom+xml" title="Atom" href="/atom.xml"></head><body>
<article class="post"><h2><a href="first-story?utm_campaign=x">First <em>story</em></a></h2>
<time datetime="2018-12-06T10:30:00Z">6 Dec</time><div class="teaser"><p onclick="x()">Teaser <script>bad()</script></p></div>
<img data-src="/img/1.png"></article>
<article class="post"><h2><a href="/second">Second</a></h2><span class="date">06/12/2018</span></article>
<article class="post"><p>no title, no link</p></article></body></html>"""
SELECTORS = Selectors(item="article.post", title="h2", link="h2 a", date="time, .date", summary=".teaser", image="img")


def page_source(url: str, selectors: Selectors = SELECTORS) -> HtmlSource:
    return HtmlSource(Source(name="page", kind="html", url=url, section="news", selectors=selectors))


def test_selectors_on_a_written_page() -> None:
    parsed = page_source("https://site.example/").parse(PAGE, url="https://site.example/news", headers={})
    first, second = parsed.items
    assert first.url == "https://cdn.example/news/first-story" and first.title == "First story"
    assert first.published == datetime(2018, 12, 6, 10, 30, tzinfo=UTC)
    assert first.summary_text == "Teaser" and "onclick" not in first.summary_html and "script" not in first.summary_html
    assert first.image_url == "https://cdn.example/img/1.png"
    assert second.url == "https://cdn.example/second" and second.published == datetime(2018, 12, 6, tzinfo=UTC)


def test_no_match_is_an_error_that_points_at_the_feed() -> None:
    parsed = page_source("https://site.example/", Selectors(item=".nothing", title="h2")).parse(
        PAGE, url="https://site.example/", headers={})
    assert "no items matched" in parsed.error and "https://cdn.example/atom.xml" in parsed.hint


def test_discover_feeds() -> None:
    assert discover_feeds(PAGE, "https://site.example/") == [("https://cdn.example/atom.xml", "atom", "Atom")]
    assert discover_feeds((PAGES / "rsparser" / "inessential.html").read_bytes(), "https://inessential.com/") == [
        ("http://inessential.com/xml/rss.xml", "rss", "RSS")]
    assert discover_feeds((PAGES / "html2rss-vcr" / "welt.html").read_bytes(), "https://www.welt.de/") == []


def test_discover_fetches_and_proposes_toml() -> None:
    with serve({"/": body(PAGE, headers={"Content-Type": "text/html"})}) as server:
        (found,) = discover(server.url("/"))
    assert found["url"] == "https://cdn.example/atom.xml" and found["type"] == "atom"
    assert 'kind = "feed"' in found["toml"] and 'url = "https://cdn.example/atom.xml"' in found["toml"]


def test_real_page_apple_security_releases() -> None:
    source = page_source("https://support.apple.com/en-gb/100100",
                         Selectors(item="tr", title="td a", link="td a", date="td:nth-child(3)"))
    body_bytes = (PAGES / "html2rss-vcr" / "apple_support_security_releases.html").read_bytes()
    parsed = source.parse(body_bytes, url="https://support.apple.com/en-gb/100100", headers={})
    assert len(parsed.items) > 20
    first = parsed.items[0]
    assert first.title == "iOS 26.4 and iPadOS 26.4" and first.url == "https://support.apple.com/en-gb/126792"
    assert first.published == datetime(2026, 3, 24, tzinfo=UTC)
    assert all(i.url.startswith("https://support.apple.com/") for i in parsed.items)


def test_real_page_sixcolors() -> None:
    source = page_source("https://sixcolors.com/",
                         Selectors(item="div.article", title="h1", link="h1 a", date="p.dateline", summary=".column2 p"))
    parsed = source.parse((PAGES / "rsparser" / "sixcolors.html").read_bytes(), url="https://sixcolors.com/", headers={})
    first = parsed.items[0]
    assert first.title == "Automate This: Connect to the Web with cURL"
    assert first.url == "https://sixcolors.com/post/2016/03/automate-this-connect-to-the-web-with-curl/"
    assert first.published == datetime(2016, 3, 4, 9, 12, tzinfo=UTC)
    assert first.summary_text.startswith("One of the best utilities on the Mac")
    assert len(parsed.items) >= 5 and all(i.published for i in parsed.items)
