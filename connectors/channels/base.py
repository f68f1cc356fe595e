"""The two outbound protocols every channel implements, and what they return.

An email channel sends one batch (one message body, many recipients); a post channel
publishes one post, optionally as a reply. Both return a receipt with the provider's id or
raise a `connectors.errors.DeliveryError` subclass. What a channel can do is data on its class.
"""

from __future__ import annotations

import html
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Literal, Protocol

from compose.clicks import READER_TOKEN
from compose.email import RECIPIENT_TOKENS, greeting_name
from compose.items import one_line

FIRST_NAME_TOKEN, UNSUBSCRIBE_TOKEN, PREFERENCES_TOKEN = RECIPIENT_TOKENS

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
            .replace(UNSUBSCRIBE_TOKEN, personal_value(recipient.unsubscribe_url, part))
            .replace(PREFERENCES_TOKEN, personal_value(recipient.preferences_url, part))
            .replace(READER_TOKEN, recipient.reader))  # URL-safe characters only, or ""


def header_text(value: str) -> str:
    """A value for a header line: control characters (CR, LF, ...) dropped, whitespace collapsed."""
    return one_line(value)


def comparable_text(text: str) -> str:
    """A post's text as `find_post` compares it with what a network serves back: NFC-normalised,
    every run of whitespace (line breaks included) collapsed to one space."""
    return " ".join(unicodedata.normalize("NFC", text).split())


@dataclass(frozen=True, slots=True)
class Recipient:
    subscriber_id: int
    email: str
    name: str = ""
    unsubscribe_url: str = ""
    reader: str = ""  # fills `{{reader}}` in click links and the open pixel, only when [tracking] names readers
    preferences_url: str = ""  # the reader's signed preference-page link (`compose.signing.preferences_url`)


@dataclass(frozen=True, slots=True)
class OutboundEmail:
    """One edition as sent: the HTML and text hold per-recipient tokens
    (`{{first_name}}`, `{{unsubscribe_url}}`, `{{preferences_url}}`) that the channel substitutes."""

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
class ImageLimits:
    """What a network takes as an image: the largest file, the longest edge, the types, and the
    longest alt text. Images are resized and re-encoded to fit before they are uploaded."""

    max_bytes: int
    max_edge_px: int
    mime_types: tuple[str, ...] = ("image/jpeg", "image/png")
    max_alt_chars: int = 1000


@dataclass(frozen=True, slots=True)
class PostImage:
    """An image ready to upload: fetched through the guarded fetcher (size cap, content-type
    check, no internal addresses) and resized within the network's limits. `alt` is never empty:
    an image without alt text is never published."""

    data: bytes
    mime_type: str  # image/jpeg, image/png, image/webp, image/gif
    alt: str
    width: int
    height: int
    source_url: str = ""


@dataclass(frozen=True, slots=True)
class LinkCard:
    """A link preview built by us (Bluesky's `app.bsky.embed.external`, LinkedIn's article
    content): the page's title and description and, when it has one, its thumbnail."""

    url: str
    title: str
    description: str = ""
    thumb: PostImage | None = None


@dataclass(frozen=True, slots=True)
class Attachment:
    """What a post carries besides its text: an image with alt text, or a link card (a network
    that shows one kind at a time takes the image and leaves the card to the link)."""

    image: PostImage | None = None
    card: LinkCard | None = None


@dataclass(frozen=True, slots=True)
class PostReceipt:
    provider_id: str
    url: str | None = None


class EmailChannel(Protocol):
    """Sends one edition to a batch of recipients: SendGrid, or the outbox without credentials.

    What the channel can take is class data: `max_batch_size` recipients per call (the deliver
    stage plans batches no larger; a larger batch is refused with a `PermanentError` before
    anything is sent). Errors are raised as `connectors.errors.DeliveryError` subclasses, never
    a library's own; credentials never appear in `repr()`, in logs or in an error's text.
    """

    name: ClassVar[str]  # provider name: "sendgrid", "outbox"
    max_batch_size: ClassVar[int]

    def send_batch(self, message: OutboundEmail, recipients: Sequence[Recipient]) -> BatchReceipt:
        """Send `message` to every recipient, each with their own personalisation, in one call.

        Returns the subscriber ids accepted (and those refused one by one, with the reason).
        Raises `TransientError` when nothing was accepted and a retry is safe (429 with
        `retry_after_s`, connection refused), `AuthError` when the credentials are refused,
        `PermanentError` when the same request would fail again, and `AmbiguousError` when
        the request left but no answer came back: it may have been delivered.
        """
        ...

    def close(self) -> None:
        """Release connections and detach log filters; the channel is not used afterwards."""
        ...


class PostChannel(Protocol):
    """Publishes one post on a social network, optionally as a reply: X, Mastodon, Bluesky, or
    the outbox without credentials.

    A thread is a reply chain: the caller publishes post 0, stores its receipt's provider id,
    then publishes post k with `reply_to` = the id of post k-1. Errors are raised as
    `connectors.errors.DeliveryError` subclasses; credentials never appear in `repr()`, in logs
    or in an error's text. After an `AmbiguousError` (the request left, no answer came back),
    `find_post` says whether the post exists before anything is resent.
    """

    name: ClassVar[str]  # network name: "x", "mastodon", "bluesky" ("outbox" for the fallback)

    @property
    def max_weighted_length(self) -> int:
        """The longest post this channel accepts, in the network's weighted characters (a class
        constant for most networks; per instance for the outbox and a longer-post Mastodon)."""
        ...

    @property
    def image_limits(self) -> ImageLimits:
        """What this network takes as an image (a class constant for most; read from the instance
        for Mastodon)."""
        ...

    def upload(self, attachment: Attachment, *, thread_key: str = "") -> str | None:
        """Upload the media `attachment` needs (its image, its card's thumbnail) through the
        network's media API, with the alt text, and return the network's reference to it as an
        opaque string (JSON when it has parts) for `publish`; None when nothing needs uploading
        (no image, or a card the network builds itself). The caller records the reference in the
        ledger before publishing, so a resumed run publishes with it instead of uploading again.
        Raises the same errors as `publish`.
        """
        ...

    def publish(self, text: str, *, reply_to: str | None = None, thread_key: str = "",
                attachment: Attachment | None = None, media_ref: str | None = None) -> PostReceipt:
        """Publish `text`, as a reply to the post whose provider id is `reply_to` when given,
        carrying `attachment` (its media already uploaded: `media_ref` from `upload`).

        `thread_key` names the thread (logs; Mastodon's idempotency key; the outbox's file).
        Returns the provider's id and the post's public URL. Raises `TransientError` when the
        post was not accepted and a retry is safe (429 with `retry_after_s`, server error before
        acceptance, connection refused), `AuthError` when the credentials are refused,
        `PermanentError` (and its `DuplicateContentError`, `ReplyNotAllowedError`) when the same
        request would fail again, and `AmbiguousError` when the request left and no answer came
        back: the post may exist.
        """
        ...

    def find_post(self, text: str, *, reply_to: str | None = None, thread_key: str = "") -> PostReceipt | None:
        """The account's post with exactly this text replying to exactly `reply_to` (or to
        nothing), among its newest posts, or None when there is none.

        A network that serves a post's text altered (X: escaped, t.co links; Mastodon: HTML) has
        it restored before the comparison, made with `comparable_text`. A lookup that fails raises
        a `DeliveryError` (`TransientError`, `AuthError`): it never answers None for "could not tell".
        """
        ...

    def close(self) -> None:
        """Release connections and detach log filters; the channel is not used afterwards."""
        ...
