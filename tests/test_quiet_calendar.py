"""Quiet time (compose/calendar.py): holidays, named periods and weekly windows as `[calendar]`
describes them, checked on exact examples and, with hypothesis, against a minute-by-minute model
that reads the rules off the local clock directly."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compose.calendar import QuietCalendar, QuietSpan, wall_to_utc
from compose.config import DAYS, Config
from flows.settings import ConfigError, parse_config

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "syndicate.toml"
LONDON_CALENDAR = """
[calendar]
holidays = "england"

[[calendar.periods]]
name = "Pre-election period"
start = 2027-04-12
end = 2027-05-06
channels = ["email", "x"]

[[calendar.periods]]
name = "National mourning"
start = 2027-09-08T14:00:00
end = 2027-09-10T09:30:00

[[calendar.windows]]
channel = "x"
days = "weekdays"
start = "08:00"
end = "18:00"

[[calendar.windows]]
channel = "x"
days = ["saturday"]
start = "10:00"
end = "12:00"

[[calendar.windows]]
channel = "email"
days = ["monday", "tuesday", "wednesday", "thursday"]
start = "07:00"
end = "19:30"

[[calendar.windows]]
channel = "mastodon"
days = "every day"
start = "22:00"
end = "04:00"
"""


def _with_calendar(calendar: str) -> Config:
    text = EXAMPLE.read_text("utf-8")
    head, _, _ = text.partition("\n[calendar]\n")
    return parse_config(head + "\n" + calendar)


CONFIG = _with_calendar(LONDON_CALENDAR)
CALENDAR = QuietCalendar.from_config(CONFIG)
ZONE = CONFIG.zone


def _utc(local: str) -> datetime:
    """A wall-clock time in London ("2027-12-24 17:30") as UTC."""
    return datetime.fromisoformat(local).replace(tzinfo=ZONE).astimezone(UTC)


# -- exact examples ---------------------------------------------------------------------------


def test_no_calendar_means_nothing_is_ever_quiet() -> None:
    calendar = QuietCalendar.from_config(parse_config(EXAMPLE.read_text("utf-8")))
    moment = _utc("2027-12-25 03:00")
    assert calendar.is_empty
    assert calendar.quiet_reason("email", moment) is None
    assert calendar.next_allowed("x", moment) == (moment, ())
    assert calendar.spans(moment, moment + timedelta(days=400)) == []


def test_a_bank_holiday_moves_an_email_to_the_next_morning_it_may_go() -> None:
    # Christmas Day 2027 is a Saturday: Christmas, Boxing Day, then both observed on Mon and Tue
    # Friday 24th: email sends Monday to Thursday only, so the hours carry it over the weekend
    # (Christmas and Boxing Day) to Monday 07:00, then the two observed holidays
    moved, reasons = CALENDAR.next_allowed("email", _utc("2027-12-24 10:00"))
    assert moved == _utc("2027-12-29 07:00")
    assert reasons == ("outside email's sending hours (Monday, Tuesday, Wednesday, Thursday 07:00-19:30)",
                       "Christmas Day (bank holiday in England, observed)",
                       "Boxing Day (bank holiday in England, observed)")
    moved, reasons = CALENDAR.next_allowed("email", _utc("2027-12-25 10:00"))
    assert moved == _utc("2027-12-29 07:00")
    assert reasons[0] == "Christmas Day (bank holiday in England)"
    assert "Boxing Day (bank holiday in England, observed)" in reasons


def test_the_reason_names_the_hours_of_the_channel() -> None:
    reason = CALENDAR.quiet_reason("x", _utc("2027-06-02 19:00"))
    assert reason == "outside x's posting hours (weekdays 08:00-18:00; Saturday 10:00-12:00)"
    assert CALENDAR.quiet_reason("email", _utc("2027-06-04 09:00")) == (
        "outside email's sending hours (Monday, Tuesday, Wednesday, Thursday 07:00-19:30)")
    assert CALENDAR.next_allowed("x", _utc("2027-06-02 19:00")) == (_utc("2027-06-03 08:00"), (reason,))


def test_a_period_applies_to_its_channels_only_and_ends_on_its_last_day() -> None:
    inside = _utc("2027-04-20 09:00")
    assert CALENDAR.quiet_reason("email", inside) == "Pre-election period"
    assert CALENDAR.quiet_reason("x", inside) == "Pre-election period"
    assert CALENDAR.quiet_reason("bluesky", inside) is None
    # the end date is included: the first moment after is Friday 7 May 00:00, then the hours
    assert CALENDAR.next_allowed("x", inside) == (_utc("2027-05-07 08:00"), (
        "Pre-election period", "outside x's posting hours (weekdays 08:00-18:00; Saturday 10:00-12:00)"))


def test_a_period_with_times_ends_at_that_moment() -> None:
    assert CALENDAR.quiet_reason("bluesky", _utc("2027-09-08 13:59")) is None
    assert CALENDAR.quiet_reason("bluesky", _utc("2027-09-08 14:00")) == "National mourning"
    assert CALENDAR.next_allowed("bluesky", _utc("2027-09-09 12:00")) == (_utc("2027-09-10 09:30"), ("National mourning",))


def test_a_window_past_midnight_is_one_stretch() -> None:
    assert CALENDAR.quiet_reason("mastodon", _utc("2027-06-02 23:30")) is None
    assert CALENDAR.quiet_reason("mastodon", _utc("2027-06-03 03:59")) is None
    assert CALENDAR.quiet_reason("mastodon", _utc("2027-06-03 04:00")) is not None
    assert CALENDAR.next_allowed("mastodon", _utc("2027-06-03 12:00"))[0] == _utc("2027-06-03 22:00")


def test_spans_cover_a_range_for_one_channel_or_all() -> None:
    start, end = _utc("2027-12-24 00:00"), _utc("2027-12-29 00:00")
    bluesky = CALENDAR.spans(start, end, "bluesky")
    assert [span.reason for span in bluesky] == [
        "Christmas Day (bank holiday in England)", "Boxing Day (bank holiday in England)",
        "Christmas Day (bank holiday in England, observed)", "Boxing Day (bank holiday in England, observed)"]
    assert all(span.channels is None for span in bluesky)
    everything = CALENDAR.spans(start, end)
    assert {frozenset(span.channels or ()) for span in everything} >= {
        frozenset(), frozenset({"x"}), frozenset({"email"}), frozenset({"mastodon"})}
    assert all(span.start < end and start < span.end for span in everything)
    assert everything == sorted(everything, key=lambda span: (span.start, span.end, span.reason))
    # the gap spans are whole, not cut at the edges of the range
    x_gap = next(span for span in CALENDAR.spans(start, end, "x") if span.channels == frozenset({"x"}))
    assert x_gap.start == _utc("2027-12-23 18:00")


@pytest.mark.parametrize(("nation", "day", "name"), [
    ("scotland", date(2027, 11, 30), "Saint Andrew's Day"),
    ("scotland", date(2027, 8, 2), "Summer Bank Holiday"),
    ("wales", date(2027, 3, 29), "Easter Monday"),
    ("northern-ireland", date(2027, 3, 17), "Saint Patrick's Day"),
    ("northern-ireland", date(2027, 7, 12), "Battle of the Boyne"),
])
def test_each_nation_has_its_own_holidays(nation: str, day: date, name: str) -> None:
    calendar = QuietCalendar.from_config(_with_calendar(f'[calendar]\nholidays = "{nation}"\n'))
    reason = calendar.quiet_reason("email", wall_to_utc(day, time(12), ZONE))
    assert reason is not None and reason.startswith(name)
    if nation != "scotland":
        assert QuietCalendar.from_config(_with_calendar('[calendar]\nholidays = "scotland"\n')).quiet_reason(
            "email", wall_to_utc(day, time(12), ZONE)) is None


def test_holiday_channels_limit_the_holidays() -> None:
    calendar = QuietCalendar.from_config(_with_calendar('[calendar]\nholidays = "england"\nholiday_channels = ["email"]\n'))
    christmas = _utc("2027-12-25 12:00")
    assert calendar.quiet_reason("email", christmas) is not None
    assert calendar.quiet_reason("x", christmas) is None


# -- the clock changes --------------------------------------------------------------------------


def test_wall_clock_times_across_the_clock_changes() -> None:
    assert wall_to_utc(date(2027, 3, 27), time(8), ZONE) == datetime(2027, 3, 27, 8, tzinfo=UTC)
    assert wall_to_utc(date(2027, 3, 29), time(8), ZONE) == datetime(2027, 3, 29, 7, tzinfo=UTC)
    assert wall_to_utc(date(2027, 10, 29), time(8), ZONE) == datetime(2027, 10, 29, 7, tzinfo=UTC)
    assert wall_to_utc(date(2027, 11, 1), time(8), ZONE) == datetime(2027, 11, 1, 8, tzinfo=UTC)
    # 01:30 does not happen on 28 March: a window from 01:30 opens when the clocks jump (02:00 BST)
    assert wall_to_utc(date(2027, 3, 28), time(1, 30), ZONE) == datetime(2027, 3, 28, 1, tzinfo=UTC)
    # 01:30 happens twice on 31 October: the first time counts
    assert wall_to_utc(date(2027, 10, 31), time(1, 30), ZONE) == datetime(2027, 10, 31, 0, 30, tzinfo=UTC)


@pytest.mark.parametrize("sunday", [date(2027, 3, 28), date(2027, 10, 31)])
def test_a_window_keeps_its_wall_clock_hours_on_the_day_the_clocks_change(sunday: date) -> None:
    calendar = QuietCalendar.from_config(_with_calendar(
        '[calendar]\n[[calendar.windows]]\nchannel = "x"\ndays = "every day"\nstart = "08:00"\nend = "18:00"\n'))
    for day in (sunday - timedelta(days=1), sunday, sunday + timedelta(days=1)):
        opens = wall_to_utc(day, time(8), ZONE)
        assert opens.astimezone(ZONE).time() == time(8)
        assert calendar.next_allowed("x", wall_to_utc(day, time(3), ZONE))[0] == opens
        assert calendar.quiet_reason("x", wall_to_utc(day, time(17, 59), ZONE)) is None
        assert calendar.quiet_reason("x", wall_to_utc(day, time(18), ZONE)) is not None


def test_a_window_from_a_time_the_clocks_skip_opens_when_they_jump() -> None:
    calendar = QuietCalendar.from_config(_with_calendar(
        '[calendar]\n[[calendar.windows]]\nchannel = "x"\ndays = "every day"\nstart = "01:30"\nend = "03:00"\n'))
    jump = datetime(2027, 3, 28, 1, tzinfo=UTC)  # 01:00 GMT becomes 02:00 BST
    assert calendar.next_allowed("x", datetime(2027, 3, 28, 0, 10, tzinfo=UTC)) == (jump, (
        "outside x's posting hours (every day 01:30-03:00)",))
    assert calendar.quiet_reason("x", jump) is None
    assert calendar.quiet_reason("x", datetime(2027, 3, 28, 2, tzinfo=UTC)) is not None  # 03:00 BST


def test_a_holiday_is_the_whole_local_day_in_summer_time() -> None:
    # Spring bank holiday 2027-05-31 runs 23:00 UTC on the 30th to 23:00 UTC on the 31st
    calendar = QuietCalendar.from_config(_with_calendar('[calendar]\nholidays = "england"\n'))
    assert calendar.quiet_reason("x", datetime(2027, 5, 30, 22, 59, tzinfo=UTC)) is None
    assert calendar.quiet_reason("x", datetime(2027, 5, 30, 23, 0, tzinfo=UTC)) is not None
    assert calendar.next_allowed("x", datetime(2027, 5, 31, 12, tzinfo=UTC))[0] == datetime(2027, 5, 31, 23, tzinfo=UTC)


# -- hypothesis: next_allowed against a minute-by-minute model of the rules --------------------


_ENGLAND = holidays.country_holidays("GB", subdiv="ENG", years=range(2026, 2029))


def _modelled_quiet(channel: str, moment: datetime) -> bool:
    """Whether `moment` is quiet by the rules of LONDON_CALENDAR, read off the local clock."""
    local = moment.astimezone(ZONE)
    naive = local.replace(tzinfo=None)
    if local.date() in _ENGLAND:
        return True
    if channel in ("email", "x") and datetime(2027, 4, 12) <= naive < datetime(2027, 5, 7):
        return True
    if datetime(2027, 9, 8, 14) <= naive < datetime(2027, 9, 10, 9, 30):
        return True
    day, clock = DAYS[local.weekday()], local.time()
    if channel == "x":
        return not ((day in DAYS[:5] and time(8) <= clock < time(18)) or (day == "saturday" and time(10) <= clock < time(12)))
    if channel == "email":
        return not (day in DAYS[:4] and time(7) <= clock < time(19, 30))
    if channel == "mastodon":
        return not (clock >= time(22) or clock < time(4))
    return False


MOMENTS = st.datetimes(min_value=datetime(2026, 12, 1), max_value=datetime(2027, 12, 31),
                       timezones=st.just(UTC))
AROUND_THE_CHANGES = st.sampled_from([datetime(2027, 3, 26), datetime(2027, 10, 29), datetime(2027, 12, 23)]).flatmap(
    lambda start: st.integers(0, 5 * 24 * 60).map(lambda minutes: (start + timedelta(minutes=minutes)).replace(tzinfo=UTC)))
CHANNELS = st.sampled_from(["email", "x", "mastodon", "bluesky"])


@settings(max_examples=300, deadline=None)
@given(channel=CHANNELS, moment=st.one_of(MOMENTS, AROUND_THE_CHANGES))
def test_next_allowed_is_allowed_not_earlier_skips_nothing_and_is_idempotent(channel: str, moment: datetime) -> None:
    moved, reasons = CALENDAR.next_allowed(channel, moment)
    assert moved >= moment
    assert CALENDAR.quiet_reason(channel, moved) is None
    assert not _modelled_quiet(channel, moved)
    assert CALENDAR.next_allowed(channel, moved) == (moved, ())
    assert (reasons == ()) == (moved == moment) == (CALENDAR.quiet_reason(channel, moment) is None)
    # no allowed minute between them: every whole minute from the input up to the result is quiet
    minute = moment.replace(second=0, microsecond=0)
    if minute < moment:
        minute += timedelta(minutes=1)
    checked = 0
    while minute < moved and checked < 20_000:
        assert _modelled_quiet(channel, minute), f"{minute} is allowed but {moment} moved to {moved}"
        minute += timedelta(minutes=1)
        checked += 1


@settings(max_examples=300, deadline=None)
@given(channel=CHANNELS, moment=st.one_of(MOMENTS, AROUND_THE_CHANGES))
def test_quiet_reason_agrees_with_the_model(channel: str, moment: datetime) -> None:
    assert (CALENDAR.quiet_reason(channel, moment) is not None) == _modelled_quiet(channel, moment)


@settings(max_examples=100, deadline=None)
@given(channel=st.one_of(st.none(), CHANNELS), start=st.one_of(MOMENTS, AROUND_THE_CHANGES),
       hours=st.integers(1, 24 * 20))
def test_spans_are_exactly_the_quiet_moments_of_the_range(channel: str | None, start: datetime, hours: int) -> None:
    end = start + timedelta(hours=hours)
    spans = CALENDAR.spans(start, end, channel)
    assert all(span.start < span.end and span.start < end and start < span.end for span in spans)
    for name in ("email", "x", "mastodon", "bluesky") if channel is None else (channel,):
        mine = [span for span in spans if span.applies_to(name)]
        probe = start
        while probe < end:
            assert any(span.start <= probe < span.end for span in mine) == _modelled_quiet(name, probe), probe
            probe += timedelta(minutes=97)


def test_quiet_span_is_the_shared_shape() -> None:
    span = QuietSpan(start=datetime(2027, 1, 1, tzinfo=UTC), end=datetime(2027, 1, 2, tzinfo=UTC),
                     reason="New Year's Day (bank holiday in England)", channels=None)
    assert span.applies_to("x") and span.applies_to(None)
    assert not QuietSpan(span.start, span.end, "r", frozenset({"email"})).applies_to("x")


def test_a_naive_moment_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        CALENDAR.next_allowed("x", datetime(2027, 1, 1))


# -- the config ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("calendar", "expected"), [
    ('holidays = "france"', "calendar.holidays: 'france' is not a UK nation we know the holidays of: use "
                            '"england", "wales", "scotland", "northern-ireland" or "none"'),
    ('holiday_channels = ["fax"]', "calendar.holiday_channels: holiday_channels: 'fax' is not a channel: use email, x, mastodon, bluesky, linkedin"),
    ('[[calendar.periods]]\nname = "P"\nstart = 2027-05-06\nend = 2027-04-01',
     "calendar.periods[0]: period 'P' ends (2027-04-01) before it starts (2027-05-06)"),
    ('[[calendar.periods]]\nname = "P"\nstart = 2027-04-01T09:00:00Z\nend = 2027-04-02',
     "calendar.periods[0].start: start = 2027-04-01T09:00:00+00:00 has a UTC offset: write it without one"),
    ('[[calendar.periods]]\nname = "P"\nstart = "next tuesday"\nend = 2027-04-02', "calendar.periods[0].start"),
    ('[[calendar.periods]]\nname = "P"\nstart = 2027-04-01\nend = 2027-04-02\nchannels = ["twitter"]',
     "calendar.periods[0].channels: channels: 'twitter' is not a channel"),
    ('[[calendar.periods]]\nstart = 2027-04-01\nend = 2027-04-02', "calendar.periods[0].name: missing"),
    ('[[calendar.windows]]\nchannel = "x"\ndays = "workdays"\nstart = "08:00"\nend = "18:00"',
     "calendar.windows[0].days: 'workdays' is not a group of days: write \"weekdays\""),
    ('[[calendar.windows]]\nchannel = "x"\ndays = ["mon"]\nstart = "08:00"\nend = "18:00"',
     "calendar.windows[0].days: 'mon' is not a day of the week"),
    ('[[calendar.windows]]\nchannel = "x"\ndays = "weekdays"\nstart = "8am"\nend = "18:00"',
     "calendar.windows[0].start: is not a valid time (it is '8am'): write a time as \"10:00\""),
    ('[[calendar.windows]]\nchannel = "x"\ndays = "weekdays"\nstart = "08:00"\nend = "08:00"',
     "calendar.windows[0]: window for x starts and ends at 08:00"),
    ('[[calendar.windows]]\nchannel = "sms"\ndays = "weekdays"\nstart = "08:00"\nend = "18:00"',
     "calendar.windows[0].channel: channel: 'sms' is not a channel"),
    ('colour = "red"', "calendar.colour: unknown key"),
])
def test_a_bad_calendar_names_the_key_and_the_fix(calendar: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        _with_calendar("[calendar]\n" + calendar + "\n")
    assert expected in str(info.value)


def test_the_config_accepts_dates_times_and_day_groups() -> None:
    config = _with_calendar('[calendar]\nholidays = "Northern Ireland"\n[[calendar.periods]]\nname = " Mourning "\n'
                            'start = "2027-04-01"\nend = "2027-04-01T12:00"\n'
                            '[[calendar.windows]]\nchannel = "email"\ndays = ["Friday", "monday", "friday"]\n'
                            'start = "00:00"\nend = "00:00"\n')
    assert config.calendar.holidays == "northern-ireland"
    assert config.calendar.periods[0].name == "Mourning"
    assert config.calendar.periods[0].local_bounds() == (datetime(2027, 4, 1), datetime(2027, 4, 1, 12))
    assert config.calendar.windows[0].days == ("monday", "friday")
    calendar = QuietCalendar.from_config(config)
    assert calendar.quiet_reason("email", _utc("2027-06-07 23:59")) is None  # Monday, all day
    assert calendar.next_allowed("email", _utc("2027-06-08 09:00"))[0] == _utc("2027-06-11 00:00")


def test_the_example_config_has_no_quiet_time() -> None:
    assert parse_config(EXAMPLE.read_text("utf-8")).calendar.empty
