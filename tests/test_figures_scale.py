"""Figures at scale, on SQLite and PostgreSQL: an edition of 100,000 deliveries with events on many
of them. The desk reads a sent edition's figures from its counters row (a primary-key read), a
sending edition's status counts by an index scan, and the reputation guard's whole check (per
send and over 7 days) stays well under what a page or a batch can spend. The timings are printed
(`-s`) and held to generous bounds: the point is the order of magnitude (counting the deliveries'
stamps row by row is shown next to them for comparison)."""

from __future__ import annotations

import dataclasses
import time
from datetime import timedelta

from sqlalchemy import func, insert, select, update

from compose.config import Reputation
from state import figures, reputation
from state.figures import STAMPS
from state.models import (
    DeliveryRow,
    DeliveryStatus,
    EditionRow,
    EditionStatus,
    SubscriberRow,
    SubscriberStatus,
)
from tests.test_deliver import NOW

N = 100_000


def _best(call, rounds: int = 5) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return min(times)


def test_figures_of_a_100k_edition_are_read_in_milliseconds(db):
    with db.session() as session:
        edition = EditionRow(slug="big", title="Big", subject="Big", html="<p>x</p>", text="x", content_hash="h",
                             built_at=NOW - timedelta(hours=2), scheduled_for=NOW - timedelta(hours=1),
                             status=EditionStatus.SENDING)
        session.add(edition)
        session.flush()
        edition_id = edition.id
        rows = [{"email": f"r{i}@example.com", "status": SubscriberStatus.ACTIVE, "consent_source": "test",
                 "created_at": NOW} for i in range(N)]
        for start in range(0, N, 10_000):
            session.execute(insert(SubscriberRow), rows[start:start + 10_000])
    with db.session() as session:
        ids = session.scalars(select(SubscriberRow.id).order_by(SubscriberRow.id)).all()
        deliveries = [{"edition_id": edition_id, "subscriber_id": sid, "status": DeliveryStatus.ACCEPTED,
                       "updated_at": NOW, "delivered_at": NOW if n % 10 else None,
                       "bounced_at": None if n % 10 else NOW, "opened_at": NOW if n % 3 == 0 else None,
                       "complained_at": NOW if n % 997 == 0 else None} for n, sid in enumerate(ids)]
        for start in range(0, N, 10_000):
            session.execute(insert(DeliveryRow), deliveries[start:start + 10_000])
    with db.session() as session:
        figures.recount(session, edition_id, now=NOW)  # the counters, as the events would have moved them
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("ANALYZE")

    with db.session() as session:
        sending = _best(lambda: figures.edition_figures(session, edition_id))
        live = figures.edition_figures(session, edition_id)
        stamps = _best(lambda: session.execute(select(*(func.count(getattr(DeliveryRow, c)) for c in STAMPS.values()))
                                               .where(DeliveryRow.edition_id == edition_id)).one(), rounds=2)
    assert (live.recipients, live.accepted, live.delivered, live.bounced) == (N, N, N - N // 10, N // 10)
    with db.session() as session:  # sent: its status counts are frozen
        session.execute(update(EditionRow).where(EditionRow.id == edition_id)
                        .values(status=EditionStatus.SENT, sent_at=NOW))
        figures.settle(session, edition_id, now=NOW)
    with db.session() as session:
        sent = _best(lambda: figures.edition_figures(session, edition_id))
        guard = _best(lambda: reputation.scopes(session, Reputation(), now=NOW + timedelta(hours=1),
                                                edition_ids=[edition_id]))
        window = figures.rolling_figures(session, since=NOW - timedelta(days=7), until=NOW + timedelta(hours=1))
        assert figures.edition_figures(session, edition_id) == live
        assert window == dataclasses.replace(live, edition_id=None)
    print(f"\n{db.engine.dialect.name}, {N:,} deliveries: sent edition {sent * 1000:.2f} ms, sending edition "
          f"{sending * 1000:.1f} ms, guard's whole read {guard * 1000:.2f} ms; counting the stamps instead "
          f"{stamps * 1000:.1f} ms")
    assert sent < 0.02 and guard < 0.05  # a primary-key read or two
    assert sending < 0.5  # an index scan of 100k entries, only while an edition is being sent
