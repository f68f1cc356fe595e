"""The source registry: kind (as in syndicate.toml) -> the class that parses it, and `parse_body`.

An explicit dict, no directory scanning. It lives in its own module (re-exported by the package)
so that the gather runner can look a kind up without importing the package that imports it, and a
parse worker process (which runs `parse_body`) imports the parsers only, never the HTTP client.
"""

from __future__ import annotations

from collections.abc import Mapping

from compose.config import Source as SourceConfig

from .base import Parsed, Source
from .feed import FeedSource
from .html import HtmlSource

SOURCES: dict[str, type[Source]] = {"feed": FeedSource, "html": HtmlSource}


def parse_body(config: SourceConfig, body: bytes, url: str, headers: Mapping[str, str]) -> Parsed:
    """Parse one fetched body with the source's kind (runs in a worker process). Never raises."""
    try:
        return SOURCES[config.kind](config).parse(body, url=url, headers=headers)
    except Exception as exc:  # noqa: BLE001 - a parser bug must not stop the other sources
        return Parsed(error=f"could not parse the response: {exc!r}",
                      hint="this looks like a bug in syndicate: please report it with the source URL")
