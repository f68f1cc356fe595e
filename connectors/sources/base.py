"""What every source shares: the `Source` protocol, the parse outcome, and entry -> Item.

A source kind (feed, html page) turns the bytes of one HTTP response into normalised
`Item`s. Parsing is a pure function of (source config, body, URL, headers) so that it can run
in a worker process; fetching is shared (`connectors.sources.fetch`).
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, Protocol

from compose.config import Source as SourceConfig
from compose.items import (
    canonical_url,
    cut_text,
    http_url,
    one_line,
    plain_text,
    sanitise_html,
    sanitised_summary_text,
)
from compose.models import Item


@dataclass(frozen=True, slots=True)
class Parsed:
    """The outcome of parsing one response body. Errors are data, never raised."""

    items: tuple[Item, ...] = ()
    error: str | None = None
    hint: str | None = None
    feeds_advertised: tuple[str, ...] = ()


@dataclass(slots=True)
class Entry:
    """One entry as a source format states it, before normalisation (raw, untrusted)."""

    link: str | None = None
    guid: str | None = None
    title: str = ""
    title_is_html: bool = False
    summary_html: str = ""
    published: datetime | None = None
    updated: datetime | None = None
    image: str | None = None
    author: str | None = None
    image_alt: str | None = None  # the image's alt text as the source gives it (media description, <img alt>)


class Source(Protocol):
    """A kind of source: parses a fetched body into items for one configured source.

    Fetching is shared by every kind (`connectors.sources.fetch`: conditional GET, redirects,
    size and time limits, HTTP errors reported with a hint); a kind only turns the bytes of one
    response into `Item`s. Bad input is data: `parse` never raises for what a server sends, it
    returns a `Parsed` whose `error` says what is wrong and whose `hint` says what to do. Items
    are normalised by `to_items`: canonical http(s) URLs, sanitised summaries, plain titles.
    """

    kind: ClassVar[str]  # the `kind` of a [[sources]] table, and this class's key in `SOURCES`
    accept: ClassVar[str]  # the HTTP Accept header sent when fetching it

    def __init__(self, config: SourceConfig) -> None:
        """A parser for the configured source `config` (its name, section and selectors)."""
        ...

    def parse(self, body: bytes, *, url: str, headers: Mapping[str, str]) -> Parsed:
        """The items of one fetched body: `url` is where it came from (after redirects; relative
        links resolve against it) and `headers` the response's, names lower-cased. Never raises
        for bad input: a malformed or unexpected body is a `Parsed` with an `error` and a `hint`."""
        ...


class EntryLimits:
    """Limits on what one response may contribute."""

    max_items = 1000
    title_limit = 300
    max_body_bytes = 10 * 1024 * 1024  # also the cap on a gzip body sent without Content-Encoding


def to_item(entry: Entry, config: SourceConfig, base_url: str) -> Item | None:
    """An `Entry` normalised into an `Item` (canonical URL, sanitised summary, plain title).

    `updated` is kept only when it differs from the publication time. Returns None for an entry that has nothing to identify or show (no link, guid or title).
    """
    url = ""
    for candidate in (entry.link, entry.guid if entry.guid and entry.guid.startswith("http") and not entry.link else None):
        if candidate:
            try:
                url = canonical_url(candidate, base=base_url)
                break
            except ValueError:
                continue
    summary_html = sanitise_html(entry.summary_html, base_url=url or base_url) if entry.summary_html else ""
    text = sanitised_summary_text(summary_html) if summary_html else ""
    title = plain_text(entry.title) if entry.title_is_html else one_line(entry.title)
    title = cut_text(title, EntryLimits.title_limit) or cut_text(text, 80)
    guid = (entry.guid or "").strip() or None
    if not (url or guid or title):
        return None
    author = one_line(entry.author or "") or None
    image_url = http_url(entry.image, url or base_url)
    return Item(
        url=url,
        title=title or url or "(untitled)",
        section=config.section,
        source=config.name,
        summary_html=summary_html,
        summary_text=text,
        published=entry.published or entry.updated,
        updated=entry.updated if entry.updated != (entry.published or entry.updated) else None,
        image_url=image_url,
        guid=guid,
        author=author,
        image_alt=image_alt(entry, image_url, url or base_url) if image_url else None,
    )


ALT_TEXT_LIMIT = 2000  # longer is not alt text (a whole article pasted in); networks take 1,000-4,200


def image_alt(entry: Entry, image_url: str, base_url: str) -> str | None:
    """The alt text of the entry's image: what the source states for it, else the `alt` of the
    summary's `<img>` showing the same image. Decorative (empty) alt is none: staff write one."""
    text = plain_text(entry.image_alt) if entry.image_alt and "<" in entry.image_alt else one_line(entry.image_alt or "")
    if not text and entry.summary_html and "<img" in entry.summary_html.lower():
        text = summary_image_alt(entry.summary_html, image_url, base_url) or ""
    return cut_text(text, ALT_TEXT_LIMIT) or None


def summary_image_alt(summary_html: str, image_url: str, base_url: str) -> str | None:
    """The `alt` of the `<img>` in `summary_html` whose source is `image_url` (resolved against `base_url`)."""
    from selectolax.lexbor import LexborHTMLParser as HTMLParser

    for img in HTMLParser(summary_html).css("img"):
        src = img.attributes.get("src") or img.attributes.get("data-src")
        if src and http_url(src, base_url) == image_url:
            return one_line(img.attributes.get("alt") or "") or None
    return None


def to_items(entries: list[Entry], config: SourceConfig, base_url: str) -> tuple[Item, ...]:
    """Entries normalised, empty ones dropped, duplicates within the response merged."""
    from compose.items import merge_items

    items = [item for entry in entries[: EntryLimits.max_items] if (item := to_item(entry, config, base_url))]
    return tuple(merge_items(items))


def ungzip(body: bytes) -> bytes:
    """A gzip body served without Content-Encoding (a .xml.gz file), decompressed within limits."""
    if body[:2] != b"\x1f\x8b":
        return body
    try:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out = inflater.decompress(body, EntryLimits.max_body_bytes)
        return out
    except (zlib.error, gzip.BadGzipFile):
        return body


def header_charset(headers: Mapping[str, str]) -> str | None:
    """The charset named in a Content-Type header, if any."""
    for part in headers.get("content-type", "").split(";")[1:]:
        name, _, value = part.strip().partition("=")
        if name.lower() == "charset" and value:
            return value.strip("\"' ")
    return None
