"""The review desk in a real browser (Debian's chromium through Playwright): sign in, open an
edition, edit the intro, see the approval voided, approve again, see it scheduled.

Screenshots of the desk and the edition page go to the pytest temporary folder, or to tests/artifacts/
when SYNDICATE_KEEP_SCREENSHOTS=1. Requests that would leave the machine (the logo) are answered locally.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from state import ledger
from state.editions import edition_value
from state.models import EditionRow
from state.threads import draft_roundup
from tests.helpers import desk_data
from tests.helpers.browser import browser_fixture, fits, new_page, serving_desk, shots_folder, sign_in  # noqa: F401  (the browser fixture)

pytestmark = pytest.mark.browser

NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)


@pytest.fixture
def shots_dir(tmp_path):
    return shots_folder(tmp_path)


@pytest.fixture
def server(sqlite_db, tmp_path):
    """The web app served by uvicorn on an ephemeral loopback port, with an edition approved once."""
    config = desk_data.example_config(tmp_path)
    edition_id = desk_data.seed_edition(sqlite_db, config, now=NOW)
    desk_data.seed_threads(sqlite_db, config, now=NOW)
    desk_data.seed_subscribers(sqlite_db, 3, now=NOW)
    desk_data.seed_staff(sqlite_db, "alex@example.org", "admin", now=NOW)
    desk_data.seed_staff(sqlite_db, "sam@example.org", "approver", now=NOW)
    with sqlite_db.session() as session:
        row = session.get(EditionRow, edition_id)
        draft_roundup(session, config, row, edition_value(session, row, config), now=NOW)
        ledger.approve(session, "edition", edition_id, by="sam@example.org", now=NOW, note="first look")
    with serving_desk(config, sqlite_db, NOW) as base:
        yield base, edition_id


def test_sign_in_edit_voids_approval_approve_and_see_it_scheduled(server, browser, shots_dir):
    base, edition_id = server
    page = new_page(browser, base, 1280, bypass_csp=False)
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    try:
        page.goto(f"{base}/desk")
        assert "/login" in page.url
        page.get_by_label("Email address").fill("alex@example.org")
        page.get_by_label("Password").fill(desk_data.PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{base}/desk")
        assert page.get_by_role("heading", name="Scheduled next").is_visible()
        page.screenshot(path=str(Path(shots_dir) / "desk.png"), full_page=True)

        page.goto(f"{base}/desk/editions/{edition_id}")
        assert "The approval is current" in page.locator("#approval").inner_text()
        frame = page.frame_locator("iframe.frame-desktop")
        assert frame.get_by_role("link", name="Unsubscribe").is_visible()

        page.get_by_label("Introduction").fill("This week: **skills**, security and a new briefing.")
        page.get_by_role("button", name="Save changes").click()
        page.wait_for_load_state()
        assert "voided its approval" in page.get_by_role("status").first.inner_text()
        assert "Needs approval again" in page.locator("#approval").inner_text()
        assert page.locator("#edition-status").inner_text().strip().lower() == "draft"
        assert "skills" in page.frame_locator("iframe.frame-desktop").locator("body").inner_text()

        page.get_by_role("tab", name="Phone (375 px)").click()
        phone = page.locator("iframe.frame-phone")
        assert phone.is_visible() and phone.bounding_box()["width"] <= 375 + 20

        page.get_by_role("tab", name="Desktop").click()
        button = page.get_by_role("button", name="Approve this content")
        assert button.is_disabled()  # alex changed it: someone else approves, and the page says so first
        assert "You cannot approve this: two-person rule" in page.locator("#why-not").inner_text()
        sign_in(page, base, "sam@example.org")
        page.goto(f"{base}/desk/editions/{edition_id}")
        page.get_by_role("button", name="Approve this content").click()
        page.wait_for_load_state()
        approval = page.locator("#approval").inner_text()
        assert "Approved" in approval and "sam@example.org" in approval and "current" in approval
        assert page.locator("#edition-status").inner_text().strip().lower() == "approved"
        scheduled = page.locator("#scheduled-for").inner_text()
        assert scheduled == "Thu 3 Dec 2026, 10:00 GMT"
        page.screenshot(path=str(Path(shots_dir) / "edition.png"), full_page=True)

        page.goto(f"{base}/desk")
        row = page.get_by_role("region", name="Scheduled next").get_by_role("listitem").first
        assert "approved" in row.inner_text().lower() and "3 Dec 2026, 10:00" in row.inner_text()
        page.goto(f"{base}/desk/threads")
        area = page.locator("textarea[data-network=x]").first
        area.fill("A short post")
        counter = page.locator(f"#{area.get_attribute('data-counter')} .n")
        counter.filter(has_text="12").wait_for(timeout=5000)
        page.screenshot(path=str(Path(shots_dir) / "threads.png"), full_page=True)
        assert not [e for e in errors if "Content Security Policy" in e], errors
    finally:
        page.context.close()
    for name in ("desk.png", "edition.png"):
        assert (Path(shots_dir) / name).stat().st_size > 10_000


@pytest.mark.parametrize("width", [375, 1280])
def test_posts_follow_the_edition_and_show_cost_and_why_approval_waits(server, browser, width):
    """The Posts and edition pages at phone and desktop width, through a small team's actions;
    screenshots go to /tmp/shots-workflow/."""
    base, edition_id = server
    shots = Path("/tmp/shots-workflow")
    shots.mkdir(exist_ok=True)
    page = new_page(browser, base, width, bypass_csp=False)
    try:
        sign_in(page, base, "alex@example.org")
        page.goto(f"{base}/desk/threads")
        card = page.locator("section.thread", has_text="roundup of edition")
        assert "goes out with it, Thu 3 Dec 2026, 10:00 GMT" in card.inner_text()
        assert "estimated X cost $" in card.inner_text()
        area = card.locator("textarea").nth(1)
        area.fill("x" * 300)
        page.locator(f"#{area.get_attribute('data-counter')} .by").filter(has_text="20 over").wait_for(timeout=5000)
        card.get_by_role("button", name="Save posts").click()
        page.wait_for_load_state()
        assert "Not saved: on X post 2 is 300 / 280: 20 over" in page.get_by_role("alert").inner_text()

        page.goto(f"{base}/desk/editions/{edition_id}")
        first = page.locator("ol.item-list .remove input").first
        first.check()
        page.get_by_role("button", name="Save changes").click()
        page.wait_for_load_state()
        assert "voided its approval" in page.get_by_role("status").first.inner_text()
        assert page.get_by_role("button", name="Approve this content").is_disabled()
        fits(page)
        page.screenshot(path=str(shots / f"edition-{width}.png"), full_page=True)

        page.goto(f"{base}/desk/threads")
        card = page.locator("section.thread", has_text="roundup of edition")
        assert "3 stories" in card.locator("textarea").first.input_value()
        assert card.get_by_role("button", name="Approve").is_disabled()
        assert "two-person rule" in card.locator(".why-not").inner_text()
        fits(page)
        page.screenshot(path=str(shots / f"posts-{width}.png"), full_page=True)
        card.screenshot(path=str(shots / f"roundup-card-{width}.png"))

        page.goto(f"{base}/desk/audit")
        assert page.locator("dl.changes del").first.is_visible()  # the removed item, struck through
        page.screenshot(path=str(shots / f"audit-{width}.png"), full_page=True)
    finally:
        page.context.close()
