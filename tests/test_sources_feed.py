"""FeedSource: every feed format, the fast path against feedparser, malformed feeds, XML bombs."""

from __future__ import annotations

import json
import resource
import time
from datetime import UTC, datetime

import pytest

from compose.config import Source
from connectors.sources import FeedSource, parse_body
from connectors.sources.plain_xml import parse_plain

CONFIG = Source(name="Blog", kind="feed", url="https://site.example/feed", section="news")
URL = "https://site.example/feed"

RSS20 = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>
<title>Blog</title><link>https://site.example/</link><description>d</description>
<item><title>First &amp; best</title><link>/news/first?utm_source=rss</link><guid isPermaLink="false">g1</guid>
<pubDate>Thu, 06 Dec 2018 10:30:00 +0100</pubDate><dc:creator>Ann</dc:creator>
<description>&lt;p onclick="x()"&gt;Hello &lt;script&gt;bad()&lt;/script&gt;&lt;a href="javascript:alert(1)"&gt;j&lt;/a&gt;&lt;/p&gt;</description>
<media:thumbnail url="https://site.example/t.jpg"/></item>
<item><title>Second</title><guid>https://site.example/news/second</guid>
<enclosure url="https://site.example/e.png" type="image/png" length="1"/></item>
</channel></rss>"""

RSS091 = b"""<?xml version="1.0"?><rss version="0.91"><channel><title>Old</title><link>https://site.example/</link>
<description>d</description><item><title>Old item</title><link>https://site.example/old</link>
<description>Plain text</description></item></channel></rss>"""

RDF = b"""<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel rdf:about="https://site.example/"><title>R</title><link>https://site.example/</link><description>d</description></channel>
<item rdf:about="https://site.example/r1"><title>RDF item</title><link>https://site.example/r1</link>
<dc:date>2018-12-06T10:30:00Z</dc:date><description>Text</description></item></rdf:RDF>"""

ATOM10 = b"""<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>A</title>
<id>urn:a</id><updated>2018-12-06T10:30:00Z</updated>
<entry><title type="html">&lt;b&gt;Bold&lt;/b&gt; title</title><id>urn:e1</id>
<link rel="alternate" href="https://site.example/a1#comments"/><updated>2018-12-07T00:00:00Z</updated>
<author><name>Bob</name></author><summary type="text">1 &lt; 2</summary></entry></feed>"""

ATOM03 = b"""<?xml version="1.0" encoding="utf-8"?><feed version="0.3" xmlns="http://purl.org/atom/ns#">
<title>Old atom</title><modified>2018-12-06T10:30:00Z</modified>
<entry><title>Atom 0.3 entry</title><link rel="alternate" type="text/html" href="https://site.example/a03"/>
<id>urn:a03</id><issued>2018-12-06T10:30:00Z</issued><modified>2018-12-06T10:30:00Z</modified></entry></feed>"""


def parse(body: bytes, **kw):
    return FeedSource(CONFIG).parse(body, url=URL, headers={"content-type": "application/xml"}, **kw)


def test_rss20() -> None:
    parsed = parse(RSS20)
    assert parsed.error is None
    first, second = parsed.items
    assert first.url == "https://site.example/news/first" and first.guid == "g1"
    assert first.title == "First & best" and first.author == "Ann"
    assert first.published == datetime(2018, 12, 6, 9, 30, tzinfo=UTC)
    assert "<script" not in first.summary_html and "onclick" not in first.summary_html
    assert "javascript" not in first.summary_html and first.summary_text == "Hello j"
    assert first.image_url == "https://site.example/t.jpg"
    assert second.url == "https://site.example/news/second"  # permalink guid
    assert second.image_url == "https://site.example/e.png"
    assert (first.source, first.section) == ("Blog", "news")


@pytest.mark.parametrize("fast", [True, False])
def test_fast_path_and_feedparser_agree(fast: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(FeedSource, "fast_path", fast)
    for body in (RSS20, RDF, ATOM10):
        reference = FeedSource(CONFIG)
        monkeypatch.setattr(FeedSource, "fast_path", not fast)
        other = reference.parse(body, url=URL, headers={})
        monkeypatch.setattr(FeedSource, "fast_path", fast)
        mine = reference.parse(body, url=URL, headers={})
        assert mine == other


def test_rss091_rdf_atom() -> None:
    assert [i.title for i in parse(RSS091).items] == ["Old item"]
    (rdf,) = parse(RDF).items
    assert rdf.url == "https://site.example/r1" and rdf.published == datetime(2018, 12, 6, 10, 30, tzinfo=UTC)
    (atom,) = parse(ATOM10).items
    assert atom.title == "Bold title" and atom.url == "https://site.example/a1"
    assert atom.summary_text == "1 < 2" and atom.author == "Bob"
    assert atom.published == datetime(2018, 12, 7, tzinfo=UTC) and atom.updated is None  # falls back to updated
    (old,) = parse(ATOM03).items
    assert old.url == "https://site.example/a03" and old.published == datetime(2018, 12, 6, 10, 30, tzinfo=UTC)


@pytest.mark.parametrize("version", ["1", "1.1"])
def test_json_feed(version: str) -> None:
    author = {"authors": [{"name": "Cy"}]} if version == "1.1" else {"author": {"name": "Cy"}}
    doc = {
        "version": f"https://jsonfeed.org/version/{version}", "title": "J",
        "items": [
            {"id": "1", "url": "https://site.example/j1?fbclid=z", "title": "Json one",
             "content_html": "<p>Body <script>x</script></p>", "date_published": "2018-12-06T10:30:00+00:00",
             "image": "https://site.example/j.png", **author},
            {"id": 2, "content_text": "No title or url"},
            "not an object",
        ],
    }
    one, two = parse(json.dumps(doc).encode()).items
    assert one.url == "https://site.example/j1" and one.title == "Json one" and one.author == "Cy"
    assert one.summary_html == "<p>Body </p>" and one.image_url == "https://site.example/j.png"
    assert one.published == datetime(2018, 12, 6, 10, 30, tzinfo=UTC)
    assert two.url == "" and two.guid == "2" and two.title == "No title or url"


def test_control_characters_in_feed_text_are_dropped() -> None:
    """A JSON feed may carry characters no HTML document can hold; mjml-python refuses them."""
    doc = {"version": "https://jsonfeed.org/version/1.1", "title": "J", "items": [
        {"id": "1", "url": "https://site.example/c", "title": "Tab\u0001le\u000bof\u001b contents\ufffe",
         "content_html": "<p>Sum\u0000mary &#1;here</p>", "authors": [{"name": "A\u0085nn\u0007"}]}]}
    (item,) = parse(json.dumps(doc).encode()).items
    assert (item.title, item.summary_text, item.author) == ("Table of contents", "Summary here", "Ann")


def test_json_that_is_not_a_feed() -> None:
    parsed = parse(b'{"hello": "world"}')
    assert parsed.error and "JSON Feed" in parsed.error and parsed.hint


def test_malformed_with_entries_gives_items() -> None:
    broken = RSS20.replace(b"</channel></rss>", b"<item><title>unclosed")
    parsed = parse(b"\n" + broken)
    assert parsed.error is None and len(parsed.items) >= 2


def test_malformed_without_entries_is_an_error_with_a_hint() -> None:
    parsed = parse(b"<?xml version='1.0'?><rss version='2.0'><channel><title>x</titl")
    assert parsed.error and "validator.w3.org" in (parsed.hint or "")
    assert parse(b"").error == "empty response"


def test_html_page_that_advertises_a_feed() -> None:
    page = (b'<!DOCTYPE html><html><head><link rel="alternate" type="application/rss+xml" href="/feed.xml">'
            b"</head><body><p>hi</p></body></html>")
    parsed = parse(page)
    assert parsed.error and "https://site.example/feed.xml" in (parsed.hint or "")
    assert parsed.feeds_advertised == ("https://site.example/feed.xml",)


def _bounded(body: bytes) -> tuple[object, float, int]:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    parsed = parse_body(CONFIG, body, URL, {})
    return parsed, time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY lol "lol">""" + b"".join(
    b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10) for i in range(1, 10)
) + b"""]><rss version="2.0"><channel><title>&lol9;</title><item><title>&lol9;</title><link>https://e.org/x</link>
<description>&lol9;</description></item></channel></rss>"""


@pytest.mark.parametrize(
    "body",
    [
        BILLION_LAUGHS,
        b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><rss version="2.0"><channel>'
        b"<item><title>&xxe;</title><link>https://e.org/x</link><description>&xxe;</description></item></channel></rss>",
        b'<?xml version="1.0"?><!DOCTYPE rss SYSTEM "http://127.0.0.1:9/evil.dtd"><rss version="2.0"><channel>'
        b"<item><title>t</title><link>https://e.org/x</link></item></channel></rss>",
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]><rss version="2.0">'
        b"<channel><item><title>t</title></item></channel></rss>",
        BILLION_LAUGHS.decode().replace('<?xml version="1.0"?>', "").encode("utf-16-le"),
        BILLION_LAUGHS.decode().replace('<?xml version="1.0"?>', "").encode("utf-16-be"),
    ],
    ids=["billion-laughs", "external-entity", "external-dtd", "parameter-entity", "utf-16le-no-bom", "utf-16be-no-bom"],
)
def test_xml_bombs_are_harmless(body: bytes) -> None:
    parsed, seconds, grown_kb = _bounded(body)
    assert seconds < 2 and grown_kb < 50_000
    text = " ".join(f"{i.title} {i.summary_text}" for i in parsed.items)
    assert "root:" not in text and "lollollol" not in text


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-16", "utf-32"])
def test_the_plain_path_reads_only_utf8_so_a_wide_doctype_goes_to_feedparser(encoding: str) -> None:
    """The DOCTYPE check reads bytes: in UTF-16 or UTF-32 `<!DOCTYPE` has NULs between its letters."""
    body = BILLION_LAUGHS.decode().replace('<?xml version="1.0"?>', "").encode(encoding)
    assert parse_plain(body) is None
    plain = b'<rss version="2.0"><channel><item><title>t</title><link>https://e.org/x</link></item></channel></rss>'
    assert parse_plain(plain) is not None and parse_plain(plain.decode().encode(encoding)) is None
