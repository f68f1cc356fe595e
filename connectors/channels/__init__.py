"""Outbound channels: an explicit registry, no directory scanning.

Each network's real channel is used when its credentials are in the environment; without them
the outbox takes over, so nothing is ever sent by accident from a laptop.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from importlib import import_module
from typing import Any, Protocol

from compose.config import Config
from connectors.channels.base import EmailChannel, PostChannel

# network -> (module, class); imported lazily so a missing optional client never breaks the others
POST_CHANNELS: Mapping[str, tuple[str, str]] = {
    "x": ("connectors.channels.x", "XChannel"),
    "mastodon": ("connectors.channels.mastodon", "MastodonChannel"),
    "bluesky": ("connectors.channels.bluesky", "BlueskyChannel"),
    "linkedin": ("connectors.channels.linkedin", "LinkedInChannel"),
}
EMAIL_CHANNELS: Mapping[str, tuple[str, str]] = {
    "sendgrid": ("connectors.channels.sendgrid", "SendGridChannel"),
    "outbox": ("connectors.channels.outbox_email", "OutboxEmailChannel"),
}


class _RealPostChannel(Protocol):
    """A network's channel class: built from credentials in the environment, None without them."""

    def from_env(self, env: Mapping[str, str], *, config: Config) -> PostChannel | None:
        """The channel built from `env` (its credentials and endpoint), or None without them."""
        ...


class _RealEmailChannel(Protocol):
    """An email provider's channel class: built from credentials in the environment, None without them."""

    def from_env(self, env: Mapping[str, str], *, config: Config) -> EmailChannel | None:
        """The channel built from `env` (its API key and endpoint), or None without them."""
        ...


def _class(entry: tuple[str, str]) -> Any:
    module, name = entry
    return getattr(import_module(module), name)


def post_channel(network: str, config: Config, env: Mapping[str, str] | None = None) -> PostChannel:
    """The network's real channel if its credentials are set, else the outbox."""
    from connectors.channels.outbox_posts import OutboxPostChannel

    env = os.environ if env is None else env
    if network not in POST_CHANNELS:
        raise KeyError(f"unknown network {network!r}: use one of {', '.join(POST_CHANNELS)}")
    factory: _RealPostChannel = _class(POST_CHANNELS[network])
    real = factory.from_env(env, config=config)
    return real if real is not None else OutboxPostChannel(network, config.social.outbox_dir)


def email_channel(config: Config, env: Mapping[str, str] | None = None) -> EmailChannel:
    """The configured provider's channel if its credentials are set, else the outbox."""
    env = os.environ if env is None else env
    if config.email.provider == "sendgrid":
        factory: _RealEmailChannel = _class(EMAIL_CHANNELS["sendgrid"])
        real = factory.from_env(env, config=config)
        if real is not None:
            return real
    outbox: EmailChannel = _class(EMAIL_CHANNELS["outbox"])(config.email.outbox_dir)
    return outbox
