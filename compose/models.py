"""The domain: plain, immutable values that every part of syndicate passes around.

Nothing here does I/O or reads the clock. Times are timezone-aware datetimes in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum


class SourceKind(StrEnum):
    """What a source is: a feed (RSS, Atom, RDF, JSON Feed) or an HTML listing page."""

    FEED = "feed"
    HTML = "html"


@dataclass(frozen=True, slots=True)
class Item:
    """One article, blog post or publication as gathered from a source.

    `url` is the canonical URL (see `compose.items.canonical_url`); it is the item's identity
    when present, else `guid`, else `content_hash`.
    """

    url: str
    title: str
    section: str
    source: str
    summary_html: str = ""
    summary_text: str = ""
    published: datetime | None = None
    updated: datetime | None = None
    image_url: str | None = None
    guid: str | None = None
    author: str | None = None
    id: int | None = None
    image_alt: str | None = None  # the image's alt text from the source (media description, <img alt>, og:image:alt)


@dataclass(frozen=True, slots=True)
class SourceCursor:
    """What a source remembers between fetches (conditional GET)."""

    url: str
    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class FetchReport:
    """The outcome of fetching one source once. Errors are data, never raised."""

    source: str
    items: tuple[Item, ...] = ()
    cursor: SourceCursor | None = None
    status: int | None = None
    not_modified: bool = False
    bytes: int = 0
    elapsed_ms: float = 0.0
    error: str | None = None
    hint: str | None = None
    moved_to: str | None = None  # a permanent redirect: the new URL to store
    retry_after_s: float | None = None
    feeds_advertised: tuple[str, ...] = ()
    hub_url: str | None = None  # a WebSub hub the source advertises (Link header or feed link)
    self_url: str | None = None  # the source's own canonical URL (rel="self"): the WebSub topic

    @property
    def ok(self) -> bool:
        """Whether the fetch succeeded (no `error`)."""
        return self.error is None


@dataclass(frozen=True, slots=True)
class EditionSection:
    """One section of an edition: its items, newest first, and how many more are on the site (`more_url`)."""

    key: str
    title: str
    items: tuple[Item, ...]
    more_url: str | None = None
    omitted: int = 0


@dataclass(frozen=True, slots=True)
class Edition:
    """An edition of the newsletter before it is rendered."""

    slug: str
    title: str
    issue_date: date
    subject: str
    preheader: str
    intro_markdown: str
    sections: tuple[EditionSection, ...]
    featured: Item | None = None
    web_url: str | None = None
    warnings: tuple[str, ...] = ()  # for staff: items left out or shortened while building

    @property
    def items(self) -> tuple[Item, ...]:
        """Every item of the edition, section by section."""
        return tuple(item for section in self.sections for item in section.items)


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    """The edition as subscribers get it. `html` and `text` may hold per-recipient tokens
    (`compose.email.RECIPIENT_TOKENS`) that each channel substitutes."""

    subject: str
    preheader: str
    html: str
    text: str
    warnings: tuple[str, ...] = ()
    trimmed: tuple[str, ...] = ()

    @property
    def html_bytes(self) -> int:
        """The size of the HTML part in UTF-8 (Gmail clips a message past about 102 KB)."""
        return len(self.html.encode("utf-8"))


@dataclass(frozen=True, slots=True)
class Post:
    """One post of a thread, text exactly as it will be published."""

    text: str
    position: int = 0
    image_url: str | None = None  # the item image this post carries (per network: `[social.<net>] images`)
    image_alt: str | None = None  # its alt text; a post with an image and no alt text is never published
    card_url: str | None = None  # the link its card previews (Bluesky external embed, LinkedIn article)


@dataclass(frozen=True, slots=True)
class Thread:
    """Posts published as a reply chain on one network. `left_out` says which items no post
    could carry, and why (staff see it when the thread is drafted)."""

    network: str
    key: str
    posts: tuple[Post, ...] = field(default_factory=tuple)
    left_out: tuple[str, ...] = ()
