"""The weekly-note deployment's flow in a real Prefect run (one server per test session,
`tests.prefect_fixtures`): the first run of a week sends the note to staff through the outbox, a
second run that week completes and sends nothing, saying when it went."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.helpers.staff import add_staff_rows
from tests.prefect_fixtures import prefect_api  # noqa: F401  (the session server)
from tests.test_flows_prefect import site_config  # noqa: F401  (the fixture)

pytestmark = pytest.mark.prefect


def test_the_weekly_note_flow_sends_once_per_week(site_config: str, tmp_path: Path,  # noqa: F811
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    from flows.pipeline import result_of, weekly_note_flow
    from state.db import connect

    with connect().session() as session:
        add_staff_rows(session, {"approver@socitm.example": "approver", "admin@socitm.example": "admin",
                                 "editor@socitm.example": "editor"})
    first = asyncio.run(weekly_note_flow(site_config, return_state=True))
    assert first.is_completed(), first.message
    sent = result_of(first)
    assert sent["sent"] and sorted(sent["recipients"]) == ["admin@socitm.example", "approver@socitm.example"]
    notes = sorted((tmp_path / "outbox" / "email").glob(f"staff-weekly-note-{sent['week_start']}/*.eml"))
    assert len(notes) == 2
    assert datetime.fromisoformat(sent["week_start"]).weekday() == 0  # a Monday: [weekly_note] day's default

    second = asyncio.run(weekly_note_flow(site_config, return_state=True))
    assert second.is_completed(), second.message
    again = result_of(second)
    assert not again["sent"] and "never sent twice" in again["said"] and again["week_start"] == sent["week_start"]
    assert len(list((tmp_path / "outbox" / "email").rglob("staff-weekly-note-*/*.eml"))) == 2
    assert datetime.now(UTC).date() >= datetime.fromisoformat(sent["week_start"]).date()
