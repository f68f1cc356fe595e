"""Crash and resume: a 10,000-recipient edition, the sender SIGKILLed again and again.

The sender runs in a subprocess against the fake SendGrid (which counts what it accepted per
subscriber). It is killed at random moments, including while requests are in flight, and
resumed with `deliver_edition` each time. At the end every subscriber got exactly one message,
or is listed as ambiguous (and got at most one): never two. Run on SQLite and on PostgreSQL;
two concurrent senders on PostgreSQL never send a batch twice. The same holds for an edition
whose readers chose sections (`sectioned`): batches grouped by section set, each its own body,
readers with nothing this week skipped, every other reader exactly one message of their sections.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select, text

from state.db import connect
from state.models import BatchStatus, DeliveryBatchRow, DeliveryRow, DeliveryStatus
from tests.fakes.fake_sendgrid import FakeSendGrid
from tests.helpers.postgres import ThrowawayPostgres

REPO = Path(__file__).resolve().parents[1]
RECIPIENTS = 10_000
BATCH = 100
KEY = "SG.test-key"


def _sender(db_url: str, fake_url: str, outbox: str, worker: str, sectioned: str = "") -> None:
    """The subprocess: resume the send until it finishes (or is killed)."""
    from connectors.channels.sendgrid import SendGridChannel
    from flows.stages.deliver import deliver_edition
    from tests.helpers.sectioned import sectioned_config
    from tests.test_deliver import NOW, SECRET, make_config

    db = connect(db_url)
    config = (sectioned_config(Path(outbox), batch_size=BATCH, concurrency=4) if sectioned
              else make_config(Path(outbox), batch_size=BATCH, concurrency=4))
    print("started", flush=True)
    summary = deliver_edition(db, config, now=NOW, edition_id=1, secret_key=SECRET, worker=worker,
                              channel=SendGridChannel(KEY, host=fake_url, timeout_s=10))
    print(summary.message, flush=True)


def _spawn(db_url: str, fake_url: str, tmp_path: Path, worker: str = "local", sectioned: bool = False
           ) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "tests.test_crash_resume", db_url, fake_url, str(tmp_path), worker,
                             "sectioned" if sectioned else ""],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _prepare(db_url: str) -> None:
    from tests.test_deliver import add_subscribers, make_edition

    db = connect(db_url)
    add_subscribers(db, RECIPIENTS)
    assert make_edition(db) == 1
    db.dispose()


SECTIONED_WITH_ITEMS = ("news", "blogs", "publications")  # events has nothing this week


def _prepare_sectioned(db_url: str, tmp_path: Path) -> set[int]:
    """RECIPIENTS readers spread over every section choice; the ids of those who get an email."""
    from tests.helpers.sectioned import (
        add_items,
        add_readers,
        build_and_approve,
        every_combination,
        sectioned_config,
    )

    db = connect(db_url)
    choices = every_combination()
    spread = [choices[i % len(choices)] for i in range(RECIPIENTS)]
    add_readers(db, spread)
    add_items(db, SECTIONED_WITH_ITEMS)
    assert build_and_approve(db, sectioned_config(tmp_path / "outbox")) == 1
    db.dispose()
    return {i + 1 for i, chosen in enumerate(spread) if chosen is None or set(chosen) & set(SECTIONED_WITH_ITEMS)}


def _crash_and_resume(db_url: str, tmp_path: Path, seed: int, sectioned: bool = False) -> None:
    reached = _prepare_sectioned(db_url, tmp_path) if sectioned else set(range(1, RECIPIENTS + 1))
    if not sectioned:
        _prepare(db_url)
    rng = random.Random(seed)
    fake = FakeSendGrid(api_key=KEY, delay_s=0.05, validate=False)
    fake.keep_bodies = False
    kills = 0
    with fake:
        for _ in range(rng.randint(10, 14)):
            sender = _spawn(db_url, fake.url, tmp_path, sectioned=sectioned)
            assert sender.stdout is not None
            assert sender.stdout.readline().strip() == "started", sender.stderr.read() if sender.stderr else ""
            if rng.random() < 0.75:  # most kills land while batches are being sent (requests in flight)
                before = fake.accepted_requests
                deadline = time.monotonic() + 20
                while fake.accepted_requests == before and sender.poll() is None and time.monotonic() < deadline:
                    time.sleep(0.005)
                time.sleep(rng.uniform(0.0, 0.25))
            else:  # the others anywhere, including during planning and claiming
                time.sleep(rng.uniform(0.0, 0.5))
            if sender.poll() is not None:
                break
            sender.send_signal(signal.SIGKILL)
            sender.wait()
            kills += 1
        last = _spawn(db_url, fake.url, tmp_path, sectioned=sectioned)
        out, err = last.communicate(timeout=120)
        assert last.returncode == 0, err
        received = dict(fake.received)
    assert kills >= 5, "the sender finished before it could be killed often enough"
    assert 0 < fake.accepted_requests < RECIPIENTS // BATCH + 16 + 8 * kills
    db = connect(db_url)
    with db.session() as session:
        status = dict(session.execute(select(DeliveryRow.subscriber_id, DeliveryRow.status)).all())
        ambiguous_batches = session.scalars(select(DeliveryBatchRow.id)
                                            .where(DeliveryBatchRow.status == BatchStatus.AMBIGUOUS)).all()
        claimed_pending = session.scalars(select(DeliveryBatchRow.id).where(
            DeliveryBatchRow.status.in_([BatchStatus.PLANNED, BatchStatus.SENDING]))).all()
    db.dispose()
    assert len(status) == RECIPIENTS and not claimed_pending
    twice = {sid: n for sid, n in received.items() if n > 1}
    assert not twice, f"{len(twice)} subscribers got the edition more than once"
    for subscriber_id, state in status.items():
        if subscriber_id not in reached:  # nothing in their sections this week, or they chose none
            assert state == DeliveryStatus.SKIPPED and not received.get(subscriber_id), (subscriber_id, state)
        elif state == DeliveryStatus.AMBIGUOUS:
            assert received.get(subscriber_id, 0) in (0, 1)
        else:
            assert state == DeliveryStatus.ACCEPTED and received.get(subscriber_id) == 1, (subscriber_id, state)
    accepted = sum(1 for s in status.values() if s == DeliveryStatus.ACCEPTED)
    unsent = sum(1 for sid, s in status.items() if s == DeliveryStatus.AMBIGUOUS and not received.get(sid))
    print(f"\n{kills} kills: {accepted} accepted, {len(reached) - accepted} ambiguous ({unsent} of them never left) "
          f"in {len(ambiguous_batches)} "
          f"batches, last run: {out.strip()}")


@pytest.fixture
def pg_url():
    """A throwaway PostgreSQL database for this test (never skipped: an unreachable server fails)."""
    databases = ThrowawayPostgres()
    yield databases.url(databases.create())
    databases.drop_all()


@pytest.mark.timeout(120)
def test_sigkill_at_random_points_never_sends_twice_sqlite(tmp_path):
    _crash_and_resume(f"sqlite:///{tmp_path}/crash.db", tmp_path, seed=20261126)


@pytest.mark.postgres
@pytest.mark.timeout(120)
def test_sigkill_at_random_points_never_sends_twice_postgres(tmp_path, pg_url):
    _crash_and_resume(pg_url, tmp_path, seed=5)


@pytest.mark.timeout(120)
def test_sigkill_never_sends_twice_when_readers_choose_sections_sqlite(tmp_path):
    _crash_and_resume(f"sqlite:///{tmp_path}/crash.db", tmp_path, seed=18, sectioned=True)


@pytest.mark.postgres
@pytest.mark.timeout(120)
def test_sigkill_never_sends_twice_when_readers_choose_sections_postgres(tmp_path, pg_url):
    _crash_and_resume(pg_url, tmp_path, seed=1818, sectioned=True)


@pytest.mark.postgres
@pytest.mark.timeout(120)
def test_two_concurrent_senders_never_send_a_batch_twice(tmp_path, pg_url):
    from connectors.channels.sendgrid import SendGridChannel
    from flows.stages.deliver import deliver_edition
    from tests.test_deliver import NOW, SECRET, make_config

    _prepare(pg_url)
    db = connect(pg_url)
    config = make_config(tmp_path, batch_size=100, concurrency=3)
    with FakeSendGrid(api_key=KEY, delay_s=0.02, validate=False) as fake:
        fake.keep_bodies = False
        results = {}

        def run(worker: str) -> None:
            results[worker] = deliver_edition(db, config, now=NOW, edition_id=1, secret_key=SECRET, worker=worker,
                                              channel=SendGridChannel(KEY, host=fake.url, timeout_s=10))

        threads = [threading.Thread(target=run, args=(w,)) for w in ("alpha", "beta")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert set(fake.received) == set(range(1, RECIPIENTS + 1))
        assert max(fake.received.values()) == 1
    with db.session() as session:
        by_worker = dict(session.execute(text(
            "SELECT claimed_by, count(*) FROM delivery_batches GROUP BY claimed_by")).all())
    assert set(by_worker) == {"alpha", "beta"} and sum(by_worker.values()) == RECIPIENTS // 100
    assert any(r.sent for r in results.values())
    db.dispose()


if __name__ == "__main__":
    _sender(*sys.argv[1:6])
