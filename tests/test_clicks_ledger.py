"""The ledger of clicks (`state.clicks`) on SQLite and PostgreSQL: counts per item and edition with
nobody identified by default, per-reader rows only when a subscriber id is given, batches that add
to what is there (several writers at once lose nothing), opens, and erasure with the subscriber."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select

from state import clicks
from state.db import Database
from state.models import ClickRow, EditionItemRow, ReaderClickRow, ReaderOpenRow, SubscriberRow
from tests.helpers.desk_data import example_config, seed_edition, seed_subscribers

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def _edition(db: Database, tmp_path: Path) -> tuple[int, list[tuple[int, str, str]]]:
    """A built edition and its (item id, section, url) in order."""
    edition_id = seed_edition(db, example_config(tmp_path), now=NOW)
    with db.session() as session:
        placed = session.scalars(select(EditionItemRow).where(EditionItemRow.edition_id == edition_id)
                                 .order_by(EditionItemRow.section_position, EditionItemRow.position)).all()
        return edition_id, [(row.item_id, row.section, row.item.url) for row in placed]


def test_a_click_counts_against_its_item_and_edition_and_names_nobody(db: Database, tmp_path: Path) -> None:
    edition_id, items = _edition(db, tmp_path)
    first, second = items[0], items[1]
    with db.session() as session:
        for minute in range(3):
            clicks.record_click(session, edition_id=edition_id, item_id=first[0], url=first[2], subscriber_id=None,
                                now=NOW + timedelta(minutes=minute))
        clicks.record_click(session, edition_id=edition_id, item_id=second[0], url=second[2], subscriber_id=None,
                            now=NOW)
    with db.session() as session:
        counts = clicks.click_counts(session, edition_id)
        assert [(c.item_id, c.section, c.url) for c in counts] == items  # every item, in the edition's order
        by_item = {c.item_id: c for c in counts}
        assert by_item[first[0]].clicks == 3 and by_item[second[0]].clicks == 1
        assert sum(c.clicks for c in counts) == 4 == clicks.total_clicks(session, edition_id)
        assert all(c.readers is None for c in counts)  # nobody identified: no readers figure
        assert session.scalar(select(func.count()).select_from(ReaderClickRow)) == 0
        row = session.scalars(select(ClickRow).where(ClickRow.item_id == first[0])).one()
        assert (row.first_at, row.last_at) == (NOW, NOW + timedelta(minutes=2))
        assert by_item[first[0]].title and by_item[first[0]].title != first[2]


def test_a_link_that_is_no_item_is_counted_by_url_after_the_items(db: Database, tmp_path: Path) -> None:
    edition_id, items = _edition(db, tmp_path)
    with db.session() as session:
        clicks.record_click(session, edition_id=edition_id, item_id=None, url="https://www.socitm.net/events",
                            subscriber_id=None, now=NOW)
    with db.session() as session:
        counts = clicks.click_counts(session, edition_id)
    assert len(counts) == len(items) + 1
    other = counts[-1]
    assert (other.item_id, other.url, other.title, other.section, other.clicks) == (
        None, "https://www.socitm.net/events", "https://www.socitm.net/events", None, 1)


def test_per_reader_clicks_count_distinct_readers_and_go_with_the_subscriber(db: Database, tmp_path: Path) -> None:
    edition_id, items = _edition(db, tmp_path)
    seed_subscribers(db, 3, now=NOW)
    item_id, _, url = items[0]
    with db.session() as session:
        ids = session.scalars(select(SubscriberRow.id).order_by(SubscriberRow.id)).all()
        for reader in (ids[0], ids[0], ids[1]):
            clicks.record_click(session, edition_id=edition_id, item_id=item_id, url=url, subscriber_id=reader,
                                now=NOW)
    with db.session() as session:
        counts = {c.item_id: c for c in clicks.click_counts(session, edition_id)}
        assert (counts[item_id].clicks, counts[item_id].readers) == (3, 2)
        assert counts[items[1][0]].readers == 0  # kept for this edition: nobody clicked that one
        session.execute(delete(SubscriberRow).where(SubscriberRow.id == ids[0]))
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(ReaderClickRow)) == 1
        counts = {c.item_id: c for c in clicks.click_counts(session, edition_id)}
        assert (counts[item_id].clicks, counts[item_id].readers) == (3, 1)  # the count stays, the reader goes


def test_opens_are_counted_per_reader_and_none_without_any(db: Database, tmp_path: Path) -> None:
    edition_id, _ = _edition(db, tmp_path)
    seed_subscribers(db, 2, now=NOW)
    with db.session() as session:
        assert clicks.open_counts(session, edition_id) is None
        ids = session.scalars(select(SubscriberRow.id).order_by(SubscriberRow.id)).all()
        clicks.record_open(session, edition_id=edition_id, subscriber_id=ids[0], now=NOW)
        clicks.record_open(session, edition_id=edition_id, subscriber_id=ids[0], now=NOW + timedelta(hours=1))
        clicks.record_open(session, edition_id=edition_id, subscriber_id=ids[1], now=NOW)
    with db.session() as session:
        assert clicks.open_counts(session, edition_id) == clicks.Opens(opens=3, readers=2)
        row = session.scalars(select(ReaderOpenRow).where(ReaderOpenRow.subscriber_id == ids[0])).one()
        assert (row.opens, row.first_at, row.last_at) == (2, NOW, NOW + timedelta(hours=1))


def test_writers_flushing_at_once_lose_no_click(db: Database, tmp_path: Path) -> None:
    edition_id, items = _edition(db, tmp_path)
    writers, rounds = 4, 25
    errors: list[BaseException] = []

    def write(offset: int) -> None:
        try:
            for n in range(rounds):
                batch = [clicks.Click(edition_id, item_id, url, None, 1 + (n + offset) % 3, NOW, NOW)
                         for item_id, _, url in items]
                with db.session() as session:
                    clicks.record_clicks(session, batch)
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=write, args=(k,)) for k in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    expected = sum(1 + (n + k) % 3 for k in range(writers) for n in range(rounds))
    with db.session() as session:
        assert {c.clicks for c in clicks.click_counts(session, edition_id)} == {expected}


_BUILT: dict[int, tuple[int, list[tuple[int, str, str]]]] = {}


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(st.lists(st.tuples(st.integers(0, 3), st.integers(1, 5), st.integers(0, 600)),
                                 max_size=8), max_size=4))
def test_batches_add_up_to_every_click(db: Database, tmp_path: Path,
                                       batches: list[list[tuple[int, int, int]]]) -> None:
    if id(db) not in _BUILT:  # one edition per test ledger; each example adds to its counts
        _BUILT.clear()
        _BUILT[id(db)] = _edition(db, tmp_path)
    edition_id, items = _BUILT[id(db)]
    with db.session() as session:
        before = {c.item_id: c.clicks for c in clicks.click_counts(session, edition_id)}
    expected = dict(before)
    for batch in batches:
        rows = []
        for index, count, second in batch:
            item_id, _, url = items[index % len(items)]
            at = NOW + timedelta(seconds=second)
            rows.append(clicks.Click(edition_id, item_id, url, None, count, at, at))
            expected[item_id] += count
        with db.session() as session:
            assert clicks.record_clicks(session, rows) == sum(count for _, count, _ in batch)
    with db.session() as session:
        assert {c.item_id: c.clicks for c in clicks.click_counts(session, edition_id)} == expected
