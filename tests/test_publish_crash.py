"""Crash and resume a 6-post thread: the publisher (a subprocess, `tests/publish_worker.py`) is
killed at every position, just before a post is sent and just after X accepted it but before
the ledger recorded it; a second run resumes. Each time the account ends with one unbroken reply
chain of exactly 6 posts, none twice, and the ledger holds each post's id. On a file SQLite
database and on PostgreSQL, for every kill point (each on its own copy of the ledger, three at
a time)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from state.db import connect
from state.models import PostRow, PostStatus, ThreadRow, ThreadStatus
from tests.fakes.fake_x import FakeX
from tests.helpers.postgres import ThrowawayPostgres
from tests.publish_worker import CRASH_ENV, CRASH_EXIT
from tests.test_publish import CREDENTIALS, NOW, add_thread

REPO = Path(__file__).resolve().parents[1]
TEXTS = tuple(f"{n}/6 In Our View this week: story number {n} https://socitm.net/s/{n}" for n in range(1, 7))
PARALLEL = 3  # subprocesses at a time: most of a worker's second is spent importing
KILL_POINTS = [f"{k}:{when}" for k in range(len(TEXTS)) for when in ("before", "after")]


def _run(db_url: str, x_url: str, crash_at: str | None) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != CRASH_ENV}
    if crash_at:
        env[CRASH_ENV] = crash_at
    return subprocess.run([sys.executable, "-m", "tests.publish_worker", db_url, x_url, NOW.isoformat()],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=60)


def _crash_and_resume(db_url: str, crash_at: str) -> None:
    state = FakeX(consumer_key=CREDENTIALS["X_API_KEY"], access_token=CREDENTIALS["X_ACCESS_TOKEN"])
    with state.server() as server:
        crashed = _run(db_url, server.url, crash_at)
        assert crashed.returncode == CRASH_EXIT, crashed.stderr
        position, when = crash_at.split(":")
        assert len(state.posts) == int(position) + (when == "after")
        resumed = _run(db_url, server.url, None)
        assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert summary["threads_done"] == [1] and summary["reconciled"] == (when == "after"), summary
    assert [p["text"] for p in state.posts] == list(TEXTS), "exactly 6 posts, in order, none twice"
    assert [p["in_reply_to"] for p in state.posts] == [None] + [p["id"] for p in state.posts[:-1]]
    db = connect(db_url, migrate=False)
    with db.session() as session:
        rows = session.scalars(select(PostRow).order_by(PostRow.position)).all()
        assert [(r.status, r.provider_id) for r in rows] == [(PostStatus.POSTED, p["id"]) for p in state.posts]
        assert session.get(ThreadRow, 1).status == ThreadStatus.PUBLISHED
    db.dispose()


def _sweep(prepare: Callable[[str], str]) -> None:
    """Every kill point, three at a time, each on its own fresh ledger (`prepare(kill_point)` gives its URL)."""
    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        futures = {point: pool.submit(lambda p=point: _crash_and_resume(prepare(p), p)) for point in KILL_POINTS}
    failures = {point: repr(f.exception()) for point, f in futures.items() if f.exception() is not None}
    assert not failures, failures


@pytest.mark.timeout(120)
def test_killed_at_every_point_of_a_thread_resumes_into_one_chain_on_sqlite(tmp_path):
    template = tmp_path / "template.db"
    db = connect(f"sqlite:///{template}")
    assert add_thread(db, TEXTS) == 1
    with db.engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    db.dispose()

    def prepare(point: str) -> str:
        path = tmp_path / f"ledger-{point.replace(':', '-')}.db"
        shutil.copy(template, path)
        return f"sqlite:///{path}"

    _sweep(prepare)


@pytest.mark.timeout(120)
def test_killed_at_every_point_of_a_thread_resumes_into_one_chain_on_postgres(postgres_url):
    """Each kill point gets its own database, copied from a prepared template that nothing else
    holds a connection to (PostgreSQL refuses to copy a database in use)."""
    base = make_url(postgres_url).database
    databases = ThrowawayPostgres()
    try:
        template = databases.create(name=f"{base}_crash_template")
        db = connect(databases.url(template))
        assert add_thread(db, TEXTS) == 1
        db.dispose()
        names = {point: databases.create(template=template, name=f"{base}_crash_{point.replace(':', '_')}")
                 for point in KILL_POINTS}
        _sweep(lambda point: databases.url(names[point]))
    finally:
        databases.drop_all()
