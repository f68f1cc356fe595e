"""What counts as a web link: one rule for every place that accepts or follows a URL."""

from __future__ import annotations

from urllib.parse import urlsplit

WEB_SCHEMES = ("http", "https")


def is_web_url(url: str) -> bool:
    """Whether `url` is an http(s) URL with a host. Never raises: a malformed URL such as
    "http://[bad" is simply not one."""
    try:
        parts = urlsplit(url)
        return parts.scheme in WEB_SCHEMES and bool(parts.hostname)
    except ValueError:
        return False
