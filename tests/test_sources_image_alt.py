"""Image alt text from sources: Media RSS descriptions (real feeds from the corpus), an image
enclosure with the item's media text, the `<img alt>` of the summary's image (real Reddit feed,
JSON Feed), an HTML listing's `<img alt>` or `og:image:alt`; both the fast parser and feedparser;
and gather storing it (and an update to it) in the ledger, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from compose.config import Selectors, Source
from compose.models import FetchReport, Item, SourceCursor
from connectors.sources import HtmlSource
from connectors.sources.feed import FeedSource
from flows.settings import parse_config
from flows.stages.gather import gather_sources
from state.models import ItemRow

CORPUS = Path(__file__).parent / "corpora" / "realworld-feeds"
FEED_URL = "https://example.org/feed"
NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)


def parse(body: bytes) -> tuple[Item, ...]:
    parsed = FeedSource(Source(name="t", kind="feed", url=FEED_URL, section="news")).parse(body, url=FEED_URL, headers={})
    assert parsed.error is None
    return parsed.items


def feedparser_only(body: bytes) -> bytes:
    """The same feed with a DOCTYPE, which sends it to feedparser instead of the fast parser."""
    head, rest = body.split(b"?>", 1) if body.startswith(b"<?xml") else (b"", body)
    return (head + b"?>" if head else b"") + b"<!DOCTYPE rss>" + rest


@pytest.mark.parametrize("path_to", [lambda b: b, feedparser_only], ids=["fast", "feedparser"])
def test_media_rss_description_is_the_alt_text(path_to):
    items = parse(path_to((CORPUS / "feedjira" / "HuffPostCanada.xml").read_bytes()))
    assert items[0].image_url.startswith("http://o.aolcdn.com/")
    assert items[0].image_alt.startswith("About 50 female students at Dakota Collegiate in Winnipeg wear hijabs.")
    assert items[1].image_alt.startswith("Adrian Sutherland, frontman for Midnight Shine")


@pytest.mark.parametrize("path_to", [lambda b: b, feedparser_only], ids=["fast", "feedparser"])
def test_the_summary_image_alt_goes_with_the_feed_image(path_to):
    items = parse(path_to((CORPUS / "rss-parser" / "reddit.rss").read_bytes()))
    first = items[0]
    assert first.image_url == "https://b.thumbs.redditmedia.com/z4zzFBqZ54WT-rFfKXVor4EraZtJVw7AodDvOZ7kitQ.jpg"
    assert first.image_alt == "The water is too deep, so he improvises"
    assert all(item.image_alt is None for item in items if item.image_url is None)


def test_no_alt_text_is_none_never_made_up():
    items = parse((CORPUS / "feedjira" / "TechCrunch.xml").read_bytes())
    assert items[0].image_url and items[0].image_alt is None


@pytest.mark.parametrize("path_to", [lambda b: b, feedparser_only], ids=["fast", "feedparser"])
def test_an_image_enclosure_takes_the_items_media_text(path_to):
    feed = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel><title>Council news</title>
<item><title>New library opens</title><link>https://example.org/library</link><description>It opened.</description>
<enclosure url="https://example.org/library.jpg" type="image/jpeg" length="1000"/>
<media:text>Children reading in the new library's story corner</media:text></item>
<item><title>Decorative</title><link>https://example.org/deco</link>
<description>&lt;img src="/deco.png" alt=""&gt; Nothing to describe</description>
<media:thumbnail url="https://example.org/deco.png"/></item>
</channel></rss>"""
    library, decorative = parse(path_to(feed))
    assert library.image_url == "https://example.org/library.jpg"
    assert library.image_alt == "Children reading in the new library's story corner"
    assert decorative.image_url == "https://example.org/deco.png" and decorative.image_alt is None  # alt="": none


def test_json_feed_image_takes_the_alt_of_the_same_image_in_its_content():
    feed = {"version": "https://jsonfeed.org/version/1.1", "title": "Blog", "items": [
        {"id": "1", "url": "https://example.org/posts/1", "title": "Hub opens", "image": "https://example.org/hub.jpg",
         "content_html": '<p><img src="/hub.jpg" alt="The new digital hub&#39;s front desk"> It opened.</p>'},
        {"id": "2", "url": "https://example.org/posts/2", "title": "Other image", "image": "https://example.org/a.jpg",
         "content_html": '<p><img src="/b.jpg" alt="Not the item image"></p>'}]}
    hub, other = parse(json.dumps(feed).encode())
    assert hub.image_alt == "The new digital hub's front desk"
    assert other.image_url == "https://example.org/a.jpg" and other.image_alt is None


def test_html_listing_takes_the_img_alt_or_og_image_alt():
    page = b"""<html><body>
<article><h2><a href="/a">First</a></h2><img src="/a.jpg" alt="Staff at the first event"></article>
<article><h2><a href="/b">Second</a></h2><meta property="og:image" content="/b.jpg">
<meta property="og:image:alt" content="A chart of rising demand"></article>
<article><h2><a href="/c">Third</a></h2><img src="/c.jpg"></article></body></html>"""
    source = HtmlSource(Source(name="page", kind="html", url="https://example.org/news", section="news",
                               selectors=Selectors(item="article", title="h2", image="img, meta[property='og:image']")))
    items = source.parse(page, url="https://example.org/news", headers={}).items
    assert [(i.image_url, i.image_alt) for i in items] == [
        ("https://example.org/a.jpg", "Staff at the first event"),
        ("https://example.org/b.jpg", "A chart of rising demand"),
        ("https://example.org/c.jpg", None)]


CONFIG = parse_config("""
[organisation]
name = "Socitm"
site_url = "https://www.socitm.net"
postal_address = "Northampton, UK"
[edition]
from_email = "a@socitm.example"
from_name = "In Our View"
reply_to = "b@socitm.example"
[[sections]]
key = "news"
title = "News"
[[sources]]
name = "news"
kind = "feed"
url = "https://www.socitm.net/news/feed.xml"
section = "news"
""")


def _gather(session, now: datetime, alt: str | None) -> None:  # type: ignore[no-untyped-def]
    item = Item(url="https://www.socitm.net/news/1", title="Story", section="news", source="news",
                summary_text="Summary", image_url="https://www.socitm.net/1.jpg", image_alt=alt, published=NOW)
    report = FetchReport(source="news", items=(item,), status=200, bytes=100, cursor=SourceCursor(url="x"))
    gather_sources(session, CONFIG, now=now, include_backlog=True, fetch=lambda sources, cursors: [report])


def test_gather_stores_the_alt_text_and_its_correction(db):
    with db.session() as session:
        _gather(session, NOW, None)
        session.commit()
    with db.session() as session:
        assert session.scalars(select(ItemRow)).one().image_alt is None
        _gather(session, NOW + timedelta(hours=1), "A crowded council chamber")  # the site added alt text
        session.commit()
    with db.session() as session:
        row = session.scalars(select(ItemRow)).one()
        assert row.image_alt == "A crowded council chamber" and row.revision == 2
