"""Images for posts: fetched through the guarded fetcher, checked, and re-encoded within a network's limits.

An item's image URL comes from content (a feed, a page), so it is fetched like any link content
names (`connectors.outbound`): never from an internal address unless its host is a configured
source or in `[fetch] allow_hosts`, with a size cap on the download and a content-type check.
What came back is decoded by Pillow (the type is what the bytes say, not only the header), turned
upright by its EXIF orientation, stripped of every metadata block (EXIF with GPS, XMP, ICC
comments) by re-encoding only the pixels, and shrunk until it fits the network's
`ImageLimits` (longest edge, then file size; JPEG/WebP quality steps before dimensions).
An animated GIF keeps its first frame.

An image without alt text is never published: `fetch_image` refuses one (`AltTextMissing`), and
alt text longer than the network takes is refused rather than cut (`AltTextTooLong`): staff
shorten it on the desk. Every refusal is an `ImageRefused` (a `PermanentError`: the same image
would be refused again) whose hint says what to do; an image host that did not answer is an
`ImageUnavailable` (a `TransientError`: the next run tries again).

`attachment_for` builds what one post carries (`connectors.channels.base.Attachment`) from its
ledger row: the image with its alt text, and a link card for a network whose channel builds cards
(`builds_cards = True`: Bluesky, LinkedIn). X and Mastodon crawl the link for their own card.
"""

from __future__ import annotations

import io
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from compose.items import clip, one_line
from connectors.channels.base import Attachment, ImageLimits, LinkCard, PostImage
from connectors.errors import PermanentError, TransientError
from connectors.outbound import OutboundGuard, OutboundRefused, Resolver, guarded_transport

if TYPE_CHECKING:
    import httpx

    from compose.config import Config


class ImageFetchLimits:
    """What is downloaded at most, whatever the network takes (the image is shrunk afterwards)."""

    max_download_bytes = 20_000_000
    max_pixels = 40_000_000  # decoded size refused above this (a "decompression bomb")
    timeout_s = 15.0
    max_redirects = 5
    min_edge_px = 64  # shrinking to fit a file size stops here: smaller is no longer worth posting


# What Pillow reads and we accept from an image host; SVG (a document, not pixels) is refused.
DECODABLE = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP", "image/gif": "GIF"}
_MIME_OF_FORMAT = {fmt: mime for mime, fmt in DECODABLE.items()}
_QUALITIES = (88, 80, 70, 60, 50)


class ImageRefused(PermanentError):
    """The image cannot go with the post (internal address, wrong type, too large, unreadable,
    no alt text); the hint says what to do."""


class AltTextMissing(ImageRefused):
    pass


class AltTextTooLong(ImageRefused):
    pass


class ImageUnavailable(TransientError):
    """The image host did not answer (timeout, connection refused, 5xx): tried again next run."""


@dataclass(frozen=True, slots=True)
class FetchedImage:
    url: str  # where it came from, after redirects
    content_type: str  # the media type the server declared, parameters dropped, lower case
    data: bytes


class ImageFetcher(Protocol):
    def get(self, url: str, *, max_bytes: int, types: Collection[str] = ..., what: str = "image") -> FetchedImage:
        """The body at `url` (an image unless `types` says otherwise), at most `max_bytes`; raises
        `ImageRefused` or `ImageUnavailable` (naming it `what`)."""
        ...


_IMAGE_HINT = "remove the image from the post, or set images = \"off\" for the network in syndicate.toml"


class GuardedImageFetcher:
    """GETs an image through the guarded transport: no internal address unless `guard` trusts the
    host, a size cap checked on the declared length and while streaming, and an image type."""

    def __init__(self, guard: OutboundGuard | None = None, *, resolver: Resolver | None = None,
                 timeout_s: float = ImageFetchLimits.timeout_s) -> None:
        self.guard, self.resolver, self.timeout_s = guard or OutboundGuard(), resolver, timeout_s

    @classmethod
    def from_config(cls, config: Config) -> GuardedImageFetcher:
        """Trusting the configured sources' hosts and `[fetch] allow_hosts`, as the link check does."""
        return cls(OutboundGuard.trusting([str(source.url) for source in config.sources], config.fetch.allow_hosts))

    def get(self, url: str, *, max_bytes: int, types: Collection[str] = tuple(DECODABLE),
            what: str = "image") -> FetchedImage:
        import httpx  # (httpx and aiohttp are imported when something is fetched, not by every publisher)

        from connectors.sources.fetch import USER_AGENT

        if not url.lower().startswith(("http://", "https://")):
            raise ImageRefused(f"{what} {url[:200]!r} is not an http(s) URL", hint=_IMAGE_HINT)
        transport = guarded_transport(self.guard, asynchronous=False, resolver=self.resolver)
        try:
            with httpx.Client(timeout=self.timeout_s, follow_redirects=True, trust_env=False,
                              max_redirects=ImageFetchLimits.max_redirects, transport=transport,
                              headers={"User-Agent": USER_AGENT, "Accept": ", ".join(types)}) as client, \
                    client.stream("GET", url) as response:
                return self._read(url, response, max_bytes, types, what)
        except OutboundRefused as refused:
            raise ImageRefused(f"{what} {url[:200]} not fetched: {refused}", hint=refused.hint) from None
        except httpx.TooManyRedirects:
            raise ImageRefused(f"{what} {url[:200]} redirects more than {ImageFetchLimits.max_redirects} times",
                               hint=_IMAGE_HINT) from None
        except httpx.TimeoutException:
            raise ImageUnavailable(f"{what} {url[:200]}: no answer within {self.timeout_s:g} s",
                                   hint="tried again on the next run") from None
        except httpx.HTTPError as exc:
            raise ImageUnavailable(f"{what} {url[:200]} unreachable ({type(exc).__name__})",
                                   hint="tried again on the next run") from None

    @staticmethod
    def _read(url: str, response: httpx.Response, max_bytes: int, types: Collection[str], what: str) -> FetchedImage:
        status = response.status_code
        if status >= 500 or status == 429:
            raise ImageUnavailable(f"{what} {url[:200]} answered HTTP {status}", status=status,
                                   hint="tried again on the next run")
        if status >= 400:
            raise ImageRefused(f"{what} {url[:200]} answered HTTP {status}", status=status,
                               hint=f"check the item's {what} link, or " + _IMAGE_HINT)
        content_type = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if content_type not in types:
            raise ImageRefused(f"{what} {url[:200]} is {content_type or 'of no declared type'}, not "
                               f"{', '.join(types)}", hint=_IMAGE_HINT)
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise ImageRefused(f"{what} {url[:200]} is {int(declared):,} bytes, more than the {max_bytes:,} "
                               "fetched at most", hint=_IMAGE_HINT)
        body = bytearray()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > max_bytes:
                raise ImageRefused(f"{what} {url[:200]} is more than the {max_bytes:,} bytes fetched at most",
                                   hint=_IMAGE_HINT)
        return FetchedImage(url=str(response.url), content_type=content_type, data=bytes(body))


def check_alt(alt: str | None, limits: ImageLimits, *, url: str = "") -> str:
    """The alt text as published (whitespace collapsed), or `AltTextMissing` / `AltTextTooLong`."""
    text = one_line(alt or "")
    where = f" ({url[:200]})" if url else ""
    if not text:
        raise AltTextMissing(f"the image{where} has no alt text: an image without alt text is never published",
                             hint="write its alt text on the desk (what the image shows, for someone who "
                                  "cannot see it), then approve the thread again")
    if len(text) > limits.max_alt_chars:
        raise AltTextTooLong(f"the image's alt text{where} is {len(text):,} characters, more than the "
                             f"{limits.max_alt_chars:,} the network takes",
                             hint="shorten it on the desk, then approve the thread again")
    return text


def fetch_image(url: str, *, alt: str, limits: ImageLimits, fetcher: ImageFetcher | None = None) -> PostImage:
    """The image at `url`, ready to upload with `alt`: fetched through the guarded fetcher, upright,
    without metadata, within `limits` (type, longest edge, bytes). Raises `ImageRefused` (or its
    `AltTextMissing`, `AltTextTooLong`) when it cannot go, `ImageUnavailable` when the host did not answer."""
    text = check_alt(alt, limits, url=url)  # before any request: no alt text, nothing fetched
    fetched = (fetcher or GuardedImageFetcher()).get(url, max_bytes=ImageFetchLimits.max_download_bytes)
    data, mime_type, width, height = fit_image(fetched.data, limits, url=url)
    return PostImage(data=data, mime_type=mime_type, alt=text, width=width, height=height, source_url=url)


def _open(data: bytes, url: str) -> Any:
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(data))
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ImageRefused(f"image {url[:200]} cannot be read as an image ({exc.__class__.__name__})",
                           hint=_IMAGE_HINT) from None
    if image.format not in _MIME_OF_FORMAT:
        raise ImageRefused(f"image {url[:200]} is {image.format or 'an unknown format'}, not JPEG, PNG, WebP or GIF",
                           hint=_IMAGE_HINT)
    if image.width * image.height > ImageFetchLimits.max_pixels:
        raise ImageRefused(f"image {url[:200]} is {image.width} x {image.height} pixels, more than the "
                           f"{ImageFetchLimits.max_pixels:,} read at most", hint=_IMAGE_HINT)
    return image


def _target_type(source_mime: str, has_alpha: bool, allowed: Sequence[str]) -> str:
    """The type to write: the source's when the network takes it, else PNG for transparency,
    else JPEG, else whatever the network takes that Pillow writes."""
    preferences = [source_mime] + (["image/png", "image/webp"] if has_alpha else []) + \
        ["image/jpeg", "image/webp", "image/png", "image/gif"]
    for mime in preferences:
        if mime in allowed and mime in DECODABLE:
            return mime
    raise ImageRefused(f"the network takes only {', '.join(allowed)}: none is a type syndicate writes",
                       hint="set images = \"off\" for the network")


def _encode(image: Any, mime: str, quality: int) -> bytes:
    out = io.BytesIO()
    fmt = DECODABLE[mime]
    if fmt == "JPEG":
        image.save(out, fmt, quality=quality, optimize=True, progressive=True)
    elif fmt == "WEBP":
        image.save(out, fmt, quality=quality, method=4)
    elif fmt == "PNG":
        image.save(out, fmt, optimize=True)
    else:
        image.save(out, fmt)
    return out.getvalue()


def _pixels_only(image: Any, mime: str) -> Any:
    """A fresh image holding only the pixels (no EXIF, XMP, ICC, comments), in a mode `mime` can hold."""
    from PIL import Image

    has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
    if mime == "image/jpeg":
        if has_alpha:  # JPEG has no transparency: flatten on white, as a browser shows it on a white page
            rgba = image.convert("RGBA")
            flat = Image.new("RGB", rgba.size, (255, 255, 255))
            flat.paste(rgba, mask=rgba.getchannel("A"))
            return flat
        return image.convert("RGB")
    if mime == "image/gif":
        return image.convert("P") if image.mode != "P" else image.copy()
    return image.convert("RGBA" if has_alpha else "RGB")


def fit_image(data: bytes, limits: ImageLimits, *, url: str = "") -> tuple[bytes, str, int, int]:
    """`data` re-encoded within `limits`: (bytes, mime type, width, height). Upright by its EXIF
    orientation, metadata stripped, longest edge within `max_edge_px`, then quality and size stepped
    down until the file is within `max_bytes`. Raises `ImageRefused` when it cannot be read or fit."""
    from PIL import Image, ImageOps

    image = _open(data, url)
    source_mime = _MIME_OF_FORMAT[image.format]
    try:
        image.seek(0)  # an animated image: its first frame
        image = ImageOps.exif_transpose(image)
        image.load()
    except (OSError, ValueError, Image.DecompressionBombError, SyntaxError) as exc:
        raise ImageRefused(f"image {url[:200]} is damaged ({exc.__class__.__name__})", hint=_IMAGE_HINT) from None
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
    mime = _target_type(source_mime, has_alpha, limits.mime_types)
    image = _pixels_only(image, mime)
    if max(image.size) > limits.max_edge_px:
        image.thumbnail((limits.max_edge_px, limits.max_edge_px), Image.Resampling.LANCZOS)
    lossy = mime in ("image/jpeg", "image/webp")
    while True:
        for quality in _QUALITIES if lossy else (0,):
            encoded = _encode(image, mime, quality)
            if len(encoded) <= limits.max_bytes:
                return encoded, mime, image.width, image.height
        if lossy is False and "image/jpeg" in limits.mime_types and not has_alpha:
            mime, lossy, image = "image/jpeg", True, image.convert("RGB")  # a photo saved as PNG: JPEG is smaller
            continue
        width, height = (max(1, int(side * 0.75)) for side in image.size)
        if max(width, height) < ImageFetchLimits.min_edge_px:
            raise ImageRefused(f"image {url[:200]} does not fit in {limits.max_bytes:,} bytes even at "
                               f"{image.width} x {image.height} pixels", hint=_IMAGE_HINT)
        image = image.resize((width, height), Image.Resampling.LANCZOS)


# --- what a post carries ------------------------------------------------------------------------------

CARD_DESCRIPTION_CHARS = 300  # Bluesky and LinkedIn cut a card's description to about two lines


def uploaded_image(url: str, alt: str) -> PostImage:
    """The image of a post whose media is already uploaded (`posts.media_ref` recorded): not fetched
    again; the channel publishes with the recorded reference, and the image keeps its alt text."""
    return PostImage(data=b"", mime_type="", alt=one_line(alt), width=0, height=0, source_url=url)


def attachment_for(post_row: Any, item_row: Any, channel: Any, *, fetcher: ImageFetcher | None = None,
                   with_image: bool = True) -> Attachment | None:
    """What `post_row` (a `state.models.PostRow`) carries on `channel`: its image with its alt text
    (fetched and fitted to `channel.image_limits`), and a link card from `item_row` (title, clipped
    summary, the item's image as thumbnail) when the channel builds cards (`builds_cards`). None when
    it carries neither. `with_image` False (`images = "off"` for the network) leaves the image out.
    Once the post's media is uploaded (`post_row.media_ref`), nothing is fetched
    again: the image (and the card's thumbnail) are `uploaded_image`s without bytes.

    Raises `ImageRefused` (no alt text, refused or unusable image) or `ImageUnavailable` for the
    post's own image; a card whose thumbnail cannot be had goes without one (the card still links)."""
    builds_card = bool(post_row.card_url) and getattr(channel, "builds_cards", False) and item_row is not None
    if not (post_row.image_url and with_image) and not builds_card:
        return None
    limits: ImageLimits = channel.image_limits
    uploaded = bool(post_row.media_ref)
    image = None
    if post_row.image_url and with_image:
        if uploaded:
            image = uploaded_image(post_row.image_url, check_alt(post_row.image_alt, limits, url=post_row.image_url))
        else:
            image = fetch_image(post_row.image_url, alt=post_row.image_alt or "", limits=limits, fetcher=fetcher)
    card = None
    if builds_card:
        card = LinkCard(url=post_row.card_url, title=one_line(item_row.title)[:300],
                        description=one_line(clip(item_row.summary_text or "", CARD_DESCRIPTION_CHARS)),
                        thumb=None if image is not None else _card_thumb(item_row, limits, fetcher, uploaded))
    if image is None and card is None:
        return None
    return Attachment(image=image, card=card)


def _card_thumb(item_row: Any, limits: ImageLimits, fetcher: ImageFetcher | None, uploaded: bool) -> PostImage | None:
    """The item's image as a card thumbnail (alt: the image's own, else the item's title), or None."""
    if not item_row.image_url:
        return None
    alt = one_line(item_row.image_alt or "") or one_line(item_row.title) or "Preview image"
    alt = alt[:limits.max_alt_chars]
    if uploaded:
        return uploaded_image(item_row.image_url, alt)
    try:
        return fetch_image(item_row.image_url, alt=alt, limits=limits, fetcher=fetcher)
    except (ImageRefused, ImageUnavailable):
        return None


def needs_upload(attachment: Attachment | None) -> bool:
    """Whether publishing `attachment` first uploads media (an image, or a card's thumbnail)."""
    return attachment is not None and (attachment.image is not None
                                       or (attachment.card is not None and attachment.card.thumb is not None))
