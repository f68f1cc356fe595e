"""The desk's calendar page through HTTP against a real ledger (SQLite and PostgreSQL): staff only,
week and month in the organisation's zone, previous / next / today, every entry linked to its desk
page, quiet time and slots, clear 400s for a bad address; and, for any zone and any date, the days
of a page tile its range and every moment lands on exactly one day, its own local date."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from html import unescape
from zoneinfo import ZoneInfo, available_timezones

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from compose.calendar import QuietSpan
from state import ledger
from state.calendar_view import EditionEntry, PostEntry, Schedule, ThreadEntry
from tests.helpers import calendar_data, desk_data
from web.app import create_app
from web.calendar import Day, MonthCell, lay_out, period, quiet_lines

NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)  # Thursday 26 November 2026, 14:00 in London
SECRET = "test-secret-key-0123456789abcdef"


def _site(db, tmp_path, zone: str = "Europe/London"):
    config = calendar_data.calendar_config(tmp_path, zone=zone)
    ids = calendar_data.seed_schedule(db, config, now=NOW)
    desk_data.seed_staff(db, "ed@example.org", "editor", now=NOW)
    app = create_app(config=config, db=db, secret_key=SECRET, now=lambda: NOW, env={})
    client = TestClient(app)
    assert desk_data.sign_in(client, "ed@example.org").status_code == 303
    return client, ids


def _day(html: str, iso: str) -> str:
    """The text of one day's cell on the page."""
    cells = [cell for cell in html.split('<li class="cal-day')[1:] if f'aria-labelledby="day-{iso}"' in cell]
    assert cells, f"no day {iso} on the page"
    text = unescape(re.sub(r"<[^>]+>", " ", cells[0].split('<section class="card" id="feed"')[0]))
    return " ".join(text.replace(" ,", ",").split())


def test_anonymous_requests_go_to_sign_in(db, tmp_path):
    app = create_app(config=calendar_data.calendar_config(tmp_path), db=db, secret_key=SECRET, now=lambda: NOW, env={})
    response = TestClient(app).get("/desk/calendar?view=month", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login?next=")


def test_the_week_shows_each_thing_on_its_day_with_its_link_status_and_time(db, tmp_path):
    client, ids = _site(db, tmp_path)
    html = client.get("/desk/calendar").text
    assert "<h1>Calendar: 23 November to 29 November 2026</h1>" in html
    friday = _day(html, "2026-11-27")
    assert "X post 09:00" in friday and "approved" in friday and "09:00 taken" in friday and "12:30 free" in friday
    assert f'href="/desk/threads#thread-{ids["approved"]}"' in html
    assert 'href="/desk/history#th-h"' in html  # the published thread: no longer on the posts page
    tuesday = _day(html, "2026-11-24")
    assert "post 1 of 2, posted" in tuesday and "post 2 of 2, posted" in tuesday and "published" in tuesday
    saturday = _day(html, "2026-11-28")
    assert "Quiet all day outside x's posting hours (weekdays 08:00-18:00) (x)" in saturday
    assert 'aria-current="date"' in html  # "Today" is this week
    assert 'href="/desk/calendar?view=week&amp;date=2026-11-19" rel="prev"' in html
    assert 'href="/desk/calendar?view=week&amp;date=2026-12-03" rel="next"' in html
    following = client.get("/desk/calendar?view=week&date=2026-12-03").text
    assert f'<a href="/desk/editions/{ids["edition"]}">' in following
    assert "Edition 10:00" in _day(following, "2026-12-03") and "draft" in _day(following, "2026-12-03")
    assert 'aria-current="date"' not in following


def test_the_month_runs_monday_to_sunday_around_it_with_holidays_and_periods(db, tmp_path):
    client, ids = _site(db, tmp_path)
    html = client.get("/desk/calendar?view=month&date=2026-12-25").text
    assert "<h1>Calendar: December 2026</h1>" in html
    days = re.findall(r'aria-labelledby="day-(\d{4}-\d\d-\d\d)"', html)
    assert days[0] == "2026-11-30" and days[-1] == "2027-01-03" and len(days) == 35
    assert 'class="cal-day outside' in html  # 30 November and 1-3 January belong to the neighbours
    assert "Quiet all day Christmas Day (bank holiday in England) (every channel)" in _day(html, "2026-12-25")
    assert "Pre-election period (email, x)" in _day(html, "2026-12-14")
    assert "Pre-election period" not in _day(html, "2026-12-16")
    assert 'date=2026-11-01" rel="prev"' in html and 'date=2027-01-01" rel="next"' in html
    assert f'href="/desk/editions/{ids["edition"]}"' in html.split('aria-labelledby="day-2026-12-03"')[1].split("cal-day")[0]


def test_times_and_days_are_the_organisations_zone(db, tmp_path):
    client, ids = _site(db, tmp_path, zone="America/New_York")
    week = client.get("/desk/calendar").text
    assert "Times are in America/New_York" in week
    # built at 09:00 New York time, the edition goes out at the next Thursday 10:00 there: in an hour
    assert "Edition 10:00" in _day(week, "2026-11-26")
    # the published thread went out on Tuesday 24 November at 14:00 UTC: 09:00 in New York
    assert "09:00 post 1 of 2, posted" in _day(week, "2026-11-24")


def test_a_busy_day_in_the_month_lists_a_few_and_links_to_its_week_which_lists_all(db, tmp_path):
    client, _ = _site(db, tmp_path)
    with client.app.state.syndicate.db.session() as session:  # type: ignore[attr-defined]
        for n in range(MonthCell.most + 4):
            ledger.create_thread(session, network="x", key=f"item:busy-{n}", kind="item", texts=[f"Busy {n}"],
                                 content_hash=f"{n:064d}", now=NOW, scheduled_for=datetime(2026, 12, 8, 9, n, tzinfo=UTC))
    month = _day(client.get("/desk/calendar?view=month&date=2026-12-01").text, "2026-12-08")
    assert month.count("X post") == MonthCell.most and "4 more that day: see the week" in month
    assert 'href="/desk/calendar?view=week&amp;date=2026-12-08"' in client.get("/desk/calendar?view=month&date=2026-12-01").text
    week = _day(client.get("/desk/calendar?view=week&date=2026-12-08").text, "2026-12-08")
    assert week.count("X post") == MonthCell.most + 4 and "more that day" not in week


@pytest.mark.parametrize("query", ["view=year", "date=2026-13-01", "date=yesterday", "date=1999-12-31",
                                   "date=2200-01-01", "date=" + "9" * 40, "view=<b>"])
def test_a_bad_address_is_a_clear_400(db, tmp_path, query):
    client, _ = _site(db, tmp_path)
    response = client.get(f"/desk/calendar?{query}")
    assert response.status_code == 400
    assert "view=week or view=month" in response.text or "YYYY-MM-DD" in response.text
    assert "<b>" not in response.text


zones = st.sampled_from(sorted(available_timezones() - {"Factory", "localtime"}))
anchors = st.dates(min_value=date(2000, 1, 1), max_value=date(2199, 12, 31))


@settings(max_examples=300, deadline=None)
@given(zone_name=zones, anchor=anchors, view=st.sampled_from(["week", "month"]),
       offsets=st.lists(st.integers(min_value=0, max_value=2**62), max_size=8))
def test_the_days_tile_the_range_and_each_moment_lands_once_on_its_local_date(zone_name, anchor, view, offsets):
    zone = ZoneInfo(zone_name)
    shown = period(view, anchor, zone)
    length_us = (shown.end - shown.start) // timedelta(microseconds=1)
    moments = [shown.start + timedelta(microseconds=o % length_us) for o in offsets]
    editions = tuple(EditionEntry(id=n, slug=str(n), title="t", subject="s", status="draft", scheduled_for=at,
                                  sent_at=None, at=at) for n, at in enumerate(moments))
    posts = tuple(PostEntry(id=n, thread_id=n, network="x", position=0, count=1, status="pending", preview="p",
                            posted_at=None, at=at) for n, at in enumerate(moments))
    threads = tuple(ThreadEntry(id=n, network="x", kind="item", status="draft", title="t", scheduled_for=at,
                                published_at=None, at=at, posts=(posts[n],)) for n, at in enumerate(moments))
    days = lay_out(shown, Schedule(start=shown.start, end=shown.end, editions=editions, threads=threads), zone,
                   today=anchor)
    assert shown.first <= anchor < shown.first + timedelta(days=shown.days)
    assert days[0].day.weekday() == 0 and len(days) % 7 == 0
    assert days[0].start == shown.start and days[-1].end == shown.end
    assert all(a.end == b.start and a.start < a.end for a, b in zip(days, days[1:], strict=False))
    placed = [(day, e) for day in days for e in day.editions]
    assert sorted(e.id for _, e in placed) == list(range(len(moments)))  # each exactly once
    assert sorted(t.id for day in days for t in day.threads) == list(range(len(moments)))
    for day, entry in placed:
        assert day.start <= entry.at < day.end and entry.at.astimezone(zone).date() == day.day
    if view == "month":
        inside = [d for d in days if not d.outside]
        assert inside[0].day == anchor.replace(day=1) and (inside[-1].day + timedelta(days=1)).day == 1
        assert {d.day.month for d in inside} == {anchor.month}


@settings(max_examples=200, deadline=None)
@given(zone_name=zones, anchor=anchors, start=st.floats(min_value=-0.5, max_value=1.5),
       length=st.floats(min_value=0.0001, max_value=2))
def test_a_quiet_span_is_cut_into_the_days_it_covers_and_nothing_is_lost(zone_name, anchor, start, length):
    zone = ZoneInfo(zone_name)
    shown = period("week", anchor, zone)
    whole = shown.end - shown.start
    span = QuietSpan(start=shown.start + whole * start, end=shown.start + whole * (start + length),
                     reason="Pre-election period", channels=None)
    days = [Day(day=d, start=s, end=e, outside=False, today=False)
            for d, s, e in ((x.day, x.start, x.end) for x in lay_out(shown, Schedule(shown.start, shown.end, (), ()),
                                                                       zone, today=anchor))]
    pieces = [stretch for day in days for line in quiet_lines(day, [span]) for stretch in line.stretches]
    covered = sum((b - a for a, b in pieces), timedelta())
    expected = max(timedelta(), min(span.end, shown.end) - max(span.start, shown.start))
    assert covered == expected
    for day in days:
        for line in quiet_lines(day, [span]):
            assert line.channels == "every channel"
            assert line.all_day == (span.start <= day.start and day.end <= span.end)
