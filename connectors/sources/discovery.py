"""Feed discovery: what `syndicate sources discover URL` prints.

`discover(url)` fetches a page and lists the feeds it is or advertises, each with a proposed
`[[sources]]` table ready to paste into syndicate.toml.
"""

from __future__ import annotations

import asyncio
import re

from compose.config import Source as SourceConfig
from connectors.errors import SourceError
from connectors.outbound import OutboundGuard

from .feed import FeedSource
from .fetch import Fetched, FetchLimits, fetch, make_client
from .html_page import discover_feeds, read_html


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
    fetched = asyncio.run(_fetch_one(url, limits))
    if not fetched.ok:
        raise SourceError(fetched.error or "fetch failed", hint=fetched.hint, status=fetched.status)
    probe = SourceConfig.model_validate({"name": "discover", "kind": "feed", "url": fetched.url, "section": section})
    parsed = FeedSource(probe).parse(fetched.body, url=fetched.url, headers=fetched.headers)
    if parsed.error is None:
        tree = read_html(fetched.body, fetched.headers)
        node = tree.css_first("title") if tree is not None else None
        title = node.text(strip=True) if node else ""
        return [{"url": fetched.url, "type": "feed", "title": title, "toml": proposed_toml(fetched.url, title, section)}]
    feeds = discover_feeds(fetched.body, fetched.url)
    return [{"url": u, "type": t, "title": title, "toml": proposed_toml(u, title or u, section)} for u, t, title in feeds]


async def _fetch_one(url: str, limits: FetchLimits | None) -> Fetched:
    guard = OutboundGuard.trusting([url])  # the URL the operator typed; not where it redirects
    async with make_client(4, limits, guard=guard) as client:
        return await fetch(client, url, None, limits, accept="text/html, application/xhtml+xml, */*;q=0.8")
