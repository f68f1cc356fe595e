"""A post as each network will show it (pure): its text cut into plain runs, links, hashtags and
mentions, each link shortened the way the network displays it, and which link a network's card
crawler previews.

How each network shows a link (what staff see on the desk):

- X shows the host and path, without the scheme or `www.`, cut at 15 characters of path with "…"
  (its `display_url`), and builds its card from the *last* link's Open Graph tags;
- Mastodon hides the scheme and `www.` and cuts after 30 characters with "…", and builds its
  card from the *first* link;
- Bluesky shows the host and at most 13 characters of path then "..." (the app's `toShortUrl`);
  its card is the external embed we build;
- LinkedIn shows the link in full; its article preview is the one we build.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from twitter_text import extract_urls_with_indices

SegmentKind = Literal["text", "link", "hashtag", "mention"]

_HASHTAG = re.compile(r"(?<![\w#&/])#(?!\d+\b)\w+")
_MENTION = re.compile(r"(?<![\w@/])@\w+(?:[.-]\w+)*(?:@\w+(?:[.-]\w+)+)?")
_SCHEME = re.compile(r"^https?://", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Segment:
    """A run of a post's text: `shown` is what the network displays, `href` the link behind it."""

    kind: SegmentKind
    shown: str
    href: str | None = None


def _without_scheme(url: str, *, www: bool) -> str:
    shown = _SCHEME.sub("", url)
    if www and shown.lower().startswith("www."):
        shown = shown[4:]
    return shown


def display_url(url: str, network: str) -> str:
    """How `network` displays the link `url` in a post."""
    if network == "x":
        shown = _without_scheme(url, www=True)
        host, _, path = shown.partition("/")
        return host + ("/" + path[:15] + "…" if len(path) > 15 else ("/" + path if path else ""))
    if network == "mastodon":
        shown = _without_scheme(url, www=True)
        return shown[:30] + "…" if len(shown) > 30 else shown
    if network == "bluesky":
        shown = _without_scheme(url, www=False)
        host, _, path = shown.partition("/")
        path = "/" + path if path else ""
        return host + (path[:13] + "..." if len(path) > 15 else path)
    return url  # LinkedIn, and a network not known here: the link as written


def links(text: str) -> list[str]:
    """The http(s) links of `text`, in order (as the networks find them: twitter-text's extractor)."""
    return [found["url"] for found in extract_urls_with_indices(text, extract_urls_without_protocol=False)
            if _SCHEME.match(found["url"])]


def card_link(text: str, network: str) -> str | None:
    """The link whose card `network`'s own crawler shows under the post (X: the last link,
    Mastodon: the first), or None where we build the card ourselves or the post has no link."""
    found = links(text)
    if not found or network not in ("x", "mastodon"):
        return None
    return found[-1] if network == "x" else found[0]


def segments(text: str, network: str) -> list[Segment]:
    """`text` cut into plain runs, links (shown as `network` shows them), hashtags and mentions."""
    marks: list[tuple[int, int, SegmentKind]] = []
    for found in extract_urls_with_indices(text, extract_urls_without_protocol=False):
        start, end = found["indices"]
        if _SCHEME.match(found["url"]):
            marks.append((start, end, "link"))
    taken = [(s, e) for s, e, _ in marks]
    for pattern, kind in ((_HASHTAG, "hashtag"), (_MENTION, "mention")):
        for match in pattern.finditer(text):
            if not any(s < match.end() and match.start() < e for s, e in taken):
                marks.append((match.start(), match.end(), kind))  # type: ignore[arg-type]
                taken.append((match.start(), match.end()))
    result: list[Segment] = []
    at = 0
    for start, end, kind in sorted(marks):
        if start > at:
            result.append(Segment("text", text[at:start]))
        raw = text[start:end]
        if kind == "link":
            result.append(Segment("link", display_url(raw, network), raw))
        else:
            result.append(Segment(kind, raw))
        at = end
    if at < len(text):
        result.append(Segment("text", text[at:]))
    return result


def site_name(url: str) -> str:
    """The host a card names under its title ("socitm.net")."""
    host = _without_scheme(url, www=True).split("/", 1)[0].split("?", 1)[0]
    return host.lower()
