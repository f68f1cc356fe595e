"""Threads as staff approve them (pure): the hash that binds an approval to a thread's exact
text and media, the networks threads go to, and the posts of an edition's roundup on each network."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import NamedTuple, Protocol

from compose.config import Config, SocialNetwork
from compose.linkedin_posts import linkedin_roundup
from compose.models import Edition, Post, Thread
from compose.post_length import RULES_BY_NETWORK, rules_for
from compose.posts import roundup_thread


class PostMedia(NamedTuple):
    """What a post carries besides its text: the image, its alt text, the link its card previews."""

    image_url: str | None = None
    image_alt: str | None = None
    card_url: str | None = None


ALT_TEXT_WAIT = "waiting for alt text"  # how an approved thread's note starts while an image lacks alt text


def thread_hash(texts: Sequence[str], media: Sequence[PostMedia | None] = ()) -> str:
    """The content hash of a thread: its posts' texts in order, and each post's image, alt text and
    card (`media`, aligned with `texts`). An approval holds it; any edit (an alt text too) changes it.
    A post with no media adds nothing, so a text-only thread hashes as it always did."""
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8") + b"\x00")
    for position, item in enumerate(media):
        if item is None or not any(item):
            continue
        fields = [position, *(value if value is not None else "\x01" for value in item)]
        digest.update(b"media\x00" + "\x00".join(str(f) for f in fields).encode("utf-8", "surrogatepass") + b"\x00")
    return digest.hexdigest()


class HasImage(Protocol):
    image_url: str | None
    image_alt: str | None


def missing_alt_positions(posts: Sequence[HasImage]) -> list[int]:
    """The positions (1 = the first post) of the posts that carry an image with no alt text:
    never approved nor published until someone writes it."""
    return [n for n, post in enumerate(posts, start=1) if post.image_url and not (post.image_alt or "").strip()]


def missing_alt_reason(posts: Sequence[HasImage]) -> str | None:
    """Why a thread of `posts` cannot be approved for want of alt text ("post 2 has an image
    without alt text: write it on the desk"), or None."""
    numbers = missing_alt_positions(posts)
    if not numbers:
        return None
    if len(numbers) == 1:
        which = f"post {numbers[0]} has an image"
    else:
        which = "posts " + ", ".join(str(n) for n in numbers[:-1]) + f" and {numbers[-1]} have images"
    return f"{which} without alt text: write it on the desk (Posts), under the post’s preview"


def network_settings(config: Config, network: str) -> SocialNetwork:
    """The `[social.<network>]` table of the config."""
    return getattr(config.social, network)


def enabled_networks(config: Config) -> list[str]:
    """The networks posts are drafted for (`[social.<network>] enabled = true`), in a fixed order."""
    return [n for n in RULES_BY_NETWORK if network_settings(config, n).enabled]


def item_networks(config: Config) -> list[str]:
    """The enabled networks that get a post per new item (all but a `mode = "roundup"` one: LinkedIn)."""
    return [n for n in enabled_networks(config) if getattr(network_settings(config, n), "mode", "item") == "item"]


def roundup_networks(config: Config) -> list[str]:
    """The enabled networks that get an edition's round-up (all but a `mode = "item"` one: LinkedIn)."""
    return [n for n in enabled_networks(config) if getattr(network_settings(config, n), "mode", "roundup") == "roundup"]


def subscribe_url(config: Config) -> str:
    """The public sign-up page a roundup points readers to."""
    return f"{str(config.edition.public_url).rstrip('/')}/subscribe"


def roundup_texts(config: Config, edition: Edition, network: str, *, link_placement: str | None = None) -> list[str]:
    """The posts of `edition`'s roundup on `network`, as derived from it (links where `link_placement`
    says, else where the config says)."""
    return [p.text for p in roundup_posts(config, edition, network, link_placement=link_placement)]


def roundup_posts(config: Config, edition: Edition, network: str, *,
                  link_placement: str | None = None) -> tuple[Post, ...]:
    """`roundup_texts` as posts, each with the image and card the network's settings give it."""
    return roundup(config, edition, network, link_placement=link_placement).posts


def roundup(config: Config, edition: Edition, network: str, *, link_placement: str | None = None) -> Thread:
    """`edition`'s round-up on `network`: a thread (`compose.posts.roundup_thread`), or on LinkedIn,
    which has no threads, one post listing the stories (`compose.linkedin_posts.linkedin_roundup`)."""
    rules = rules_for(network, config)
    if network == "linkedin":
        return linkedin_roundup(edition, config=config, rules=rules, subscribe_url=subscribe_url(config))
    placement = link_placement or network_settings(config, network).link_placement
    return roundup_thread(edition, config=config, rules=rules, subscribe_url=subscribe_url(config),
                          link_placement=placement)  # type: ignore[arg-type]
