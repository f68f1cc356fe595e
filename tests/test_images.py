"""Post images: fetched through the guarded fetcher from a loopback site (refusing internal
addresses, oversized bodies and what is not an image), fitted to a network's limits by Pillow
(property-tested over sizes, types and limits), turned upright, stripped of metadata; alt text
required; and what a post carries on a network that builds cards and one that does not."""

from __future__ import annotations

import contextlib
import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from connectors.channels.base import ImageLimits
from connectors.errors import PermanentError, TransientError
from connectors.images import (
    AltTextMissing,
    AltTextTooLong,
    GuardedImageFetcher,
    ImageRefused,
    ImageUnavailable,
    attachment_for,
    fetch_image,
    fit_image,
)
from connectors.outbound import OutboundGuard
from tests.fakes.server import FakeServer, Fault, Reply
from tests.helpers.images import ImageSite, make_image

WIDE = ImageLimits(max_bytes=5_000_000, max_edge_px=4096, mime_types=("image/jpeg", "image/png", "image/webp", "image/gif"))
ALT = "Two officers at a desk reviewing a printed map"


@pytest.fixture
def site() -> Iterator[tuple[ImageSite, FakeServer]]:
    images = ImageSite()
    with images.server() as server:
        yield images, server


def trusting(server: FakeServer) -> GuardedImageFetcher:
    return GuardedImageFetcher(OutboundGuard.trusting(allow_hosts=[server.url.removeprefix("http://")]))


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


FORMATS = {"JPEG": ("RGB", "image/jpeg"), "PNG": ("RGBA", "image/png"), "WEBP": ("RGB", "image/webp"),
           "GIF": ("P", "image/gif")}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(width=st.integers(1, 2400), height=st.integers(1, 2400), fmt=st.sampled_from(sorted(FORMATS)),
       noise=st.booleans(), max_edge=st.integers(64, 2048), max_bytes=st.integers(30_000, 2_000_000),
       types=st.lists(st.sampled_from(["image/jpeg", "image/png", "image/webp", "image/gif"]), min_size=1,
                      unique=True))
def test_any_image_comes_out_within_the_limits_or_is_refused_with_a_reason(width, height, fmt, noise, max_edge,
                                                                            max_bytes, types):
    mode = FORMATS[fmt][0]
    source = make_image(width, height, fmt, mode=mode if mode != "P" else "RGB", noise=noise and width * height < 2_000_000)
    limits = ImageLimits(max_bytes=max_bytes, max_edge_px=max_edge, mime_types=tuple(types))
    try:
        data, mime, out_w, out_h = fit_image(source, limits)
    except ImageRefused as refused:
        assert isinstance(refused, PermanentError) and "does not fit" in str(refused) and refused.hint
        return
    assert len(data) <= max_bytes and mime in types and max(out_w, out_h) <= max_edge
    image = decoded(data)
    assert image.size == (out_w, out_h) and FORMATS[image.format][1] == mime
    assert not image.getexif() and "exif" not in image.info
    if max(width, height) <= max_edge:  # never enlarged; shrunk only as far as the file size needs
        assert out_w <= width and out_h <= height


def test_exif_orientation_is_applied_and_the_gps_position_dropped():
    source = make_image(400, 200, exif_orientation=6, gps=True)  # stored sideways: "rotate 90 to show"
    assert decoded(source).getexif().get(0x8825) is not None
    data, mime, width, height = fit_image(source, WIDE)
    image = decoded(data)
    assert (width, height) == (200, 400) and mime == "image/jpeg"
    assert not image.getexif() and "exif" not in image.info
    # the red mark in the top left corner of the stored pixels is now at the top right
    assert image.getpixel((190, 10))[0] > 150 and image.getpixel((10, 10))[0] < 100


def test_a_transparent_png_stays_png_and_is_flattened_only_for_a_jpeg_only_network():
    source = make_image(300, 300, "PNG", mode="RGBA")
    assert fit_image(source, WIDE)[1] == "image/png"
    data, mime, _, _ = fit_image(source, ImageLimits(max_bytes=1_000_000, max_edge_px=1000, mime_types=("image/jpeg",)))
    assert mime == "image/jpeg" and decoded(data).mode == "RGB"


def test_a_big_photo_is_resized_and_recompressed_to_fit_bluesky():
    source = make_image(2400, 1600, noise=True)
    assert len(source) > 1_000_000
    data, mime, width, height = fit_image(source, ImageLimits(max_bytes=1_000_000, max_edge_px=2000))
    assert len(data) <= 1_000_000 and max(width, height) <= 2000 and mime == "image/jpeg"


def test_fetch_image_through_a_trusted_loopback_host(site):
    images, server = site
    images.files["/photo.png"] = (make_image(800, 600, "PNG"), "image/png")
    image = fetch_image(f"{server.url}/photo.png", alt=f"  {ALT}\n", limits=WIDE, fetcher=trusting(server))
    assert image.alt == ALT and image.mime_type == "image/png" and (image.width, image.height) == (800, 600)
    assert image.source_url == f"{server.url}/photo.png"
    assert server.requests[0].headers["user-agent"].startswith("syndicate/")


def test_an_internal_address_is_refused_before_any_request(site):
    images, server = site
    images.files["/photo.jpg"] = (make_image(), "image/jpeg")
    with pytest.raises(ImageRefused, match="loopback address") as refused:
        fetch_image(f"{server.url}/photo.jpg", alt=ALT, limits=WIDE)  # the default guard trusts nothing
    assert "allow_hosts" in (refused.value.hint or "") and not server.requests


def test_a_redirect_from_a_trusted_host_to_an_internal_one_is_refused(site):
    images, server = site
    images.files["/photo.jpg"] = (make_image(), "image/jpeg")
    redirect = FakeServer(lambda request: Reply(status=302, headers={"Location": f"{server.url}/photo.jpg"}))
    with redirect as trusted, pytest.raises(ImageRefused, match="loopback address"):
        fetch_image(f"{trusted.url}/img", alt=ALT, limits=WIDE, fetcher=trusting(trusted))
    assert not server.requests


@pytest.mark.parametrize(("body", "content_type", "message"), [
    (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml", r"is image/svg\+xml, not image/jpeg"),
    (b"<html></html>", "text/html; charset=utf-8", "is text/html"),
    (b"\x89PNG\r\n\x1a\nbroken", "image/png", "cannot be read as an image"),
    (make_image(20, 20, "BMP"), "image/jpeg", "is BMP, not JPEG, PNG, WebP or GIF"),
])
def test_what_is_not_a_usable_image_is_refused(site, body, content_type, message):
    images, server = site
    images.files["/x"] = (body, content_type)
    with pytest.raises(ImageRefused, match=message):
        fetch_image(f"{server.url}/x", alt=ALT, limits=WIDE, fetcher=trusting(server))


def test_an_oversized_image_is_refused_by_its_length_and_while_streaming(site):
    images, server = site
    images.files["/big.jpg"] = (make_image(600, 600, noise=True), "image/jpeg")
    with pytest.raises(ImageRefused, match="more than the 1,000 fetched at most"):
        trusting(server).get(f"{server.url}/big.jpg", max_bytes=1000)

    with chunked_server(b"\xff" * 5000) as url, pytest.raises(ImageRefused, match="more than the 1,000 bytes"):
        GuardedImageFetcher(OutboundGuard.trusting([url])).get(url, max_bytes=1000)


@contextmanager
def chunked_server(body: bytes) -> Iterator[str]:
    """A loopback server answering with `body` in chunks and no Content-Length (counted as it streams)."""
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            with contextlib.suppress(OSError):
                for start in range(0, len(body), 500):
                    chunk = body[start:start + 500]
                    self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                self.wfile.write(b"0\r\n\r\n")

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/x"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_host_that_does_not_answer_is_transient_and_a_404_is_not(site):
    images, server = site
    server.inject(Fault(status=503))
    with pytest.raises(ImageUnavailable, match="HTTP 503") as unavailable:
        fetch_image(f"{server.url}/photo.jpg", alt=ALT, limits=WIDE, fetcher=trusting(server))
    assert isinstance(unavailable.value, TransientError)
    with pytest.raises(ImageRefused, match="HTTP 404"):
        fetch_image(f"{server.url}/missing.jpg", alt=ALT, limits=WIDE, fetcher=trusting(server))


def test_no_alt_text_no_image_and_nothing_fetched(site):
    images, server = site
    images.files["/photo.jpg"] = (make_image(), "image/jpeg")
    with pytest.raises(AltTextMissing, match="never published") as missing:
        fetch_image(f"{server.url}/photo.jpg", alt=" \n ", limits=WIDE, fetcher=trusting(server))
    assert "desk" in (missing.value.hint or "")
    with pytest.raises(AltTextTooLong, match="1,001 characters, more than the 1,000"):
        fetch_image(f"{server.url}/photo.jpg", alt="a" * 1001, limits=WIDE, fetcher=trusting(server))
    assert not server.requests


@dataclass
class Row:
    image_url: str | None = None
    image_alt: str | None = None
    card_url: str | None = None
    media_ref: str | None = None
    title: str = ""
    summary_text: str = ""


class CardBuilder:
    builds_cards: ClassVar[bool] = True
    image_limits: ClassVar[ImageLimits] = ImageLimits(max_bytes=1_000_000, max_edge_px=2000)


class Crawled:
    image_limits: ClassVar[ImageLimits] = WIDE


def test_attachment_carries_a_card_only_where_the_channel_builds_it(site):
    images, server = site
    images.files["/item.jpg"] = (make_image(1200, 630), "image/jpeg")
    item = Row(image_url=f"{server.url}/item.jpg", image_alt=None, title="Councils adopt the standard",
               summary_text="A long summary. " * 40)
    post = Row(card_url="https://example.org/a")
    card = attachment_for(post, item, CardBuilder(), fetcher=trusting(server)).card
    assert card.url == "https://example.org/a" and card.title == "Councils adopt the standard"
    assert len(card.description) <= 300 and card.description.endswith("…")
    assert card.thumb is not None and card.thumb.alt == "Councils adopt the standard"
    assert attachment_for(post, item, Crawled(), fetcher=trusting(server)) is None  # X, Mastodon: their crawler

    with_image = Row(image_url=f"{server.url}/item.jpg", image_alt=ALT, card_url="https://example.org/a")
    attachment = attachment_for(with_image, item, CardBuilder(), fetcher=trusting(server))
    assert attachment.image.alt == ALT and attachment.card.thumb is None  # one image: the post's own
    assert attachment_for(with_image, item, Crawled(), with_image=False, fetcher=trusting(server)) is None


def test_recorded_media_is_never_fetched_again(site):
    images, server = site
    post = Row(image_url=f"{server.url}/gone.jpg", image_alt=ALT, media_ref='{"id": "m1"}')
    attachment = attachment_for(post, None, Crawled(), fetcher=trusting(server))
    assert attachment.image.alt == ALT and attachment.image.data == b"" and not server.requests
