"""The reputation guard and suppression in a real browser (Debian's chromium through Playwright), at
phone (375 px) and desktop (1280 px) width: after the guard paused email, every desk page's banner
says it was the system and why, with the numbers; an admin lifts a suppression from the
subscribers page. Nothing scrolls sideways, axe-core finds nothing serious.

Screenshots go to /tmp/shots-pause/ (desk-reputation-paused-375.png, ...) to look at.
"""

from __future__ import annotations

import pytest

from compose.config import Reputation
from compose.reputation import Reading, judge
from state import pauses, provider_events
from tests.helpers import desk_data
from tests.helpers.browser import browser_fixture, check_page, serving_desk, signed_in_page  # noqa: F401  (the browser fixture)
from tests.test_pause_browser import NOW, SHOTS

pytestmark = pytest.mark.browser
ADMIN = "alexandra.longname@example.org"


@pytest.fixture
def server(sqlite_db, tmp_path):
    config = desk_data.example_config(tmp_path)
    desk_data.seed_staff(sqlite_db, ADMIN, "admin", now=NOW)
    desk_data.seed_subscribers(sqlite_db, 3, now=NOW)
    verdict = judge(Reading("the last 7 days (2 editions)", 2150, 2130, 12, 9), Reputation())
    with sqlite_db.session() as session:
        provider_events.apply_provider_events(session, [
            {"email": "reader1@example.org", "event": "spamreport", "sg_event_id": "s1",
             "timestamp": int(NOW.timestamp()), "subscriber_id": "1"}], now=NOW)
        pauses.pause_by_system(session, reason=f"sender reputation: {verdict.said()}. An admin resumes email after "
                                               "checking the complaints and bounces", now=NOW)
    with serving_desk(config, sqlite_db, NOW) as base:
        yield base, sqlite_db


@pytest.mark.parametrize("width", [375, 1280])
def test_the_guard_s_pause_and_a_reinstatement_on_the_desk(browser, server, width):
    base, db = server
    SHOTS.mkdir(exist_ok=True)
    page = signed_in_page(browser, base, width, ADMIN)
    banner = page.locator(".paused-banner").first
    text = banner.inner_text()
    assert "syndicate" in text and "complaint rate 0.42% (9 spam reports of 2,130 delivered)" in text
    check_page(page, width, SHOTS / f"desk-reputation-paused-{width}.png")
    page.goto(f"{base}/desk/subscribers")
    page.get_by_label("Email address", exact=True).last.fill("reader1@example.org")
    page.get_by_label("Why (kept in the audit log)").fill("asked at the front desk; sure it was a mistake")
    page.get_by_role("button", name="Lift the suppression").click()
    page.wait_for_url(f"{base}/desk/subscribers?*")
    assert "the suppression is lifted" in page.content()
    check_page(page, width, SHOTS / f"subscribers-reinstated-{width}.png")
