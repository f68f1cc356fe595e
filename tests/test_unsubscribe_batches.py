"""One-click unsubscribes written many to a transaction (`state.subscribers.unsubscribe_many`, and
`web.public.unsubscribes`, a `web.group_commit.GroupCommit`, which groups the requests of one web process): the same ledger as one
`unsubscribe` at a time, each request answered after its own commit, and two processes' writers at
once on PostgreSQL neither deadlock nor lose a count."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select

from state import figures
from state.db import connect
from state.models import (
    AuditRow,
    DeliveryRow,
    DeliveryStatus,
    EditionRow,
    EventRow,
    SubscriberRow,
    SubscriberStatus,
)
from state.subscribers import UnsubscribeAsk, unsubscribe, unsubscribe_many
from web.public import unsubscribes

NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)


def _ledger(db, readers: int) -> int:
    """`readers` active subscribers (ids 1..readers) and a sent edition delivered to each; its id."""
    with db.session() as session:
        session.execute(insert(SubscriberRow), [
            {"email": f"reader{n}@example.org", "name": f"Reader {n}", "status": SubscriberStatus.ACTIVE,
             "consent_source": "test", "created_at": NOW, "status_changed_at": NOW} for n in range(1, readers + 1)])
        edition = EditionRow(slug="2026-11-26", title="In Our View", subject="In Our View", html="<p>x</p>", text="x",
                             content_hash="h1", built_at=NOW - timedelta(hours=1))
        session.add(edition)
        session.flush()
        ids = list(session.scalars(select(SubscriberRow.id).order_by(SubscriberRow.id)))
        session.execute(insert(DeliveryRow), [
            {"edition_id": edition.id, "subscriber_id": sid, "status": DeliveryStatus.ACCEPTED, "updated_at": NOW}
            for sid in ids])
        return edition.id


def _trace(session, subscriber_id: int, edition_id: int) -> tuple[object, ...]:
    """What an unsubscribe leaves in the ledger about one reader (ids and times aside)."""
    row = session.get(SubscriberRow, subscriber_id)
    audits = session.execute(select(AuditRow.actor, AuditRow.action, AuditRow.detail).where(
        AuditRow.subject_kind == "subscriber", AuditRow.subject_id == subscriber_id)).all()
    events = session.execute(select(EventRow.name, EventRow.payload).where(
        EventRow.resource_id == f"subscriber:{subscriber_id}")).all()
    stamp = session.scalar(select(DeliveryRow.unsubscribed_at).where(
        DeliveryRow.edition_id == edition_id, DeliveryRow.subscriber_id == subscriber_id))
    payloads = [(name, {k: v for k, v in payload.items() if k != "id"}) for name, payload in events]
    return (row.status, row.status_reason, row.status_changed_at, [tuple(a) for a in audits], payloads,
            stamp is not None)


def test_a_batch_leaves_the_ledger_as_one_unsubscribe_at_a_time(db):
    edition = _ledger(db, 8)
    later = NOW + timedelta(minutes=5)
    with db.session() as session:  # readers 1-3 one at a time (reader 2 clicked twice, reader 3 without an edition)
        unsubscribe(session, 1, reason="unsubscribe link (edition 1)", now=later, edition_id=edition)
        unsubscribe(session, 2, reason="unsubscribe link (edition 1)", now=later, edition_id=edition)
        unsubscribe(session, 2, reason="unsubscribe link (edition 1)", now=later, edition_id=edition)
        unsubscribe(session, 3, reason="unsubscribe link", now=later)
    with db.session() as session:  # readers 4-6 the same, in one batch, with an unknown reader among them
        found = unsubscribe_many(session, [
            UnsubscribeAsk(4, reason="unsubscribe link (edition 1)", now=later, edition_id=edition),
            UnsubscribeAsk(5, reason="unsubscribe link (edition 1)", now=later, edition_id=edition),
            UnsubscribeAsk(999, reason="unsubscribe link (edition 1)", now=later, edition_id=edition),
            UnsubscribeAsk(5, reason="unsubscribe link (edition 1)", now=later, edition_id=edition),
            UnsubscribeAsk(6, reason="unsubscribe link", now=later)])
        assert [row.id if row else None for row in found] == [4, 5, None, 5, 6]
    with db.session() as session:
        for one, batched in ((1, 4), (2, 5), (3, 6)):
            assert _trace(session, one, edition) == _trace(session, batched, edition)
        assert _trace(session, 7, edition)[0] == SubscriberStatus.ACTIVE
        assert figures.edition_figures(session, edition).unsubscribes == 4
        assert figures.recount(session, edition, now=later).unsubscribes == 4


def test_each_request_is_answered_after_its_commit_and_a_failing_one_fails_alone(db, monkeypatch):
    edition = _ledger(db, 6)
    writer = unsubscribes(db)
    real = unsubscribe_many

    def refuses_reader_3(session, asks):
        if any(ask.subscriber_id == 3 for ask in asks):
            raise RuntimeError("the ledger refused reader 3")
        return real(session, asks)

    monkeypatch.setattr("web.public.unsubscribe_many", refuses_reader_3)

    async def all_at_once() -> list[object]:
        asks = [UnsubscribeAsk(sid, reason="unsubscribe link", now=NOW, edition_id=edition) for sid in (1, 2, 3, 4, 99)]
        return await asyncio.gather(*(writer.run(ask) for ask in asks), return_exceptions=True)

    outcomes = asyncio.run(all_at_once())
    assert outcomes[:2] == [True, True] and outcomes[3:] == [True, False]
    assert isinstance(outcomes[2], RuntimeError)
    with db.session() as session:
        statuses = dict(session.execute(select(SubscriberRow.id, SubscriberRow.status)).tuples().all())
        assert [statuses[sid] for sid in (1, 2, 3, 4, 5)] == ["unsubscribed", "unsubscribed", "active", "unsubscribed",
                                                              "active"]
        assert figures.edition_figures(session, edition).unsubscribes == 3


def test_two_web_processes_writing_at_once_neither_deadlock_nor_lose_a_count(db):
    """Two writers (as `syndicate web --workers 2` has, each with its own connections) unsubscribe
    overlapping readers in opposite orders, many requests each, at once."""
    readers = 120
    edition = _ledger(db, readers)
    url = db.engine.url.render_as_string(hide_password=False)
    answers: list[list[object]] = [[], []]

    def worker(n: int) -> None:
        own = connect(url)
        writer = unsubscribes(own)
        ids = list(range(1, readers + 1)) if n == 0 else list(range(readers, 0, -1))

        async def load() -> None:
            answers[n] = await asyncio.gather(*(writer.run(UnsubscribeAsk(
                sid, reason="unsubscribe link (edition 1)", now=NOW, edition_id=edition)) for sid in ids),
                return_exceptions=True)

        try:
            asyncio.run(load())
        finally:
            own.dispose()

    threads = [threading.Thread(target=worker, args=(n,)) for n in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert answers[0] == [True] * readers and answers[1] == [True] * readers
    with db.session() as session:
        assert set(session.scalars(select(SubscriberRow.status))) == {SubscriberStatus.UNSUBSCRIBED}
        audits = list(session.scalars(select(AuditRow.subject_id).where(AuditRow.action == "unsubscribe")))
        if not db.is_sqlite:  # the rows are locked as read: once each, whoever came first
            assert sorted(audits) == list(range(1, readers + 1))
        else:  # SQLite reads before it takes its write lock: a reader both saw active may be recorded twice
            assert set(audits) == set(range(1, readers + 1))
        assert figures.edition_figures(session, edition).unsubscribes == readers
        assert figures.recount(session, edition, now=NOW).unsubscribes == readers


@pytest.mark.parametrize("readers", [1, 3])
def test_stamp_many_counts_only_deliveries_newly_stamped(db, readers):
    edition = _ledger(db, readers)
    with db.session() as session:
        stamps = [(sid, NOW, NOW) for sid in range(1, readers + 1)]
        assert figures.stamp_many(session, edition, "unsubscribes", stamps + stamps) == readers
        assert figures.stamp_many(session, edition, "unsubscribes", stamps) == 0
        assert figures.stamp_many(session, edition, "unsubscribes", []) == 0
    with db.session() as session:
        assert figures.edition_figures(session, edition).unsubscribes == readers


def test_the_one_click_post_counts_the_edition_once_and_refuses_an_unknown_reader(db, tmp_path):
    from fastapi.testclient import TestClient

    from compose.signing import unsubscribe_token
    from tests.helpers import desk_data
    from web.app import create_app

    edition = _ledger(db, 2)
    secret = "test-secret-key-0123456789abcdef"
    app = create_app(config=desk_data.example_config(tmp_path), db=db, secret_key=secret, now=lambda: NOW)
    client = TestClient(app)
    link = f"/unsubscribe/{unsubscribe_token(secret, subscriber_id=1, edition_id=edition, now=NOW)}"
    for _ in range(2):  # clicked twice: counted once
        answer = client.post(link, content=b"List-Unsubscribe=One-Click",
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert answer.status_code == 200 and "You are unsubscribed" in answer.text
    gone = client.post(f"/unsubscribe/{unsubscribe_token(secret, subscriber_id=77, edition_id=edition, now=NOW)}")
    assert gone.status_code == 400 and "no subscriber for this link" in gone.text
    with db.session() as session:
        assert _trace(session, 1, edition)[0] == SubscriberStatus.UNSUBSCRIBED
        assert _trace(session, 2, edition)[0] == SubscriberStatus.ACTIVE
        assert figures.edition_figures(session, edition).unsubscribes == 1
