"""Which posts carry the item's image and card ([social.<net>] images, cards, hashtags), what the
drafts record in the ledger (SQLite and PostgreSQL), and the link-card check at drafting: a page
with full Open Graph tags is quiet, an empty or incomplete card is noted on the thread for staff,
and `og:image:alt` fills the alt text the source did not give. Pages come from a loopback site."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from compose.config import Config
from compose.models import Edition, EditionSection, Item
from compose.post_length import BLUESKY_RULES, X_RULES
from compose.posts import hashtags_for, item_thread_post, roundup_thread
from flows.stages.cards import check_cards
from state.models import ItemRow, PostRow, SourceRow, ThreadRow
from state.threads import draft_item_posts
from tests.fakes.server import FakeServer
from tests.helpers.images import ImageSite

NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)


def config(social: dict | None = None, allow: tuple[str, ...] = ()) -> Config:
    return Config.model_validate({
        "organisation": {"name": "Socitm", "site_url": "https://socitm.net", "postal_address": "1 High St"},
        "edition": {"from_email": "news@socitm.net", "from_name": "Socitm", "reply_to": "hello@socitm.net"},
        "sections": [{"key": "news", "title": "News"}, {"key": "publications", "title": "Publications"}],
        "fetch": {"allow_hosts": list(allow)},
        "social": social or {},
    })


def item(n: int, *, image: bool = True, alt: str | None = "Alt text", url: str | None = None) -> Item:
    return Item(url=url or f"https://socitm.net/news/{n}", title=f"Story {n}", section="news", source="s",
                summary_text="A summary.", image_url=f"https://socitm.net/{n}.jpg" if image else None,
                image_alt=alt if image else None)


def edition(featured_image: bool = True) -> Edition:
    news = tuple(item(i) for i in range(3))
    featured = Item(url="https://socitm.net/publications/1", title="A briefing", section="publications", source="s",
                    image_url="https://socitm.net/briefing.png" if featured_image else None, image_alt="Cover")
    return Edition(slug="2026-11-26", title="In Our View", issue_date=date(2026, 11, 26), subject="s", preheader="p",
                   intro_markdown="", featured=featured, web_url="https://socitm.net/iov/2026-11-26",
                   sections=(EditionSection("news", "News", news), EditionSection("publications", "Publications",
                                                                                   (featured,))))


def test_an_item_post_carries_its_image_and_card_by_default():
    post = item_thread_post(item(1), config=config(), network="x", rules=X_RULES)
    assert (post.image_url, post.image_alt, post.card_url) == ("https://socitm.net/1.jpg", "Alt text",
                                                               "https://socitm.net/news/1")
    off = item_thread_post(item(1), config=config({"x": {"images": "off", "cards": False}}), network="x", rules=X_RULES)
    assert (off.image_url, off.image_alt, off.card_url) == (None, None, None)
    no_alt = item_thread_post(item(1, alt="  "), config=config(), network="x", rules=X_RULES)
    assert no_alt.image_url and no_alt.image_alt is None  # the desk asks for it; publishing waits


def test_hashtags_per_network_or_the_shared_ones():
    cfg = config({"hashtags": ["#localgov"], "bluesky": {"hashtags": ["#govtech", "#ukgov"]},
                  "x": {"hashtags": []}})
    assert hashtags_for(cfg, "mastodon") == ("#localgov",)
    assert hashtags_for(cfg, "bluesky") == ("#govtech", "#ukgov") and hashtags_for(cfg, "x") == ()
    assert item_thread_post(item(1), config=cfg, network="bluesky", rules=BLUESKY_RULES).text.endswith("#govtech #ukgov")
    assert "#" not in item_thread_post(item(1), config=cfg, network="x", rules=X_RULES).text


@pytest.mark.parametrize(("images", "with_image"), [
    ("first", [0]), ("every", [0, 2, 3, 4]), ("off", [])])
def test_a_roundup_carries_the_featured_image_first_and_item_images_when_every(images, with_image):
    thread = roundup_thread(edition(), config=config({"x": {"images": images}}), rules=X_RULES,
                            subscribe_url="https://socitm.net/subscribe")
    assert [p.position for p in thread.posts if p.image_url] == with_image
    if with_image:
        assert thread.posts[0].image_url == "https://socitm.net/briefing.png" and thread.posts[0].image_alt == "Cover"
    # the featured item's own post does not repeat the opening's image; cards go with each item's link
    assert thread.posts[1].image_url is None and thread.posts[1].card_url == "https://socitm.net/publications/1"
    assert thread.posts[0].card_url is None and thread.posts[-1].card_url is None


def test_no_featured_image_no_image_on_the_opening_post():
    thread = roundup_thread(edition(featured_image=False), config=config(), rules=X_RULES,
                            subscribe_url="https://socitm.net/subscribe")
    assert all(p.image_url is None for p in thread.posts)


def _add_item(session, n: int, *, url: str, image_url: str | None, image_alt: str | None) -> None:  # type: ignore[no-untyped-def]
    source = session.scalars(select(SourceRow)).first()
    if source is None:
        source = SourceRow(name="news", kind="feed", url="https://socitm.net/feed.xml", section="news")
        session.add(source)
        session.flush()
    session.add(ItemRow(key=url, url=url, title=f"Story {n}", summary_text="A summary.", section="news",
                        source_id=source.id, content_hash=str(n), image_url=image_url, image_alt=image_alt,
                        published_at=NOW - timedelta(hours=n), first_seen_at=NOW - timedelta(hours=n)))
    session.flush()


def _posts(session, thread_id: int) -> list[PostRow]:  # type: ignore[no-untyped-def]
    return list(session.scalars(select(PostRow).where(PostRow.thread_id == thread_id)))


PAGE = """<html><head><title>{title}</title>{meta}</head><body>Story</body></html>"""
FULL = ('<meta property="og:title" content="Story 1"><meta property="og:description" content="What happened">'
        '<meta property="og:image" content="{image}"><meta property="og:image:alt" content="A packed hall">')


@pytest.fixture
def pages() -> Iterator[tuple[ImageSite, FakeServer]]:
    site = ImageSite()
    with site.server() as server:
        yield site, server


def test_drafts_record_media_and_the_card_check_notes_what_staff_should_fix(db, pages):
    site, server = pages
    full, bare, empty = f"{server.url}/full", f"{server.url}/bare", f"{server.url}/empty"
    site.files["/full"] = (PAGE.format(title="Story 1", meta=FULL.format(image="/1.jpg")).encode(), "text/html")
    site.files["/bare"] = (PAGE.format(title="Story 2", meta="").encode(), "text/html; charset=utf-8")
    site.files["/empty"] = (b"<html><body>No head at all</body></html>", "text/html")
    cfg = config({"x": {"enabled": False}, "bluesky": {"enabled": True}}, allow=(server.url.removeprefix("http://"),))
    with db.session() as session:
        _add_item(session, 1, url=full, image_url=f"{server.url}/1.jpg", image_alt=None)
        _add_item(session, 2, url=bare, image_url=None, image_alt=None)
        _add_item(session, 3, url=empty, image_url=f"{server.url}/3.jpg", image_alt="Source alt")
        drafted = draft_item_posts(session, cfg, now=NOW)
        warnings = check_cards(session, cfg, drafted)
        session.commit()
    with db.session() as session:
        threads = {t.item_id: t for t in session.scalars(select(ThreadRow))}
        by_item = {row.url: row.id for row in session.scalars(select(ItemRow))}
        first = _posts(session, threads[by_item[full]].id)[0]
        assert (first.image_url, first.card_url) == (f"{server.url}/1.jpg", full)
        assert first.image_alt == "A packed hall" and first.image_alt_by is None  # from the page's og:image:alt
        assert threads[by_item[full]].error is None
        assert "would come out without description or image: the page has no og:description, og:image" in (
            threads[by_item[bare]].error or "")
        assert "would come out empty: the page has no og:title" in (threads[by_item[empty]].error or "")
        assert _posts(session, threads[by_item[empty]].id)[0].image_alt == "Source alt"
    assert len(warnings) == 2 and all(w.startswith("thread ") for w in warnings)


def test_a_page_that_cannot_be_read_is_not_noted_on_the_thread(db):
    cfg = config({"x": {"enabled": False}, "bluesky": {"enabled": True}})
    with db.session() as session:  # refused (an internal address): nothing is known to be wrong with the card
        for n in range(3):
            _add_item(session, n + 1, url=f"http://127.0.0.1:9/news/{n}", image_url=None, image_alt=None)
        drafted = draft_item_posts(session, cfg, now=NOW)
        assert check_cards(session, cfg, drafted) == []
        assert all(t.error is None for t in session.scalars(select(ThreadRow)))


def test_a_redraft_keeps_staff_alt_text_for_the_same_image_and_forgets_it_for_another(db):
    from compose.models import Post
    from state import ledger
    from state.threads import apply_media

    with db.session() as session:
        thread = ledger.create_thread(session, network="bluesky", key="edition:x", kind="roundup",
                                      texts=["Opening", "Story"], content_hash="h", now=NOW)
        drafted = [Post("Opening", 0, image_url="https://socitm.net/a.jpg", image_alt=None),
                   Post("Story", 1, card_url="https://socitm.net/news/1")]
        assert apply_media(thread, drafted)
        opening = thread.posts[0]
        opening.image_alt, opening.image_alt_by, opening.media_ref = "Staff alt", "comms@example.org", '{"blob": 1}'
        assert not apply_media(thread, drafted)  # the same image: staff's alt text and the upload stay
        assert (opening.image_alt, opening.media_ref) == ("Staff alt", '{"blob": 1}')
        assert thread.posts[1].card_url == "https://socitm.net/news/1"
        other = [Post("Opening", 0, image_url="https://socitm.net/b.jpg", image_alt="Source alt"), drafted[1]]
        assert apply_media(thread, other)
        assert (opening.image_url, opening.image_alt, opening.image_alt_by, opening.media_ref) == (
            "https://socitm.net/b.jpg", "Source alt", None, None)
