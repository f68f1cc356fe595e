"""`status` says when the next email really goes out: the edition waiting for its send time, else
the send slot of the edition the next build will make, never an empty send slot."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from state import ledger
from state.db import Database
from state.status_report import schedule
from tests.helpers import desk_data

# Tuesday 1 December 2026, 22:00 in London (GMT): the example builds on Thursdays at 14:00 and
# sends on Thursdays at 10:00, so an edition built on Thursday goes out a week later.
NOW = datetime(2026, 12, 1, 22, 0, tzinfo=UTC)


def _build(db: Database, *, scheduled_for: datetime) -> int:
    with db.session() as session:
        row = ledger.create_edition(session, slug=f"e-{scheduled_for:%Y%m%d}", title="In Our View", subject="s",
                                    preheader="p", intro_markdown="", featured_item_id=None, html="<p>x</p>",
                                    text="x", content_hash="h" * 64, html_bytes=8, warnings=[], built_at=NOW,
                                    scheduled_for=scheduled_for)
        return row.id


def test_with_nothing_waiting_the_next_send_follows_the_next_build(db: Database, tmp_path: Path) -> None:
    config = desk_data.example_config(tmp_path)
    with db.session() as session:
        report = schedule(session, config, now=NOW)
    assert report["next_build"] == "2026-12-03T14:00:00+00:00"
    assert report["next_send"] == "2026-12-10T10:00:00+00:00"  # not Thursday 3rd at 10:00: nothing to send then
    assert report["scheduled"] == []


def test_a_waiting_edition_gives_the_next_send(db: Database, tmp_path: Path) -> None:
    config = desk_data.example_config(tmp_path)
    due = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
    edition_id = _build(db, scheduled_for=due)
    _build(db, scheduled_for=NOW - timedelta(days=2))  # overdue: the next send run holds it, it sends nothing
    with db.session() as session:
        report = schedule(session, config, now=NOW)
    assert report["next_send"] == "2026-12-03T10:00:00+00:00"
    assert edition_id in [row["id"] for row in report["scheduled"]]


def test_across_the_clock_change_the_send_stays_at_ten_in_london(db: Database, tmp_path: Path) -> None:
    config = desk_data.example_config(tmp_path)
    before_bst = datetime(2027, 3, 23, 12, 0, tzinfo=UTC)  # Tuesday; clocks go forward on Sunday 28 March
    with db.session() as session:
        report = schedule(session, config, now=before_bst)
    assert report["next_build"] == "2027-03-25T14:00:00+00:00"  # Thursday 25th, 14:00 GMT
    assert report["next_send"] == "2027-04-01T09:00:00+00:00"  # Thursday 1 April, 10:00 BST
