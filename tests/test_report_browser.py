"""The reports in a real browser (Debian's chromium through Playwright) at phone (375 px) and desktop
(1280 px) width, with the desk's Content-Security-Policy in force (not bypassed): every chart loads as
an image (the phone gets the one drawn for its width), nothing scrolls sideways, nothing is refused by
the policy or fetched from elsewhere, and axe-core finds nothing serious. The figures come from a
real send, signed webhook events and clicks through the signed links (tests/helpers/report_data.py).

Screenshots go to /tmp/shots-reports/ (report-edition-375.png, reports-trend-1280.png, ...) to look at.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from tests.helpers import desk_data, report_data
from tests.helpers.browser import browser_fixture, check_page, new_page, sign_in  # noqa: F401  (the browser fixture)
from tests.helpers.serving import serve_on_loopback
from web.app import create_app

pytestmark = pytest.mark.browser

SENT = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
SHOTS = __import__("pathlib").Path("/tmp/shots-reports")


@pytest.fixture
def server(sqlite_db, tmp_path):
    config = report_data.counting_config(desk_data.example_config(tmp_path))
    edition_id = report_data.send_edition(sqlite_db, config, now=SENT, subscribers=60)
    keys = report_data.WebhookKeys()
    app = create_app(config=config, db=sqlite_db, secret_key=report_data.SECRET, now=lambda: NOW,
                     env={"SENDGRID_WEBHOOK_PUBLIC_KEY": keys.public})
    people = report_data.recipients(sqlite_db)
    events = (report_data.events_for(edition_id, people[:57], "delivered", at=SENT + timedelta(minutes=1))
              + report_data.events_for(edition_id, people[57:59], "bounce", at=SENT, type="bounce", reason="550")
              + report_data.events_for(edition_id, people[:1], "spamreport", at=SENT + timedelta(hours=3))
              + report_data.events_for(edition_id, people[1:3], "unsubscribe", at=SENT + timedelta(hours=3)))
    raw, headers = keys.signed(events, now=NOW)
    assert TestClient(app).post("/webhooks/sendgrid", content=raw, headers=headers).status_code == 200
    report_data.click_items(sqlite_db, edition_id, [21, 8, 3, 13, 5, 2], now=SENT + timedelta(hours=1),
                            client=TestClient(app))
    desk_data.seed_staff(sqlite_db, "alexandra.longname@example.org", "editor", now=SENT)
    with serve_on_loopback(app) as base:
        yield base, edition_id


def _page(browser, base: str, width: int, seen: list[str]):
    """The page with the desk's CSP in force; what it fetches from elsewhere (refused) and what the
    console warns of go to `seen`."""
    page = new_page(browser, base, width, bypass_csp=False, stub=None, seen=seen)
    page.on("console", lambda message: seen.append(f"console {message.type}: {message.text}")
            if message.type in ("error", "warning") else None)
    return page


def _charts_loaded(page) -> list[tuple[str, int, int]]:
    return page.evaluate("""() => [...document.querySelectorAll('img.chart-img')].map(
        (img) => [img.currentSrc.replace(location.origin, ''), img.naturalWidth, Math.round(img.getBoundingClientRect().width)])""")


def _check(page, width: int, shot: str) -> None:
    """check_page with axe-core injected through DevTools: the page's CSP stays in force for the page."""
    check_page(page, width, SHOTS / f"{shot}-{width}.png", csp_in_force=True)


@pytest.mark.parametrize("width", [375, 1280])
def test_reports_render_with_their_charts_at_phone_and_desk_widths(server, browser, width):
    base, edition_id = server
    SHOTS.mkdir(exist_ok=True)
    seen: list[str] = []
    page = _page(browser, base, width, seen)
    size = "narrow" if width < 640 else "wide"
    try:
        sign_in(page, base, "alexandra.longname@example.org")
        page.get_by_role("link", name="Reports").first.click()
        page.wait_for_url(f"{base}/desk/reports")
        page.wait_for_load_state("networkidle")
        charts = _charts_loaded(page)
        assert [src.split("?")[0].rsplit("/", 1)[1] for src, _, _ in charts] == [
            "list-size.svg", "growth.svg", "click-rate.svg", "complaint-rate.svg"]
        assert all(src.endswith(f"?size={size}") and natural > 0 and shown > 200 for src, natural, shown in charts), charts
        _check(page, width, "reports-trend")

        page.get_by_role("link", name="In Our View").filter(has_text="#").first.click()
        page.wait_for_url(f"{base}/desk/reports/editions/{edition_id}")
        page.wait_for_load_state("networkidle")
        charts = _charts_loaded(page)
        assert len(charts) == 3 and all(src.endswith(f"?size={size}") and natural > 0 for src, natural, _ in charts)
        tiles = " ".join(page.locator("#report-tiles").inner_text().split())
        assert "Delivered 57 of 60" in tiles and "Complaints 1 1.75%" in tiles and "Clicks 52" in tiles
        items = page.get_by_role("img", name="Bar chart of clicks on each of 6 items", exact=False)
        assert items.is_visible()
        _check(page, width, "report-edition")

        page.goto(f"{base}/desk/weekly-note")
        assert "the week of 30 Nov – 6 Dec 2026" in page.locator("h1").inner_text()
        _check(page, width, "weekly-note")
    finally:
        page.context.close()
    assert seen == [], seen  # nothing fetched from elsewhere, nothing refused by the policy
    for name in ("reports-trend", "report-edition"):
        assert (SHOTS / f"{name}-{width}.png").stat().st_size > 20_000
