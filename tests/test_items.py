"""Item normalisation (canonical URLs, identity, sanitised summaries, the richer record) and
publication dates (`compose.dates`)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from compose.dates import parse_date
from compose.items import (
    canonical_url,
    content_hash,
    drop_unprintable,
    item_key,
    merge_items,
    one_line,
    richer,
    sanitise_html,
    summary_text,
)
from compose.models import Item


@pytest.mark.parametrize(
    ("url", "base", "expected"),
    [
        ("HTTPS://Example.COM:443/News/A?b=1#top", None, "https://example.com/News/A?b=1"),
        ("http://example.com:80", None, "http://example.com/"),
        ("http://example.com:8080/x", None, "http://example.com:8080/x"),
        ("https://e.org/a?utm_source=rss&utm_medium=feed&id=7&fbclid=X", None, "https://e.org/a?id=7"),
        ("https://e.org/a?z=1&gclid=1&a=2&mc_cid=3&mc_eid=4&_hsenc=5&_hsmi=6&ref_src=7", None, "https://e.org/a?z=1&a=2"),
        ("https://e.org/a?UTM_Campaign=x", None, "https://e.org/a"),
        ("/news/item?id=1", "https://Site.example/blog/", "https://site.example/news/item?id=1"),
        ("item-2", "https://site.example/blog/", "https://site.example/blog/item-2"),
        ("  https://e.org/Path%20With%20Space  ", None, "https://e.org/Path%20With%20Space"),
        ("https://[::1]:443/x", None, "https://[::1]/x"),
    ],
)
def test_canonical_url(url: str, base: str | None, expected: str) -> None:
    assert canonical_url(url, base) == expected


@pytest.mark.parametrize("url", ["javascript:alert(1)", "mailto:a@b.c", "ftp://e.org/x", "data:text/html,x", "", "https:///x"])
def test_canonical_url_refuses_non_http(url: str) -> None:
    with pytest.raises(ValueError):
        canonical_url(url)


def _item(**kw) -> Item:
    return Item(**{"url": "", "title": "T", "section": "news", "source": "s", **kw})


def test_item_key_prefers_url_then_guid_then_hash() -> None:
    assert item_key(_item(url="https://e.org/a", guid="g")) == "https://e.org/a"
    assert item_key(_item(guid="urn:x")) == "guid:urn:x"
    keyed = item_key(_item(summary_text="hello"))
    assert keyed.startswith("hash:") and keyed == "hash:" + content_hash("T", "hello", "")
    assert content_hash("A  b", "c", "") == content_hash("a b", "C", "")
    assert content_hash("a", "b", "") != content_hash("a", "c", "")


def test_richer_record_wins_and_fills_gaps() -> None:
    when = datetime(2026, 1, 1, tzinfo=UTC)
    poor = _item(url="https://e.org/a", source="one", published=when)
    rich = _item(url="https://e.org/a", source="two", summary_text="long summary", image_url="https://e.org/i.png")
    merged = richer(poor, rich)
    assert merged.source == "two" and merged.image_url == "https://e.org/i.png"
    assert merged.published == when  # filled from the other record
    assert richer(rich, poor).source == "two"
    assert richer(poor, poor) is poor  # tie: first seen wins


def test_merge_items_deduplicates_across_sources() -> None:
    a = _item(url="https://e.org/a", source="one")
    b = _item(url="https://e.org/a", source="two", summary_text="more")
    c = _item(url="https://e.org/c")
    assert [(i.url, i.source) for i in merge_items([a, c, b])] == [("https://e.org/a", "two"), ("https://e.org/c", "s")]


def test_sanitiser_strips_scripts_styles_handlers_and_bad_links() -> None:
    dirty = (
        '<p onclick="steal()" style="color:red">Hi <a href="javascript:alert(1)">js</a> '
        '<a href="/rel">rel</a> <a href="https://ok.example/x" onmouseover="x()">ok</a></p>'
        '<script>alert(1)</script><style>p{}</style><iframe src="https://e.org"></iframe>'
        '<img src="x" onerror="alert(1)"><svg><script>1</script></svg><a href="data:text/html,x">d</a>'
    )
    clean = sanitise_html(dirty, base_url="https://site.example/blog/")
    lowered = clean.lower()
    for bad in ("<script", "<style", "<iframe", "<img", "onclick", "onmouseover", "onerror", "javascript:", "data:", "style="):
        assert bad not in lowered, bad
    assert 'href="https://site.example/rel"' in clean
    assert 'href="https://ok.example/x"' in clean
    assert 'rel="noopener noreferrer"' in clean


def test_sanitiser_without_base_drops_relative_links() -> None:
    assert "href" not in sanitise_html('<a href="/rel">x</a>')


def test_summary_text_cuts_at_a_word_boundary() -> None:
    html = "<p>" + " ".join(f"word{i}" for i in range(100)) + "</p>"
    text = summary_text(html, limit=50)
    assert len(text) <= 50 and text.endswith("…")
    assert text[:-1].split()[-1].startswith("word") and html.find(text[:-1].split()[-1] + " ") > 0
    assert summary_text("<p>Short &amp; sweet</p><p>Two</p>") == "Short & sweet Two"
    assert summary_text("<p>a</p><script>evil()</script>") == "a"
    assert len(summary_text("字" * 500, limit=40)) == 40  # no spaces: hard cut


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2018-12-06T10:30:00Z", datetime(2018, 12, 6, 10, 30, tzinfo=UTC)),
        ("2018-12-06T10:30:00+01:00", datetime(2018, 12, 6, 9, 30, tzinfo=UTC)),
        ("Thu, 06 Dec 2018 10:30:00 GMT", datetime(2018, 12, 6, 10, 30, tzinfo=UTC)),
        ("6 December 2018", datetime(2018, 12, 6, tzinfo=UTC)),
        ("Thursday 6th Dec. 2018", datetime(2018, 12, 6, tzinfo=UTC)),
        ("Dec 6, 2018", datetime(2018, 12, 6, tzinfo=UTC)),
        ("December 6, 2018 at 3:05 pm", datetime(2018, 12, 6, 15, 5, tzinfo=UTC)),
        ("06/12/2018", datetime(2018, 12, 6, tzinfo=UTC)),
        ("Published 06.12.2018 10:15", datetime(2018, 12, 6, 10, 15, tzinfo=UTC)),
        ("2018/12/06", datetime(2018, 12, 6, tzinfo=UTC)),
    ],
)
def test_parse_date(text: str, expected: datetime) -> None:
    parsed = parse_date(text)
    assert parsed == expected and parsed.tzinfo is UTC


@pytest.mark.parametrize("text", ["", None, "yesterday", "31/02/2018", "13 Foo 2018"])
def test_parse_date_none(text: str | None) -> None:
    assert parse_date(text) is None


def test_unprintable_characters_are_dropped_and_text_kept() -> None:
    assert drop_unprintable("plain \u00e9t\u00e9 \u2014 \U0001f680") == "plain \u00e9t\u00e9 \u2014 \U0001f680"
    assert drop_unprintable("a\x00b\x1bc\x7fd\x9fe\ud800f\ufffeg") == "abcdefg"
    assert drop_unprintable("tab\there\nline\rcr\x0bvt\x0cff") == "tab\there\nline\rcr vt ff"
    assert one_line("  two\n  lines\x01 \u00a0and\tmore ") == "two lines and more"
