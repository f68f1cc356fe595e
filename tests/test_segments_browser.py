"""The segment card on the edition page in a real browser (Debian's chromium), at phone and
desktop width: the size before approving, the form that sets tags and sections, nothing scrolling
sideways and nothing axe-core calls serious. Screenshots go to /tmp/shots-segments/."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.helpers import desk_data
from tests.helpers.browser import (  # noqa: F401  (the browser fixture)
    axe_violations,
    browser_fixture,
    fits,
    serving_desk,
    signed_in_page,
)
from tests.helpers.sectioned import add_readers

pytestmark = pytest.mark.browser

NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)
SHOTS = Path("/tmp/shots-segments")


@pytest.fixture
def server(sqlite_db, tmp_path):
    config = desk_data.example_config(tmp_path)
    edition_id = desk_data.seed_edition(sqlite_db, config, now=NOW)
    add_readers(sqlite_db, [None, ["blogs"], ["news"], None, ["publications"]],
                tags=[["cio"], ["cio", "member"], ["member"], [], ["supplier"]],
                paused_until=[None, None, None, NOW + timedelta(days=21), None])
    desk_data.seed_staff(sqlite_db, "ed@example.org", "editor", now=NOW)
    with serving_desk(config, sqlite_db, NOW) as base:
        yield base, edition_id


@pytest.mark.parametrize("width", [375, 1280])
def test_staff_set_a_segment_and_see_its_size_before_approving(server, browser, width):
    base, edition_id = server
    SHOTS.mkdir(exist_ok=True)
    page = signed_in_page(browser, base, width, "ed@example.org")
    try:
        page.goto(f"{base}/desk/editions/{edition_id}")
        card = page.locator("#segment")
        assert "4 readers would get an email, in 4 versions by section: every subscriber." in card.inner_text()
        assert "1 skipped: paused until 2026-12-17" in card.inner_text()
        page.get_by_label("Tags (separate with ;)").fill("cio; member")
        page.get_by_label("Readers with").select_option("any")
        card.get_by_label("Blogs").check()
        card.get_by_role("button", name="Save segment").click()
        page.wait_for_url(f"**/desk/editions/{edition_id}?done=segmented")
        said = page.locator("#segment-size").inner_text()
        assert said == "2 readers would get an email: tagged cio or member; sections blogs only."
        fits(page)
        assert axe_violations(page) == []
        page.screenshot(path=str(SHOTS / f"edition-segment-{width}.png"), full_page=True)
        page.locator("#segment").screenshot(path=str(SHOTS / f"segment-card-{width}.png"))
    finally:
        page.context.close()
