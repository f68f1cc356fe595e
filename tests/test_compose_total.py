"""Composition is total over anything the ledger can hold (issue 12, point 5).

Hypothesis generates items whose titles, summaries, authors and links run from nothing to
100,000 characters: no spaces, control characters, right-to-left text, combining marks, emoji
ZWJ sequences, 2,000-character URLs, {{tokens}}, markup, dates at both ends of the calendar.
For each, building the edition, rendering its HTML and text, and drafting every network's
posts and round-up thread returns; what cannot be shown whole is shortened or left out with a
reason; every post is within every limit its network states; nothing from an item becomes a
per-recipient token or breaks a header line. Templates are checked when the config loads.

Sizes are bounded (a few items per example, tens of examples per property) so that the file
runs in well under a minute on two cores; `deadline=None` because the machine is shared.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from twitter_text import parse_tweet

from compose.config import TEMPLATE_FIELDS, Config, check_template, fill_template
from compose.edition import EditionLimits, build_edition, left_out
from compose.email import RECIPIENT_TOKENS, render_email
from compose.models import Edition, EditionSection, Item
from compose.post_length import (
    BLUESKY_RULES,
    MASTODON_RULES,
    RULES_BY_NETWORK,
    X_RULES,
    MeasureLimits,
    _mastodon_countable,
    graphemes,
    is_valid,
    weighted_length,
)
from compose.posts import ItemNotPostable, item_post, roundup_thread

NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)
SECTIONS = ("news", "blogs", "publications")
SUBSCRIBE = "https://socitm.net/subscribe"
NETWORKS = tuple(RULES_BY_NETWORK.values())
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufeff\ufffe\uffff]")


def examples(count: int) -> settings:
    return settings(max_examples=count, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _config(**overrides: object) -> Config:
    social = {"mastodon": {"enabled": True}, "bluesky": {"enabled": True}, **overrides.pop("social", {})}  # type: ignore[dict-item]
    return Config.model_validate({
        "organisation": {"name": "Socitm", "site_url": "https://socitm.net", "postal_address": "1 High St, Northampton"},
        "edition": {"from_email": "news@socitm.net", "from_name": "Socitm", "reply_to": "hello@socitm.net",
                    "subject": "{title}: {headlines}", "preheader": "This week from {organisation}: {headlines}",
                    **overrides.pop("edition", {})},  # type: ignore[dict-item]
        "sections": [{"key": key, "title": key.title(), "max_items": 2} for key in SECTIONS],
        "social": social,
    })


CONFIG = _config()

# ------------------------------------------------------------------------------- strategies

PIECES = [
    "{{unsubscribe_url}}", "{{first_name}}", "{{", "}}", "{", "}", "{title}", "<script>alert(1)</script>",
    "</mj-text>", "<mj-raw>", "&amp;", "&#123;", "`", "\r\n", "\n", "\t", " ", "\x00", "\x1b[31m", "\x7f",
    "\x85", "\ufeff", "\u200b", "\u200d", "\u202e", "\u2066", "\u2028", "👩‍👩‍👧‍👦", "🏳️‍🌈", "🇬🇧", "👍🏽",
    "e\u0301", "a" + "\u0301" * 40, "שלום עולם", "مرحبا بالعالم", "日本語のタイトル", "한국어", "Zürich", "a.",
    "example.com", "https://example.com/path", "http://[bad", "#localgov", "@alice@social.example", ".",
    "…", "Council adopts shared digital standards.",
]
_TEXT_ALPHABET = st.characters(exclude_categories=["Cs"])  # lone surrogates: no UTF-8 ledger can hold one
texts = st.one_of(
    st.text(_TEXT_ALPHABET, max_size=200),
    st.lists(st.sampled_from(PIECES), max_size=30).map("".join),
    st.tuples(st.sampled_from(PIECES), st.integers(0, 100_000)).map(lambda pair: (pair[0] * pair[1])[:100_000]),
)
_PATH = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789-._~/%?&=+"), max_size=60)
urls = st.one_of(
    _PATH.map(lambda path: f"https://socitm.net/news/{path}"),
    st.integers(0, 2_000).map(lambda n: "https://example.org/" + ("a/b-c." * 400)[:n]),
    st.integers(0, 100_000).map(lambda n: "https://example.org/" + "x" * n),
    st.sampled_from([
        "http://[bad", "https://\u2100.example/a", "mailto:someone@example.org", "javascript:alert(1)", "",
        "https://example.org/{{unsubscribe_url}}", "https://example.org/a b", "https://example.org/\r\nBcc: x",
        "https://例え.jp/ニュース", "https://example.org/\u202e", "http://t.co/abc", "https://" + "a" * 70 + ".com/",
    ]),
)
dates = st.one_of(
    st.none(),
    st.datetimes(min_value=datetime.min, max_value=datetime.max, timezones=st.just(UTC)),
    st.datetimes(min_value=datetime.min, max_value=datetime.max),  # naive, as SQLite gives them back
    st.sampled_from([datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
                     datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14)))]),
)


@st.composite
def items(draw: st.DrawFn) -> Item:
    return Item(
        url=draw(urls), title=draw(texts), section=draw(st.sampled_from(SECTIONS)), source="socitm-news",
        summary_html=draw(st.one_of(st.just(""), texts)), summary_text=draw(st.one_of(st.just(""), texts)),
        published=draw(dates), updated=draw(dates), author=draw(st.one_of(st.none(), texts)),
        image_url=draw(st.one_of(st.none(), urls)),
    )


item_lists = st.lists(items(), min_size=1, max_size=4, unique_by=lambda item: item.url)

# ------------------------------------------------------------------------------- checks


def _check_post(text: str, rules) -> None:  # type: ignore[no-untyped-def]
    assert text.strip(), "an empty post"
    assert is_valid(text, rules), (rules.name, weighted_length(text, rules), text[:200])
    assert not _FORBIDDEN.search(text)
    if rules is BLUESKY_RULES:
        assert len(graphemes(text)) <= 300 and len(text.encode("utf-8")) <= 3000
    if rules is X_RULES and len(text) <= 400 and text.count(".") <= 20:  # twitter-text itself, where it is quick
        assert parse_tweet(text).valid, text


def _check_thread(edition: Edition, config: Config) -> None:
    for rules in NETWORKS:
        for placement in ("every", "last"):
            thread = roundup_thread(edition, config=config, rules=rules, subscribe_url=SUBSCRIBE,
                                    link_placement=placement)
            assert thread.posts  # at least the opening
            for post in thread.posts:
                _check_post(post.text, rules)


def _check_item_posts(item: Item, config: Config) -> None:
    for rules in NETWORKS:
        try:
            text = item_post(item, template=config.social.post_template, hashtags=config.social.hashtags, rules=rules)
        except ItemNotPostable as exc:
            assert str(exc)  # a reason staff can read
            continue
        _check_post(text, rules)


_BASELINE = render_email(build_edition(  # type: ignore[arg-type]
    [Item(url="https://socitm.net/news/a", title="A", section="news", source="s", summary_text="S.")],
    config=CONFIG, now=NOW, slug="2026-11-26"), config=CONFIG)


def _check_email(edition: Edition, config: Config) -> None:
    rendered = render_email(edition, config=config)
    for header, limit, template in ((rendered.subject, EditionLimits.subject_max_chars, config.edition.subject),
                                    (rendered.preheader, EditionLimits.preheader_max_chars, config.edition.preheader)):
        assert not _FORBIDDEN.search(header) and len(header.splitlines()) <= 1 and len(header) <= limit, header
        own = fill_template(template, **{name: "" for name in TEMPLATE_FIELDS["edition.subject"]})
        assert header.count("{{") <= own.count("{{"), header  # only what the config itself writes
    assert not _FORBIDDEN.search(rendered.text)
    for token in RECIPIENT_TOKENS:  # only the template's own tokens, in both parts
        assert rendered.text.count(token) == _BASELINE.text.count(token)
        assert rendered.html.count(token) == _BASELINE.html.count(token)
    assert rendered.text.count("{{") == _BASELINE.text.count("{{")
    assert rendered.html.count("{{") == _BASELINE.html.count("{{")


# ------------------------------------------------------------------------------- properties


@examples(40)
@given(item_lists)
def test_any_items_build_render_and_post(candidates: list[Item]) -> None:
    edition = build_edition(candidates, config=CONFIG, now=NOW, slug="2026-11-26")
    warnings = left_out(candidates, config=CONFIG) if edition is None else edition.warnings
    named = [warning for warning in warnings if warning.startswith("left out")]
    shown = 0 if edition is None else len(edition.items) + sum(section.omitted for section in edition.sections)
    assert shown + len(named) == len(candidates), "an item vanished without a warning"
    if edition is None:
        return
    _check_email(edition, CONFIG)
    _check_thread(edition, CONFIG)
    for item in edition.items:
        _check_item_posts(item, CONFIG)


@examples(60)
@given(items())
def test_any_item_posts_or_says_why(item: Item) -> None:
    _check_item_posts(item, CONFIG)


@examples(25)
@given(st.lists(items(), min_size=1, max_size=3))
def test_a_stored_edition_of_any_items_renders(stored: list[Item]) -> None:
    """An edition as the ledger gives it back (`edition_value`): its items not filtered again."""
    sections = tuple(EditionSection(key, key.title(), tuple(i for i in stored if i.section == key))
                     for key in SECTIONS if any(i.section == key for i in stored))
    edition = Edition(slug="2026-11-26", title="In Our View", issue_date=date(2026, 11, 26), subject="s",
                      preheader="p", intro_markdown="", sections=sections, featured=stored[0])
    render_email(edition, config=CONFIG)
    _check_thread(edition, CONFIG)


FIELD_PIECES = ["{title}", "{date}", "{organisation}", "{count}", "{headlines}", "{summary}", "{url}", "{hashtags}",
                "{section}", "{source}", "{subscribe_url}", "{", "}", "{}", "{0}", "{title!x}", "{title!r}",
                "{title:bc}", "{title:>10}", "{subscribe_url.x}", "{title.upper}", "{title[0]}", "{{", "}}",
                "{{first_name}}", "{title:{count}}", " ", ": ", "\n\n", "🧵", "In Our View"]
templates = st.lists(st.sampled_from(FIELD_PIECES), max_size=8).map("".join)


@examples(150)
@given(st.sampled_from(sorted(TEMPLATE_FIELDS)), templates)
def test_a_template_is_accepted_and_fills_or_is_refused_with_one_message(key: str, template: str) -> None:
    allowed = TEMPLATE_FIELDS[key]
    try:
        check_template(template, key)
    except ValueError as exc:
        assert "this template may use " + ", ".join("{" + name + "}" for name in allowed) in str(exc)
        section, name = key.split(".")
        with pytest.raises(ValidationError, match=re.escape(f"{section}.{name}")):
            _config(**{section: {name: template}})
        return
    filled = fill_template(template, **{name: f"<{name}>" for name in allowed})
    assert "bound method" not in filled and "<built-in" not in filled


_LITERALS = [" ", ": ", "\n\n", "🧵", "In Our View", "{{", "}}", "{{first_name}}", "#tag "]


def _valid_template(key: str) -> st.SearchStrategy[str]:
    """Templates the config accepts: at least one field (post: {title} or {summary}) among others."""
    fields = ["{" + name + "}" for name in TEMPLATE_FIELDS[key]]
    needed = ["{title}", "{summary}"] if key == "social.post_template" else fields
    pieces = st.lists(st.sampled_from(fields + _LITERALS), max_size=7)
    return st.tuples(pieces, st.sampled_from(needed), st.integers(0, 7)).map(
        lambda drawn: "".join(drawn[0][: drawn[2]] + [drawn[1]] + drawn[0][drawn[2]:]))


@examples(20)
@given(_valid_template("edition.subject"), _valid_template("social.post_template"),
       _valid_template("social.roundup_opening"), _valid_template("social.roundup_closing"), item_lists)
def test_accepted_templates_never_stop_a_build(subject: str, post: str, opening: str, closing: str,
                                              candidates: list[Item]) -> None:
    config = _config(edition={"subject": subject, "preheader": subject},
                     social={"post_template": post, "roundup_opening": opening, "roundup_closing": closing})
    edition = build_edition(candidates, config=config, now=NOW, slug="2026-11-26")
    if edition is None:
        return
    _check_email(edition, config)
    _check_thread(edition, config)
    for item in edition.items:
        _check_item_posts(item, config)


_SHORT = st.lists(st.sampled_from(list("ab.-/:@ 日\r\n\u0301\u200d\ufe0f\u20e3#1") + [
    "http://", "https://", "example.com", "t.co/", "👍🏽", "👩‍👩‍👧‍👦", "🏳️‍🌈", "🇬🇧", "🇬", "#️⃣", "©️", "가", "\u1100\u1161",
    "e\u0301", "\u202e", "\ufeff"]), max_size=30).map("".join)


@examples(150)
@given(_SHORT)
def test_measuring_token_by_token_is_what_twitter_text_counts(text: str) -> None:
    exact = all(len(token) <= MeasureLimits.exact_token_chars or "." not in token for token in text.split())
    for rules, truth in ((X_RULES, parse_tweet(text).weightedLength),
                         (MASTODON_RULES, len(graphemes(_mastodon_countable(text, 23))))):
        measured = weighted_length(text, rules)
        assert measured == truth if exact else measured >= truth, (rules.name, measured, truth)


@examples(20)
@given(st.lists(st.sampled_from(["a.", "b-", "日", "x", "com", ".", "https://e.com/", "/"]), min_size=40, max_size=90)
       .map("".join))
def test_a_long_token_counts_at_least_what_twitter_text_counts(token: str) -> None:
    assert weighted_length(token, X_RULES) >= parse_tweet(token).weightedLength


def test_an_item_no_post_can_carry_is_recorded_for_staff_and_the_others_are_drafted(db) -> None:  # type: ignore[no-untyped-def]
    """The ledger side of `ItemNotPostable`: a failed thread with the reason (the desk shows it),
    never drafted again; the item beside it is drafted as usual."""
    from sqlalchemy import select

    from state.models import ItemRow, SourceRow, ThreadRow, ThreadStatus
    from state.threads import draft_item_posts

    config = _config(social={"x": {"enabled": False}})  # Mastodon and Bluesky
    links = {"long": "https://example.org/" + "a" * 400, "fine": "https://example.org/fine"}
    with db.session() as session:
        source = SourceRow(name="s", kind="feed", url="https://example.org/feed.xml", section="news")
        session.add(source)
        session.flush()
        for name, url in links.items():
            session.add(ItemRow(key=url, url=url, title=f"Story {name}", section="news", source_id=source.id,
                                content_hash=name, published_at=NOW, first_seen_at=NOW))
        session.flush()
        drafted = draft_item_posts(session, config, now=NOW)
        again = draft_item_posts(session, config, now=NOW)
        threads = session.scalars(select(ThreadRow).order_by(ThreadRow.id)).all()
        by_state = sorted((row.network, row.status, len(row.posts), row.error or "") for row in threads)
    assert len(drafted) == 3 and again == []
    assert [(n, s, p) for n, s, p, _ in by_state] == [
        ("bluesky", ThreadStatus.DRAFT, 1), ("bluesky", ThreadStatus.FAILED, 0),
        ("mastodon", ThreadStatus.DRAFT, 1), ("mastodon", ThreadStatus.DRAFT, 1)]  # Mastodon counts a link as 23
    assert "no bluesky post for 'Story long': its link is 420 characters, longer than a whole bluesky post" in by_state[1][3]
