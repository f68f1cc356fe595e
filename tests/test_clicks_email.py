"""The email with counted links and the privacy notice: the Socitm sample edition (tests/golden)
rendered as the ledger renders it (`compose.email.counted_link`), checked as text, kept as a golden
file (tests/golden/edition-tracked.txt: regenerate with SYNDICATE_REGEN_GOLDEN=1 and review the
diff), and looked at in a real browser at 375 and 1280 px with the links signed and the pixel in."""

from __future__ import annotations

import json
import os
import re
from datetime import datetime
from pathlib import Path

import pytest

from compose.clicks import READER_TOKEN, signed_links, with_open_pixel
from compose.config import Config, Tracking
from compose.edition import build_edition
from compose.email import counted_link, render_email
from compose.models import Edition, Item, RenderedEmail
from compose.signing import reader_suffix, verify_click

GOLDEN = Path(__file__).resolve().parent / "golden"
FIXTURE = json.loads((GOLDEN / "fixture.json").read_text(encoding="utf-8"))
SECRET = "test-secret-key-0123456789abcdef"
PUBLIC = FIXTURE["config"]["edition"]["public_url"]  # https://news.socitm.net


def _render(tracking: Tracking) -> tuple[Edition, RenderedEmail, Config]:
    config = Config.model_validate({**FIXTURE["config"], "tracking": tracking.model_dump()})
    items = [Item(**{**raw, "published": datetime.fromisoformat(raw["published"]), "id": n})
             for n, raw in enumerate(FIXTURE["items"], start=1)]
    edition = build_edition(items, config=config, now=datetime.fromisoformat(FIXTURE["now"]), slug=FIXTURE["slug"],
                            intro_markdown=FIXTURE["intro_markdown"], featured_url=FIXTURE["featured_url"])
    assert edition is not None
    return edition, render_email(edition, config=config, link_for=counted_link(config)), config


def test_every_article_link_is_a_marker_and_nothing_else_is() -> None:
    edition, rendered, config = _render(Tracking())
    shown = ((edition.featured,) if edition.featured else ()) + edition.items
    public = str(config.edition.public_url).rstrip("/")
    for item in shown:
        assert f"{public}/r/{{{{click:{item.id}}}}}" in rendered.text
        assert f'href="{public}/r/{{{{click:{item.id}}}}}"' in rendered.html
        assert item.url not in rendered.text  # the article is reached through the redirect only
    assert "{{unsubscribe_url}}" in rendered.html and "{{unsubscribe_url}}" in rendered.text
    assert "Privacy:" not in rendered.text and "Privacy:" not in rendered.html  # nothing to declare by default


def test_counting_clicks_can_be_turned_off() -> None:
    edition, rendered, _ = _render(Tracking(count_clicks=False))
    assert "/r/" not in rendered.text and "{{click" not in rendered.html
    assert all(item.url in rendered.text for item in edition.items)


def test_the_notice_is_in_both_footers_when_readers_are_named() -> None:
    _, rendered, config = _render(Tracking(per_reader_clicks=True, open_pixel=True))
    notice = config.tracking.notice_text
    assert notice.startswith("Privacy: we record which links in this email each reader follows")
    flat_text = " ".join(rendered.text.split())
    assert notice in flat_text and flat_text.index(notice) < flat_text.index("Unsubscribe:")
    assert notice in rendered.html
    assert "{{click" not in re.sub(r"/r/\{\{click:\d+\}\}", "", rendered.html)


def _golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if os.environ.get("SYNDICATE_REGEN_GOLDEN") == "1":
        path.write_text(actual, encoding="utf-8")
    assert path.read_text(encoding="utf-8") == actual, (
        f"{name} differs from the golden file: if the change is intended, regenerate with "
        "SYNDICATE_REGEN_GOLDEN=1 and review the diff")


def test_golden_text_with_counted_links_and_the_notice() -> None:
    _golden("edition-tracked.txt", _render(Tracking(per_reader_clicks=True))[1].text)


def _as_sent(edition_id: int = 42, subscriber_id: int = 7) -> str:
    rendered = _render(Tracking(per_reader_clicks=True, open_pixel=True))[1]
    html_part = signed_links(rendered.html, public_url=PUBLIC, secret_key=SECRET, edition_id=edition_id,
                             per_reader=True)
    html_part = with_open_pixel(html_part, PUBLIC, edition_id)
    return html_part.replace(READER_TOKEN, reader_suffix(SECRET, edition_id=edition_id, subscriber_id=subscriber_id))


def test_the_sent_links_name_the_edition_item_and_reader() -> None:
    sent = _as_sent()
    tokens = re.findall(r'href="https://news\.socitm\.net/r/([^"]+)"', sent)
    assert tokens and {verify_click(SECRET, token)[0::2] for token in tokens} == {(42, 7)}
    assert sent.count('src="https://news.socitm.net/o/16~') == 1  # 42 in base 36, then the reader


@pytest.mark.browser
@pytest.mark.parametrize("width", [375, 1280])
def test_the_email_with_the_notice_reads_well_at_phone_and_desktop_widths(width: int, tmp_path: Path) -> None:
    from tests.helpers.browser import CHROMIUM, CHROMIUM_ARGS
    from tests.test_email_browser import PLACEHOLDER

    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `apt-get install -y chromium`")
    from playwright.sync_api import sync_playwright

    shots = Path(os.environ.get("SYNDICATE_SHOTS_DIR") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.route("**/*", lambda route: route.fulfill(status=200, content_type="image/svg+xml", body=PLACEHOLDER))
            page.set_content(_as_sent(), wait_until="load")
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            notice = page.get_by_text("Privacy: we record which links in this email each reader follows")
            assert notice.is_visible()
            size = page.evaluate("(el) => parseFloat(getComputedStyle(el).fontSize)", notice.element_handle())
            assert size >= 12
            pixel = page.locator('img[src*="/o/"]')
            assert pixel.count() == 1 and pixel.bounding_box()["height"] <= 1  # type: ignore[index]
            page.screenshot(path=str(shots / f"edition-tracked-{width}.png"), full_page=True)
            height = page.evaluate("document.documentElement.scrollHeight")
            page.screenshot(path=str(shots / f"edition-tracked-{width}-footer.png"), full_page=True,
                            clip={"x": 0, "y": max(0, height - 420), "width": width, "height": 420})
        finally:
            browser.close()
