"""Choosing the items of an edition: sections, order, limits, staff overrides, subject."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from compose.config import Config
from compose.edition import EditionLimits, build_edition, edition_content_hash, format_date, slug_for
from compose.models import Item, RenderedEmail

NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)


def _config(**edition: object) -> Config:
    return Config.model_validate(
        {
            "organisation": {"name": "Socitm", "site_url": "https://socitm.net/", "postal_address": "1 Example Court, Northampton"},
            "edition": {"from_email": "iov@socitm.net", "from_name": "Socitm", "reply_to": "hello@socitm.net", **edition},
            "sections": [
                {"key": "news", "title": "News", "url": "https://socitm.net/news/", "max_items": 3},
                {"key": "blogs", "title": "Blogs", "max_items": 2},
                {"key": "publications", "title": "Publications", "url": "https://socitm.net/publications/"},
            ],
        }
    )


def _item(slug: str, section: str, hours_ago: float, title: str | None = None) -> Item:
    return Item(
        url=f"https://socitm.net/{section}/{slug}/",
        title=title or slug.replace("-", " ").title(),
        section=section,
        source=f"socitm-{section}",
        summary_text=f"About {slug}.",
        published=NOW - timedelta(hours=hours_ago),
    )


ITEMS = [
    _item("friday-roundup-a-week-in-tech", "blogs", 30, "Friday roundup: A week in tech"),
    _item("council-co-designed-information-governance-training", "news", 5, "Council Co-Designed Information Governance Training"),
    _item("local-gov-declaration-fund", "news", 50),
    _item("digital-by-choice-part-2", "publications", 20, "Policy Briefing - Digital by choice: Bridging the digital divide - Part 2"),
    _item("huw-mckee-elected", "news", 1),
    _item("leadership-academy", "news", 70),
    _item("share-digital", "news", 90),
    _item("friday-round-up-2", "blogs", 200),
    _item("apprenticeships", "blogs", 300),
]


def _build(items=ITEMS, config=None, **kwargs):
    return build_edition(items, config=config or _config(), now=NOW, slug="2026-11-26", **kwargs)


def _urls(section) -> list[str]:
    return [item.url.rstrip("/").rsplit("/", 1)[1] for item in section.items]


def test_groups_into_configured_sections_in_config_order_newest_first():
    edition = _build()
    assert [section.key for section in edition.sections] == ["news", "blogs", "publications"]
    assert [section.title for section in edition.sections] == ["News", "Blogs", "Publications"]
    assert _urls(edition.sections[0]) == [
        "huw-mckee-elected",
        "council-co-designed-information-governance-training",
        "local-gov-declaration-fund",
    ]


def test_section_cap_counts_the_rest_and_links_to_the_section_page():
    news, blogs, publications = _build().sections
    assert (news.omitted, news.more_url) == (2, "https://socitm.net/news/")
    # a section without its own page falls back to the organisation's site
    assert (blogs.omitted, blogs.more_url) == (1, "https://socitm.net/")
    assert (publications.omitted, publications.more_url) == (0, None)


def test_empty_sections_are_left_out():
    edition = _build(items=[item for item in ITEMS if item.section != "blogs"])
    assert [section.key for section in edition.sections] == ["news", "publications"]


def test_nothing_new_gives_none():
    assert _build(items=[]) is None
    assert _build(removed_urls=[item.url for item in ITEMS]) is None


def test_removed_items_make_room_for_the_next_ones():
    huw = ITEMS[4].url
    news = _build(removed_urls={huw}).sections[0]
    assert huw not in [item.url for item in news.items]
    assert _urls(news)[-1] == "leadership-academy"
    assert news.omitted == 1


def test_pinned_item_is_featured_once_and_not_repeated_in_its_section():
    pinned = ITEMS[6].url  # the oldest news item, otherwise cut by the cap
    edition = _build(featured_url=pinned)
    assert edition.featured.url == pinned
    assert pinned not in [item.url for item in edition.items]
    assert edition.sections[0].omitted == 1


def test_pinning_an_unknown_or_removed_item_is_a_clear_error():
    with pytest.raises(ValueError, match="not among"):
        _build(featured_url="https://socitm.net/news/gone/")
    with pytest.raises(ValueError, match="also removed"):
        _build(featured_url=ITEMS[1].url, removed_urls=[ITEMS[1].url])


def test_a_featured_item_alone_is_an_edition():
    edition = _build(items=[ITEMS[3]], featured_url=ITEMS[3].url)
    assert edition is not None and edition.sections == () and edition.featured == ITEMS[3]


def test_staff_order_comes_first_then_newest_first_and_the_cap_applies_after():
    order = {"news": ["https://socitm.net/news/share-digital/", "https://socitm.net/news/nope/", ITEMS[1].url]}
    news = _build(order=order).sections[0]
    assert _urls(news) == ["share-digital", "council-co-designed-information-governance-training", "huw-mckee-elected"]


def test_unknown_sections_non_web_links_and_duplicates_are_left_out():
    odd = [
        _item("x", "events", 1),
        Item(url="javascript:alert(1)", title="bad", section="news", source="s", published=NOW),
        ITEMS[1],
        ITEMS[1],
    ]
    edition = _build(items=odd)
    assert [item.url for item in edition.items] == [ITEMS[1].url]


def test_items_without_a_date_go_last():
    undated = Item(url="https://socitm.net/news/undated/", title="Undated", section="news", source="s")
    news = _build(items=[undated, ITEMS[2], ITEMS[4]]).sections[0]
    assert _urls(news) == ["huw-mckee-elected", "local-gov-declaration-fund", "undated"]


def test_subject_and_preheader_from_templates_with_the_send_date_and_headlines():
    """Built on Thursday 26 November after that day's 10:00 send: it goes out on 3 December."""
    config = _config(
        subject="{title} from {organisation}, {date} ({count} stories)",
        preheader="{headlines}",
    )
    edition = _build(config=config, featured_url=ITEMS[1].url)
    assert edition.subject == "In Our View from Socitm, 3 December 2026 (7 stories)"
    assert edition.issue_date.isoformat() == "2026-12-03"
    assert edition.preheader.startswith("Council Co-Designed Information Governance Training · Huw Mckee Elected")
    assert edition.preheader.count(" · ") in (1, 2)


def test_headlines_neutralise_recipient_tokens_from_feed_titles():
    hostile = _item("x", "news", 0, "{{unsubscribe_url}} now")
    edition = _build(items=[hostile], config=_config(preheader="{headlines}"))
    assert "{{unsubscribe_url}}" not in edition.preheader
    assert edition.preheader.replace("\u200b", "") == "{{unsubscribe_url}} now"


def test_a_template_with_an_unknown_field_is_refused_when_the_config_loads():
    with pytest.raises(ValueError, match=r"edition.subject\n.*uses \{issue\}.*\{headlines\}"):
        _config(subject="{title} #{issue}")


def test_subject_and_preheader_are_one_bounded_line_whatever_the_titles():
    titles = ["Line one\r\nBcc: someone@example.org", "\x00\x1b[31mred\ufeff", "日" * 100_000]
    items = [_item(f"t{i}", "news", i, title) for i, title in enumerate(titles)]
    edition = _build(items=items, config=_config(subject="{headlines}", preheader="{headlines} " * 4))
    for header, limit in ((edition.subject, EditionLimits.subject_max_chars),
                          (edition.preheader, EditionLimits.preheader_max_chars)):
        assert header.isprintable() and "\n" not in header and "\r" not in header
        assert 0 < len(header) <= limit
    assert edition.subject.startswith("Line one Bcc: someone@example.org · [31mred")
    assert any("preheader was shortened" in warning for warning in edition.warnings)


def test_items_with_links_no_email_can_carry_are_left_out_with_a_warning():
    good = _item("good", "news", 1)
    bad = [replace(_item(f"bad{i}", "news", 2), url=url, title=f"Bad {i}")
           for i, url in enumerate(["http://[bad", "https://\u2100.example/x", "mailto:a@b.c",
                                    "https://example.org/" + "a" * 5000])]
    edition = _build(items=[*bad, good])
    assert [item.url for item in edition.items] == [good.url]
    assert len(edition.warnings) == 4
    assert all(f"'Bad {i}'" in warning for i, warning in enumerate(edition.warnings))


def test_an_item_dated_year_one_is_ordered_and_shown():
    old = replace(_item("old", "news", 0), published=datetime(1, 1, 1, tzinfo=UTC))
    naive = replace(_item("naive", "news", 0), published=datetime(9999, 12, 31, 23, 59))
    edition = _build(items=[old, naive, ITEMS[1]])
    assert [item.title for item in edition.items][-1] == "Old"


def test_issue_date_and_slug_follow_the_organisation_zone():
    late = datetime(2026, 6, 30, 23, 30, tzinfo=UTC)  # already 1 July in London (BST)
    config = _config()
    assert slug_for(late, config) == "2026-07-01"
    edition = build_edition(ITEMS, config=config, now=late, slug=slug_for(late, config))
    assert format_date(edition.issue_date) == "2 July 2026"  # its send: the next Thursday, 10:00 in London
    assert edition.web_url == "http://127.0.0.1:8000/editions/2026-07-01"
    with pytest.raises(ValueError, match="timezone-aware"):
        slug_for(datetime(2026, 1, 1), config)


def test_intro_defaults_to_the_configured_one_and_can_be_overridden():
    assert _build(config=_config(intro="Hello from the team")).intro_markdown == "Hello from the team"
    assert _build(config=_config(intro="x"), intro_markdown="").intro_markdown == ""


def test_content_hash_changes_with_anything_a_subscriber_sees():
    edition = _build()
    rendered = RenderedEmail(subject="s", preheader="p", html="<p>h</p>", text="t")
    base = edition_content_hash(edition, rendered)
    assert base == edition_content_hash(edition, rendered)
    assert len(base) == 64
    for change in ({"subject": "s2"}, {"html": "<p>h!</p>"}, {"text": "t2"}, {"preheader": "p2"}):
        other = RenderedEmail(**{"subject": "s", "preheader": "p", "html": "<p>h</p>", "text": "t", **change})
        assert edition_content_hash(edition, other) != base
    assert edition_content_hash(_build(removed_urls=[ITEMS[4].url]), rendered) != base


def test_the_date_is_the_next_send_in_the_organisations_zone():
    """Built on Wednesday evening in London, sent on Thursday at 10:00: the subject names Thursday."""
    config = _config(subject="{date}")
    wednesday = datetime(2026, 11, 25, 22, 30, tzinfo=UTC)
    edition = build_edition(ITEMS, config=config, now=wednesday, slug="x")
    assert edition is not None and edition.subject == "26 November 2026"
    early_thursday = datetime(2026, 11, 26, 9, 59, tzinfo=UTC)
    assert build_edition(ITEMS, config=config, now=early_thursday, slug="x").subject == "26 November 2026"


@pytest.mark.parametrize("count, minimum, warned", [(1, 3, True), (2, 3, True), (3, 3, False), (1, 0, False)])
def test_a_build_with_fewer_items_than_the_minimum_warns(count, minimum, warned):
    from compose.edition import item_count_warnings

    config = _config(min_items=minimum)
    edition = build_edition(ITEMS[:count], config=config, now=NOW, slug="x")
    assert edition is not None
    notes = item_count_warnings(edition, config)
    assert bool(notes) is warned
    if warned:
        noun = "item" if count == 1 else "items"
        assert notes == [f"this edition has only {count} {noun}, fewer than edition.min_items ({minimum}): "
                         "send it anyway, wait for more, or lower edition.min_items in syndicate.toml"]
