"""`FeedSource`: RSS 0.9x/1.0/2.0 and Atom 0.3/1.0 (feedparser), and JSON Feed 1.x.

A malformed feed never raises: a feed with XML errors that still yields entries gives its
items; one that yields none is an error with a hint (and when the URL is an HTML page that
advertises a feed, the hint names that feed). Plain well-formed feeds take a fast path
(`plain_xml`, expat); everything else, including any DOCTYPE, goes through feedparser, which strips
entity declarations (no billion laughs, no external entities).
"""

from __future__ import annotations

import calendar
import html
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import ClassVar

from compose.config import Source as SourceConfig

from .base import Entry, Parsed, to_items, ungzip
from .html_page import discover_feeds
from .jsonfeed import looks_like_json_feed, parse_json_feed
from .plain_xml import parse_plain

VALIDATOR_HINT = "check the feed with https://validator.w3.org/feed/ and tell the site owner"


class FeedSource:
    """A syndication feed: RSS, Atom or JSON Feed."""

    kind: ClassVar[str] = "feed"
    accept: ClassVar[str] = (
        "application/atom+xml, application/rss+xml, application/feed+json, application/rdf+xml;q=0.9, "
        "application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.8, */*;q=0.5"
    )
    fast_path: ClassVar[bool] = True

    def __init__(self, config: SourceConfig) -> None:
        self.config = config

    def parse(self, body: bytes, *, url: str, headers: Mapping[str, str]) -> Parsed:
        """Items of one fetched feed body (never raises for bad input)."""
        body = ungzip(body)
        if not body.strip():
            return Parsed(error="empty response", hint="the server sent nothing: check the URL in syndicate.toml")
        if looks_like_json_feed(body):
            entries, problem = parse_json_feed(body)
            if problem:
                return Parsed(error=problem, hint="the URL returns JSON that is not a JSON Feed: check the URL")
            return Parsed(items=to_items(entries, self.config, url))
        fast = parse_plain(body) if self.fast_path else None
        if fast is not None:
            return Parsed(items=to_items(fast, self.config, url))
        return self._parse_with_feedparser(body, url, headers)

    def _parse_with_feedparser(self, body: bytes, url: str, headers: Mapping[str, str]) -> Parsed:
        response_headers = {k: v for k, v in headers.items() if k.lower() not in ("content-encoding",)}
        response_headers.setdefault("content-location", url)
        import feedparser  # here: most feeds never need it (`plain_xml`), and a run of 304s parses nothing

        try:
            result = feedparser.parse(body, response_headers=response_headers, sanitize_html=False,
                                      resolve_relative_uris=False)
        except Exception as exc:  # noqa: BLE001 - feedparser should never raise; a bug there must not stop a run
            return Parsed(error=f"the feed parser failed: {exc!r}", hint=VALIDATOR_HINT)
        if result.entries:
            rss = str(result.get("version") or "").startswith("rss")
            entries = [_entry(e, rss=rss) for e in result.entries]
            return Parsed(items=to_items(entries, self.config, url))
        if _looks_like_html(body) or (not result.get("version") and not result.bozo):
            return _not_a_feed(body, url)
        if result.bozo:
            reason = result.get("bozo_exception")
            return Parsed(error=f"the feed is not well-formed and has no readable entries: {reason}",
                          hint=VALIDATOR_HINT)
        return Parsed()  # a valid feed with no entries yet


def _looks_like_html(body: bytes) -> bool:
    head = body[:4096].lower()
    return b"<html" in head or b"<!doctype html" in head


def _not_a_feed(body: bytes, url: str) -> Parsed:
    feeds = discover_feeds(body, url) if _looks_like_html(body) else []
    if feeds:
        return Parsed(
            error="not a feed: the URL is an HTML page",
            hint=f"not a feed: the page advertises {feeds[0][0]}, use that as the url in syndicate.toml",
            feeds_advertised=tuple(f[0] for f in feeds),
        )
    return Parsed(
        error="not a feed: the URL returns neither RSS, Atom nor JSON Feed",
        hint='if this is a web page, use kind = "html" with [sources.selectors], or find its feed URL',
    )


def _utc(parsed: object) -> datetime | None:
    if not parsed:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return None


def _entry(e: Mapping, *, rss: bool = False) -> Entry:
    title_detail = e.get("title_detail") or {}
    summary_detail = e.get("summary_detail") or {}
    summary, summary_type = e.get("summary") or "", summary_detail.get("type", "text/html")
    if not summary and e.get("content"):
        summary, summary_type = e["content"][0].get("value", ""), e["content"][0].get("type", "text/html")
    if summary_type == "text/plain":
        summary = html.escape(summary)
    author_detail = e.get("author_detail") or {}
    image, alt = _image(e, rss=rss)
    return Entry(
        link=e.get("link"),
        guid=e.get("id") or e.get("guid"),
        title=e.get("title") or "",
        title_is_html=title_detail.get("type", "text/plain") != "text/plain",
        summary_html=summary,
        published=_utc(e.get("published_parsed")) or _utc(e.get("created_parsed")),
        updated=_utc(e.get("updated_parsed")),
        image=image,
        author=author_detail.get("name") or e.get("author"),
        image_alt=alt,
    )


def _media_alt(e: Mapping, *, rss: bool) -> str | None:
    """The entry's Media RSS description or text. feedparser files `media:description` under
    `content` as text/plain; in RSS (which has no text/plain content of its own) that is where it is."""
    described = [c.get("value") for c in e.get("content") or () if c.get("type") == "text/plain"] if rss else []
    return next((text for text in (*described, e.get("media_text")) if isinstance(text, str) and text.strip()), None)


def _image(e: Mapping, *, rss: bool = False) -> tuple[str | None, str | None]:
    """The entry's image and its alt text as the feed gives it."""
    for media in e.get("media_content") or ():
        kind = media.get("medium") or media.get("type") or ""
        if media.get("url") and kind.startswith("image"):
            return media["url"], _media_alt(e, rss=rss)
    for thumb in e.get("media_thumbnail") or ():
        if thumb.get("url"):
            return thumb["url"], _media_alt(e, rss=rss)
    for enclosure in e.get("enclosures") or ():
        if (enclosure.get("type") or "").startswith("image/") and enclosure.get("href"):
            return enclosure["href"], enclosure.get("title") or _media_alt(e, rss=rss)
    image = e.get("image")
    return (image.get("href"), image.get("title")) if isinstance(image, Mapping) else (None, None)
