"""What counts as a web link: one rule for every place that accepts or follows a URL."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

WEB_SCHEMES = ("http", "https")


# the common case, decided without urlsplit (an edition build checks thousands of links): a lower-case
# http(s) scheme, then a host of ASCII letters, digits, dots and hyphens with an optional port, then the
# end or a path, query or fragment. urlsplit gives such a URL that scheme and a non-empty host, and
# cannot raise on it; anything else is left to urlsplit.
_PLAIN = re.compile(r"https?://[A-Za-z0-9.-]+(?::[0-9]*)?(?:[/?#]|\Z)")


def is_web_url(url: str) -> bool:
    """Whether `url` is an http(s) URL with a host. Never raises: a malformed URL such as
    "http://[bad" is simply not one."""
    if _PLAIN.match(url):
        return True
    try:
        parts = urlsplit(url)
        return parts.scheme in WEB_SCHEMES and bool(parts.hostname)
    except ValueError:
        return False
