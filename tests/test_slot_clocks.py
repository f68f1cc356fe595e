"""Posting slots across the clock changes in Europe/London (issue 19, part 5): the last Sunday of
March 2027 (28 March: 01:00 GMT jumps to 02:00 BST, the hour 01:00-02:00 never happens) and of
October 2027 (31 October: 02:00 BST falls back to 01:00 GMT, the hour 01:00-02:00 happens twice).

What we decided, and what these tests hold us to (also in compose/slots.py and docs/operations.md):
- a slot keeps its wall-clock time: 09:00 is 09:00 London time before and after, so in UTC it is an
  hour earlier in summer; nothing else moves by an hour;
- a slot in the skipped hour (01:30 on 28 March) runs at the moment the clocks jump, 02:00 BST
  (01:00 UTC), as every schedule here does (`compose.schedule.wall_to_utc`, like the build cron):
  once, not skipped;
- a slot in the repeated hour (01:30 on 31 October) runs once, at the first 01:30 (BST, 00:30 UTC),
  never again at the second (GMT, 01:30 UTC);
- publish, run every five minutes through each weekend, posts each approved thread once, in its slot.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from compose.config import Config
from compose.slots import next_free_slot, parse_local, slot_times
from compose.threads import thread_hash
from connectors.channels.outbox_posts import OutboxPostChannel
from flows.stages.publish import publish_due_posts
from state import ledger
from state.db import Database
from state.models import PostRow, PostStatus
from tests.helpers.staff import add_staff_rows

LONDON = ZoneInfo("Europe/London")
SPRING = datetime(2027, 3, 28).date()  # 01:00 GMT -> 02:00 BST
AUTUMN = datetime(2027, 10, 31).date()  # 02:00 BST -> 01:00 GMT


def make_config(tmp_path: Path | None = None, slots: tuple[str, ...] = ("daily 01:30", "daily 09:00")) -> Config:
    return Config.model_validate({
        "organisation": {"name": "Example Org", "site_url": "https://example.org", "postal_address": "1 High St"},
        "edition": {"from_email": "news@example.org", "from_name": "Example News", "reply_to": "ed@example.org"},
        "sections": [{"key": "news", "title": "News"}],
        "social": {"outbox_dir": str((tmp_path or Path("/nonexistent")) / "outbox"),
                   "x": {"slots": list(slots), "min_spacing_minutes": 5}},
    })


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[arg-type,misc]


# --- the grid, pure ------------------------------------------------------------------------------


def test_march_change_keeps_the_wall_clock_and_runs_the_missing_hours_slot_once_after_the_jump() -> None:
    config = make_config()
    times = slot_times(config, "x", utc(2027, 3, 27), utc(2027, 3, 30))
    assert times == [
        utc(2027, 3, 27, 1, 30), utc(2027, 3, 27, 9, 0),  # Saturday, GMT: UTC is London time
        utc(2027, 3, 28, 1, 0),  # Sunday 01:30 does not exist: 02:00 BST, the moment the clocks jump
        utc(2027, 3, 28, 8, 0),  # Sunday 09:00 BST
        utc(2027, 3, 29, 0, 30), utc(2027, 3, 29, 8, 0),  # Monday, BST: an hour earlier in UTC
    ]
    local = [m.astimezone(LONDON) for m in times]
    assert [f"{m:%a %H:%M %Z}" for m in local] == [
        "Sat 01:30 GMT", "Sat 09:00 GMT", "Sun 02:00 BST", "Sun 09:00 BST", "Mon 01:30 BST", "Mon 09:00 BST"]


def test_october_change_runs_the_repeated_hours_slot_once_at_its_first_occurrence() -> None:
    config = make_config()
    times = slot_times(config, "x", utc(2027, 10, 30), utc(2027, 11, 2))
    assert times == [
        utc(2027, 10, 30, 0, 30), utc(2027, 10, 30, 8, 0),  # Saturday, BST
        utc(2027, 10, 31, 0, 30),  # Sunday 01:30 BST, the first 01:30; not again at 01:30 GMT
        utc(2027, 10, 31, 9, 0),  # Sunday 09:00 GMT
        utc(2027, 11, 1, 1, 30), utc(2027, 11, 1, 9, 0),  # Monday, GMT
    ]
    assert utc(2027, 10, 31, 1, 30) not in times  # the second 01:30 is no slot
    assert [f"{m.astimezone(LONDON):%a %H:%M %Z}" for m in times] == [
        "Sat 01:30 BST", "Sat 09:00 BST", "Sun 01:30 BST", "Sun 09:00 GMT", "Mon 01:30 GMT", "Mon 09:00 GMT"]


@pytest.mark.parametrize("day", [SPRING, AUTUMN], ids=["march", "october"])
def test_every_slot_of_the_change_day_runs_once_and_the_others_keep_their_wall_clock(day) -> None:  # type: ignore[no-untyped-def]
    """Every quarter hour of the day as a slot: each wall-clock time that exists on the day runs
    once at that time; the four of the skipped hour run when the clocks jump (02:00 BST), sharing
    that moment with the 02:00 slot, so nothing runs twice."""
    quarters = [time(h, m) for h in range(24) for m in (0, 15, 30, 45)]
    config = make_config(slots=tuple(f"daily {t:%H:%M}" for t in quarters))
    start = datetime.combine(day, time(0), tzinfo=LONDON).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=LONDON).astimezone(UTC)
    times = slot_times(config, "x", start, end)
    assert times == sorted(set(times))
    walls = [m.astimezone(LONDON).time() for m in times]
    if day == SPRING:
        assert len(times) == 92  # 23 hours of quarter hours: 01:00-01:45 share 02:00's moment
        assert not any(time(1, 0) <= t < time(2, 0) for t in walls)
    else:
        assert len(times) == 96  # 25 hours, but the repeated hour's slots run once each
        assert walls.count(time(1, 30)) == 1
    assert sorted(set(walls)) == sorted(set(quarters) - ({time(1, m) for m in (0, 15, 30, 45)} if day == SPRING
                                                           else set()))


def test_a_slot_in_the_missing_hour_shares_the_jump_with_a_slot_at_two() -> None:
    config = make_config(slots=("sunday 01:30", "sunday 02:00", "sunday 02:30"))
    assert slot_times(config, "x", utc(2027, 3, 28), utc(2027, 3, 29)) == [utc(2027, 3, 28, 1, 0),
                                                                           utc(2027, 3, 28, 1, 30)]
    # the week before and after, three slots
    assert slot_times(config, "x", utc(2027, 3, 21), utc(2027, 3, 22)) == [
        utc(2027, 3, 21, 1, 30), utc(2027, 3, 21, 2, 0), utc(2027, 3, 21, 2, 30)]
    assert slot_times(config, "x", utc(2027, 4, 4), utc(2027, 4, 5)) == [
        utc(2027, 4, 4, 0, 30), utc(2027, 4, 4, 1, 0), utc(2027, 4, 4, 1, 30)]


def test_a_time_staff_type_in_the_changing_hours_means_what_the_slots_mean() -> None:
    assert parse_local("2027-10-31 01:30", LONDON) == utc(2027, 10, 31, 0, 30)  # the first 01:30
    assert parse_local("2027-03-28 01:30", LONDON) == utc(2027, 3, 28, 1, 0)  # 02:00 BST, the jump
    assert parse_local("2027-03-28 09:00", LONDON) == utc(2027, 3, 28, 8, 0)


@settings(max_examples=80, deadline=None)
@given(day=st.sampled_from([SPRING, AUTUMN]), hour=st.integers(0, 23), minute=st.sampled_from([0, 10, 30, 59]),
       lead_hours=st.integers(1, 72))
def test_queueing_across_a_change_hands_out_each_daily_slot_once_in_order(day, hour: int, minute: int,
                                                                          lead_hours: int) -> None:  # type: ignore[no-untyped-def]
    config = make_config(slots=(f"daily {hour:02d}:{minute:02d}",))
    after = datetime.combine(day, time(12), tzinfo=UTC) - timedelta(hours=lead_hours)
    taken: list[datetime] = []
    for _ in range(6):
        slot = next_free_slot(config, "x", after, taken)
        assert slot is not None
        taken.append(slot)
    gaps = [b - a for a, b in zip(taken, taken[1:], strict=False)]
    assert all(timedelta(hours=23) <= gap <= timedelta(hours=25) for gap in gaps), gaps  # one a day, none twice
    dates = [m.astimezone(LONDON).date() for m in taken]
    assert dates == [dates[0] + timedelta(days=n) for n in range(6)]  # none skipped
    walls = {m.astimezone(LONDON).time() for m in taken}
    expected = time(hour, minute)
    skipped = day == SPRING and hour == 1
    assert walls == {expected} or (skipped and walls == {expected, time(2, 0)})


# --- the ledger and publish, driven by a clock through each weekend --------------------------------


def _approve_threads(db: Database, config: Config, count: int, *, at: datetime) -> list[int]:
    ids = []
    with db.session() as session:
        add_staff_rows(session)
        for n in range(count):
            texts = [f"Post {n}: councils share what works https://example.org/{n}"]
            row = ledger.create_thread(session, network="x", key=f"item:{n}", kind="item", texts=texts,
                                       content_hash=thread_hash(texts), now=at, scheduled_for=at)
            ledger.approve(session, "thread", row.id, by="approver@socitm.example", now=at, config=config)
            ids.append(row.id)
    return ids


def _publish_every_five_minutes(db: Database, config: Config, start: datetime, end: datetime,
                                outbox: Path) -> dict[int, list[datetime]]:
    moment = start
    while moment < end:
        publish_due_posts(db.sessions, config, now=moment, channel_for=lambda network: OutboxPostChannel(network, outbox))
        moment += timedelta(minutes=5)
    with db.session() as session:
        posted: dict[int, list[datetime]] = {}
        for post in session.scalars(select(PostRow).where(PostRow.status == PostStatus.POSTED)):
            assert post.posted_at is not None
            posted.setdefault(post.thread_id, []).append(post.posted_at)
        return posted


def test_march_weekend_each_thread_posts_once_in_its_slot_at_wall_clock(db: Database, tmp_path: Path) -> None:
    config = make_config(tmp_path)
    friday = utc(2027, 3, 26, 12, 0)
    ids = _approve_threads(db, config, 6, at=friday)
    posted = _publish_every_five_minutes(db, config, friday, utc(2027, 3, 29, 12, 0), tmp_path / "outbox")
    assert posted == {
        ids[0]: [utc(2027, 3, 27, 1, 30)], ids[1]: [utc(2027, 3, 27, 9, 0)],
        ids[2]: [utc(2027, 3, 28, 1, 0)],  # the missing 01:30: at 02:00 BST as the clocks jump, not skipped
        ids[3]: [utc(2027, 3, 28, 8, 0)],  # 09:00 BST
        ids[4]: [utc(2027, 3, 29, 0, 30)], ids[5]: [utc(2027, 3, 29, 8, 0)],
    }


def test_october_weekend_each_thread_posts_once_in_its_slot_at_wall_clock(db: Database, tmp_path: Path) -> None:
    config = make_config(tmp_path)
    friday = utc(2027, 10, 29, 12, 0)
    ids = _approve_threads(db, config, 6, at=friday)
    posted = _publish_every_five_minutes(db, config, friday, utc(2027, 11, 1, 12, 0), tmp_path / "outbox")
    assert posted == {
        ids[0]: [utc(2027, 10, 30, 0, 30)], ids[1]: [utc(2027, 10, 30, 8, 0)],
        ids[2]: [utc(2027, 10, 31, 0, 30)],  # the first 01:30; the clock passing 01:30 again posts nothing
        ids[3]: [utc(2027, 10, 31, 9, 0)],  # 09:00 GMT
        ids[4]: [utc(2027, 11, 1, 1, 30)], ids[5]: [utc(2027, 11, 1, 9, 0)],
    }
    assert all(moment.astimezone(LONDON).time() in (time(1, 30), time(9, 0)) for [moment] in posted.values())


def test_a_thread_approved_in_the_repeated_hour_takes_the_next_slot_not_the_one_just_gone(db: Database,
                                                                                          tmp_path: Path) -> None:
    config = make_config(tmp_path)
    # 01:10 GMT on 31 October, the second time round: the clock shows 01:30 again in 20 minutes,
    # but that slot ran at the first 01:30 (BST), an hour ago
    [late] = _approve_threads(db, config, 1, at=utc(2027, 10, 31, 1, 10))
    with db.session() as session:
        assert ledger.get_thread(session, late).scheduled_for == utc(2027, 10, 31, 9, 0)
