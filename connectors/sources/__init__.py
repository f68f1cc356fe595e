"""Sources: where items come from (syndication feeds, HTML listing pages).

    SOURCES                 kind (as in syndicate.toml) -> the class that parses it (`registry`)
    fetch_sources(...)      fetch and parse every source once -> [FetchReport] (the gather stage calls this)
    afetch_sources(...)     the same, from inside a running event loop
    shutdown()              stop the parse worker processes
    discover(url)           the feeds a page is or advertises, with proposed [[sources]] TOML
"""

from __future__ import annotations

from .base import Parsed, Source
from .discovery import discover
from .feed import FeedSource
from .fetch import FetchLimits
from .html import HtmlSource
from .html_page import discover_feeds
from .registry import SOURCES
from .runner import afetch_sources, fetch_sources, parse_body, shutdown

__all__ = [
    "SOURCES", "FeedSource", "FetchLimits", "HtmlSource", "Parsed", "Source", "afetch_sources", "discover",
    "discover_feeds", "fetch_sources", "parse_body", "shutdown",
]
