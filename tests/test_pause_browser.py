"""The pause switch in a real browser (Debian's chromium through Playwright), at phone (375 px) and
desktop (1280 px) width: an approver pauses everything from the desk home, the banner says who, since
when and why on every desk page without scrolling sideways, axe-core finds nothing serious, and an
admin resumes it from the pause page.

Screenshots go to /tmp/shots-pause/ (desk-paused-375.png, pause-page-1280.png, ...) to look at.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.helpers import desk_data
from tests.helpers.browser import browser_fixture, check_page, serving_desk, sign_in, signed_in_page  # noqa: F401  (the browser fixture)

pytestmark = pytest.mark.browser

NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)
SHOTS = Path("/tmp/shots-pause")
REASON = "A story in this week's edition names the wrong council: nothing goes out until it is corrected"


@pytest.fixture
def server(sqlite_db, tmp_path):
    config = desk_data.example_config(tmp_path)
    edition_id = desk_data.seed_edition(sqlite_db, config, now=NOW)
    desk_data.seed_threads(sqlite_db, config, now=NOW)
    desk_data.seed_staff(sqlite_db, "alexandra.longname@example.org", "admin", now=NOW)
    desk_data.seed_staff(sqlite_db, "sam@example.org", "approver", now=NOW)
    with serving_desk(config, sqlite_db, NOW) as base:
        yield base, edition_id


@pytest.mark.parametrize("width", [375, 1280])
def test_pause_from_the_desk_see_the_banner_everywhere_and_resume(server, browser, width):
    base, edition_id = server
    SHOTS.mkdir(exist_ok=True)
    page = signed_in_page(browser, base, width, "sam@example.org")
    try:
        assert page.locator(".paused-banner").count() == 0
        switch = page.get_by_role("region", name="Pause")
        switch.get_by_label("Stop everything going out, because").fill(REASON)
        switch.get_by_role("button", name="Pause everything").click()
        page.wait_for_url(f"{base}/desk/pause?done=paused")
        assert "Paused: nothing goes out on it" in page.get_by_role("status").first.inner_text()
        for path, shot in (("/desk", "desk-paused"), (f"/desk/editions/{edition_id}", "edition-paused"),
                           ("/desk/threads", "threads-paused")):
            page.goto(base + path)
            banner = page.get_by_role("complementary", name="Paused: nothing goes out.")
            assert banner.is_visible()
            said = " ".join(banner.inner_text().split())
            assert f"Everything is paused by sam@example.org since Thu 26 Nov 2026, 14:00 GMT: {REASON}" in said
            assert banner.bounding_box()["y"] < 200  # at the top, seen without scrolling
            check_page(page, width, SHOTS / f"{shot}-{width}.png")
        page.goto(f"{base}/desk/pause")
        assert page.get_by_role("button", name="Resume everything").count() == 0  # an approver cannot
        check_page(page, width, SHOTS / f"pause-page-approver-{width}.png")

        sign_in(page, base, "alexandra.longname@example.org")
        page.goto(f"{base}/desk/pause")
        page.get_by_label("What to pause").select_option("x")
        page.get_by_label("Why").fill("And X until the account is checked")
        page.get_by_role("button", name="Pause now").click()
        page.wait_for_url(f"{base}/desk/pause?done=already")  # everything is paused already: X with it
        check_page(page, width, SHOTS / f"pause-page-admin-{width}.png")
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="Resume everything").click()
        page.wait_for_url(f"{base}/desk/pause?done=resumed")
        assert page.locator(".paused-banner").count() == 0
        assert "Nothing is paused" in page.get_by_role("region", name="In force").inner_text()
        history = page.get_by_role("region", name="Latest pauses").inner_text()
        assert "alexandra.longname@example.org" in history and "sam@example.org" in history
    finally:
        page.context.close()
    for name in ("desk-paused", "pause-page-admin"):
        assert (SHOTS / f"{name}-{width}.png").stat().st_size > 10_000
