"""`HtmlSource`: an HTML listing page without a feed, read with per-source CSS selectors.

Also feed discovery: `discover_feeds(html, base_url)` lists the feeds a page advertises with
`<link rel="alternate">`, and `discover(url)` fetches a page and proposes `[[sources]]` TOML
for each feed found (what `syndicate sources discover URL` prints).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Mapping
from typing import ClassVar

from selectolax.lexbor import LexborHTMLParser as HTMLParser
from selectolax.lexbor import LexborNode as Node

from compose.config import Selectors
from compose.config import Source as SourceConfig
from compose.dates import parse_date
from compose.items import http_url
from connectors.errors import SourceError
from connectors.outbound import OutboundGuard

from .base import Entry, Parsed, header_charset, to_items
from .http import FetchLimits, fetch, make_client

FEED_TYPES = {
    "application/rss+xml": "rss",
    "application/atom+xml": "atom",
    "application/rdf+xml": "rdf",
    "application/feed+json": "json",
    "application/json": "json",
    "text/xml": "rss",
    "application/xml": "rss",
}


class HtmlSource:
    """A web page listing articles, read with the CSS selectors of its `[sources.selectors]`."""

    kind: ClassVar[str] = "html"
    accept: ClassVar[str] = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"

    def __init__(self, config: SourceConfig) -> None:
        self.config = config

    def parse(self, body: bytes, *, url: str, headers: Mapping[str, str]) -> Parsed:
        """Items found on one fetched page (never raises for bad input)."""
        selectors = self.config.selectors
        if selectors is None:
            return Parsed(error="no selectors", hint='add a [sources.selectors] table with `item` and `title`')
        tree = _tree(body, headers)
        if tree is None:
            return Parsed(error="the page could not be read as HTML", hint="check the URL in a browser")
        base = page_base(tree, url)
        try:
            nodes = tree.css(selectors.item)
        except (ValueError, SyntaxError) as exc:
            return Parsed(error=f"bad CSS selector {selectors.item!r}: {exc}", hint="fix selectors.item in syndicate.toml")
        entries = [_entry(node, selectors) for node in nodes]
        items = to_items([e for e in entries if e.link or e.title], self.config, base)
        if not items:
            feeds = discover_feeds(tree, url)
            return Parsed(
                error=f"no items matched selectors.item = {selectors.item!r}",
                hint=(f"the page advertises a feed, {feeds[0][0]}: use it with kind = \"feed\"" if feeds else
                      "open the page, inspect an article in the list and update [sources.selectors]"),
                feeds_advertised=tuple(f[0] for f in feeds),
            )
        return Parsed(items=items)


def _tree(body: bytes | str, headers: Mapping[str, str] | None = None) -> HTMLParser | None:
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


def _first(node: Node, selector: str | None) -> Node | None:
    if not selector:
        return None
    try:
        return node.css_first(selector)
    except (ValueError, SyntaxError):
        return None


def _attr(node: Node | None, *names: str) -> str | None:
    if node is None:
        return None
    for name in names:
        value = node.attributes.get(name)
        if value and value.strip():
            return value.strip()
    return None


def _entry(node: Node, s: Selectors) -> Entry:
    title_node = _first(node, s.title)
    title = title_node.text(deep=True, separator=" ", strip=True) if title_node is not None else ""
    link_node = _first(node, s.link)
    link = _attr(link_node, "href")
    if link is None and link_node is not None:
        link = _attr(link_node.css_first("a[href]"), "href")
    if link is None:
        link = _attr(node, "href") or _attr(title_node, "href") or _attr(node.css_first("a[href]"), "href")
    date_node = _first(node, s.date)
    published = None
    if date_node is not None:
        published = parse_date(_attr(date_node, "datetime", "content")) or parse_date(date_node.text(strip=True))
    summary_node = _first(node, s.summary)
    image_node = _first(node, s.image)
    image = _attr(image_node, "src", "data-src", "content", "href")
    if image is None and image_node is not None:
        srcset = _attr(image_node, "srcset", "data-srcset") or ""
        image = srcset.split(",")[0].split(" ")[0] or None
    return Entry(
        link=link,
        title=" ".join(title.split()),
        summary_html=summary_node.html or "" if summary_node is not None else "",
        published=published,
        image=image,
    )


def discover_feeds(html: str | bytes | HTMLParser, base_url: str) -> list[tuple[str, str, str]]:
    """Feeds a page advertises with `<link rel="alternate" type=...>`: (url, type, title)."""
    tree = html if isinstance(html, HTMLParser) else _tree(html)
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


def proposed_toml(url: str, title: str, section: str = "news") -> str:
    """A `[[sources]]` table for a discovered feed, ready to paste into syndicate.toml."""
    name = re.sub(r"[^\w .:-]+", " ", title).strip()[:60] or "new source"
    name = " ".join(name.split())
    return f'[[sources]]\nname = "{name}"\nkind = "feed"\nurl = "{url}"\nsection = "{section}"\n'


def discover(url: str, *, limits: FetchLimits | None = None, section: str = "news") -> list[dict]:
    """Fetch `url` and list the feeds it is or advertises, each with a proposed `[[sources]]` TOML.

    Each dict has `url`, `type`, `title` and `toml`. Raises `SourceError` (with a hint) when the
    page cannot be fetched.
    """
    from .feed import FeedSource

    fetched = asyncio.run(_fetch_one(url, limits))
    if not fetched.ok:
        raise SourceError(fetched.error or "fetch failed", hint=fetched.hint, status=fetched.status)
    probe = SourceConfig(name="discover", kind="feed", url=fetched.url, section=section)
    parsed = FeedSource(probe).parse(fetched.body, url=fetched.url, headers=fetched.headers)
    if parsed.error is None:
        tree = _tree(fetched.body, fetched.headers)
        node = tree.css_first("title") if tree is not None else None
        title = node.text(strip=True) if node else ""
        return [{"url": fetched.url, "type": "feed", "title": title, "toml": proposed_toml(fetched.url, title, section)}]
    feeds = discover_feeds(fetched.body, fetched.url)
    return [{"url": u, "type": t, "title": title, "toml": proposed_toml(u, title or u, section)} for u, t, title in feeds]


async def _fetch_one(url: str, limits: FetchLimits | None):
    guard = OutboundGuard.trusting([url])  # the URL the operator typed; not where it redirects
    async with make_client(4, limits, guard=guard) as client:
        return await fetch(client, url, None, limits, accept="text/html, application/xhtml+xml, */*;q=0.8")
