"""Builds, sends, posts and quiet days across the clock changes in Europe/London (28 March and
31 October 2027), on a real ledger (SQLite and PostgreSQL) through the real stage functions with
`now=`: the build runs when its cron fires (read with cronsim, as Prefect reads it), the send and
publish stages run at every tick of their five-minute crons. Nothing moves by an hour (each send
goes at its wall-clock time in London), nothing runs twice (one edition a week, one delivery per
subscriber, one post per thread), nothing is skipped (every week is built and sent).

A time the clocks skip (01:30 on 28 March) is the moment they jump, 02:00 BST, as cron runs it; a
time that happens twice (01:30 on 31 October) is the first of the two."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from cronsim import CronSim
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from compose.calendar import QuietCalendar
from compose.config import Config
from compose.models import FetchReport, Item
from connectors.channels.outbox_posts import OutboxPostChannel
from flows.scheduling import build_cron
from flows.stages.deliver import deliver_edition
from flows.stages.edition import build_edition_and_threads
from flows.stages.publish import publish_due_posts
from state import ledger
from state.db import Database
from state.items import store_report, sync_sources
from state.models import DeliveryRow, EditionRow, EditionStatus, PostRow, PostStatus, ThreadRow
from tests.helpers.desk_data import seed_subscribers
from tests.helpers.staff import add_staff_rows
from tests.test_quiet_flow import config_with

LONDON = ZoneInfo("Europe/London")
SECRET = "test-secret-key-not-for-production"
SPRING, AUTUMN = date(2027, 3, 28), date(2027, 10, 31)  # Sundays: 01:00 GMT -> 02:00 BST; 02:00 BST -> 01:00 GMT
SUBSCRIBERS = 3


def _weekly(tmp_path: Path, send_time: str, calendar: str = "") -> Config:
    """Built on Saturday at 14:00, sent on Sunday (the day the clocks change) at `send_time`."""
    config = config_with(tmp_path, calendar)
    data = config.model_dump(mode="json")
    data["edition"] |= {"build_day": "saturday", "build_time": "14:00", "send_day": "sunday", "send_time": send_time}
    return Config.model_validate(data)


def _fires(cron: str, start: datetime, end: datetime) -> Iterator[datetime]:
    """When a cron in London fires in [start, end), in UTC, as Prefect's scheduler reads it."""
    for fire in CronSim(cron, (start - timedelta(seconds=1)).astimezone(LONDON)):
        moment = fire.astimezone(UTC)
        if moment >= end:
            return
        if moment >= start:
            yield moment


def _new_items(db: Database, config: Config, *, now: datetime, week: int) -> None:
    """Three new items for the week's edition, published an hour before `now`."""
    with db.session() as session:
        rows = sync_sources(session, config.sources)
        source = config.sources[0]
        items = tuple(Item(url=f"https://www.socitm.net/news/week-{week}-story-{n}", title=f"Week {week}, story {n}",
                           section=source.section, source=source.name, summary_text=f"What happened in week {week}.",
                           summary_html=f"<p>What happened in week {week}.</p>", published=now - timedelta(hours=1),
                           image_url=None) for n in range(3))
        store_report(session, rows[source.name], FetchReport(source=source.name, items=items, status=200),
                     now=now - timedelta(minutes=30), include_backlog=True)


def _run_week(db: Database, config: Config, build_at: datetime, week: int, tmp_path: Path) -> int:
    """The build cron fired at `build_at`: build, approve everything an hour later."""
    _new_items(db, config, now=build_at, week=week)
    with db.session() as session:
        built = build_edition_and_threads(session, config, now=build_at)
    assert built["built"], built["reason"]
    with db.session() as session:
        add_staff_rows(session)
        ledger.approve(session, "edition", built["id"], by="approver@socitm.example", now=build_at + timedelta(hours=1))
        for thread in ledger.edition_threads(session, built["id"]):
            ledger.approve(session, "thread", thread.id, by="approver@socitm.example", now=build_at + timedelta(hours=1))
    return int(built["id"])


def _tick(db: Database, config: Config, start: datetime, end: datetime, tmp_path: Path) -> None:
    """The send-edition and publish-posts crons (every five minutes, in London) over [start, end)."""
    for moment in _fires("*/5 * * * *", start, end):
        deliver_edition(db, config, now=moment, secret_key=SECRET)
        publish_due_posts(db.sessions, config, now=moment, sleep=lambda s: None,
                          channel_for=lambda network: OutboxPostChannel(network, tmp_path / "outbox"))


def _wall(moment: datetime | None) -> tuple[date, time]:
    assert moment is not None
    local = moment.astimezone(LONDON)
    return local.date(), local.time()


@pytest.mark.parametrize(("change", "send_time", "on_the_day"), [
    (SPRING, "10:00", time(10)), (AUTUMN, "10:00", time(10)),
    (SPRING, "01:30", time(2)),  # 01:30 does not happen: the jump, 02:00 BST (as cron runs it)
    (AUTUMN, "01:30", time(1, 30)),  # 01:30 happens twice: the first, 01:30 BST, and only once
], ids=["spring-10:00", "autumn-10:00", "spring-01:30", "autumn-01:30"])
def test_weekly_builds_and_sends_keep_their_wall_clock_time(db: Database, tmp_path: Path, change: date,
                                                             send_time: str, on_the_day: time) -> None:
    config = _weekly(tmp_path, send_time)
    seed_subscribers(db, SUBSCRIBERS, now=datetime(2027, 1, 1, tzinfo=UTC))
    span_start = datetime.combine(change - timedelta(days=9), time(), tzinfo=LONDON).astimezone(UTC)
    span_end = datetime.combine(change + timedelta(days=8), time(), tzinfo=LONDON).astimezone(UTC)
    builds = list(_fires(build_cron(config), span_start, span_end))
    assert [_wall(b) for b in builds] == [(change - timedelta(days=8 - 7 * n), time(14)) for n in range(3)]
    wanted = time.fromisoformat(send_time)
    for week, build_at in enumerate(builds):
        edition_id = _run_week(db, config, build_at, week, tmp_path)
        with db.session() as session:
            due = session.get(EditionRow, edition_id).scheduled_for  # type: ignore[union-attr]
        sunday = build_at.astimezone(LONDON).date() + timedelta(days=1)
        assert _wall(due) == (sunday, on_the_day if sunday == change else wanted)
        _tick(db, config, due - timedelta(hours=2), due + timedelta(hours=2), tmp_path)
        with db.session() as session:
            row = session.get(EditionRow, edition_id)
            assert row is not None and row.status == EditionStatus.SENT
            assert row.sent_at is not None  # at the tick at its time (plus the seconds the send took): not an hour off
            assert due <= row.sent_at < due + timedelta(minutes=1)
            delivered = session.scalar(select(func.count()).select_from(DeliveryRow)
                                       .where(DeliveryRow.edition_id == edition_id))
            assert delivered == SUBSCRIBERS  # once each
            roundup = ledger.edition_threads(session, edition_id)[0]
            assert roundup.published_at == due and all(p.status == PostStatus.POSTED for p in roundup.posts)
    with db.session() as session:  # nothing twice, nothing skipped
        assert session.scalar(select(func.count()).select_from(EditionRow)) == 3
        assert session.scalar(select(func.count()).select_from(DeliveryRow)) == 3 * SUBSCRIBERS
        posted = session.scalars(select(PostRow).where(PostRow.status == PostStatus.POSTED)).all()
        assert len(posted) == session.scalar(select(func.count()).select_from(PostRow))


def test_a_build_that_fires_twice_in_the_repeated_hour_builds_once(db: Database, tmp_path: Path) -> None:
    """Should a scheduler fire at both 01:30s on 31 October, the second build finds the first."""
    config = _weekly(tmp_path, "10:00")
    first, second = datetime(2027, 10, 31, 0, 30, tzinfo=UTC), datetime(2027, 10, 31, 1, 30, tzinfo=UTC)
    assert first.astimezone(LONDON).time() == second.astimezone(LONDON).time() == time(1, 30)
    _new_items(db, config, now=first, week=0)
    with db.session() as session:
        built = build_edition_and_threads(session, config, now=first)
    with db.session() as session:
        again = build_edition_and_threads(session, config, now=second)
    assert built["built"] and not again["built"] and again["id"] == built["id"]
    assert "is draft and not sent yet" in again["reason"]


QUIET = """
[calendar]
[[calendar.windows]]
channel = "email"
days = "every day"
start = "08:00"
end = "18:00"

[[calendar.windows]]
channel = "x"
days = "weekdays"
start = "09:00"
end = "17:30"
"""


@pytest.mark.parametrize("change", [SPRING, AUTUMN], ids=["spring", "autumn"])
def test_quiet_hours_move_sends_and_posts_to_their_wall_clock_time(db: Database, tmp_path: Path, change: date) -> None:
    """Sent at 07:00 on the Sunday of the change, inside email's quiet hours: it moves to 08:00 that
    day, London time; the roundup waits for x's hours, Monday 09:00 London time. Each goes once."""
    config = _weekly(tmp_path, "07:00", QUIET)
    seed_subscribers(db, SUBSCRIBERS, now=datetime(2027, 1, 1, tzinfo=UTC))
    (build_at,) = _fires(build_cron(config), datetime.combine(change - timedelta(days=1), time(), tzinfo=UTC),
                         datetime.combine(change, time(), tzinfo=UTC))
    edition_id = _run_week(db, config, build_at, 0, tmp_path)
    with db.session() as session:
        row = session.get(EditionRow, edition_id)
        roundup = ledger.edition_threads(session, edition_id)[0]
        assert row is not None and _wall(row.scheduled_for) == (change, time(8))
        assert _wall(roundup.scheduled_for) == (change + timedelta(days=1), time(9))
        send_at, post_at = row.scheduled_for, roundup.scheduled_for
    assert send_at is not None and post_at is not None
    # every hour from the build to the post, nothing goes early; then every five minutes around each time
    for moment in _fires("0 * * * *", build_at, send_at):
        deliver_edition(db, config, now=moment, secret_key=SECRET)
    _tick(db, config, send_at - timedelta(hours=1), send_at + timedelta(hours=1), tmp_path)
    for moment in _fires("0 * * * *", send_at + timedelta(hours=1), post_at):
        publish_due_posts(db.sessions, config, now=moment,
                          channel_for=lambda network: OutboxPostChannel(network, tmp_path / "outbox"))
    _tick(db, config, post_at - timedelta(hours=1), post_at + timedelta(hours=1), tmp_path)
    with db.session() as session:
        row = session.get(EditionRow, edition_id)
        assert row is not None and row.sent_at is not None and send_at <= row.sent_at < send_at + timedelta(minutes=1)
        assert session.scalar(select(func.count()).select_from(DeliveryRow)) == SUBSCRIBERS
        thread = session.get(ThreadRow, roundup.id)
        assert thread is not None and thread.published_at == post_at
        assert {p.posted_at for p in thread.posts} == {post_at}


# -- hypothesis: next_allowed around the changes, with windows whose edges are in the odd hours ----


ODD_HOURS = QuietCalendar.from_config(config_with(Path("/nonexistent"), """
[calendar]
holidays = "england"
[[calendar.windows]]
channel = "x"
days = "every day"
start = "01:30"
end = "03:00"

[[calendar.windows]]
channel = "x"
days = ["sunday"]
start = "09:00"
end = "01:15"

[[calendar.windows]]
channel = "email"
days = "weekends"
start = "00:45"
end = "02:00"
"""))
AROUND = st.sampled_from([SPRING, AUTUMN]).flatmap(lambda day: st.integers(-36 * 60, 36 * 60).map(
    lambda minutes: datetime.combine(day, time(1), tzinfo=UTC) + timedelta(minutes=minutes, seconds=17)))


@settings(max_examples=120, deadline=None)  # each example checks every minute it skips: up to a day of them
@given(channel=st.sampled_from(["x", "email", "bluesky"]), moment=AROUND)
def test_next_allowed_across_the_changes(channel: str, moment: datetime) -> None:
    moved, reasons = ODD_HOURS.next_allowed(channel, moment)
    assert moved >= moment
    assert ODD_HOURS.quiet_reason(channel, moved) is None
    assert ODD_HOURS.next_allowed(channel, moved) == (moved, ())
    assert (moved == moment) == (reasons == ())
    minute = moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
    while minute < moved:
        assert ODD_HOURS.quiet_reason(channel, minute) is not None, f"{minute} is allowed, skipped to {moved}"
        minute += timedelta(minutes=1)
    if moved != moment:  # an allowed moment is where a window opens: wall-clock, or the jump over it
        local = moved.astimezone(LONDON)
        assert local.time() in (time(1, 30), time(9), time(0, 45), time(0)) or (
            local.date() == SPRING and local.time() == time(2))
