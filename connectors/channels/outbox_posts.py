"""The outbox for posts: without credentials, a network's posts go to
`<outbox>/<network>/<thread-key>.json`, one file per thread holding its posts in order."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, ClassVar

from compose.posts import RULES_BY_NETWORK, NetworkRules
from connectors.channels.base import PostReceipt


def thread_file(outbox_dir: str | os.PathLike[str], network: str, thread_key: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", thread_key).strip("-") or "thread"
    return Path(outbox_dir) / network / f"{safe}.json"


class OutboxPostChannel:
    """Writes each post into its thread's JSON file, atomically, as a reply chain."""

    name: ClassVar[str] = "outbox"

    def __init__(self, network: str, outbox_dir: str | os.PathLike[str]) -> None:
        self.network = network
        self.outbox_dir = Path(outbox_dir)
        self.rules: NetworkRules = RULES_BY_NETWORK[network]
        self.max_weighted_length = self.rules.max_length

    def __repr__(self) -> str:
        return f"OutboxPostChannel(network={self.network!r}, outbox_dir={str(self.outbox_dir)!r})"

    def publish(self, text: str, *, reply_to: str | None = None, thread_key: str = "") -> PostReceipt:
        path = thread_file(self.outbox_dir, self.network, thread_key)
        path.parent.mkdir(parents=True, exist_ok=True)
        document: dict[str, Any] = json.loads(path.read_text("utf-8")) if path.exists() else {
            "network": self.network, "thread": thread_key, "posts": []}
        posts = document["posts"]
        for post in posts:  # the same post replying to the same one: a resumed run, not a new post
            if post["text"] == text and post["in_reply_to"] == reply_to:
                return PostReceipt(provider_id=post["id"], url=path.resolve().as_uri())
        position = len(posts)
        provider_id = f"outbox:{self.network}:{thread_key}:{position}"
        posts.append({"id": provider_id, "position": position, "in_reply_to": reply_to, "text": text})
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", "utf-8")
        os.replace(tmp, path)
        return PostReceipt(provider_id=provider_id, url=path.resolve().as_uri())

    def find_post(self, text: str, *, reply_to: str | None = None, thread_key: str = "") -> PostReceipt | None:
        """The thread file's post with this text replying to `reply_to`, or None."""
        path = thread_file(self.outbox_dir, self.network, thread_key)
        if not path.exists():
            return None
        for post in json.loads(path.read_text("utf-8"))["posts"]:
            if post["text"] == text and post["in_reply_to"] == reply_to:
                return PostReceipt(provider_id=post["id"], url=path.resolve().as_uri())
        return None

    def close(self) -> None:
        return None
