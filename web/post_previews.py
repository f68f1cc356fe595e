"""Each post of a thread as its network will show it, for the desk: the text with links, hashtags
and mentions styled as the network styles them (`compose.post_preview`), the card (title,
description and thumbnail from the item it links to) or the image with its alt text, and what is
missing (an image without alt text: the desk asks for it, and the approval waits)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib import import_module
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from compose.post_preview import card_link, segments, site_name
from connectors.channels import POST_CHANNELS
from connectors.channels.base import ImageLimits
from state.models import ItemRow, PostRow, ThreadRow
from state.post_media import AltLimits

NETWORK_NAMES = {"x": "X", "mastodon": "Mastodon", "bluesky": "Bluesky", "linkedin": "LinkedIn"}
# who draws the link card under a post: the network's crawler reads the page's Open Graph tags, or
# we send the card with the post (Bluesky's external embed, LinkedIn's article)
CARD_BY_CRAWLER = ("x", "mastodon")


class CardLimits:
    description_chars = 160  # a card's description as the networks clip it, about two lines


def network_name(network: str) -> str:
    """The network as people write it ("LinkedIn"), for a network known here or not."""
    return NETWORK_NAMES.get(network, network.capitalize())


def alt_limit(network: str) -> int:
    """The longest alt text `network` takes (its channel's `image_limits.max_alt_chars`; a channel
    that reads it from its server, or one not registered, gets the default, X's 1,000)."""
    entry = POST_CHANNELS.get(network)
    limits = None
    if entry is not None:
        try:
            limits = getattr(getattr(import_module(entry[0]), entry[1]), "image_limits", None)
        except ImportError:  # an optional client missing: the default still holds
            limits = None
    return limits.max_alt_chars if isinstance(limits, ImageLimits) else AltLimits.max_chars


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0].rstrip(",.;:") + "…"


def _card_url(thread: ThreadRow, post: PostRow) -> str | None:
    return post.card_url or card_link(post.text, thread.network)


def card_items(session: Session, threads: Sequence[ThreadRow], items: Mapping[int, ItemRow]) -> dict[str, ItemRow]:
    """The items the cards of these threads' posts show (the link each previews), by link, read in
    one query for a page of threads: pass them to `previews`. `items` are the threads' own items,
    already read (a post that links to its thread's item needs no query)."""
    own = {thread.id: items.get(thread.item_id) for thread in threads if thread.item_id is not None}
    urls = {url for thread in threads for post in thread.posts if not post.image_url
            and (url := _card_url(thread, post)) and getattr(own.get(thread.id), "url", None) != url}
    found: dict[str, ItemRow] = {}
    if urls:
        for row in session.scalars(select(ItemRow).where(ItemRow.url.in_(urls)).order_by(ItemRow.id)):
            found.setdefault(row.url, row)
    return found


def _card(session: Session, thread: ThreadRow, post: PostRow, item: ItemRow | None,
          linked_items: Mapping[str, ItemRow] | None) -> dict[str, Any] | None:
    """The card under `post`: the link it previews and what it shows, from the item at that link
    (in `linked_items` when the caller read them for many threads: `card_items`)."""
    url = _card_url(thread, post)
    if not url:
        return None
    if item is not None and item.url == url:
        linked: ItemRow | None = item
    elif linked_items is not None:
        linked = linked_items.get(url)
    else:
        linked = session.scalars(select(ItemRow).where(ItemRow.url == url).limit(1)).first()
    card: dict[str, Any] = {"url": url, "site": site_name(url), "by_crawler": thread.network in CARD_BY_CRAWLER,
                            "title": None, "description": "", "thumb": None, "thumb_alt": ""}
    if linked is not None:
        card.update(title=linked.title, description=_clip(linked.summary_text or "", CardLimits.description_chars),
                    thumb=linked.image_url, thumb_alt=linked.image_alt or "")
    return card


def previews(session: Session, thread: ThreadRow, item: ItemRow | None,
             linked_items: Mapping[str, ItemRow] | None = None) -> list[dict[str, Any]]:
    """What each post of `thread` looks like on its network, in order, with what it still needs
    (`linked_items`: what `card_items` read for a page of threads, else each card is a query)."""
    shown = []
    for number, post in enumerate(thread.posts, start=1):
        image = None
        if post.image_url:
            alt = (post.image_alt or "").strip()
            image = {"url": post.image_url, "alt": alt, "by": post.image_alt_by, "missing": not alt,
                     "from_source": bool(alt) and post.image_alt_by is None}
        shown.append({"number": number, "post": post, "segments": segments(post.text, thread.network),
                      "image": image, "card": None if image else _card(session, thread, post, item, linked_items)})
    return shown
