"""Quiet time on the desk in a real browser (Debian's chromium), at phone and desktop width: the
edition page and the Posts page show the move and its reasons above the approve button, nothing
scrolls sideways, and an admin overrides through the form. Screenshots go to /tmp/shots-quiet/."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import desk_data
from tests.helpers.browser import browser_fixture, fits, serving_desk, signed_in_page  # noqa: F401  (the browser fixture)
from tests.test_quiet_flow import CHRISTMAS, build, config_with, london

pytestmark = pytest.mark.browser

NOW = london("2027-12-17 09:00")
SHOTS = Path("/tmp/shots-quiet")


@pytest.fixture
def server(sqlite_db, tmp_path):
    config = config_with(tmp_path, CHRISTMAS)
    edition_id = build(sqlite_db, config, london("2027-12-16 14:00"))
    desk_data.seed_staff(sqlite_db, "alex@example.org", "admin", now=NOW)
    with serving_desk(config, sqlite_db, NOW) as base:
        yield base, edition_id


@pytest.mark.parametrize("width", [375, 1280])
def test_the_move_is_shown_before_approval_and_an_admin_overrides_it(server, browser, width):
    base, edition_id = server
    SHOTS.mkdir(exist_ok=True)
    page = signed_in_page(browser, base, width, "alex@example.org", bypass_csp=False)
    try:
        page.goto(f"{base}/desk/editions/{edition_id}")
        note = page.locator(f"#quiet-edition-{edition_id}")
        assert "Moved by quiet time (email): due Thu 23 Dec 2027, 10:00 GMT, goes out Wed 29 Dec 2027, 08:00 GMT" \
            in note.inner_text()
        assert "Christmas shutdown" in note.inner_text()
        assert note.bounding_box()["y"] < page.get_by_role("button", name="Approve this content").bounding_box()["y"]
        fits(page)
        page.screenshot(path=str(SHOTS / f"edition-moved-{width}.png"), full_page=True)
        note.screenshot(path=str(SHOTS / f"edition-note-{width}.png"))

        page.goto(f"{base}/desk/threads")
        card = page.locator("section.thread", has_text="roundup of edition")
        assert "outside x's posting hours (weekdays 09:00-17:30)" in card.inner_text()
        fits(page)
        page.screenshot(path=str(SHOTS / f"posts-moved-{width}.png"), full_page=True)
        card.locator(".thread-head").screenshot(path=str(SHOTS / f"posts-card-{width}.png"))

        page.goto(f"{base}/desk/editions/{edition_id}")
        note = page.locator(f"#quiet-edition-{edition_id}")
        note.get_by_text("Send anyway at").click()
        note.get_by_label("Why it must go out inside quiet time").fill("Safety notice agreed with the CEO")
        note.screenshot(path=str(SHOTS / f"edition-override-form-{width}.png"))
        note.get_by_role("button", name="Override quiet time").click()
        page.wait_for_url(f"**/desk/editions/{edition_id}?done=quiet-overridden")
        overridden = page.locator(f"#quiet-edition-{edition_id}").inner_text()
        assert "Quiet time overridden by alex@example.org" in overridden and "Safety notice agreed with the CEO" in overridden
        assert "Scheduled for Thu 23 Dec 2027, 10:00 GMT" in page.locator(".page-head").inner_text()
        fits(page)
        page.screenshot(path=str(SHOTS / f"edition-overridden-{width}.png"), full_page=True)
        page.screenshot(path=str(SHOTS / f"edition-overridden-top-{width}.png"))
    finally:
        page.context.close()
