"""Publishing posts that carry an image, through the outbox channel, on SQLite and PostgreSQL:
the media is uploaded and its reference recorded (and committed) before the post is created, a
resumed run publishes with the recorded reference and never uploads again, a post whose image has
no alt text is never published (the thread waits with the reason), and an image that cannot be
used holds the thread for staff. Images come from a loopback site through the guarded fetcher."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

from compose.config import Config
from connectors.channels.base import Attachment, PostReceipt
from connectors.channels.outbox_posts import OutboxPostChannel
from flows.stages.publish import publish_due_posts
from state.db import Database
from state.models import ItemRow, PostStatus, SourceRow, ThreadRow, ThreadStatus
from state.post_media import set_image_alt
from state.status_report import failures
from tests.fakes.server import FakeServer, Fault
from tests.helpers.images import ImageSite, make_image
from tests.helpers.media_threads import add_thread as _add_thread
from tests.helpers.media_threads import rows

NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)


class Crash(BaseException):
    """The publisher dies (not an error any code catches)."""


class RecordingOutbox(OutboxPostChannel):
    """The outbox channel, recording each upload and publish; `crash_on_publish` dies once before
    the post is written (after the upload was recorded)."""

    def __init__(self, network: str, outbox_dir: str | Path, calls: list[tuple[str, object]], *,
                 crash_on_publish: bool = False) -> None:
        super().__init__(network, outbox_dir)
        self.calls, self.crash_on_publish = calls, crash_on_publish

    def upload(self, attachment: Attachment, *, thread_key: str = "") -> str | None:
        self.calls.append(("upload", attachment))
        return super().upload(attachment, thread_key=thread_key)

    def publish(self, text: str, *, reply_to: str | None = None, thread_key: str = "",
                attachment: Attachment | None = None, media_ref: str | None = None) -> PostReceipt:
        self.calls.append(("publish", media_ref))
        if self.crash_on_publish:
            self.crash_on_publish = False
            raise Crash
        return super().publish(text, reply_to=reply_to, thread_key=thread_key, attachment=attachment,
                               media_ref=media_ref)


@pytest.fixture
def site() -> Iterator[tuple[ImageSite, FakeServer]]:
    images = ImageSite()
    with images.server() as server:
        yield images, server


def make_config(tmp_path: Path, server: FakeServer, **mastodon: object) -> Config:
    host = server.url.removeprefix("http://")
    return Config.model_validate({
        "organisation": {"name": "Example Org", "site_url": "https://example.org", "postal_address": "1 High St"},
        "edition": {"from_email": "news@example.org", "from_name": "Example News", "reply_to": "ed@example.org",
                    "public_url": "https://news.example.org"},
        "sections": [{"key": "news", "title": "News"}],
        "fetch": {"allow_hosts": [host]},  # the test's image host is on loopback
        "social": {"outbox_dir": str(tmp_path / "outbox"), "x": {"enabled": False},
                   "mastodon": {"enabled": True, "min_spacing_minutes": 0, **mastodon}},
    })






def add_thread(db: Database, posts: list[dict[str, object]], *, key: str = "item:1") -> int:
    return _add_thread(db, posts, now=NOW, key=key)


def run(db: Database, config: Config, channel: OutboxPostChannel):
    return publish_due_posts(db.sessions, config, now=NOW, channel_for=lambda network: channel, sleep=lambda s: None)


def outbox_posts(config: Config, key: str = "item-1") -> list[dict]:
    return json.loads((Path(config.social.outbox_dir) / "mastodon" / f"{key}.json").read_text())["posts"]


def test_the_upload_is_recorded_before_the_post_and_a_resumed_run_reuses_it(db, site, tmp_path):
    images, server = site
    images.files["/photo.jpg"] = (make_image(3000, 2000, gps=True), "image/jpeg")
    config = make_config(tmp_path, server)
    thread_id = add_thread(db, [{"text": "Councils adopt the standard https://example.org/a",
                                 "image_url": f"{server.url}/photo.jpg", "image_alt": "A council chamber, seen from the gallery"},
                                {"text": "Read more in the report"}])
    calls: list[tuple[str, object]] = []
    channel = RecordingOutbox("mastodon", config.social.outbox_dir, calls, crash_on_publish=True)
    with pytest.raises(Crash):
        run(db, config, channel)
    assert [name for name, _ in calls] == ["upload", "publish"]
    uploaded = calls[0][1]
    assert isinstance(uploaded, Attachment) and uploaded.image is not None
    assert uploaded.image.alt == "A council chamber, seen from the gallery"
    _, posts = rows(db, thread_id)
    assert posts[0].media_ref and posts[0].status == PostStatus.POSTING  # committed before the post left
    recorded = posts[0].media_ref
    assert json.loads(recorded)["alt"] == "A council chamber, seen from the gallery"

    calls.clear()
    summary = run(db, config, channel)  # resumed: the post is looked up, not found, sent with the recorded media
    assert summary.threads_done == [thread_id]
    assert [name for name, _ in calls] == ["publish", "publish"]
    assert calls[0][1] == recorded and calls[1][1] is None
    assert len(server.requests_to("/photo.jpg")) == 1  # nor fetched again
    written = outbox_posts(config)
    assert written[0]["image"] == json.loads(recorded) and "image" not in written[1]
    media = Path(config.social.outbox_dir) / "mastodon" / "media" / json.loads(recorded)["file"]
    with Image.open(media) as image:  # fitted to the network and stripped of its GPS position
        assert max(image.size) <= OutboxPostChannel.image_limits.max_edge_px
        assert image.getexif().get(0x8825) is None and not image.info.get("exif")
    thread, posts = rows(db, thread_id)
    assert thread.status == ThreadStatus.PUBLISHED and posts[0].media_ref == recorded


def test_an_image_without_alt_text_is_never_published(db, site, tmp_path):
    images, server = site
    images.files["/photo.jpg"] = (make_image(), "image/jpeg")
    config = make_config(tmp_path, server)
    thread_id = add_thread(db, [{"text": "Opening post"},
                                {"text": "The new hub", "image_url": f"{server.url}/photo.jpg", "image_alt": "  "}])
    calls: list[tuple[str, object]] = []
    summary = run(db, config, RecordingOutbox("mastodon", config.social.outbox_dir, calls))
    assert calls == [] and not server.requests  # nothing posted, nothing fetched
    assert summary.posted == 0 and len(summary.waiting) == 1 and "alt text" in summary.waiting[0]
    thread, posts = rows(db, thread_id)
    assert thread.status == ThreadStatus.APPROVED  # waiting, not failed
    assert "post 2 carries an image without alt text" in (thread.error or "")
    assert all(p.status == PostStatus.PENDING for p in posts)
    with db.session() as session:  # `syndicate status` lists it under "Needs attention"
        assert [(f["kind"], f["id"]) for f in failures(session)] == [("thread-no-alt", thread_id)]
        assert "waiting for alt text" in failures(session)[0]["error"]
        set_image_alt(session, posts[1].id, "The hub's new front door", by="comms@example.org", now=NOW)
        session.commit()
    thread, _ = rows(db, thread_id)
    assert thread.error is None  # answered: the desk no longer says it waits


def test_with_images_off_the_post_goes_without_its_image(db, site, tmp_path):
    images, server = site
    config = make_config(tmp_path, server, images="off")
    thread_id = add_thread(db, [{"text": "The new hub", "image_url": f"{server.url}/photo.jpg"}])
    calls: list[tuple[str, object]] = []
    summary = run(db, config, RecordingOutbox("mastodon", config.social.outbox_dir, calls))
    assert summary.threads_done == [thread_id] and calls == [("publish", None)] and not server.requests
    assert "image" not in outbox_posts(config)[0]


@pytest.mark.parametrize(("body", "content_type", "reason"), [
    (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml", "is image/svg+xml"),
    (b"<html>a page</html>", "text/html", "is text/html"),
    (b"not really a png", "image/png", "cannot be read as an image"),
])
def test_an_unusable_image_stops_the_thread_for_staff(db, site, tmp_path, body, content_type, reason):
    images, server = site
    images.files["/image"] = (body, content_type)
    config = make_config(tmp_path, server)
    thread_id = add_thread(db, [{"text": "The new hub", "image_url": f"{server.url}/image", "image_alt": "The hub"}])
    calls: list[tuple[str, object]] = []
    summary = run(db, config, RecordingOutbox("mastodon", config.social.outbox_dir, calls))
    assert calls == [] and summary.posted == 0
    assert len(summary.failed) == 1 and reason in summary.failed[0]
    thread, posts = rows(db, thread_id)
    assert thread.status == ThreadStatus.FAILED and reason in (thread.error or "")
    assert posts[0].status == PostStatus.FAILED and "nothing sent" in (posts[0].error or "")


def test_an_image_host_that_does_not_answer_makes_the_thread_wait(db, site, tmp_path):
    images, server = site
    images.files["/photo.jpg"] = (make_image(), "image/jpeg")
    server.inject(Fault(status=503))
    config = make_config(tmp_path, server)
    thread_id = add_thread(db, [{"text": "The new hub", "image_url": f"{server.url}/photo.jpg", "image_alt": "The hub"}])
    calls: list[tuple[str, object]] = []
    channel = RecordingOutbox("mastodon", config.social.outbox_dir, calls)
    summary = run(db, config, channel)
    assert calls == [] and len(summary.waiting) == 1 and "HTTP 503" in summary.waiting[0]
    thread, _ = rows(db, thread_id)
    assert thread.status == ThreadStatus.APPROVED
    assert run(db, config, channel).threads_done == [thread_id]  # the next run fetches it
    assert [name for name, _ in calls] == ["upload", "publish"]


def test_an_image_on_an_internal_address_is_refused(db, site, tmp_path):
    images, server = site
    images.files["/photo.jpg"] = (make_image(), "image/jpeg")
    config = make_config(tmp_path, server)
    config = config.model_copy(update={"fetch": config.fetch.model_copy(update={"allow_hosts": ()})})
    thread_id = add_thread(db, [{"text": "The new hub", "image_url": f"{server.url}/photo.jpg", "image_alt": "The hub"}])
    summary = run(db, config, RecordingOutbox("mastodon", config.social.outbox_dir, []))
    assert len(summary.failed) == 1 and "loopback address" in summary.failed[0]
    assert not server.requests
    assert rows(db, thread_id)[0].status == ThreadStatus.FAILED


def test_a_card_is_built_and_its_thumbnail_uploaded_where_the_network_builds_cards(db, site, tmp_path):
    images, server = site
    images.files["/item.jpg"] = (make_image(1200, 630), "image/jpeg")
    config = make_config(tmp_path, server)
    with db.session() as session:
        source = SourceRow(name="news", kind="feed", url="https://example.org/feed.xml", section="news")
        session.add(source)
        session.flush()
        session.add(ItemRow(key="https://example.org/a", url="https://example.org/a", title="Councils adopt the standard",
                            summary_text="What was agreed, and what it means for services.", section="news",
                            source_id=source.id, content_hash="a", image_url=f"{server.url}/item.jpg",
                            published_at=NOW, first_seen_at=NOW))
        session.flush()
        item_id = session.scalars(select(ItemRow.id)).one()
    thread_id = add_thread(db, [{"text": "Councils adopt the standard https://example.org/a",
                                 "card_url": "https://example.org/a"}], key=f"item:{item_id}")
    with db.session() as session:
        session.get(ThreadRow, thread_id).item_id = item_id
    calls: list[tuple[str, object]] = []
    channel = RecordingOutbox("bluesky", config.social.outbox_dir, calls)
    assert channel.builds_cards
    with db.session() as session:
        session.get(ThreadRow, thread_id).network = "bluesky"
    summary = run(db, config, channel)
    assert summary.threads_done == [thread_id] and [name for name, _ in calls] == ["upload", "publish"]
    written = json.loads((Path(config.social.outbox_dir) / "bluesky" / f"item-{item_id}.json").read_text())["posts"]
    card = written[0]["card"]
    assert card["title"] == "Councils adopt the standard" and card["description"].startswith("What was agreed")
    assert card["thumb"]["alt"] == "Councils adopt the standard"  # the item's title: it gave no alt text
    assert rows(db, thread_id)[1][0].media_ref
