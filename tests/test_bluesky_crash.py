"""Kill the publisher at every step of a Bluesky thread with a link card and an image, and resume.

The thread: post 1 carries the item's link card (its thumbnail uploaded as a blob), post 2 replies
with an image and its alt text. A clean run makes five requests: createSession, uploadBlob (the
card's thumbnail), createRecord, uploadBlob (the image), createRecord. The publisher is a real
process (`tests/bluesky_publish_worker.py`); the fake PDS kills it with SIGKILL when the k-th
request arrives, either before doing anything with it or after doing it but before answering (the
answer is lost with the process). A second run resumes. Every time the account ends with exactly the
two posts, in one reply chain, carrying their card and image; every blob the fake accepted is used
by a post (an upload the crash interrupted is the same blob when made again: no orphan); and the
ledger holds each post's id. On a file SQLite database and on PostgreSQL, each kill point on its own
copy of the ledger, three at a time.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from compose.threads import thread_hash
from state import ledger
from state.db import Database, connect
from state.models import ItemRow, PostRow, PostStatus, SourceRow, ThreadRow, ThreadStatus
from tests.bluesky_publish_worker import HANDLE, PASSWORD
from tests.fakes.fake_bluesky import FakeBluesky
from tests.fakes.server import FakeServer, RecordedRequest, Reply
from tests.helpers.images import ImageSite, make_image
from tests.helpers.postgres import ThrowawayPostgres
from tests.helpers.staff import add_staff_rows

REPO = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)
TEXTS = ("Councils adopt the shared cloud standard https://example.org/cloud #localgov",
         "How adoption grew, council by council 📈")
ALT = "A bar chart: councils on the shared cloud standard rose from 20 in 2024 to 65 in 2026"
STEPS = ("createSession", "uploadBlob", "createRecord", "uploadBlob", "createRecord")
KILL_POINTS = [f"{k}:{when}" for k in range(len(STEPS)) for when in ("before", "after")]
PARALLEL = 3


def add_thread(db: Database, site_url: str) -> int:
    """The approved thread, about an item whose image becomes the card's thumbnail."""
    with db.session() as session:
        source = SourceRow(name="news", kind="feed", url="https://example.org/feed.xml", section="news")
        session.add(source)
        session.flush()
        item = ItemRow(key="https://example.org/cloud", url="https://example.org/cloud",
                       title="Councils adopt the shared cloud standard", section="news", source_id=source.id,
                       summary_text="Sixty-five councils now run on the shared standard.",
                       image_url=f"{site_url}/photo.jpg", image_alt="Council officers at the launch",
                       content_hash="cloud", published_at=NOW - timedelta(hours=2),
                       first_seen_at=NOW - timedelta(hours=2))
        session.add(item)
        session.flush()
        thread = ThreadRow(network="bluesky", key="item:1", kind="item", item_id=item.id, status=ThreadStatus.DRAFT,
                           content_hash=thread_hash(TEXTS), created_at=NOW - timedelta(hours=1), scheduled_for=NOW)
        thread.posts = [
            PostRow(position=0, text=TEXTS[0], status=PostStatus.PENDING, attempts=0, card_url=item.url),
            PostRow(position=1, text=TEXTS[1], status=PostStatus.PENDING, attempts=0,
                    image_url=f"{site_url}/chart.png", image_alt=ALT)]
        session.add(thread)
        session.flush()
        add_staff_rows(session, {"comms@example.org": "admin"})
        ledger.approve(session, "thread", thread.id, by="comms@example.org", now=NOW - timedelta(minutes=30))
        return thread.id


class KillingPDS:
    """The fake PDS, which kills the publisher when its `kill_at`-th request ("k:before"/"k:after") arrives."""

    def __init__(self, kill_at: str | None) -> None:
        self.state = FakeBluesky(handle=HANDLE, app_password=PASSWORD)
        self.index, self.when = (int(kill_at.split(":")[0]), kill_at.split(":")[1]) if kill_at else (-1, "")
        self.methods: list[str] = []
        self.pid: int | None = None
        self.ready = threading.Event()

    def _kill(self) -> None:
        self.ready.wait(10)
        assert self.pid is not None
        os.kill(self.pid, signal.SIGKILL)

    def app(self, request: RecordedRequest) -> Reply:
        position = len(self.methods)
        self.methods.append(request.path.removeprefix("/xrpc/").rsplit(".", 1)[-1])
        if position == self.index and self.when == "before":
            self._kill()
            return Reply(status=503, json={"error": "Killed", "message": "the client is gone"})
        reply = self.state.app(request)
        if position == self.index and self.when == "after":
            self._kill()  # done, but the answer dies with the process
        return reply


def _run(pds: KillingPDS, server: FakeServer, db_url: str, site_url: str, session_file: Path) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.bluesky_publish_worker", db_url, server.url, site_url, str(session_file),
         NOW.isoformat()], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pds.pid = process.pid
    pds.ready.set()
    return process


def _crash_and_resume(db_url: str, site_url: str, crash_at: str, folder: Path) -> None:
    pds = KillingPDS(crash_at)
    session_file = folder / "bluesky-session.json"
    with FakeServer(pds.app) as server:
        crashed = _run(pds, server, db_url, site_url, session_file)
        _, err = crashed.communicate(timeout=180)
        assert crashed.returncode == -signal.SIGKILL, f"{crash_at}: not killed ({crashed.returncode}): {err[-2000:]}"
        pds.index = -1  # the resumed run is left alone
        pds.ready.clear()
        resumed = _run(pds, server, db_url, site_url, session_file)
        out, err = resumed.communicate(timeout=180)
        assert resumed.returncode == 0, f"{crash_at}: {err[-3000:]}"
    state = pds.state
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["threads_done"] == [1], (crash_at, summary)
    assert [p["text"] for p in state.posts] == list(TEXTS), f"{crash_at}: exactly two posts, in order, none twice"
    first, second = state.posts
    assert second["parent"] == first["uri"] and second["root"] == {"uri": first["uri"], "cid": first["cid"]}
    card = first["embed"]["external"]
    assert (card["uri"], card["title"]) == ("https://example.org/cloud", "Councils adopt the shared cloud standard")
    assert card["thumb"]["mimeType"] == "image/jpeg"
    [picture] = second["embed"]["images"]
    assert picture["alt"] == ALT and picture["image"]["mimeType"] == "image/png"
    assert set(state.blobs) == state.referenced_blobs(), f"{crash_at}: an uploaded blob no post uses"
    assert len(state.blobs) == 2
    db = connect(db_url, migrate=False)
    try:
        with db.session() as session:
            rows = session.scalars(select(PostRow).order_by(PostRow.position)).all()
            assert [(r.status, r.provider_id.split("|")[0]) for r in rows] == \
                [(PostStatus.POSTED, p["uri"]) for p in state.posts]
            assert all(r.media_ref for r in rows)
            assert session.get(ThreadRow, 1).status == ThreadStatus.PUBLISHED
    finally:
        db.dispose()


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    images = ImageSite()
    images.files["/photo.jpg"] = (make_image(2400, 1600), "image/jpeg")  # shrunk to 2,000 px for the thumb
    images.files["/chart.png"] = (make_image(1200, 800, "PNG"), "image/png")
    with images.server() as server:
        yield server.url


def _sweep(prepare: Callable[[str], str], site_url: str, tmp_path: Path) -> None:
    def one(point: str) -> None:
        folder = tmp_path / point.replace(":", "-")
        folder.mkdir()
        _crash_and_resume(prepare(point), site_url, point, folder)

    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        futures = {point: pool.submit(one, point) for point in KILL_POINTS}
    failures = {point: repr(f.exception()) for point, f in futures.items() if f.exception() is not None}
    assert not failures, failures


def test_a_clean_run_makes_the_steps_the_kill_points_are_made_of(tmp_path, site):
    db = connect(f"sqlite:///{tmp_path / 'ledger.db'}")
    add_thread(db, site)
    db.dispose()
    pds = KillingPDS(None)
    with FakeServer(pds.app) as server:
        process = _run(pds, server, f"sqlite:///{tmp_path / 'ledger.db'}", site, tmp_path / "session.json")
        _, err = process.communicate(timeout=180)
    assert process.returncode == 0, err[-3000:]
    assert tuple(pds.methods) == STEPS


@pytest.mark.timeout(600)  # 20 publisher processes; about 4 minutes on a loaded 2-core machine
def test_killed_at_every_step_of_a_post_with_a_card_and_an_image_resumes_without_duplicates_on_sqlite(
        tmp_path, site):
    template = tmp_path / "template.db"
    db = connect(f"sqlite:///{template}")
    assert add_thread(db, site) == 1
    with db.engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    db.dispose()

    def prepare(point: str) -> str:
        path = tmp_path / f"ledger-{point.replace(':', '-')}.db"
        shutil.copy(template, path)
        return f"sqlite:///{path}"

    _sweep(prepare, site, tmp_path)


@pytest.mark.timeout(600)  # 20 publisher processes; about 4 minutes on a loaded 2-core machine
def test_killed_at_every_step_of_a_post_with_a_card_and_an_image_resumes_without_duplicates_on_postgres(
        tmp_path, site, postgres_url):
    base = make_url(postgres_url).database
    databases = ThrowawayPostgres()
    try:
        template = databases.create(name=f"{base}_bsky_template")
        db = connect(databases.url(template))
        assert add_thread(db, site) == 1
        db.dispose()
        names = {point: databases.create(template=template, name=f"{base}_bsky_{point.replace(':', '_')}")
                 for point in KILL_POINTS}
        _sweep(lambda point: databases.url(names[point]), site, tmp_path)
    finally:
        databases.drop_all()
