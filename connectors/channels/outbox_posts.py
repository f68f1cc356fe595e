"""The outbox for posts: without credentials, a network's posts go to
`<outbox>/<network>/<thread-key>.json`, one file per thread holding its posts in order.

A file is never overwritten and never holds two threads: a thread whose opening post differs
from the one a file under its name already holds (another ledger's thread with the same key,
say the demo's and a real run's) goes beside it as `<thread-key>.2.json`. Each post's id names
its file (`outbox:<network>:<file>:<position>`), so its replies follow it there; writing the same
post again (a resumed run) writes nothing.

An image is written once under `<outbox>/<network>/media/<sha256>.<ext>` (its name is its
content, so uploading it again writes nothing); the post records the file, its alt text and
any link card, as the network would show them."""

from __future__ import annotations

import hashlib
import json
import mimetypes
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from compose.post_length import RULES_BY_NETWORK, NetworkRules
from connectors.channels.base import Attachment, ImageLimits, PostReceipt

CARD_BUILDING_NETWORKS = frozenset({"bluesky", "linkedin"})  # their channels' `builds_cards`


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "thread"


def thread_file(outbox_dir: str | os.PathLike[str], network: str, thread_key: str) -> Path:
    """The first file a thread with this key is written to."""
    return Path(outbox_dir) / network / f"{_safe(thread_key)}.json"


class OutboxPostChannel:
    """Writes each post into its thread's JSON file, atomically, as a reply chain."""

    name: ClassVar[str] = "outbox"
    image_limits: ClassVar[ImageLimits] = ImageLimits(max_bytes=5_000_000, max_edge_px=4096,
                                                      mime_types=("image/jpeg", "image/png", "image/webp", "image/gif"))

    def __init__(self, network: str, outbox_dir: str | os.PathLike[str]) -> None:
        self.network = network
        self.outbox_dir = Path(outbox_dir)
        self.rules: NetworkRules = RULES_BY_NETWORK[network]
        self.max_weighted_length = self.rules.max_length
        # the card as the network would show it: built by us where the network's channel builds it
        self.builds_cards = network in CARD_BUILDING_NETWORKS

    def __repr__(self) -> str:
        return f"OutboxPostChannel(network={self.network!r}, outbox_dir={str(self.outbox_dir)!r})"

    def _files(self, thread_key: str) -> Iterator[Path]:
        """The thread key's files in order: `<key>.json`, `<key>.2.json`, ... (the first free one last)."""
        first = thread_file(self.outbox_dir, self.network, thread_key)
        yield first
        attempt = 2
        while True:
            path = first.with_name(f"{first.stem}.{attempt}.json")
            yield path
            if not path.exists():
                return
            attempt += 1

    def _file_of(self, reply_to: str, thread_key: str) -> Path:
        """The file holding the post `reply_to` (its id names the file), else the thread's first file."""
        prefix = f"outbox:{self.network}:"
        if reply_to.startswith(prefix) and ":" in reply_to[len(prefix):]:
            stem = _safe(reply_to[len(prefix):].rsplit(":", 1)[0])
            path = self.outbox_dir / self.network / f"{stem}.json"
            if path.exists():
                return path
        return thread_file(self.outbox_dir, self.network, thread_key)

    def _find(self, text: str, reply_to: str | None, thread_key: str) -> tuple[Path, PostReceipt | None]:
        """Where this post belongs, and its receipt if it is already there."""
        if reply_to is not None:
            path = self._file_of(reply_to, thread_key)
            return path, _matching(path, text, reply_to)
        for path in self._files(thread_key):  # an opening post: its own thread's file, or the first free name
            if not path.exists():
                return path, None
            posts = _read(path)["posts"]
            if not posts or (posts[0]["text"] == text and posts[0]["in_reply_to"] is None):
                return path, _matching(path, text, None)
        raise AssertionError("unreachable: _files ends with a free name")

    def upload(self, attachment: Attachment, *, thread_key: str = "") -> str | None:
        """Write the attachment's image (or its card's thumbnail) into the outbox's media folder;
        its reference names the file and keeps the alt text."""
        image = attachment.image or (attachment.card.thumb if attachment.card else None)
        if image is None:
            return None
        extension = mimetypes.guess_extension(image.mime_type) or ".bin"
        media = self.outbox_dir / self.network / "media"
        media.mkdir(parents=True, exist_ok=True)
        path = media / f"{hashlib.sha256(image.data).hexdigest()}{extension}"
        if not path.exists():
            tmp = path.with_suffix(path.suffix + ".tmp")
            tmp.write_bytes(image.data)
            os.replace(tmp, path)
        return json.dumps({"file": path.name, "alt": image.alt, "width": image.width, "height": image.height})

    def publish(self, text: str, *, reply_to: str | None = None, thread_key: str = "",
                attachment: Attachment | None = None, media_ref: str | None = None) -> PostReceipt:
        path, found = self._find(text, reply_to, thread_key)
        if found is not None:  # the same post replying to the same one: a resumed run, not a new post
            return found
        path.parent.mkdir(parents=True, exist_ok=True)
        document: dict[str, Any] = _read(path) if path.exists() else {
            "network": self.network, "thread": thread_key, "posts": []}
        posts = document["posts"]
        position = len(posts)
        provider_id = f"outbox:{self.network}:{path.name.removesuffix('.json')}:{position}"
        entry: dict[str, Any] = {"id": provider_id, "position": position, "in_reply_to": reply_to, "text": text}
        if attachment is not None and attachment.image is not None:
            entry["image"] = json.loads(media_ref) if media_ref else {"alt": attachment.image.alt}
        if attachment is not None and attachment.card is not None:
            card = attachment.card
            entry["card"] = {"url": card.url, "title": card.title, "description": card.description}
            if card.thumb is not None and attachment.image is None and media_ref:
                entry["card"]["thumb"] = json.loads(media_ref)
        posts.append(entry)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", "utf-8")
        os.replace(tmp, path)
        return PostReceipt(provider_id=provider_id, url=path.resolve().as_uri())

    def find_post(self, text: str, *, reply_to: str | None = None, thread_key: str = "") -> PostReceipt | None:
        """The thread file's post with this text replying to `reply_to`, or None."""
        return self._find(text, reply_to, thread_key)[1]

    def close(self) -> None:
        return None


def _read(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return document


def _matching(path: Path, text: str, reply_to: str | None) -> PostReceipt | None:
    if not path.exists():
        return None
    for post in _read(path)["posts"]:
        if post["text"] == text and post["in_reply_to"] == reply_to:
            return PostReceipt(provider_id=post["id"], url=path.resolve().as_uri())
    return None
