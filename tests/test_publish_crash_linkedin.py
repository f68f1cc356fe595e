"""Crash and resume a LinkedIn post with an article preview and an image: the publisher (a
subprocess, `tests/publish_worker_linkedin.py`, running the real channel against the fake LinkedIn)
is killed at every step (initializeUpload, the PUT of the bytes, POST /rest/posts), just before the
request leaves and just after LinkedIn answered it; a second run resumes. Each time the page ends
with exactly one post, its article preview's thumbnail is the image, every image whose bytes
LinkedIn received is that one (no upload left behind), and the ledger holds the post's id. On a
file SQLite database and on PostgreSQL, each kill point on its own copy of the ledger."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
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
from tests.fakes.fake_linkedin import FakeLinkedIn
from tests.helpers.images import ImageSite, make_image
from tests.helpers.postgres import ThrowawayPostgres
from tests.helpers.staff import add_staff_rows
from tests.publish_worker_linkedin import CRASH_ENV, CRASH_EXIT, TOKEN

REPO = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)
PARALLEL = 3
KILL_POINTS = [f"{step}:{when}" for step in ("init", "put", "post") for when in ("before", "after")]
ARTICLE = "https://socitm.net/news/ai-in-councils"
TEXT = f"AI in councils: what five councils learned #localgov {ARTICLE}"
ALT = "Councillors around a table with laptops"


def add_post_with_card_and_image(db: Database, image_url: str) -> int:
    """An approved LinkedIn item thread: one post with the item's link (its card) and an image."""
    with db.session() as session:
        source = SourceRow(name="site", kind="feed", url="https://socitm.net/feed", section="news")
        session.add(source)
        session.flush()
        item = ItemRow(key=ARTICLE, url=ARTICLE, title="AI in councils: what works", section="news",
                       summary_text="Five councils on what they learned.", image_url=image_url, image_alt=ALT,
                       source_id=source.id, content_hash="0" * 64, published_at=NOW - timedelta(days=1),
                       first_seen_at=NOW - timedelta(days=1))
        session.add(item)
        session.flush()
        thread = ThreadRow(network="linkedin", key=f"item:{item.id}", kind="item", status=ThreadStatus.DRAFT,
                           item_id=item.id, content_hash=thread_hash([TEXT]), created_at=NOW - timedelta(hours=1),
                           scheduled_for=NOW)
        thread.posts = [PostRow(position=0, text=TEXT, status=PostStatus.PENDING, attempts=0, image_url=image_url,
                                image_alt=ALT, card_url=ARTICLE)]
        session.add(thread)
        session.flush()
        add_staff_rows(session, {"comms@example.org": "admin"})
        ledger.approve(session, "thread", thread.id, by="comms@example.org", now=NOW - timedelta(minutes=30))
        return thread.id


def _run(db_url: str, linkedin_url: str, image_host: str, journal: Path,
         crash_at: str | None) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != CRASH_ENV}
    if crash_at:
        env[CRASH_ENV] = crash_at
    return subprocess.run([sys.executable, "-m", "tests.publish_worker_linkedin", db_url, linkedin_url, image_host,
                           str(journal), NOW.isoformat()], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=60)


def _crash_and_resume(db_url: str, image_url: str, journal: Path, crash_at: str) -> None:
    image_host = image_url.split("/")[2]
    page = FakeLinkedIn(access_token=TOKEN)
    with page.server() as server:
        crashed = _run(db_url, server.url, image_host, journal, crash_at)
        assert crashed.returncode == CRASH_EXIT, crashed.stderr
        assert len(page.posts) == (crash_at == "post:after")
        resumed = _run(db_url, server.url, image_host, journal, None)
        assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert summary["threads_done"] == [1], summary
    [post] = page.posts  # exactly one post: none twice
    thumbnail = post["content"]["article"]["thumbnail"]
    assert post["content"]["article"] == {"source": ARTICLE, "title": "AI in councils: what works",
                                          "description": "Five councils on what they learned.",
                                          "thumbnail": thumbnail, "thumbnailAltText": ALT}
    assert page.uploaded() == [thumbnail], "every image LinkedIn received is the one the post shows"
    assert not page.violations, page.violations
    db = connect(db_url, migrate=False)
    with db.session() as session:
        [row] = session.scalars(select(PostRow)).all()
        assert (row.status, row.provider_id, row.media_ref) == (PostStatus.POSTED, post["id"], thumbnail)
        assert session.get(ThreadRow, 1).status == ThreadStatus.PUBLISHED
    db.dispose()
    assert "item:1" not in (journal.read_text() if journal.exists() else "")  # nothing left to resume


def _sweep(tmp_path: Path, image_url: str, url_for: Callable[[str], str]) -> None:
    """Every kill point, three at a time, each on its own ledger (`url_for(kill_point)`) and journal."""
    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        futures = {point: pool.submit(_crash_and_resume, url_for(point), image_url,
                                      tmp_path / f"journal-{point.replace(':', '-')}.json", point)
                   for point in KILL_POINTS}
    failures = {point: repr(f.exception()) for point, f in futures.items() if f.exception() is not None}
    assert not failures, failures


def _image_site() -> ImageSite:
    return ImageSite({"/meeting.jpg": (make_image(1200, 800), "image/jpeg")})


@pytest.mark.timeout(480)
def test_killed_at_every_step_of_a_linkedin_post_resumes_to_one_post_and_no_stray_image_on_sqlite(tmp_path):
    with _image_site().server() as images:
        image_url = f"{images.url}/meeting.jpg"
        template = tmp_path / "template.db"
        db = connect(f"sqlite:///{template}")
        assert add_post_with_card_and_image(db, image_url) == 1
        with db.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        db.dispose()

        def prepare(point: str) -> str:
            path = tmp_path / f"ledger-{point.replace(':', '-')}.db"
            shutil.copy(template, path)
            return f"sqlite:///{path}"

        _sweep(tmp_path, image_url, prepare)


@pytest.mark.timeout(480)
def test_killed_at_every_step_of_a_linkedin_post_resumes_to_one_post_and_no_stray_image_on_postgres(
        tmp_path, postgres_url):
    """Each kill point gets its own database, copied from a template nothing else holds open."""
    base = make_url(postgres_url).database
    databases = ThrowawayPostgres()
    try:
        with _image_site().server() as images:
            image_url = f"{images.url}/meeting.jpg"
            template = databases.create(name=f"{base}_li_crash_template")
            db = connect(databases.url(template))
            assert add_post_with_card_and_image(db, image_url) == 1
            db.dispose()
            names = {point: databases.create(template=template, name=f"{base}_li_crash_{point.replace(':', '_')}")
                     for point in KILL_POINTS}
            _sweep(tmp_path, image_url, lambda point: databases.url(names[point]))
    finally:
        databases.drop_all()
