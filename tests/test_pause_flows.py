"""A pause seen from Prefect (one real server per test session, `tests.prefect_fixtures`): the
deliver-edition flow run completes (a pause is not a failure), its result and its `send-edition`
artifact say paused, by whom, since when and why, the `syndicate.paused` event reaches Prefect, and
after the resume the next run sends the edition."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.helpers.staff import add_staff_rows
from tests.prefect_fixtures import prefect_api  # noqa: F401  (the session server)
from tests.test_flows_prefect import _artifacts_of, site_config  # noqa: F401  (the fixture)

pytestmark = pytest.mark.prefect
REASON = "a story in this edition is wrong: hold everything"


def test_a_paused_send_run_completes_and_says_paused_then_sends_after_the_resume(
        site_config: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.chdir(tmp_path)
    from prefect.client.orchestration import get_client
    from prefect.events.filters import EventFilter, EventNameFilter, EventOccurredFilter

    from flows.pipeline import build_edition_flow, deliver_edition_flow, gather, result_of
    from flows.relay import pending_events
    from state import ledger, pauses
    from state.db import connect

    started = datetime.now(UTC) - timedelta(seconds=1)
    assert asyncio.run(gather(site_config, include_backlog=True, return_state=True)).is_completed()
    built = result_of(asyncio.run(build_edition_flow(site_config, return_state=True)))
    db = connect()
    now = datetime.now(UTC)
    with db.session() as session:
        add_staff_rows(session, {"approver@socitm.example": "approver", "admin@socitm.example": "admin"})
        ledger.approve(session, "edition", built["id"], by="approver@socitm.example", now=now)
        pauses.pause(session, reason=REASON, by="approver@socitm.example", now=now)

    paused_state = asyncio.run(deliver_edition_flow(site_config, built["id"], return_state=True))
    assert paused_state.is_completed(), paused_state.message
    (paused,) = result_of(paused_state)
    assert not paused["sent"] and paused["accepted"] == 0
    assert paused["paused"]["by"] == "approver@socitm.example" and paused["paused"]["reason"] == REASON
    rows = json.loads(_artifacts_of(paused_state)["send-edition"].data)
    assert rows[0]["outcome"].startswith("paused: everything is paused by approver@socitm.example since ")
    assert rows[0]["outcome"].endswith(REASON)
    assert pending_events(db) == 0  # the run relayed the pause's event
    seen: list[tuple[str, str]] = []
    deadline = time.monotonic() + 30  # the server stores what it is sent a moment later
    while not seen and time.monotonic() < deadline:
        with get_client(sync_client=True) as client:
            page = client.read_events(EventFilter(occurred=EventOccurredFilter(since=started),
                                                  event=EventNameFilter(name=["syndicate.paused"])), limit=10)
        seen = [(e.resource.id, e.payload["reason"]) for e in page.events]
        time.sleep(0.5)
    assert seen == [("syndicate.channel.all", REASON)]

    with db.session() as session:
        pauses.resume(session, by="admin@socitm.example", now=datetime.now(UTC))
    sent_state = asyncio.run(deliver_edition_flow(site_config, built["id"], return_state=True))
    (sent,) = result_of(sent_state)
    assert sent_state.is_completed() and sent["sent"] and sent["accepted"] == sent["recipients"] > 0
    assert sent["paused"] is None
