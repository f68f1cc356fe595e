"""The reader's preference page in a real browser (Debian's chromium through Playwright), at phone
(375 px) and desktop (1280 px) width: a reader opens their link, unticks a section, pauses, starts
again and leaves, each change confirmed on the page; every state fits the screen and axe-core finds
nothing serious; a broken link says where a fresh one is.

Screenshots go to /tmp/shots-preferences/ (preferences-375.png, preferences-saved-1280.png, ...).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from compose.signing import preferences_token
from state.models import SubscriberRow
from tests.helpers import desk_data
from tests.helpers.browser import browser_fixture, check_page, new_page, serving_desk  # noqa: F401  (the browser fixture)

pytestmark = pytest.mark.browser

NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)
SHOTS = Path("/tmp/shots-preferences")
SECRET = "browser-test-secret-key-0123"  # tests/helpers/browser.serving_desk's


@pytest.fixture
def server(sqlite_db, tmp_path):
    config = desk_data.example_config(tmp_path)
    with sqlite_db.session() as session:
        session.add(SubscriberRow(email="alexandra.longname@very-long-council-name.gov.uk", name="Alexandra Longname",
                                  status="active", consent_source="web:/subscribe", consent_at=NOW, confirmed_at=NOW,
                                  status_changed_at=NOW, created_at=NOW))
    token = preferences_token(SECRET, subscriber_id=1, email="alexandra.longname@very-long-council-name.gov.uk", now=NOW)
    with serving_desk(config, sqlite_db, NOW) as base:
        yield base, f"{base}/preferences/{token}", sqlite_db


@pytest.mark.parametrize("width", [375, 1280])
def test_a_reader_chooses_pauses_and_leaves_on_a_phone_and_a_desktop(server, browser, width):
    base, link, db = server
    SHOTS.mkdir(exist_ok=True)
    page = new_page(browser, base, width)
    try:
        page.goto(link)
        assert page.get_by_role("heading", name="Your In Our View preferences").is_visible()
        check_page(page, width, SHOTS / f"preferences-{width}.png")

        page.get_by_label("Blogs").uncheck()
        page.get_by_role("button", name="Save sections").click()
        assert page.get_by_role("status").inner_text() == "Saved: you will get News and Publications."
        assert not page.get_by_label("Blogs").is_checked() and page.get_by_label("News").is_checked()
        check_page(page, width, SHOTS / f"preferences-saved-{width}.png")

        page.get_by_label("Pause for").select_option("8")
        page.get_by_role("button", name="Pause").click()
        assert page.get_by_role("status").inner_text() == "Saved: no email until Thursday 21 January 2027."
        check_page(page, width, SHOTS / f"preferences-paused-{width}.png")
        page.get_by_role("button", name="Start again now").click()
        assert "comes again from the next edition" in page.get_by_role("status").inner_text()

        page.get_by_role("button", name="Unsubscribe from everything").click()
        assert page.get_by_role("status").inner_text().startswith("Saved: you have left")
        assert page.get_by_role("heading", name="You have left").is_visible()
        check_page(page, width, SHOTS / f"preferences-left-{width}.png")

        page.goto(link[:-4] + "AAAA")
        assert page.get_by_role("heading", name="This preferences link does not work").is_visible()
        check_page(page, width, SHOTS / f"preferences-broken-{width}.png")
    finally:
        page.context.close()
    with db.session() as session:
        row = session.get(SubscriberRow, 1)
        assert row.status == "unsubscribed" and row.sections == ["news", "publications"] and row.paused_until is None
