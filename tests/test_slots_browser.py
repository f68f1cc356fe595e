"""Posting slots on the desk in a real browser (Debian's chromium through Playwright): the week's
slot board and the move form at 375 and 1280 px (nothing scrolls sideways, axe-core finds nothing
serious), drag a post onto a free slot, and the same move with JavaScript off through the form.

Screenshots go to the pytest temporary folder, or to tests/artifacts/ when SYNDICATE_KEEP_SCREENSHOTS=1.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from state import ledger
from state.db import Database
from state.models import ThreadRow
from tests.helpers import desk_data
from tests.helpers.browser import browser_fixture, check_page, serving_desk, shots_folder, signed_in_page  # noqa: F401  (the browser fixture)
from tests.test_slots_desk import slotted_config

pytestmark = pytest.mark.browser

NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)  # Thursday 26 November 2026, 14:00 in London (GMT)
LONDON = ZoneInfo("Europe/London")


@pytest.fixture
def shots_dir(tmp_path: Path) -> Path:
    return shots_folder(tmp_path)


@pytest.fixture
def server(sqlite_db: Database, tmp_path: Path):  # type: ignore[no-untyped-def]
    """The desk with X posting slots, two posts approved into them (Friday 09:00 and 12:30) and the others waiting."""
    config = slotted_config(tmp_path)
    desk_data.seed_items(sqlite_db, config, now=NOW)
    threads = desk_data.seed_threads(sqlite_db, config, now=NOW)
    desk_data.seed_staff(sqlite_db, "alex@example.org", "admin", now=NOW)
    with sqlite_db.session() as session:
        for thread_id in threads[:2]:
            ledger.approve(session, "thread", thread_id, by="alex@example.org", now=NOW, config=config,
                           two_person_rule=False)
    with serving_desk(config, sqlite_db, NOW) as base:
        yield base, sqlite_db, threads


def scheduled(db: Database, thread_id: int) -> datetime | None:
    with db.session() as session:
        return session.get(ThreadRow, thread_id).scheduled_for  # type: ignore[union-attr]


def london(*args: int) -> datetime:
    return datetime(*args, tzinfo=LONDON).astimezone(UTC)  # type: ignore[arg-type,misc]


@pytest.mark.parametrize("width", [375, 1280])
def test_the_slot_board_and_move_forms_fit_and_pass_axe(server, browser, shots_dir: Path, width: int) -> None:  # type: ignore[no-untyped-def]
    base, _, threads = server
    page = signed_in_page(browser, base, width, "alex@example.org")
    page.goto(f"{base}/desk/threads")
    board = page.locator("section.slot-board")
    assert board.get_by_role("heading", name="Posting slots, the week ahead").is_visible()
    assert "Fri 27 Nov, 09:00" in board.inner_text() and "free" in board.inner_text()
    check_page(page, width, shots_dir / f"slots-threads-{width}.png")
    board.screenshot(path=str(shots_dir / f"slots-board-{width}.png"))
    page.locator(f"#thread-{threads[2]}").screenshot(path=str(shots_dir / f"slots-move-form-{width}.png"))
    page.context.close()


def test_dragging_a_post_onto_a_free_slot_moves_it(server, browser) -> None:  # type: ignore[no-untyped-def]
    base, db, threads = server
    page = signed_in_page(browser, base, 1280, "alex@example.org")
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(f"{base}/desk/threads")
    chip = page.locator(f'.slot-board .slot-post[data-thread="{threads[0]}"]')
    assert chip.get_attribute("draggable") == "true"
    target = page.locator('.slot-board li.slot-free[data-slot="2026-11-30T12:30"]')
    with page.expect_navigation(url="**/desk/threads?done=moved*"):
        chip.drag_to(target)
    assert "Moved. It goes out at its new time" in page.get_by_role("status").first.inner_text()
    assert scheduled(db, threads[0]) == london(2026, 11, 30, 12, 30)
    moved = page.locator('.slot-board li[data-slot="2026-11-30T12:30"]')
    assert moved.locator(f'.slot-post[data-thread="{threads[0]}"]').is_visible()
    # a post still waiting for approval can be dragged into a slot too: it keeps it once approved
    waiting = page.locator(f'.slot-board .slot-waiting .slot-post[data-thread="{threads[2]}"]')
    with page.expect_navigation(url="**/desk/threads?done=moved*"):
        waiting.drag_to(page.locator('.slot-board li.slot-free[data-slot="2026-11-28T10:00"]'))
    assert scheduled(db, threads[2]) == london(2026, 11, 28, 10, 0)
    assert not errors, errors
    page.context.close()


def test_without_javascript_the_form_moves_a_post(server, browser) -> None:  # type: ignore[no-untyped-def]
    base, db, threads = server
    page = signed_in_page(browser, base, 375, "alex@example.org", java_script_enabled=False)
    page.goto(f"{base}/desk/threads")
    assert page.locator(".slot-post[draggable]").count() == 0  # no drag without the script
    card = page.locator(f"#thread-{threads[1]}")
    card.get_by_label("Move to a slot").select_option(label="Mon 30 Nov, 09:00 GMT")
    with page.expect_navigation(url="**/desk/threads?done=moved*"):
        card.get_by_role("button", name="Move").click()
    assert scheduled(db, threads[1]) == london(2026, 11, 30, 9, 0)
    card = page.locator(f"#thread-{threads[1]}")
    assert "In the X slot of Mon 30 Nov 2026, 09:00 GMT (moved by alex@example.org)" in card.inner_text()
    card.get_by_label("Or a time of your own").fill("2026-11-27T17:15")
    with page.expect_navigation(url="**/desk/threads?done=moved*"):
        card.get_by_role("button", name="Set the time").click()
    assert scheduled(db, threads[1]) == london(2026, 11, 27, 17, 15)
    page.context.close()
