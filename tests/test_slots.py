"""Posting slots, pure (compose.slots): the config's weekly grid as UTC moments, wall-clock in the
organisation's zone, and the next free slot. Clock changes have their own file, test_slot_clocks.py."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from compose.config import Config
from compose.schedule import DAYS
from compose.slots import (
    DAY_WORDS,
    NoFreeSlot,
    next_free_slot,
    normalise_slots,
    parse_slot,
    slot_times,
    weekly_grid,
)

LONDON = ZoneInfo("Europe/London")


def config_with(slots: object, *, zone: str = "Europe/London", network: str = "x") -> Config:
    return Config.model_validate({
        "organisation": {"name": "Example Org", "site_url": "https://example.org", "postal_address": "1 High St"},
        "edition": {"from_email": "news@example.org", "from_name": "Example News", "reply_to": "ed@example.org",
                    "timezone": zone},
        "sections": [{"key": "news", "title": "News"}],
        "social": {network: {"enabled": True, "slots": slots}},
    })


def london(*args: int) -> datetime:
    return datetime(*args, tzinfo=LONDON).astimezone(UTC)  # type: ignore[arg-type,misc]


# --- the config ---------------------------------------------------------------------------------


def test_slots_are_written_as_day_and_time_and_kept_normalised() -> None:
    config = config_with(["Monday 9:00", "weekdays 12:30", " saturday  10:05 ", "daily 18:00"])
    assert config.social.x.slots == ("monday 09:00", "weekdays 12:30", "saturday 10:05", "daily 18:00")


def test_one_slot_may_be_written_as_a_string() -> None:
    assert config_with("weekends 11:00").social.x.slots == ("weekends 11:00",)


def test_no_slots_is_the_default_on_every_network() -> None:
    config = config_with([])
    assert (config.social.x.slots, config.social.mastodon.slots, config.social.bluesky.slots) == ((), (), ())


@pytest.mark.parametrize(("entry", "says"), [
    ("mon 09:00", "'mon' is not a day: use one of monday, tuesday"),
    ("monday 9", "is not a slot: write a day and a 24-hour time"),
    ("monday 24:00", "is not a time of day: use 00:00 to 23:59"),
    ("monday 09:60", "is not a time of day"),
    ("09:00", "is not a slot"),
    ("monday 9am", "is not a slot"),
    ("", "is not a slot"),
])
def test_a_malformed_slot_is_refused_naming_the_key_and_the_way_to_write_it(entry: str, says: str) -> None:
    with pytest.raises(ValidationError) as caught:
        config_with(["tuesday 10:00", entry])
    message = str(caught.value)
    assert "social.x.slots" in message
    assert says in message


def test_a_slot_listed_twice_is_refused_even_through_a_day_group() -> None:
    with pytest.raises(ValidationError, match=r"'weekdays 12:30' repeats wednesday 12:30, already given by "
                                              r"'wednesday 12:30': list each slot once"):
        config_with(["wednesday 12:30", "weekdays 12:30"])


def test_day_groups_name_the_days_they_stand_for() -> None:
    assert [DAYS[d] for d in parse_slot("weekdays 08:00")[0]] == ["monday", "tuesday", "wednesday", "thursday", "friday"]
    assert [DAYS[d] for d in parse_slot("weekends 08:00")[0]] == ["saturday", "sunday"]
    assert [DAYS[d] for d in parse_slot("daily 08:00")[0]] == list(DAYS)
    assert weekly_grid(["friday 17:00", "monday 09:00", "monday 08:30"]) == [
        (0, time(8, 30)), (0, time(9, 0)), (4, time(17, 0))]


# --- slot_times ---------------------------------------------------------------------------------


def test_a_week_of_slots_in_winter_and_in_summer_keeps_london_wall_clock() -> None:
    config = config_with(["weekdays 09:00", "saturday 10:30"])
    winter = slot_times(config, "x", london(2026, 12, 7), london(2026, 12, 14))  # Monday to Monday, GMT
    assert winter == [datetime(2026, 12, d, 9, 0, tzinfo=UTC) for d in range(7, 12)] + [
        datetime(2026, 12, 12, 10, 30, tzinfo=UTC)]
    summer = slot_times(config, "x", london(2027, 6, 7), london(2027, 6, 14))  # BST: an hour earlier in UTC
    assert summer == [datetime(2027, 6, d, 8, 0, tzinfo=UTC) for d in range(7, 12)] + [
        datetime(2027, 6, 12, 9, 30, tzinfo=UTC)]
    assert {m.astimezone(LONDON).time() for m in winter + summer} == {time(9, 0), time(10, 30)}


def test_the_range_is_start_inclusive_and_end_exclusive() -> None:
    config = config_with(["monday 09:00"])
    slot = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    assert slot_times(config, "x", slot, slot + timedelta(minutes=1)) == [slot]
    assert slot_times(config, "x", slot - timedelta(minutes=1), slot) == []
    assert slot_times(config, "x", slot, slot) == []


def test_another_zone_places_the_slots_in_its_own_wall_clock() -> None:
    config = config_with(["monday 09:00"], zone="America/New_York")
    assert slot_times(config, "x", datetime(2026, 12, 7, tzinfo=UTC), datetime(2026, 12, 8, tzinfo=UTC)) == [
        datetime(2026, 12, 7, 14, 0, tzinfo=UTC)]


def test_a_network_without_slots_has_none() -> None:
    config = config_with(["monday 09:00"])
    assert slot_times(config, "mastodon", datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)) == []


def test_naive_moments_are_refused() -> None:
    config = config_with(["monday 09:00"])
    with pytest.raises(ValueError, match="start must be timezone-aware"):
        slot_times(config, "x", datetime(2026, 12, 7), datetime(2026, 12, 8, tzinfo=UTC))
    with pytest.raises(ValueError, match="after must be timezone-aware"):
        next_free_slot(config, "x", datetime(2026, 12, 7), ())
    with pytest.raises(ValueError, match="a taken slot must be timezone-aware"):
        next_free_slot(config, "x", datetime(2026, 12, 7, tzinfo=UTC), [datetime(2026, 12, 7, 9)])


# --- next_free_slot -----------------------------------------------------------------------------


def test_the_next_free_slot_is_at_or_after_the_moment_and_skips_taken_and_blocked_ones() -> None:
    config = config_with(["weekdays 09:00", "weekdays 15:00"])
    monday_nine = london(2026, 12, 7, 9, 0)
    assert next_free_slot(config, "x", monday_nine, ()) == monday_nine  # at: a slot exactly now is free
    assert next_free_slot(config, "x", monday_nine + timedelta(seconds=1), ()) == london(2026, 12, 7, 15, 0)
    assert next_free_slot(config, "x", monday_nine, [monday_nine]) == london(2026, 12, 7, 15, 0)
    blocked = {london(2026, 12, 7, 15, 0): "Staff training afternoon"}
    assert next_free_slot(config, "x", monday_nine, [monday_nine], blocked=blocked.get) == london(2026, 12, 8, 9, 0)


def test_friday_afternoon_rolls_over_the_weekend() -> None:
    config = config_with(["weekdays 09:00"])
    assert next_free_slot(config, "x", london(2026, 12, 11, 9, 1), ()) == london(2026, 12, 14, 9, 0)


def test_taken_slots_in_another_zone_are_the_same_instants() -> None:
    config = config_with(["monday 09:00"])
    taken = [datetime(2026, 12, 7, 9, 0, tzinfo=LONDON)]  # the same instant as 09:00 UTC in December
    assert next_free_slot(config, "x", london(2026, 12, 7), taken) == london(2026, 12, 14, 9, 0)


def test_no_slots_configured_means_no_slot_and_posts_go_out_as_today() -> None:
    assert next_free_slot(config_with([]), "x", datetime(2026, 12, 7, tzinfo=UTC), ()) is None


def test_when_every_slot_is_blocked_the_error_says_why_and_what_to_do() -> None:
    config = config_with(["saturday 10:00"])
    with pytest.raises(NoFreeSlot) as caught:
        next_free_slot(config, "x", datetime(2026, 12, 7, tzinfo=UTC), (),
                       blocked=lambda moment: "outside x's posting hours (weekdays 08:00-18:00)")
    message = str(caught.value)
    assert "no free x slot in the 106 weeks after 2026-12-07 00:00 UTC" in message
    assert "outside x's posting hours (weekdays 08:00-18:00)" in message
    assert "add slots to [social.x] slots, or move threads" in message


# --- properties ---------------------------------------------------------------------------------

ZONES = ["Europe/London", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "UTC", "Pacific/Chatham"]
slot_entries = st.lists(
    st.builds(lambda word, h, m: f"{word} {h:02d}:{m:02d}", st.sampled_from(sorted(DAY_WORDS)),
              st.integers(0, 23), st.sampled_from([0, 15, 30, 45, 59])),
    min_size=1, max_size=6)
moments = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2029, 12, 31), timezones=st.just(UTC))


def grid_config(entries: list[str], zone: str) -> Config | None:
    try:
        normalise_slots(entries)
    except ValueError:
        return None  # a slot given twice: the config refuses it (tested above)
    return config_with(entries, zone=zone)


@settings(max_examples=150, deadline=None)
@given(entries=slot_entries, zone=st.sampled_from(ZONES), start=moments, days=st.integers(0, 40))
def test_slot_times_are_in_range_in_order_once_each_and_on_the_grid(entries: list[str], zone: str,
                                                                    start: datetime, days: int) -> None:
    config = grid_config(entries, zone)
    if config is None:
        return
    end = start + timedelta(days=days, hours=7)
    times = slot_times(config, "x", start, end)
    assert all(start <= m < end for m in times)
    assert times == sorted(set(times))
    grid = weekly_grid(config.social.x.slots)
    tz = ZoneInfo(zone)
    for moment in times:
        local = moment.astimezone(tz)
        # on the grid by the wall clock, unless the clocks skipped that time (then an hour or less later)
        on_grid = (local.weekday(), local.time()) in grid
        shifted = any(d == local.weekday() and timedelta(0) < datetime.combine(local.date(), local.time()) -
                      datetime.combine(local.date(), t) <= timedelta(hours=1) for d, t in grid)
        assert on_grid or shifted, (moment, local)
    # every wall-clock slot of every whole local day in the range that exists on the clock appears
    day = start.astimezone(tz).date() + timedelta(days=1)
    while datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz) <= end:
        for weekday, at in grid:
            if weekday != day.weekday():
                continue
            wall = datetime.combine(day, at, tzinfo=tz)
            if wall.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == wall.replace(tzinfo=None):  # exists
                assert wall.astimezone(UTC) in times, wall
        day += timedelta(days=1)


@settings(max_examples=150, deadline=None)
@given(entries=slot_entries, zone=st.sampled_from(ZONES), after=moments,
       taken_offsets=st.lists(st.integers(0, 30), max_size=12), blocked_offsets=st.lists(st.integers(0, 30), max_size=6))
def test_the_next_free_slot_is_the_first_slot_neither_taken_nor_blocked(
        entries: list[str], zone: str, after: datetime, taken_offsets: list[int], blocked_offsets: list[int]) -> None:
    config = grid_config(entries, zone)
    if config is None:
        return
    upcoming = slot_times(config, "x", after, after + timedelta(weeks=12))
    taken = {upcoming[i] for i in taken_offsets if i < len(upcoming)}
    blocked = {upcoming[i] for i in blocked_offsets if i < len(upcoming)}
    found = next_free_slot(config, "x", after, taken, blocked=lambda m: "quiet" if m in blocked else None)
    expected = next(m for m in upcoming if m not in taken and m not in blocked)  # 12 weeks hold > 30 slots
    assert found == expected


@settings(max_examples=60, deadline=None)
@given(entries=slot_entries, zone=st.sampled_from(ZONES), after=moments, count=st.integers(1, 25))
def test_threads_taking_slots_one_after_another_get_the_grid_in_order(entries: list[str], zone: str,
                                                                     after: datetime, count: int) -> None:
    """Approving threads one by one (each taking the next free slot) hands out the grid's slots in
    order, none twice and none left out between them: the queue Buffer users know."""
    config = grid_config(entries, zone)
    if config is None:
        return
    taken: list[datetime] = []
    for _ in range(count):
        slot = next_free_slot(config, "x", after, taken)
        assert slot is not None
        taken.append(slot)
    assert taken == slot_times(config, "x", after, taken[-1] + timedelta(microseconds=1))
