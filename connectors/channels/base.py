"""The two outbound protocols every channel implements, and what they return.

An email channel sends one batch (one message body, many recipients); a post channel
publishes one post, optionally as a reply. Both return a receipt with the provider's id or
raise a `connectors.errors.DeliveryError` subclass. What a channel can do is data on its class.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Literal, Protocol

from compose.email import RECIPIENT_TOKENS, greeting_name
from compose.items import one_line

FIRST_NAME_TOKEN, UNSUBSCRIBE_TOKEN = RECIPIENT_TOKENS

Part = Literal["html", "text", "header"]

# What `{{first_name}}` becomes for a recipient, as plain text: the first word of their name
# (control characters dropped, so it can never break a line or a header), else "there". One rule
# for channels, previews and the public archive: `compose.email.greeting_name`.
first_name = greeting_name


def personal_value(value: str, part: Part) -> str:
    """A personalisation value made safe for the part it goes into: HTML-escaped in HTML, plain
    in text, on one line without control characters in a header. Values come from outside
    (a subscriber's name): they never become markup or a header of their own."""
    plain = one_line(value) if part == "header" else value
    return html.escape(plain, quote=True) if part == "html" else plain


def personalise(template: str, recipient: Recipient, part: Part) -> str:
    """`template` (an edition's HTML, text or subject) with this recipient's tokens filled for `part`."""
    return (template.replace(FIRST_NAME_TOKEN, personal_value(first_name(recipient.name), part))
            .replace(UNSUBSCRIBE_TOKEN, personal_value(recipient.unsubscribe_url, part)))


def header_text(value: str) -> str:
    """A value for a header line: control characters (CR, LF, ...) dropped, whitespace collapsed."""
    return one_line(value)


@dataclass(frozen=True, slots=True)
class Recipient:
    subscriber_id: int
    email: str
    name: str = ""
    unsubscribe_url: str = ""


@dataclass(frozen=True, slots=True)
class OutboundEmail:
    """One edition as sent: the HTML and text hold per-recipient tokens
    (`{{first_name}}`, `{{unsubscribe_url}}`) that the channel substitutes."""

    edition_id: int
    edition_slug: str
    subject: str
    html: str
    text: str
    from_email: str
    from_name: str
    reply_to: str
    categories: tuple[str, ...] = ()
    list_unsubscribe_mailto: str | None = None


@dataclass(frozen=True, slots=True)
class BatchReceipt:
    accepted: tuple[int, ...]  # subscriber ids the provider accepted
    provider_id: str | None = None
    rejected: dict[int, str] = field(default_factory=dict)  # subscriber id -> reason


@dataclass(frozen=True, slots=True)
class PostReceipt:
    provider_id: str
    url: str | None = None


class EmailChannel(Protocol):
    name: ClassVar[str]
    max_batch_size: ClassVar[int]

    def send_batch(self, message: OutboundEmail, recipients: Sequence[Recipient]) -> BatchReceipt: ...

    def close(self) -> None: ...


class PostChannel(Protocol):
    name: ClassVar[str]  # network name: "x", "mastodon", "bluesky"

    @property
    def max_weighted_length(self) -> int:
        """The longest post this channel accepts, in the network's weighted characters (a class
        constant for most networks; per instance for the outbox and a longer-post Mastodon)."""
        ...

    def publish(self, text: str, *, reply_to: str | None = None, thread_key: str = "") -> PostReceipt: ...

    def close(self) -> None: ...
