"""The calendar page in a real browser (Debian's chromium through Playwright), at 375 and 1280 px:
a list per day on a phone, a grid of seven columns on a desktop, nothing scrolls sideways,
previous / next / today and week / month work, every entry links to its desk page, and axe-core
finds no serious or critical accessibility violation. The feed link is made from the page.

Screenshots go to the pytest temporary folder, or to $SYNDICATE_SHOTS_DIR when it is set.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.helpers import calendar_data, desk_data
from tests.helpers.browser import browser_fixture, check_page, shots_folder, signed_in_page  # noqa: F401  (the browser fixture)
from tests.helpers.serving import serve_on_loopback
from web.app import create_app

pytestmark = pytest.mark.browser

NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)  # a Thursday
STUB = "<svg xmlns='http://www.w3.org/2000/svg'/>"  # what a request off the machine is answered with


@pytest.fixture
def shots(tmp_path) -> Path:
    return shots_folder(tmp_path)


@pytest.fixture
def site(sqlite_db, tmp_path):
    config = calendar_data.calendar_config(tmp_path)
    ids = calendar_data.seed_schedule(sqlite_db, config, now=NOW)
    desk_data.seed_staff(sqlite_db, "alex@example.org", "editor", now=NOW)
    app = create_app(config=config, db=sqlite_db, secret_key="calendar-browser-secret-0123456789", now=lambda: NOW,
                     env={})
    with serve_on_loopback(app) as base:
        yield base, ids


def _text(locator) -> str:
    """What the element says, as in the HTML (not as CSS transforms it), on one line."""
    return " ".join((locator.text_content() or "").split())


def _columns(page) -> set[int]:
    """The distinct left edges of the days: 1 when they are a list, 7 when they are a grid."""
    return {round(box["x"]) for box in (d.bounding_box() for d in page.locator("li.cal-day").all()) if box}


@pytest.mark.parametrize("width", [375, 1280])
def test_the_week_and_the_month_at_phone_and_desktop_width(site, browser, shots, width):
    base, ids = site
    page = signed_in_page(browser, base, width, "alex@example.org", stub=STUB)
    try:
        page.get_by_role("navigation", name="Desk").get_by_role("link", name="Calendar").click()
        page.wait_for_url(f"{base}/desk/calendar")
        assert page.get_by_role("heading", level=1).inner_text() == "Calendar: 23 November to 29 November 2026"
        today = page.get_by_role("listitem").filter(has=page.get_by_role("heading", name="Thursday 26 November"))
        assert "today" in _text(today.get_by_role("heading"))
        edition_day = page.get_by_role("listitem").filter(has=page.get_by_role("heading", name="Friday 27 November"))
        text = _text(edition_day)
        assert "X post" in text and "09:00" in text and "approved" in text  # the thread at x's 09:00 slot
        assert "09:00 taken" in text and "12:30 free" in text  # the slots, in words, not colour alone
        assert "Quiet 00:00–08:00, 18:00–24:00" in text and "outside x's posting hours" in text
        assert len(_columns(page)) == (1 if width == 375 else 7)
        check_page(page, width, shots / f"calendar-week-{width}.png")

        page.get_by_role("link", name="Next week →").click()
        page.wait_for_load_state()
        assert "30 November to 6 December 2026" in page.get_by_role("heading", level=1).inner_text()
        edition = page.get_by_role("link", name="In Our View #1 · 3 December 2026")
        assert edition.get_attribute("href") == f"/desk/editions/{ids['edition']}"
        assert "10:00" in _text(page.get_by_role("listitem").filter(has=edition).last)

        page.get_by_role("link", name="Month", exact=True).click()
        page.wait_for_load_state()
        assert page.get_by_role("heading", level=1).inner_text() == "Calendar: December 2026"
        christmas = page.locator("li.cal-day").filter(has=page.locator("#day-2026-12-25"))
        assert "Quiet all day" in _text(christmas) and "Christmas Day (bank holiday in England)" in _text(christmas)
        election = page.locator("li.cal-day").filter(has=page.locator("#day-2026-12-14"))
        assert "Pre-election period" in _text(election) and "(email, x)" in _text(election)
        shown = [d for d in page.locator("li.cal-day").all() if d.is_visible()]
        if width == 375:  # on a phone, only the days when something goes out; the page says so
            assert page.locator(".cal-phone-note").is_visible() and not christmas.is_visible()
            assert [_text(d.get_by_role("heading")) for d in shown] == ["Thursday 3 December"]
        else:
            assert not page.locator(".cal-phone-note").is_visible() and len(shown) == 35
        check_page(page, width, shots / f"calendar-month-{width}.png")

        page.get_by_role("link", name="← Previous month").click()
        page.wait_for_load_state()
        assert page.get_by_role("heading", level=1).inner_text() == "Calendar: November 2026"
        published = page.get_by_role("listitem").filter(has=page.get_by_role("heading", name="Tuesday 24 November"))
        assert "post 1 of 2, posted" in _text(published) and "post 2 of 2, posted" in _text(published)
        page.get_by_role("link", name="Next month →").click()
        page.wait_for_load_state()
        page.get_by_role("link", name="Today").click()
        page.wait_for_load_state()
        assert page.get_by_role("heading", level=1).inner_text() == "Calendar: November 2026"
        page.get_by_role("link", name="Week", exact=True).click()
        page.wait_for_load_state()
        assert "23 November to 29 November 2026" in page.get_by_role("heading", level=1).inner_text()
    finally:
        page.context.close()


def test_make_the_feed_link_on_the_page_and_a_calendar_app_reads_it(site, browser, shots):
    base, _ = site
    page = signed_in_page(browser, base, 1280, "alex@example.org", stub=STUB)
    try:
        page.goto(f"{base}/desk/calendar")
        page.get_by_role("button", name="Make my calendar link").click()
        page.wait_for_load_state()
        assert "Your calendar link is ready" in page.get_by_role("status").inner_text()
        link = page.get_by_label("Calendar link").input_value()
        for app_name in ("Outlook", "Google Calendar", "Apple Calendar"):
            assert app_name in page.locator("#feed").inner_text()
        page.locator("#feed").screenshot(path=str(shots / "calendar-feed-1280.png"))
    finally:
        page.context.close()
    assert link.startswith("http://127.0.0.1:8000/calendar/") and link.endswith(".ics")  # the configured public URL
    answer = httpx.get(base + link.removeprefix("http://127.0.0.1:8000"))
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/calendar")
    assert b"BEGIN:VCALENDAR\r\n" in answer.content and b"UID:edition-" in answer.content
