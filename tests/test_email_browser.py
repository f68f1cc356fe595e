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
from compose.palette import MIN_CONTRAST, contrast_ratio

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


def _open(browser, width: int, color_scheme: str = "light"):
    page = browser.new_page(viewport={"width": width, "height": 900}, color_scheme=color_scheme)
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



# Every element with text of its own: its colour, the first opaque background behind it
# (walking up) as #rrggbb, and whether it is large text (24 px, or 18.66 px bold) under WCAG.
_TEXT_COLOURS = """() => {
  const hex = (css) => "#" + (css.match(/[\\d.]+/g) || []).slice(0, 3)
    .map((c) => Math.round(Number(c)).toString(16).padStart(2, "0")).join("");
  const opaque = (css) => { const c = css.match(/[\\d.]+/g) || []; return c.length === 3 || c[3] === "1"; };
  const background = (el) => {
    for (; el; el = el.parentElement) {
      const css = getComputedStyle(el).backgroundColor;
      if (opaque(css)) return hex(css);
    }
    return "#ffffff";
  };
  const found = [];
  for (const el of document.body.querySelectorAll("*")) {
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    const style = getComputedStyle(el);
    if (!own || !el.getClientRects().length || style.visibility === "hidden" || style.opacity === "0") continue;
    if (el.closest('[style*="display:none"]')) continue;  // the preheader
    const size = parseFloat(style.fontSize), bold = Number(style.fontWeight) >= 700;
    found.push({ text: el.textContent.trim().slice(0, 40), colour: hex(style.color), background: background(el),
                 large: size >= 24 || (bold && size >= 18.66) });
  }
  return found;
}"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_text_is_readable_whatever_the_readers_colour_scheme(browser, scheme):
    """The email declares itself light-only and sets every colour and background it uses, so a
    reader's dark preference changes nothing that would leave text unreadable."""
    page, _ = _open(browser, 600, color_scheme=scheme)
    try:
        texts = page.evaluate(_TEXT_COLOURS)
        assert len(texts) > 40
        poor = [(t["text"], round(contrast_ratio(t["colour"], t["background"]), 2)) for t in texts
                if contrast_ratio(t["colour"], t["background"]) < (3.0 if t["large"] else MIN_CONTRAST)]
        assert not poor, f"text below WCAG AA contrast with prefers-color-scheme: {scheme}: {poor}"
    finally:
        page.close()
