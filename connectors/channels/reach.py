"""Whether the links readers get can be opened by them: `edition.public_url` on a loopback
address (127.0.0.1, localhost, ::1) is fine for the outbox and the demo, but once a real channel
(SendGrid, or a network with credentials) is set up, every "view in browser", unsubscribe and
roundup link would point at the sender's own machine. Builds and approvals warn about it."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from urllib.parse import urlsplit

from compose.config import Config
from compose.post_length import RULES_BY_NETWORK
from connectors.channels import email_channel, post_channel
from connectors.channels.outbox_email import OutboxEmailChannel
from connectors.channels.outbox_posts import OutboxPostChannel

NETWORK_NAMES = {"x": "X", "mastodon": "Mastodon", "bluesky": "Bluesky", "linkedin": "LinkedIn"}


def is_loopback(url: str) -> bool:
    """True when `url`'s host is this machine only: localhost (or a name under it), 127.0.0.0/8, ::1."""
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def real_channels(config: Config, env: Mapping[str, str] | None = None) -> list[str]:
    """The channels that would reach real people now: SendGrid when configured with its key, and
    each enabled network whose credentials are set."""
    env = os.environ if env is None else env
    found = []
    channel = email_channel(config, env)
    try:
        if not isinstance(channel, OutboxEmailChannel):
            found.append("SendGrid")
    finally:
        channel.close()
    for network in RULES_BY_NETWORK:
        if not getattr(config.social, network).enabled:
            continue
        poster = post_channel(network, config, env)
        try:
            if not isinstance(poster, OutboxPostChannel):
                found.append(NETWORK_NAMES.get(network, network))
        finally:
            poster.close()
    return found


def loopback_warning(config: Config, env: Mapping[str, str] | None = None) -> str | None:
    """A warning when readers' links would point at this machine while a real channel is set up."""
    public = str(config.edition.public_url)
    if not is_loopback(public):
        return None
    reaching = real_channels(config, env)
    if not reaching:
        return None
    return (f"edition.public_url is {public.rstrip('/')}, which only this machine can open, but "
            f"{' and '.join(reaching)} {'is' if len(reaching) == 1 else 'are'} set up to reach real people: "
            "their 'view in browser', unsubscribe and post links would not work. Set edition.public_url in "
            "syndicate.toml to the desk's public address (https://...), then build again.")
