"""Threads as staff approve them (pure): the hash that binds an approval to a thread's exact
text, the networks threads go to, and the posts of an edition's roundup on each network."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from compose.config import Config, SocialNetwork
from compose.linkedin_posts import linkedin_roundup
from compose.models import Edition, Post, Thread
from compose.post_length import RULES_BY_NETWORK, rules_for
from compose.posts import roundup_thread


def thread_hash(texts: Sequence[str]) -> str:
    """The content hash of a thread: its posts' texts in order. An approval holds it; any edit changes it."""
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8") + b"\x00")
    return digest.hexdigest()


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
