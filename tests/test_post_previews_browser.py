"""Each post as its network will show it, in a real browser (Debian's chromium through Playwright):
X, Mastodon, Bluesky and LinkedIn previews with their cards, an image with its alt text and one
without, at 375 and 1280 px (nothing scrolls sideways, axe-core finds nothing serious); then the
alt-text form end to end: the approval waits, the editor writes the alt text, an approver
approves, a change voids the approval.

Screenshots go to the pytest temporary folder, or to tests/artifacts/ when SYNDICATE_KEEP_SCREENSHOTS=1.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from compose.threads import thread_hash
from state import ledger
from state.db import Database
from state.models import ItemRow, ThreadRow
from state.post_media import thread_content_hash
from tests.helpers import desk_data
from tests.helpers.browser import (  # noqa: F401  (the browser fixture)
    browser_fixture,
    check_page,
    serving_desk,
    shots_folder,
    signed_in_page,
)

pytestmark = pytest.mark.browser

NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)
# what the items' pictures are answered with (nothing leaves the machine): a landscape "photo"
PHOTO = ('<svg xmlns="http://www.w3.org/2000/svg" width="1200" height="630" viewBox="0 0 1200 630">'
         '<defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="#7fa7c9"/>'
         '<stop offset="1" stop-color="#2f5d87"/></linearGradient></defs><rect width="1200" height="630" fill="url(#g)"/>'
         '<circle cx="950" cy="160" r="90" fill="#f2d07a"/><path d="M0 520 L300 300 L560 500 L800 340 L1200 560 '
         'L1200 630 L0 630 Z" fill="#1d3b57"/></svg>')
MISSING_ALT_NOTE = "Waiting for alt text."


@pytest.fixture
def shots_dir(tmp_path: Path) -> Path:
    return shots_folder(tmp_path)


def _thread(session, network: str, item: ItemRow, texts: list[str], *, card: bool) -> ThreadRow:  # type: ignore[no-untyped-def]
    thread = ledger.create_thread(session, network=network, key=f"item:{item.id}", kind="item", texts=texts,
                                  content_hash=thread_hash(texts), now=NOW, item_id=item.id,
                                  scheduled_for=NOW + timedelta(hours=3))
    if card:
        thread.posts[0].card_url = item.url
    return thread


@pytest.fixture
def server(sqlite_db: Database, tmp_path: Path):  # type: ignore[no-untyped-def]
    """The desk with X item posts (the first carries the item's image without alt text, the second
    an image with the source's alt text) and a Mastodon, a Bluesky and a LinkedIn post with cards."""
    config = desk_data.example_config(tmp_path)
    desk_data.seed_items(sqlite_db, config, now=NOW)
    threads = desk_data.seed_threads(sqlite_db, config, now=NOW)
    desk_data.seed_staff(sqlite_db, "ed@example.org", "editor", now=NOW)
    desk_data.seed_staff(sqlite_db, "ap@example.org", "approver", now=NOW)
    with sqlite_db.session() as session:
        items = list(session.scalars(select(ItemRow).order_by(ItemRow.id)))
        for item in items:
            item.image_url = f"https://www.socitm.net/media/{item.id}.jpg"
        needs, described = session.get(ThreadRow, threads[0]), session.get(ThreadRow, threads[1])
        needs.posts[0].image_url = "https://www.socitm.net/media/compact.jpg"
        described.posts[0].image_url = "https://www.socitm.net/media/president.jpg"
        described.posts[0].image_alt = "The Socitm president speaking at a lectern in front of a blue banner"
        others = []
        for network, item in (("mastodon", items[0]), ("bluesky", items[3]), ("linkedin", items[4])):
            texts = [f"{item.title}\n\n{item.summary_text}\n\n{item.url} #LocalGov #DigitalInclusion"]
            if network == "bluesky":
                texts.append("What did your council learn? Tell @socitm.bsky.social 👇")
            others.append(_thread(session, network, item, texts, card=True))
        for thread in [needs, described, *others]:
            thread.content_hash = thread_content_hash(thread)
        session.flush()
        ids = {"needs": needs.id, "described": described.id, "post": needs.posts[0].id,
               **{t.network: t.id for t in others}}
    with serving_desk(config, sqlite_db, NOW) as base:
        yield base, sqlite_db, ids


def _loaded_width(image) -> int:  # type: ignore[no-untyped-def]
    """The natural width of a lazily loaded image, once scrolled into view and loaded."""
    image.scroll_into_view_if_needed()
    return int(image.evaluate("img => img.complete && img.naturalWidth ? img.naturalWidth : "
                              "new Promise((done) => img.addEventListener('load', () => done(img.naturalWidth)))"))


@pytest.mark.parametrize("width", [375, 1280])
def test_every_network_preview_fits_and_passes_axe(server, browser, shots_dir: Path, width: int) -> None:  # type: ignore[no-untyped-def]
    base, _, ids = server
    page = signed_in_page(browser, base, width, "ap@example.org", stub=PHOTO)
    page.goto(f"{base}/desk/threads")
    needs = page.locator(f"#thread-{ids['needs']}")
    assert MISSING_ALT_NOTE in needs.inner_text()
    assert needs.get_by_role("button", name="Approve (waiting for alt text)").is_disabled()
    assert needs.get_by_label("Write the alt text for this image").is_visible()
    for network, name in (("mastodon", "Mastodon"), ("bluesky", "Bluesky"), ("linkedin", "LinkedIn")):
        section = page.locator(f"#thread-{ids[network]}")
        assert section.get_by_role("heading", name=f"How it will look on {name}").is_visible()
        card = section.locator(".preview-card")
        assert card.is_visible() and _loaded_width(card.locator("img")) == 1200
    for image in page.locator(".previews img").all():  # lazy images: load each before the full-page shot
        _loaded_width(image)
    check_page(page, width, shots_dir / f"post-previews-{width}.png")
    for key in ("needs", "described", "mastodon", "bluesky", "linkedin"):
        page.locator(f"#thread-{ids[key]}").screenshot(path=str(shots_dir / f"post-preview-{key}-{width}.png"))
    page.context.close()


def test_the_alt_text_form_lets_the_thread_be_approved_and_a_change_voids_it(server, browser) -> None:  # type: ignore[no-untyped-def]
    base, db, ids = server
    editor = signed_in_page(browser, base, 375, "ed@example.org", stub=PHOTO)
    editor.goto(f"{base}/desk/threads#thread-{ids['needs']}")
    form = editor.locator(f"#post-preview-{ids['post']} form.alt-form")
    form.get_by_label("Write the alt text for this image").fill("Officers from 40 councils around a training table")
    with editor.expect_navigation(url="**/desk/threads?done=alt-saved*"):
        form.get_by_role("button", name="Save alt text").click()
    assert "Alt text saved." in editor.get_by_role("status").first.inner_text()
    preview = editor.locator(f"#post-preview-{ids['post']}")
    assert "Officers from 40 councils around a training table" in preview.locator("figcaption").inner_text()
    assert preview.locator("img").get_attribute("alt") == "Officers from 40 councils around a training table"

    approver = signed_in_page(browser, base, 1280, "ap@example.org", stub=PHOTO)
    approver.goto(f"{base}/desk/threads")
    thread = approver.locator(f"#thread-{ids['needs']}")
    assert MISSING_ALT_NOTE not in thread.inner_text()
    with approver.expect_navigation(url="**/desk/threads?done=approved*"):
        thread.get_by_role("button", name="Approve", exact=True).click()
    with db.session() as session:
        assert ledger.is_approved(session, "thread", ids["needs"])

    editor.goto(f"{base}/desk/threads#thread-{ids['needs']}")
    form = editor.locator(f"#post-preview-{ids['post']} form.alt-form")
    form.get_by_label("Alt text of the image").fill("Officers from 40 councils at a training day")
    with editor.expect_navigation(url="**/desk/threads?done=alt-voided*"):
        form.get_by_role("button", name="Save alt text").click()
    assert "the approval was voided" in editor.get_by_role("status").first.inner_text()
    with db.session() as session:
        assert not ledger.is_approved(session, "thread", ids["needs"])
    editor.context.close()
    approver.context.close()
