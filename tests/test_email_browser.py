"""The rendered email in a real browser (Debian's headless chromium through Playwright):
screenshots at 600 px and 375 px, and no horizontal scrolling on a phone.

Screenshots go to a temporary folder, or to tests/artifacts/ when SYNDICATE_KEEP_SCREENSHOTS=1.
Remote images are answered locally (a grey placeholder) so the test never touches the network.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

import pytest

from compose.config import Config
from compose.edition import build_edition
from compose.email import render_email
from compose.models import Item

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PLACEHOLDER = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="600" height="320">'
    '<rect width="100%" height="100%" fill="#9db4cc"/></svg>'
)
GOLDEN = Path(__file__).resolve().parent / "golden"


def _sample_html() -> str:
    fixture = json.loads((GOLDEN / "fixture.json").read_text(encoding="utf-8"))
    config = Config.model_validate(fixture["config"])
    items = [Item(**{**raw, "published": datetime.fromisoformat(raw["published"])}) for raw in fixture["items"]]
    edition = build_edition(
        items, config=config, now=datetime.fromisoformat(fixture["now"]), slug=fixture["slug"],
        intro_markdown=fixture["intro_markdown"], featured_url=fixture["featured_url"],
    )
    return render_email(edition, config=config).html


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: run `make test` (it installs Debian's chromium), "
            "or `apt-get install -y chromium`"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def shots_dir(tmp_path_factory):
    if os.environ.get("SYNDICATE_KEEP_SCREENSHOTS") == "1":
        keep = Path(__file__).resolve().parent / "artifacts"
        keep.mkdir(exist_ok=True)
        return keep
    return tmp_path_factory.mktemp("email-shots")


def _open(browser, width: int):
    page = browser.new_page(viewport={"width": width, "height": 900})
    requested: list[str] = []

    def answer(route):
        requested.append(route.request.url)
        route.fulfill(status=200, content_type="image/svg+xml", body=PLACEHOLDER)

    page.route("**/*", answer)
    page.set_content(_sample_html(), wait_until="load")
    return page, requested


@pytest.mark.parametrize("width", [600, 375])
def test_email_screenshot_and_no_horizontal_scroll(browser, shots_dir, width):
    page, requested = _open(browser, width)
    try:
        scroll_width = page.evaluate("document.documentElement.scrollWidth")
        assert scroll_width <= width, f"the email scrolls sideways at {width} px ({scroll_width} px wide)"
        # the images were asked for (and answered locally), so the layout includes them
        assert any("infogov-training.jpg" in url for url in requested)
        heading = page.get_by_role("heading", name="In Our View", level=1)
        assert heading.is_visible()
        assert page.get_by_role("link", name="Unsubscribe").is_visible()
        size = page.evaluate("parseFloat(getComputedStyle(document.querySelector('h3')).fontSize)")
        assert size >= 16
        path = Path(shots_dir) / f"edition-{width}.png"
        page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 10_000
    finally:
        page.close()

