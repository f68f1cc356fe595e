"""Social posts: length per network (`compose.post_length`, twitter-text conformance), thread
splitting (`compose.post_split`), item posts, the weekly round-up thread and the X cost estimate."""

from __future__ import annotations

import random
import re
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from compose.config import Config
from compose.models import Edition, EditionSection, Item
from compose.post_length import (
    BLUESKY_RULES,
    MASTODON_RULES,
    X_RULES,
    graphemes,
    is_valid,
    rules_for,
    weighted_length,
)
from compose.post_split import split_text
from compose.posts import (
    X_PRICING,
    ItemNotPostable,
    estimate_x_cost,
    item_post,
    roundup_left_out,
    roundup_thread,
)

CORPUS = Path(__file__).resolve().parent / "corpora" / "twitter-text" / "validate.yml"
# section -> (twitter-text config, max length), as the official Ruby runner configures them
SECTIONS = {
    "tweets": ("version1", 140),
    "WeightedTweetsCounterTest": ("version2", 280),
    "WeightedTweetsWithDiscountedEmojiCounterTest": ("version3", 280),
    "UnicodeDirectionalMarkerCounterTest": ("defaults", 280),
}


def _conformance_cases() -> list:
    if not CORPUS.exists():
        return [pytest.param(None, None, None, id="validate.yml-missing")]
    tests = yaml.safe_load(CORPUS.read_text(encoding="utf-8"))["tests"]
    return [pytest.param(section, case["text"], case["expected"], id=f"{section}-{i}")
            for section in SECTIONS for i, case in enumerate(tests[section])]


def test_conformance_corpus_has_all_52_length_cases():
    assert CORPUS.exists(), f"twitter-text conformance file missing: {CORPUS}"
    assert len(_conformance_cases()) == 52


@pytest.mark.parametrize(("section", "text", "expected"), _conformance_cases())
def test_twitter_text_conformance(section, text, expected):
    if section is None:
        pytest.fail(f"twitter-text conformance file missing: {CORPUS}")
    config_name, max_length = SECTIONS[section]
    rules = replace(X_RULES, max_length=max_length, twitter_text_config=config_name)
    if isinstance(expected, bool):  # the v1 "tweets" section only says valid or not
        assert is_valid(text, rules) is expected
        assert (0 < weighted_length(text, rules) <= 140) is expected
    else:
        assert weighted_length(text, rules) == expected["weightedLength"]
        assert is_valid(text, rules) is expected["valid"]


def test_x_counts_urls_as_23_and_emoji_and_cjk_as_2():
    assert weighted_length("see https://example.com/" + "a" * 100, X_RULES) == 4 + 23
    assert weighted_length("日本", X_RULES) == 4
    assert weighted_length("👩‍👩‍👧", X_RULES) == 2


def test_mastodon_counts_graphemes_urls_23_and_remote_mentions_by_username():
    assert weighted_length("https://example.com/" + "a" * 100, MASTODON_RULES) == 23
    assert weighted_length("hi @alice@social.example", MASTODON_RULES) == len("hi @alice")
    assert weighted_length("👩‍👩‍👧🇬🇧e\u0301", MASTODON_RULES) == 3
    assert weighted_length("example.com", MASTODON_RULES) == 11  # no protocol: not a link on Mastodon


def test_long_runs_are_measured_exactly_where_a_link_can_be_and_quickly_everywhere():
    long_url = "https://example.org/" + "a/b-c." * 330  # 2,000 characters: a link, then a full stop
    assert weighted_length(long_url, X_RULES) == 24 and weighted_length(long_url, MASTODON_RULES) == 24
    assert weighted_length("a." * 5000, X_RULES) == 10_000  # no top-level domain after any dot: no link
    assert weighted_length("日" * 3000 + ".", X_RULES) == 6001
    assert weighted_length("see " + long_url, X_RULES) == 28


def test_bluesky_counts_graphemes_and_urls_in_full():
    url = "https://example.com/" + "a" * 50
    assert weighted_length(url, BLUESKY_RULES) == len(url)
    assert weighted_length("🏳️‍🌈 and 👍🏽", BLUESKY_RULES) == 7


def test_rules_for_applies_the_configured_mastodon_limit():
    config = _config(social={"mastodon": {"max_characters": 1000}})
    assert rules_for("mastodon", config).max_length == 1000
    assert rules_for("mastodon").max_length == 500
    assert rules_for("x", config) == X_RULES


# -- splitting ------------------------------------------------------------------------------------

_PROTECTED = ["https://socitm.net/news/2026/a-very-long-article-slug-about-digital?utm_source=x&utm_medium=social",
              "https://example.org/p", "#localgov", "#DigitalLeaders", "@socitm", "@alice@social.example",
              "👩‍👩‍👧", "🇬🇧", "👍🏽", "🏳️‍🌈", "e\u0301te\u0301"]
_WORDS = ["council", "digital", "services", "and", "the", "of", "public", "sector", "leaders", "data",
          "transformation", "日本語", "Zürich", "naïve", "cyber", "resilience"]


def _random_text(rng: random.Random) -> str:
    sentences = []
    for _ in range(rng.randint(1, 25)):
        words = [rng.choice(_PROTECTED) if rng.random() < 0.15 else rng.choice(_WORDS)
                 for _ in range(rng.randint(1, 30))]
        sentences.append(" ".join(words) + rng.choice([".", "!", "?", "", "…"]))
    return rng.choice([" ", "\n\n", "  "]).join(sentences)


_NUMBER = re.compile(r" (\d+)/(\d+)$")


@pytest.mark.parametrize("rules", [X_RULES, MASTODON_RULES, BLUESKY_RULES], ids=lambda r: r.name)
@pytest.mark.parametrize("numbering", [False, True])
def test_split_properties_on_random_texts(rules, numbering):
    rng = random.Random(f"split-{rules.name}-{numbering}")
    for _ in range(25 if rules.counts == "weighted" else 60):  # parse_tweet costs ~2 ms a post
        text = _random_text(rng)
        parts = split_text(text, rules, numbering=numbering)
        assert parts, text
        for part in parts:
            assert 0 < weighted_length(part, rules) <= rules.max_length, part
        if numbering:
            numbers = [_NUMBER.search(part) for part in parts]
            assert all(numbers)
            assert [(int(m[1]), int(m[2])) for m in numbers] == [(k, len(parts)) for k in range(1, len(parts) + 1)]
            parts = [_NUMBER.sub("", part) for part in parts]
        assert " ".join(parts).split() == text.split()  # every word back, in order, none cut
        originals = set(text.split())
        assert all(token in originals for part in parts for token in part.split())


def test_split_prefers_sentence_boundaries():
    sentence = "Councils are sharing their digital plans with each other this week."
    parts = split_text(" ".join([sentence] * 8), X_RULES)
    assert all(part.endswith(".") for part in parts)
    assert [len(part) for part in parts] == [4 * len(sentence) + 3] * 2


def test_split_keeps_text_that_fits_as_one_post_with_its_line_breaks():
    text = "First line.\n\nSecond line https://example.com #tag"
    assert split_text(text, X_RULES) == [text]


def test_an_overlong_word_is_cut_only_between_grapheme_clusters():
    word = "👩‍👩‍👧🇬🇧" * 200
    parts = split_text(word, BLUESKY_RULES)
    assert "".join(parts) == word
    assert len(parts) > 1
    assert [cluster for part in parts for cluster in graphemes(part)] == graphemes(word)
    assert all(weighted_length(part, BLUESKY_RULES) <= 300 for part in parts)


def test_an_overlong_url_on_bluesky_is_refused_not_cut():
    with pytest.raises(ValueError, match="cannot be split"):
        split_text("see https://example.com/" + "a" * 400, BLUESKY_RULES)


def test_empty_text_gives_no_posts():
    assert split_text("   ", X_RULES) == []


# -- item posts -----------------------------------------------------------------------------------

TEMPLATE = "{title}\n\n{summary}\n\n{url} {hashtags}"
URL = "https://socitm.net/news/2026/councils-adopt-shared-digital-standards?utm_source=x&utm_medium=social"


def _item(title="Councils adopt shared digital standards", summary="Short summary.", url=URL, section="news"):
    return Item(url=url, title=title, section=section, source="socitm-news", summary_text=summary)


def test_item_post_keeps_everything_when_it_fits():
    text = item_post(_item(), template=TEMPLATE, hashtags=("#localgov",), rules=X_RULES)
    assert text == f"Councils adopt shared digital standards\n\nShort summary.\n\n{URL} #localgov"


@pytest.mark.parametrize("rules", [X_RULES, MASTODON_RULES, BLUESKY_RULES], ids=lambda r: r.name)
def test_item_post_shortens_the_summary_first(rules):
    summary = "Local authorities across the region have agreed a shared set of standards " * 20
    text = item_post(_item(summary=summary), template=TEMPLATE, hashtags=("#localgov", "#digital"), rules=rules)
    assert weighted_length(text, rules) <= rules.max_length
    assert text.startswith("Councils adopt shared digital standards\n\nLocal authorities")
    assert "…" in text and URL in text.split() and text.endswith("#localgov #digital")


def test_item_post_then_shortens_the_title_and_never_breaks_the_url():
    title = "Very long headline about digital transformation in local government " * 8
    text = item_post(_item(title=title, summary="A summary."), template=TEMPLATE, hashtags=("#localgov",),
                     rules=BLUESKY_RULES)
    assert weighted_length(text, BLUESKY_RULES) <= 300
    assert "A summary." not in text and text.split("\n\n")[0].endswith("…")
    assert URL in text.split()


def test_item_post_refuses_a_link_that_cannot_fit_and_says_why():
    with pytest.raises(ItemNotPostable, match="link is 420 characters, longer than a whole bluesky post"):
        item_post(_item(url="https://example.com/" + "a" * 400), template=TEMPLATE, hashtags=(),
                  rules=BLUESKY_RULES)


@pytest.mark.parametrize("rules", [X_RULES, MASTODON_RULES, BLUESKY_RULES], ids=lambda r: r.name)
@pytest.mark.parametrize("title", ["日" * 128, "a" * 256, "x" * 100_000, "a." * 5000],
                         ids=["cjk-128", "latin-256", "100k", "dotted"])
def test_item_post_shortens_a_title_without_spaces_between_clusters(rules, title):
    text = item_post(_item(title=title, summary=""), template=TEMPLATE, hashtags=("#localgov",), rules=rules)
    assert is_valid(text, rules)
    first = text.split("\n\n")[0]
    assert first == title or (first.endswith("…") and title.startswith(first[:-1]))
    assert first != title or weighted_length(title, rules) < rules.max_length
    assert URL in text.split()


def test_item_post_refuses_a_link_x_would_not_see_whole():
    with pytest.raises(ItemNotPostable, match="would not see its link as one link"):
        item_post(_item(url="https://\u2100.example/a"), template=TEMPLATE, hashtags=(), rules=X_RULES)


def test_item_post_refuses_an_item_with_nothing_to_say():
    with pytest.raises(ItemNotPostable, match="neither a title nor a summary"):
        item_post(_item(title=" \ufeff\x00", summary=""), template=TEMPLATE, hashtags=(), rules=X_RULES)


def test_bluesky_enforces_bytes_as_well_as_graphemes():
    heavy = "\U0001F468\u200d\U0001F469\u200d\U0001F467\u200d\U0001F466"  # one grapheme, 25 bytes
    assert weighted_length(heavy * 150, BLUESKY_RULES) == 150 and not is_valid(heavy * 150, BLUESKY_RULES)
    assert is_valid(heavy * 100, BLUESKY_RULES)
    text = item_post(_item(title=heavy * 290, summary=""), template=TEMPLATE, hashtags=(), rules=BLUESKY_RULES)
    assert is_valid(text, BLUESKY_RULES) and len(text.encode("utf-8")) <= 3000


def test_control_characters_and_bom_never_reach_a_post():
    text = item_post(_item(title="Title\ufeff with\x07 bell", summary="Sum\x00mary\u2028."), template=TEMPLATE,
                     hashtags=(), rules=X_RULES)
    assert text.startswith("Title with bell\n\nSummary") and is_valid(text, X_RULES)


# -- round-up thread --------------------------------------------------------------------------------

def _config(social: dict | None = None) -> Config:
    return Config.model_validate({
        "organisation": {"name": "Socitm", "site_url": "https://socitm.net", "postal_address": "1 High St, Northampton"},
        "edition": {"from_email": "news@socitm.net", "from_name": "Socitm", "reply_to": "hello@socitm.net"},
        "sections": [{"key": "news", "title": "News"}, {"key": "blogs", "title": "Blogs"},
                     {"key": "publications", "title": "Publications"}],
        "social": social or {},
    })


def _edition(web_url: str | None = "https://socitm.net/in-our-view/2026-11-26") -> Edition:
    news = tuple(_item(title=f"News story {i}", url=f"https://socitm.net/news/{i}", summary="A summary. " * 30)
                 for i in range(3))
    blogs = (_item(title="A blog", url="https://socitm.net/blogs/1", section="blogs"),)
    pubs = (_item(title="A briefing", url="https://socitm.net/publications/1", section="publications"),)
    return Edition(slug="2026-11-26", title="In Our View", issue_date=date(2026, 11, 26), subject="s",
                   preheader="p", intro_markdown="", featured=pubs[0], web_url=web_url,
                   sections=(EditionSection("news", "News", news), EditionSection("blogs", "Blogs", blogs),
                             EditionSection("publications", "Publications", pubs)))


SUBSCRIBE = "https://socitm.net/subscribe"


@pytest.mark.parametrize("rules", [X_RULES, MASTODON_RULES, BLUESKY_RULES], ids=lambda r: r.name)
def test_roundup_thread_opens_lists_items_and_closes_with_subscribe_link(rules):
    thread = roundup_thread(_edition(), config=_config(), rules=rules, subscribe_url=SUBSCRIBE)
    texts = [post.text for post in thread.posts]
    assert thread.network == rules.name and thread.key == f"2026-11-26-{rules.name}"
    assert [post.position for post in thread.posts] == list(range(len(texts)))
    assert texts[0].startswith("This week in In Our View: 4 stories from Socitm")
    assert texts[1].startswith("A briefing")  # featured first, not repeated; blogs not in social sections
    assert [t.split("\n")[0] for t in texts[2:5]] == ["News story 0", "News story 1", "News story 2"]
    assert SUBSCRIBE in texts[-1] and len(texts) == 6
    assert all(weighted_length(text, rules) <= rules.max_length for text in texts)


@pytest.mark.parametrize(("placement", "linked"), [("first", 0), ("last", -1)])
def test_roundup_link_placement_puts_links_in_one_post_only(placement, linked):
    thread = roundup_thread(_edition(), config=_config(), rules=X_RULES, subscribe_url=SUBSCRIBE,
                            link_placement=placement)
    with_links = [i for i, post in enumerate(thread.posts) if "https://" in post.text]
    assert with_links == [list(range(len(thread.posts)))[linked]]
    expected = X_PRICING.post_with_url + X_PRICING.post * (len(thread.posts) - 1)
    assert estimate_x_cost(thread) == expected == Decimal("0.275")


def test_estimate_x_cost_every_post_with_a_link():
    thread = roundup_thread(_edition(), config=_config(), rules=X_RULES, subscribe_url=SUBSCRIBE)
    assert estimate_x_cost(thread) == Decimal("0.200") * 6


def test_roundup_numbering_is_counted_within_the_limit():
    config = _config(social={"x": {"numbering": True}})
    thread = roundup_thread(_edition(), config=config, rules=X_RULES, subscribe_url=SUBSCRIBE)
    assert [post.text.rsplit(" ", 1)[1] for post in thread.posts] == [f"{k}/6" for k in range(1, 7)]
    assert all(weighted_length(post.text, X_RULES) <= 280 for post in thread.posts)


def test_roundup_is_pure_and_repeatable():
    first = roundup_thread(_edition(), config=_config(), rules=MASTODON_RULES, subscribe_url=SUBSCRIBE)
    assert first == roundup_thread(_edition(), config=_config(), rules=MASTODON_RULES, subscribe_url=SUBSCRIBE)


def test_an_item_no_post_can_carry_is_left_out_of_the_roundup_and_named():
    edition = _edition()
    long_link = _item(title="Too long", url="https://socitm.net/news/" + "a" * 400)
    news = replace(edition.sections[0], items=edition.sections[0].items + (long_link,))
    edition = replace(edition, sections=(news, *edition.sections[1:]))
    thread = roundup_thread(edition, config=_config(), rules=BLUESKY_RULES, subscribe_url=SUBSCRIBE)
    assert not any("Too long" in post.text for post in thread.posts)
    assert thread.posts[0].text.startswith("This week in In Our View: 4 stories")  # the items it carries
    assert len(thread.left_out) == 1 and "'Too long'" in thread.left_out[0] and "longer than a whole bluesky post" in thread.left_out[0]
    assert roundup_left_out(edition, config=_config(), rules=BLUESKY_RULES) == thread.left_out
    assert roundup_thread(edition, config=_config(), rules=X_RULES, subscribe_url=SUBSCRIBE).left_out == ()
