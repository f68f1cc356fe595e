"""Sources: where items come from (syndication feeds, HTML listing pages).

    SOURCES                 kind (as in syndicate.toml) -> the class that parses it (`registry`)
    fetch_sources(...)      fetch and parse every source once -> [FetchReport] (the gather stage calls this)
    afetch_sources(...)     the same, from inside a running event loop
    shutdown()              stop the parse worker processes
    discover(url)           the feeds a page is or advertises, with proposed [[sources]] TOML

Each name is imported from its module the first time it is used: a parse worker, which imports
`connectors.sources.registry`, never loads the HTTP client (aiohttp, about 0.25 s) it has no use for.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .base import Parsed, Source
    from .discovery import discover
    from .feed import FeedSource
    from .fetch import FetchLimits
    from .html import HtmlSource
    from .html_page import discover_feeds
    from .registry import SOURCES, parse_body
    from .runner import afetch_sources, fetch_sources, shutdown

_MODULE_OF = {
    "Parsed": "base", "Source": "base", "discover": "discovery", "FeedSource": "feed", "FetchLimits": "fetch",
    "HtmlSource": "html", "discover_feeds": "html_page", "SOURCES": "registry", "parse_body": "registry",
    "afetch_sources": "runner", "fetch_sources": "runner", "shutdown": "runner",
}

__all__ = [
    "SOURCES", "FeedSource", "FetchLimits", "HtmlSource", "Parsed", "Source", "afetch_sources", "discover",
    "discover_feeds", "fetch_sources", "parse_body", "shutdown",
]


def __getattr__(name: str) -> object:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # looked up once
    return value
