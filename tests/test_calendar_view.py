"""The calendar's read of the ledger (`state.calendar_view`), on SQLite and PostgreSQL: each edition,
thread and post at its moment, inside the range exactly once, in three queries however many rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event

from state import ledger
from state.calendar_view import CalendarLimits, RangeError, schedule_between
from state.db import connect
from state.models import EditionRow, PostStatus, ThreadRow
from tests.helpers.staff import add_staff_rows

NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)


def _edition(session, n: int, scheduled: datetime | None) -> EditionRow:
    return ledger.create_edition(session, slug=f"2026-{n:04d}", title=f"In Our View {n}", subject=f"Issue {n}",
                                 preheader="", intro_markdown="", featured_item_id=None, html="<p>x</p>", text="x",
                                 content_hash=f"{n:064d}", html_bytes=8, warnings=[], built_at=NOW - timedelta(days=1),
                                 scheduled_for=scheduled)


def _thread(session, n: int, scheduled: datetime | None, *, network: str = "x", posts: int = 2) -> ThreadRow:
    return ledger.create_thread(session, network=network, key=f"item:{n}", kind="item",
                                texts=[f"Post {p} of thread {n}" for p in range(1, posts + 1)],
                                content_hash=f"{n:064d}", now=NOW - timedelta(days=1), scheduled_for=scheduled)


def _send(session, row: EditionRow, at: datetime) -> None:
    ledger.approve(session, "edition", row.id, by="ap@example.org", now=at - timedelta(hours=2))
    ledger.mark_edition_sending(session, row)
    ledger.mark_edition_sent(session, row, now=at, summary={})


def _post_all(session, row: ThreadRow, first: datetime, *, every: timedelta = timedelta(minutes=1)) -> None:
    ledger.approve(session, "thread", row.id, by="ap@example.org", now=first - timedelta(hours=1))
    for n, post in enumerate(row.posts):
        ledger.mark_post_posting(session, post)
        ledger.mark_post_posted(session, post, provider_id=f"p{post.id}", url=None, now=first + every * n)


@pytest.fixture
def approver(db):
    with db.session() as session:
        add_staff_rows(session, {"ap@example.org": "approver"})
    return db


def test_editions_sit_at_their_send_and_only_inside_the_range(approver):
    db = approver
    start, end = NOW, NOW + timedelta(days=7)
    with db.session() as session:
        before = _edition(session, 1, start - timedelta(seconds=1))
        first = _edition(session, 2, start)
        last = _edition(session, 3, end - timedelta(seconds=1))
        _edition(session, 4, end)  # the end is outside: [start, end)
        _edition(session, 5, None)  # no send time: nowhere
        sent = _edition(session, 6, start - timedelta(days=3))  # scheduled before, sent inside
        _send(session, sent, start + timedelta(days=1))
        ids = {"before": before.id, "first": first.id, "last": last.id, "sent": sent.id}
    with db.session() as session:
        schedule = schedule_between(session, start, end)
    assert [e.id for e in schedule.editions] == [ids["first"], ids["sent"], ids["last"]]
    by_id = {e.id: e for e in schedule.editions}
    assert by_id[ids["sent"]].status == "sent" and by_id[ids["sent"]].at == start + timedelta(days=1)
    assert by_id[ids["first"]].status == "draft" and by_id[ids["first"]].at == start
    assert all(e.at.tzinfo is not None and e.at.utcoffset() == timedelta(0) for e in schedule.editions)


def test_posts_sit_at_their_posted_time_once_out_and_at_their_thread_otherwise(approver):
    db = approver
    start, end = NOW, NOW + timedelta(days=1)
    with db.session() as session:
        waiting = _thread(session, 1, start + timedelta(hours=2), posts=3)
        published = _thread(session, 2, start - timedelta(hours=5), network="mastodon")
        _post_all(session, published, start + timedelta(hours=1))  # due before the range, went out inside it
        outside = _thread(session, 3, end + timedelta(hours=1))
        straddles = _thread(session, 4, end - timedelta(minutes=1), network="bluesky")
        _post_all(session, straddles, end - timedelta(minutes=1), every=timedelta(minutes=2))  # 2nd post after the end
        ids = (waiting.id, published.id, outside.id, straddles.id)
    with db.session() as session:
        schedule = schedule_between(session, start, end)
    threads = {t.id: t for t in schedule.threads}
    assert set(threads) == {ids[0], ids[1], ids[3]}
    assert [p.position for p in threads[ids[0]].posts] == [0, 1, 2]
    assert {p.at for p in threads[ids[0]].posts} == {start + timedelta(hours=2)}
    assert threads[ids[0]].posts[0].count == 3 and threads[ids[0]].status == "draft"
    assert threads[ids[1]].at == start + timedelta(hours=1, minutes=1)  # published when its last post went out
    assert [p.at for p in threads[ids[1]].posts] == [start + timedelta(hours=1), start + timedelta(hours=1, minutes=1)]
    assert all(p.status == PostStatus.POSTED for p in threads[ids[1]].posts)
    # published after the end, but its first post went out inside: the thread is there with that post only
    assert threads[ids[3]].at is None and [p.position for p in threads[ids[3]].posts] == [0]
    assert threads[ids[3]].first_at == end - timedelta(minutes=1)
    assert len(schedule.posts) == 3 + 2 + 1


def test_three_queries_however_many_rows(approver):
    db = approver
    start = NOW
    with db.session() as session:
        for n in range(12):
            _edition(session, n, start + timedelta(hours=n))
            _thread(session, n, start + timedelta(hours=n), posts=3)
    statements: list[str] = []

    def count(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        with db.session() as session:
            schedule = schedule_between(session, start, start + timedelta(days=1))
            _ = [p.preview for t in schedule.threads for p in t.posts]
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 3, selects
    assert len(schedule.editions) == 12 and len(schedule.threads) == 12 and len(schedule.posts) == 36


def test_a_long_post_is_shortened_for_the_calendar(approver):
    db = approver
    with db.session() as session:
        row = _thread(session, 1, NOW, posts=1)
        row.posts[0].text = "word " * 200
    with db.session() as session:
        (thread,) = schedule_between(session, NOW, NOW + timedelta(hours=1)).threads
    assert len(thread.posts[0].preview) == CalendarLimits.preview_chars and thread.posts[0].preview.endswith("…")


@pytest.mark.parametrize(("start", "end", "why"), [
    (NOW, NOW - timedelta(seconds=1), "ends before it starts"),
    (NOW.replace(tzinfo=None), NOW + timedelta(days=1), "timezone-aware"),
    (NOW, NOW + timedelta(days=CalendarLimits.longest_range_days + 1), "at most"),
])
def test_a_range_it_does_not_read_is_refused_with_the_reason(sqlite_db, start, end, why):
    with sqlite_db.session() as session, pytest.raises(RangeError, match=why):
        schedule_between(session, start, end)


moments = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(editions=st.lists(moments, max_size=6), threads=st.lists(st.tuples(moments, st.booleans()), max_size=6),
       start=moments, days=st.integers(min_value=0, max_value=60))
def test_any_range_holds_each_moment_inside_it_exactly_once(tmp_path_factory, editions, threads, start, days):
    db = connect(f"sqlite:///{tmp_path_factory.mktemp('cal') / 'ledger.db'}")
    try:
        end = start + timedelta(days=days)
        with db.session() as session:
            add_staff_rows(session, {"ap@example.org": "approver"})
            edition_at = {_edition(session, n, at).id: at for n, at in enumerate(editions)}
            post_at: dict[int, datetime] = {}
            for n, (at, went_out) in enumerate(threads):
                row = _thread(session, n, at)
                if went_out:
                    _post_all(session, row, at + timedelta(minutes=30), every=timedelta(hours=20))
                    post_at |= {p.id: p.posted_at for p in row.posts}
                else:
                    post_at |= {p.id: at for p in row.posts}
        with db.session() as session:
            schedule = schedule_between(session, start, end)
        shown_editions = [e.id for e in schedule.editions]
        shown_posts = [p.id for p in schedule.posts]
        assert sorted(shown_editions) == sorted(i for i, at in edition_at.items() if start <= at < end)
        assert sorted(shown_posts) == sorted(i for i, at in post_at.items() if start <= at < end)
        assert len(set(shown_posts)) == len(shown_posts) and len(set(shown_editions)) == len(shown_editions)
        assert len({t.id for t in schedule.threads}) == len(schedule.threads)
        assert all(start <= p.at < end for p in schedule.posts)
    finally:
        db.dispose()
