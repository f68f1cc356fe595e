"""Images for tests, made with Pillow, and a loopback web site that serves them (and pages) with
the headers a test chooses: a real HTTP exchange for the guarded fetcher, no mocks."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

from PIL import Image

from tests.fakes.server import FakeServer, RecordedRequest, Reply


def make_image(width: int = 640, height: int = 480, fmt: str = "JPEG", *, mode: str = "RGB",
               exif_orientation: int | None = None, gps: bool = False, noise: bool = False) -> bytes:
    """An image of `width` x `height` in `fmt`; `noise` makes it hard to compress (big files),
    `exif_orientation` and `gps` put EXIF in it (JPEG)."""
    if noise:
        import os

        image = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
        if mode != "RGB":
            image = image.convert(mode)
    else:
        colour = (30, 120, 200, 128) if mode == "RGBA" else (30, 120, 200)
        image = Image.new(mode, (width, height), colour[: len(mode)] if mode in ("RGB", "RGBA") else 100)
        image.paste((200, 40, 40) if mode == "RGB" else (200, 40, 40, 255) if mode == "RGBA" else 10,
                    (0, 0, max(1, width // 4), max(1, height // 2)))  # a mark in the top left corner
    out = io.BytesIO()
    options: dict[str, object] = {}
    if exif_orientation is not None or gps:
        exif = Image.Exif()
        if exif_orientation is not None:
            exif[0x0112] = exif_orientation
        if gps:
            exif[0x8825] = {1: "N", 2: (51.0, 30.0, 0.0), 3: "W", 4: (0.0, 7.0, 0.0)}
        options["exif"] = exif
    image.save(out, fmt, **options)
    return out.getvalue()


@dataclass
class ImageSite:
    """Paths served by a loopback server: path -> (body, content type)."""

    files: dict[str, tuple[bytes, str]] = field(default_factory=dict)

    def app(self, request: RecordedRequest) -> Reply:
        found = self.files.get(request.path)
        if found is None:
            return Reply(status=404, body=b"not found", headers={"Content-Type": "text/plain"})
        body, content_type = found
        return Reply(body=body, headers={"Content-Type": content_type})

    def server(self) -> FakeServer:
        return FakeServer(self.app)
