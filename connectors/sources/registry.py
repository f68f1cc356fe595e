"""The source registry: kind (as in syndicate.toml) -> the class that parses it.

An explicit dict, no directory scanning. It lives in its own module (re-exported by the package)
so that the gather runner can look a kind up without importing the package that imports it.
"""

from __future__ import annotations

from .base import Source
from .feed import FeedSource
from .html import HtmlSource

SOURCES: dict[str, type[Source]] = {"feed": FeedSource, "html": HtmlSource}
