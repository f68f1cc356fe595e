"""`HtmlSource`: an HTML listing page without a feed, read with per-source CSS selectors.

When no item matches, the error's hint names a feed the page advertises, if any
(`html_page.discover_feeds`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from selectolax.lexbor import LexborNode as Node

from compose.config import Selectors
from compose.config import Source as SourceConfig
from compose.dates import parse_date

from .base import Entry, Parsed, to_items
from .html_page import discover_feeds, page_base, read_html


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
        tree = read_html(body, headers)
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
        image_alt=_image_alt(node, image_node),
    )


def _image_alt(node: Node, image_node: Node | None) -> str | None:
    """The listing image's alt text: the `<img alt>`, or beside an `og:image` meta tag its `og:image:alt`."""
    if image_node is None:
        return None
    if image_node.tag == "meta":
        found = node.css_first('meta[property="og:image:alt"], meta[name="og:image:alt"], meta[name="twitter:image:alt"]')
        return _attr(found, "content")
    return _attr(image_node, "alt") or _attr(image_node.css_first("img[alt]"), "alt")
