"""What a link card will show: the Open Graph tags of the page a post links to, read when a thread
is drafted so staff hear about an empty card before they approve it.

X and Mastodon build a post's card from the linked page's `og:title`, `og:description` and
`og:image` (X also reads `twitter:*`), falling back to `<title>`; Bluesky and LinkedIn cards are
built by us from the item, but the page's tags still say what a reader who shares the link sees.
A page without a title gives an empty card (a bare link); one without an image gives a card
without a picture. The page is fetched through the guarded fetcher (`connectors.images`
`GuardedImageFetcher`: no internal addresses unless trusted, at most `CardLimits.max_page_bytes`,
HTML only); only its `<head>` matters.
"""

from __future__ import annotations

from dataclasses import dataclass

from compose.items import http_url, one_line
from connectors.images import GuardedImageFetcher, ImageFetcher, ImageRefused, ImageUnavailable

HTML_TYPES = ("text/html", "application/xhtml+xml")


class CardLimits:
    max_page_bytes = 2_000_000  # enough for any <head>; a page is never read past this


@dataclass(frozen=True, slots=True)
class CardPreview:
    """What the page at `url` offers a card: its title, description and image (from Open Graph,
    else Twitter tags, else `<title>` and `<meta name="description">`), which of the three Open
    Graph tags it lacks, and `problem` when the page could not be read."""

    url: str
    title: str = ""
    description: str = ""
    image: str | None = None
    image_alt: str | None = None
    missing: tuple[str, ...] = ()  # of "og:title", "og:description", "og:image"
    problem: str | None = None
    unreachable: bool = False  # the host did not answer (as opposed to a page refused or not HTML)


def _meta(tree: object, *names: str) -> str:
    for name in names:
        for attribute in ("property", "name"):
            node = tree.css_first(f'meta[{attribute}="{name}"][content]')  # type: ignore[attr-defined]
            if node is not None and one_line(node.attributes.get("content") or ""):
                return one_line(node.attributes["content"])
    return ""


def parse_card(html: bytes | str, url: str) -> CardPreview:
    """The card `html` (the page at `url`) offers."""
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(html)
    title_node = tree.css_first("title")
    og_title, og_description, og_image = (_meta(tree, "og:title"), _meta(tree, "og:description"),
                                          _meta(tree, "og:image", "og:image:url", "og:image:secure_url"))
    missing = tuple(tag for tag, value in (("og:title", og_title), ("og:description", og_description),
                                           ("og:image", og_image)) if not value)
    image = og_image or _meta(tree, "twitter:image", "twitter:image:src")
    return CardPreview(
        url=url,
        title=og_title or _meta(tree, "twitter:title") or (one_line(title_node.text()) if title_node else ""),
        description=og_description or _meta(tree, "twitter:description", "description"),
        image=http_url(image, url) if image else None,
        image_alt=_meta(tree, "og:image:alt", "twitter:image:alt") or None,
        missing=missing,
    )


def read_card(url: str, *, fetcher: ImageFetcher | None = None) -> CardPreview:
    """The card the page at `url` offers, read through the guarded fetcher; a page that cannot be
    read is a `CardPreview` with its `problem` (never raised: a card check never stops a draft)."""
    try:
        page = (fetcher or GuardedImageFetcher()).get(url, max_bytes=CardLimits.max_page_bytes, types=HTML_TYPES,
                                                     what="page")
    except ImageUnavailable as exc:
        return CardPreview(url=url, problem=exc.message, unreachable=True)
    except ImageRefused as exc:
        return CardPreview(url=url, problem=exc.message)
    return parse_card(page.data, page.url)


def card_warning(preview: CardPreview, network: str) -> str | None:
    """What staff should know about the card the page gives on `network`, or None when it is whole
    (a title, a description and an image, from Open Graph or its fallbacks)."""
    where = f"the link card for {preview.url[:200]} on {network}"
    if preview.problem:
        return f"{where} could not be checked: {preview.problem}"
    if not preview.title:
        return (f"{where} would come out empty: the page has no og:title (nor a <title>): ask its owner to add "
                "Open Graph tags, or set cards = false for the network")
    lacking = [name for name, value in (("description", preview.description), ("image", preview.image)) if not value]
    if lacking:
        return (f"{where} would come out without {' or '.join(lacking)}: the page has no "
                f"{', '.join(tag for tag in preview.missing if tag != 'og:title')}")
    return None
