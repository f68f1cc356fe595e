"""The rendered email in a real browser (Debian's headless chromium through Playwright):
screenshots at 600 px and 375 px, and no horizontal scrolling on a phone.

Screenshots go to a temporary folder, to $SYNDICATE_SHOTS_DIR when set, or to tests/artifacts/ when
SYNDICATE_KEEP_SCREENSHOTS=1.
Remote images are answered locally (a grey placeholder) so the test never touches the network.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from compose.config import Config
from compose.edition import build_edition
from compose.email import render_email
from compose.models import Item
from compose.palette import MIN_CONTRAST, contrast_ratio
from tests.helpers.browser import launched, shots_folder

pytestmark = pytest.mark.browser

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
    with launched(axe=False) as chromium:
        yield chromium


@pytest.fixture(scope="module")
def shots_dir(tmp_path_factory):
    return shots_folder(tmp_path_factory.mktemp("email-shots"))


def _open(browser, width: int, color_scheme: str = "light", *, images: bool = True):
    page = browser.new_page(viewport={"width": width, "height": 900}, color_scheme=color_scheme)
    requested: list[str] = []

    def answer(route):
        requested.append(route.request.url)
        if images:
            route.fulfill(status=200, content_type="image/svg+xml", body=PLACEHOLDER)
        else:  # a mail client that blocks images
            route.abort()

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


_OUTLOOK_COM = "() => { document.body.setAttribute('data-ogsc', ''); document.body.setAttribute('data-ogsb', ''); }"
_SURFACE_BEHIND_INTRO = """() => {
  for (let el = [...document.querySelectorAll("p")].find((p) => p.textContent.startsWith("Hello")); el; el = el.parentElement) {
    const c = (getComputedStyle(el).backgroundColor.match(/[\\d.]+/g) || []).map(Number);
    if (c.length === 3 || c[3] === 1) return "#" + c.slice(0, 3).map((v) => Math.round(v).toString(16).padStart(2, "0")).join("");
  }
  return "#ffffff";
}"""


@pytest.mark.parametrize("scheme", ["light", "dark", "outlook.com dark"])
def test_every_text_is_readable_whatever_the_readers_colour_scheme(browser, shots_dir, scheme):
    """Light, dark (prefers-color-scheme: Apple Mail, iOS Mail) and Outlook.com's dark mode (which
    marks what it recolours with data-ogsc / data-ogsb): every text reaches WCAG AA on the
    background actually behind it, and the dark schemes really are dark."""
    page, _ = _open(browser, 600, color_scheme="dark" if scheme == "dark" else "light")
    try:
        if scheme == "outlook.com dark":
            page.evaluate(_OUTLOOK_COM)
        surface = page.evaluate(_SURFACE_BEHIND_INTRO)
        assert (contrast_ratio(surface, "#000000") < 3) is (scheme != "light"), f"{scheme}: the intro sits on {surface}"
        page.screenshot(path=str(Path(shots_dir) / f"edition-600-{scheme.replace(' ', '-')}.png"), full_page=True)
        texts = page.evaluate(_TEXT_COLOURS)
        assert len(texts) > 40
        poor = [(t["text"], round(contrast_ratio(t["colour"], t["background"]), 2)) for t in texts
                if contrast_ratio(t["colour"], t["background"]) < (3.0 if t["large"] else MIN_CONTRAST)]
        assert not poor, f"text below WCAG AA contrast with prefers-color-scheme: {scheme}: {poor}"
    finally:
        page.close()


@pytest.mark.parametrize("width", [600, 375])
def test_dark_mode_on_a_phone_and_a_desktop(browser, shots_dir, width):
    page, _ = _open(browser, width, color_scheme="dark")
    try:
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        meta = page.evaluate("document.querySelector('meta[name=color-scheme]').content")
        assert meta == "light dark"
        page.screenshot(path=str(Path(shots_dir) / f"edition-{width}-dark.png"), full_page=True)
    finally:
        page.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_with_images_blocked_the_masthead_still_reads_as_the_brand(browser, shots_dir, scheme):
    """The logo's alt text is styled like the masthead (brand font, white on the brand colour, large
    and bold), and every image says what it shows."""
    page, requested = _open(browser, 600, color_scheme=scheme, images=False)
    try:
        assert any("socitm-logo" in url for url in requested)
        logo = page.locator("img[src*=socitm-logo]")
        assert logo.get_attribute("alt") == "Socitm"
        style = logo.evaluate("(img) => { const s = getComputedStyle(img); return {colour: s.color, size: parseFloat(s.fontSize), "
                              "weight: Number(s.fontWeight), font: s.fontFamily, broken: img.naturalWidth === 0}; }")
        assert style["broken"]  # the image really did not load
        assert style["colour"] == "rgb(255, 255, 255)" and style["size"] >= 24 and style["weight"] >= 700
        assert "Helvetica" in style["font"]
        masthead = logo.evaluate("(el) => { for (; el; el = el.parentElement) { const c = getComputedStyle(el).backgroundColor; "
                                 "if (c !== 'rgba(0, 0, 0, 0)') return c; } }")
        assert masthead == "rgb(11, 61, 110)"  # the brand's primary colour, behind the alt text
        for alt in page.evaluate("[...document.images].map((img) => img.alt)"):
            assert alt.strip() and not alt.lower().endswith((".png", ".jpg")), alt
        page.screenshot(path=str(Path(shots_dir) / f"edition-600-no-images-{scheme}.png"), full_page=True)
    finally:
        page.close()
