"""An HTML page as sources read it: its tree, the URL its links resolve against, and the feeds
it advertises with `<link rel="alternate">` (used by `HtmlSource`, by `FeedSource` for the hint
of a feed URL that answers with a page, and by `discovery.discover`)."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

from selectolax.lexbor import LexborHTMLParser as HTMLParser

from compose.items import http_url

from .base import header_charset

FEED_TYPES = {
    "application/rss+xml": "rss",
    "application/atom+xml": "atom",
    "application/rdf+xml": "rdf",
    "application/feed+json": "json",
    "application/json": "json",
    "text/xml": "rss",
    "application/xml": "rss",
}


def read_html(body: bytes | str, headers: Mapping[str, str] | None = None) -> HTMLParser | None:
    """The page's tree (decoded with the charset its headers name), or None when it cannot be read."""
    charset = header_charset(headers or {})
    if isinstance(body, bytes) and charset:
        with contextlib.suppress(LookupError):
            body = body.decode(charset, errors="replace")
    try:
        return HTMLParser(body)
    except (ValueError, TypeError):
        return None


def page_base(tree: HTMLParser, url: str) -> str:
    """The URL that relative links on the page resolve against (`<base href>` or the page URL)."""
    base = tree.css_first("base[href]")
    return http_url(base.attributes.get("href"), url) or url if base is not None else url


def discover_feeds(html: str | bytes | HTMLParser, base_url: str) -> list[tuple[str, str, str]]:
    """Feeds a page advertises with `<link rel="alternate" type=...>`: (url, type, title)."""
    tree = html if isinstance(html, HTMLParser) else read_html(html)
    if tree is None:
        return []
    base = page_base(tree, base_url)
    found: dict[str, tuple[str, str, str]] = {}
    for link in tree.css("link[rel][href]"):
        rels = (link.attributes.get("rel") or "").lower().split()
        kind = FEED_TYPES.get((link.attributes.get("type") or "").split(";")[0].strip().lower())
        url = http_url(link.attributes.get("href"), base)
        if "alternate" in rels and kind and url and url not in found:
            found[url] = (url, kind, " ".join((link.attributes.get("title") or "").split()))
    return list(found.values())
