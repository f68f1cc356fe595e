"""The publish stage with the real Mastodon and X channels (Mastodon.py, tweepy and requests over
loopback sockets to the wire fakes), on SQLite and PostgreSQL: a post's image is fetched through
the guarded fetcher, fitted to the network, uploaded with its alt text, its media id recorded
before the post is created, and the post carries it. A publisher that dies between the upload and
the post resumes with the recorded media (never a second upload); an answer lost after the
network created the post ends in one post, not two."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from compose.config import Config
from connectors.channels.base import Attachment, PostReceipt
from connectors.channels.mastodon import MastodonChannel
from connectors.channels.x import XChannel
from flows.stages.publish import publish_due_posts
from state.db import Database
from state.models import PostStatus, ThreadStatus
from tests.fakes.fake_mastodon import FakeMastodon
from tests.fakes.fake_x import FakeX
from tests.fakes.server import FakeServer, Fault
from tests.helpers.images import ImageSite, make_image
from tests.helpers.media_threads import add_thread as _add_thread
from tests.helpers.media_threads import rows

NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)
ALT = "A council chamber, seen from the gallery"
MASTODON_TOKEN = "mastodon-TOKEN-secret-93b1"
X_KEYS = {"api_key": "ck-public-key-1", "api_secret": "cs-SECRET-5f2a9e", "access_token": "12345-at-TOKEN-77c1",
          "access_token_secret": "ats-SECRET-d41d8c"}


class Crash(BaseException):
    """The publisher dies (not an error any code catches)."""


class Dying:
    """A real channel that dies once, just before its first post leaves (after the upload)."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.armed = inner, True
        self.name, self.image_limits = inner.name, inner.image_limits
        self.builds_cards, self.max_weighted_length = inner.builds_cards, inner.max_weighted_length

    def upload(self, attachment: Attachment, *, thread_key: str = "") -> str | None:
        return self.inner.upload(attachment, thread_key=thread_key)

    def publish(self, text: str, **kwargs: Any) -> PostReceipt:
        if self.armed:
            self.armed = False
            raise Crash
        return self.inner.publish(text, **kwargs)

    def find_post(self, text: str, **kwargs: Any) -> PostReceipt | None:
        return self.inner.find_post(text, **kwargs)

    def close(self) -> None:
        self.inner.close()


class Network:
    """A network's fake running, its channel, and what the fake holds."""

    def __init__(self, name: str, tmp_path: Path) -> None:
        self.name = name
        if name == "mastodon":
            self.fake: Any = FakeMastodon(access_token=MASTODON_TOKEN)
        else:
            self.fake = FakeX(consumer_key=X_KEYS["api_key"], access_token=X_KEYS["access_token"])
        self.server = self.fake.server().start()
        if name == "mastodon":
            self.channel: Any = MastodonChannel(api_base_url=self.server.url, access_token=MASTODON_TOKEN,
                                                timeout_s=2.0, cache_dir=tmp_path / "cache", sleep=lambda s: None)
        else:
            self.channel = XChannel(**X_KEYS, base_url=self.server.url, timeout_s=2.0, sleep=lambda s: None)

    @property
    def send_path(self) -> str:
        return "/api/v1/statuses" if self.name == "mastodon" else "/2/tweets"

    def posts(self) -> list[dict]:
        return self.fake.statuses if self.name == "mastodon" else self.fake.posts

    def media_of(self, post: dict) -> list[str]:
        if self.name == "mastodon":
            return [m["id"] for m in post["media_attachments"]]
        return list(post["media_ids"])

    def uploaded(self) -> dict[str, tuple[bytes, str]]:
        """media id -> (bytes, alt text) as the network holds them."""
        key = "description" if self.name == "mastodon" else "alt"
        return {media_id: (media["data"], media[key]) for media_id, media in self.fake.media.items()}

    def close(self) -> None:
        self.channel.close()
        self.server.stop()


@pytest.fixture(params=["mastodon", "x"])
def network(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Network]:
    running = Network(request.param, tmp_path)
    yield running
    running.close()


@pytest.fixture
def site() -> Iterator[tuple[ImageSite, FakeServer]]:
    images = ImageSite()
    with images.server() as server:
        yield images, server


def make_config(tmp_path: Path, image_host: FakeServer, network: str) -> Config:
    others = {name: {"enabled": name == network, "min_spacing_minutes": 0} for name in ("x", "mastodon")}
    return Config.model_validate({
        "organisation": {"name": "Example Org", "site_url": "https://example.org", "postal_address": "1 High St"},
        "edition": {"from_email": "news@example.org", "from_name": "Example News", "reply_to": "ed@example.org",
                    "public_url": "https://news.example.org"},
        "sections": [{"key": "news", "title": "News"}],
        "fetch": {"allow_hosts": [image_host.url.removeprefix("http://")]},  # the image host is on loopback
        "social": {"outbox_dir": str(tmp_path / "outbox"), **others},
    })






def add_thread(db: Database, network: str, posts: list[dict[str, object]]) -> int:
    return _add_thread(db, posts, now=NOW, network=network)


def run(db: Database, config: Config, channel: Any):
    return publish_due_posts(db.sessions, config, now=NOW, channel_for=lambda name: channel, sleep=lambda s: None)


def a_thread(db: Database, network: Network, server: FakeServer) -> int:
    return add_thread(db, network.name, [
        {"text": "Councils adopt the standard https://example.org/a", "image_url": f"{server.url}/photo.jpg",
         "image_alt": ALT},
        {"text": "Read more in the report"}])


def test_a_post_goes_out_with_its_image_and_alt_text(db, network, site, tmp_path):
    images, server = site
    images.files["/photo.jpg"] = (make_image(6400, 4000), "image/jpeg")  # wider than either network takes
    config = make_config(tmp_path, server, network.name)
    thread_id = a_thread(db, network, server)
    summary = run(db, config, network.channel)
    assert summary.threads_done == [thread_id] and summary.failed == [] and summary.waiting == [], summary
    uploaded = network.uploaded()
    assert len(uploaded) == 1
    (media_id, (data, alt)), = uploaded.items()
    assert alt == ALT
    with Image.open(io.BytesIO(data)) as image:  # fitted to what the network takes
        assert max(image.size) <= network.channel.image_limits.max_edge_px
    assert len(data) <= network.channel.image_limits.max_bytes
    first, second = network.posts()
    assert network.media_of(first) == [media_id] and network.media_of(second) == []
    thread, posts = rows(db, thread_id)
    assert thread.status == ThreadStatus.PUBLISHED and posts[0].media_ref == media_id and posts[1].media_ref is None
    assert getattr(network.fake, "invalid_requests", getattr(network.fake, "invalid_bodies", None)) == []


def test_a_publisher_killed_after_the_upload_resumes_with_the_same_media(db, network, site, tmp_path):
    images, server = site
    images.files["/photo.jpg"] = (make_image(1200, 800), "image/jpeg")
    config = make_config(tmp_path, server, network.name)
    thread_id = a_thread(db, network, server)
    with pytest.raises(Crash):
        run(db, config, Dying(network.channel))
    _, posts = rows(db, thread_id)
    media_id = posts[0].media_ref
    assert media_id in network.uploaded() and posts[0].status == PostStatus.POSTING  # committed before the post
    assert network.posts() == []
    summary = run(db, config, network.channel)
    assert summary.threads_done == [thread_id]
    assert list(network.uploaded()) == [media_id]  # never uploaded twice
    assert len(server.requests_to("/photo.jpg")) == 1  # nor fetched again
    assert [network.media_of(p) for p in network.posts()] == [[media_id], []]


def test_an_answer_lost_after_the_post_was_created_ends_in_one_post(db, network, site, tmp_path):
    images, server = site
    images.files["/photo.jpg"] = (make_image(800, 600), "image/jpeg")
    config = make_config(tmp_path, server, network.name)
    thread_id = a_thread(db, network, server)
    network.server.inject(Fault(accept=True, reset=True, path=network.send_path))
    run(db, config, network.channel)
    run(db, config, network.channel)  # whatever the first run decided, the next one finishes
    thread, posts = rows(db, thread_id)
    assert thread.status == ThreadStatus.PUBLISHED
    assert len(network.posts()) == 2 and len(network.uploaded()) == 1
    assert network.media_of(network.posts()[0]) == [posts[0].media_ref]
