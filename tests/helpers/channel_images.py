"""Post attachments for channel tests: real PNG files written with the standard library (zlib, struct),
any size, noisy and stored uncompressed when it must be large (to cross an upload's chunk size)."""

from __future__ import annotations

import random
import struct
import zlib

from connectors.channels.base import Attachment, LinkCard, PostImage


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png(width: int, height: int, *, noise: bool = False, seed: int = 7) -> bytes:
    """A valid RGB PNG: a flat colour (small), or random pixels stored without compression (large)."""
    rng = random.Random(seed)
    row = bytes([0]) + (rng.randbytes(width * 3) if noise else bytes([30, 120, 200]) * width)
    raw = b"".join(row if not noise else bytes([0]) + rng.randbytes(width * 3) for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw, 0 if noise else 9))
            + _chunk(b"IEND", b""))


def image_attachment(width: int = 64, height: int = 48, *, alt: str = "A council chamber, seen from the gallery",
                     noise: bool = False) -> Attachment:
    data = png(width, height, noise=noise)
    return Attachment(image=PostImage(data=data, mime_type="image/png", alt=alt, width=width, height=height,
                                      source_url="https://socitm.net/a.png"))


def card_attachment() -> Attachment:
    return Attachment(card=LinkCard(url="https://socitm.net/a", title="Councils adopt standards",
                                    description="What changes for digital teams",
                                    thumb=image_attachment().image))
