"""Social posts and threads: how long a post is on each network, how a long text is split
into a thread, and how an item or a whole edition becomes posts.

Each network counts length its own way, and that is data (`NetworkRules`):

- X counts a *weighted* length (twitter-text: CJK and emoji weigh 2, every URL 23);
- Mastodon counts grapheme clusters, every http(s) URL as 23 and a remote mention
  `@user@host` as `@user` (Mastodon's `StatusLengthValidator`);
- Bluesky counts grapheme clusters with URLs in full (links become facets on publishing).

Pure: no I/O, no clock. Grapheme clusters come from the `regex` module's `\\X`
(Unicode extended grapheme clusters: ZWJ emoji, flags, combining marks stay whole).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Literal

import regex
from twitter_text import extract_urls_with_indices, parse_tweet
from twitter_text.config import config as _TWITTER_TEXT_CONFIGS

from compose.config import Config, XPricing
from compose.models import Edition, Item, Post, Thread

Counting = Literal["weighted", "chars", "graphemes"]
LinkPlacement = Literal["every", "first", "last"]


@dataclass(frozen=True, slots=True)
class NetworkRules:
    """How one network measures a post and how long a post may be.

    `url_length` is what every URL counts for (None: URLs count in full).
    `twitter_text_config` names the twitter-text configuration used when `counts` is
    "weighted" ("defaults" is v3, the one X uses today).
    """

    name: str
    max_length: int
    url_length: int | None
    counts: Counting
    twitter_text_config: str = "defaults"


X_RULES = NetworkRules(name="x", max_length=280, url_length=23, counts="weighted")
MASTODON_RULES = NetworkRules(name="mastodon", max_length=500, url_length=23, counts="chars")
BLUESKY_RULES = NetworkRules(name="bluesky", max_length=300, url_length=None, counts="graphemes")
RULES_BY_NETWORK = {rules.name: rules for rules in (X_RULES, MASTODON_RULES, BLUESKY_RULES)}


X_PRICING = XPricing()  # the defaults of `[social.x_pricing]`; the desk uses the configured table

_REMOTE_MENTION = re.compile(r"(?<![\w/@])(@\w+)@[\w.-]*\w")
_SENTENCE_END = re.compile(r"(?<=[.!?…])(\s+)")
_WHITESPACE = re.compile(r"(\s+)")
_BLANK_LINES = re.compile(r"\n{3,}")
_ELLIPSIS = "…"


def rules_for(network: str, config: Config | None = None) -> NetworkRules:
    """The rules of `network`, with `social.<network>.max_characters` applied when configured."""
    rules = RULES_BY_NETWORK[network]
    settings = getattr(config.social, network, None) if config is not None else None
    if settings is not None and settings.max_characters:
        rules = replace(rules, max_length=settings.max_characters)
    return rules


def graphemes(text: str) -> list[str]:
    """The user-perceived characters (extended grapheme clusters) of `text`."""
    return regex.findall(r"\X", text)


def _twitter_options(rules: NetworkRules) -> dict:
    options = {"emoji_parsing_enabled": False, **_TWITTER_TEXT_CONFIGS[rules.twitter_text_config]}
    options["max_weighted_tweet_length"] = rules.max_length
    if rules.url_length is not None:
        options["transformed_url_length"] = rules.url_length
    return options


def _mastodon_countable(text: str, url_length: int) -> str:
    """Mastodon's countable text: each http(s) URL becomes `url_length` x's, remote mentions lose their host."""
    urls = [u for u in extract_urls_with_indices(text, extract_urls_without_protocol=False)]
    pieces, last = [], 0
    for entity in urls:
        start, end = entity["indices"]
        pieces += [text[last:start], "x" * url_length]
        last = end
    pieces.append(text[last:])
    return _REMOTE_MENTION.sub(r"\1", "".join(pieces))


def weighted_length(text: str, rules: NetworkRules) -> int:
    """The length of `text` as `rules.name` counts it against `rules.max_length`."""
    if rules.counts == "weighted":
        return parse_tweet(text, _twitter_options(rules)).weightedLength
    if rules.counts == "chars" and rules.url_length is not None:
        text = _mastodon_countable(text, rules.url_length)
    return len(graphemes(text))


def is_valid(text: str, rules: NetworkRules) -> bool:
    """Whether the network accepts `text` as one post (not empty, within the limit)."""
    if rules.counts == "weighted":
        return parse_tweet(text, _twitter_options(rules)).valid
    return 0 < weighted_length(text, rules) <= rules.max_length


def _fits(text: str, rules: NetworkRules) -> bool:
    return 0 < weighted_length(text, rules) <= rules.max_length


def _has_url(text: str) -> bool:
    return bool(extract_urls_with_indices(text))


def _chunks(text: str, pattern: re.Pattern[str]) -> list[tuple[str, str]]:
    """`text` cut by `pattern` into (piece, whitespace that followed it) pairs."""
    fields = pattern.split(text)
    pairs = [(fields[i], fields[i + 1] if i + 1 < len(fields) else "") for i in range(0, len(fields), 2)]
    return [(piece, gap) for piece, gap in pairs if piece]


def _split_word(word: str, rules: NetworkRules) -> list[str]:
    """An overlong word cut at grapheme boundaries; never a URL, hashtag or mention."""
    if _has_url(word) or word[:1] in "#@":
        raise ValueError(f"{word[:40]!r}… is longer than a {rules.name} post and cannot be split")
    parts, current = [], ""
    for cluster in graphemes(word):
        if current and not _fits(current + cluster, rules):
            parts.append(current)
            current = ""
        current += cluster
    return parts + [current] if current else parts


@functools.lru_cache(maxsize=8192)
def _size(text: str, rules: NetworkRules) -> int:
    return weighted_length(text, rules)


def _pack(pieces: list[tuple[str, str]], rules: NetworkRules, *, level: int, exact: bool) -> list[str]:
    """Greedy packing of sentences (level 0) or words (level 1) into posts within the limit.

    Not `exact`: a candidate's length is the sum of its pieces' lengths (true across
    whitespace for every network; the caller checks each result and repacks exactly if not).
    """
    parts: list[str] = []
    current, length, current_gap = "", 0, ""
    for piece, gap in pieces:
        if current:
            candidate = f"{current}{current_gap}{piece}"
            size = (weighted_length(candidate, rules) if exact
                    else length + _size(current_gap, rules) + _size(piece, rules))
            if size <= rules.max_length:
                current, length, current_gap = candidate, size, gap
                continue
            parts.append(current)
        if 0 < _size(piece, rules) <= rules.max_length:
            tail = [piece]
        elif level == 0:
            tail = _pack(_chunks(piece, _WHITESPACE), rules, level=1, exact=exact)
        else:
            tail = _split_word(piece, rules)
        parts += tail[:-1]
        current, length, current_gap = tail[-1], _size(tail[-1], rules), gap
    if current:
        parts.append(current)
    return parts


def _pack_checked(pieces: list[tuple[str, str]], rules: NetworkRules) -> list[str]:
    parts = _pack(pieces, rules, level=0, exact=False)
    if all(_fits(part, rules) for part in parts):
        return parts
    return _pack(pieces, rules, level=0, exact=True)


def split_text(text: str, rules: NetworkRules, *, numbering: bool = False) -> list[str]:
    """`text` as the posts of a thread, each within `rules.max_length`.

    Splits between sentences, then between words; a URL, hashtag, mention or grapheme
    cluster is never cut. With `numbering`, each post ends with " k/n", which is counted.
    """
    text = text.strip()
    if not text:
        return []
    sentences = _chunks(text, _SENTENCE_END)
    if not numbering:
        return _pack_checked(sentences, rules)
    digits = 1
    while True:  # the " k/n" suffix width depends on the count it describes: settle it
        budget = replace(rules, max_length=rules.max_length - (2 + 2 * digits))
        parts = _pack_checked(sentences, budget)
        if len(str(len(parts))) <= digits:
            return [f"{part} {k}/{len(parts)}" for k, part in enumerate(parts, start=1)]
        digits = len(str(len(parts)))


def _shorten(text: str, keep_words: int) -> str:
    words = text.split()
    if keep_words >= len(words):
        return text
    return " ".join(words[:keep_words]).rstrip(",;:-–—") + _ELLIPSIS if keep_words else ""


def _render(template: str, *, title: str, summary: str, url: str, hashtags: str, item: Item) -> str:
    text = template.format(title=title, summary=summary, url=url, hashtags=hashtags,
                           section=item.section, source=item.source)
    lines = [line.strip() for line in text.splitlines()]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def _longest_fit(render, words: int, rules: NetworkRules) -> int | None:
    """The largest `k <= words` with `render(k)` within the limit (binary search), or None."""
    def within(k: int) -> bool:
        return weighted_length(render(k), rules) <= rules.max_length

    if not within(0):
        return None
    low, high = 0, words
    while low < high:
        middle = (low + high + 1) // 2
        if within(middle):
            low = middle
        else:
            high = middle - 1
    return low


def _short_summary(item: Item, max_sentences: int = 2) -> str:
    sentences = [piece for piece, _ in _chunks(" ".join(item.summary_text.split()), _SENTENCE_END)]
    return " ".join(sentences[:max_sentences])


def item_post(item: Item, *, template: str, hashtags, rules: NetworkRules, url: str | None = None) -> str:
    """One post announcing `item`: title, short summary, link and hashtags, within the limit.

    Shortens the summary first (by words, with an ellipsis), then the title, then drops
    hashtags from the end; the URL is never cut. `url` overrides the item's link ("" for none).
    """
    link = item.url if url is None else url
    summary, title = _short_summary(item), " ".join(item.title.split())
    tags = list(hashtags)
    while True:
        def render(k: int, title: str = title, tags: tuple = tuple(tags)) -> str:
            return _render(template, title=title, summary=_shorten(summary, k), url=link,
                           hashtags=" ".join(tags), item=item)

        keep = _longest_fit(render, len(summary.split()), rules)
        if keep is not None:
            return render(keep)

        def render_title(k: int, tags: tuple = tuple(tags)) -> str:
            return _render(template, title=_shorten(title, k), summary="", url=link,
                           hashtags=" ".join(tags), item=item)

        keep = _longest_fit(render_title, len(title.split()), rules)
        if keep is not None and keep > 0:
            return render_title(keep)
        if not tags:
            raise ValueError(f"the link of {item.url!r} alone does not fit in a {rules.name} post")
        tags.pop()


def _network_settings(config: Config, network: str):
    return getattr(config.social, network, None)


def _fit_line(text: str, rules: NetworkRules) -> str:
    """A fixed post (opening, closing) shortened by words if it is too long."""
    if _fits(text, rules):
        return text
    keep = _longest_fit(lambda k: _shorten(text, k), len(text.split()), rules)
    return _shorten(text, keep or 1)


_COUNTED = {"stories": "story", "items": "item", "posts": "post", "articles": "article", "links": "link"}
_COUNT_NOUN = re.compile(r"\{count\} (" + "|".join(_COUNTED) + r")\b")


def counted(count: int, plural: str) -> str:
    """"1 story", "10 stories": `count` with its noun in the right number."""
    return f"{count} {_COUNTED.get(plural, plural) if count == 1 else plural}"


def _with_plurals(template: str, count: int) -> str:
    """A template's "{count} stories" (or items, posts, ...) written in the right number."""
    return _COUNT_NOUN.sub(lambda m: counted(count, m.group(1)).replace("{", "{{").replace("}", "}}"), template)


def _thread_items(edition: Edition, sections: tuple[str, ...] | None) -> list[Item]:
    chosen = [edition.featured] if edition.featured is not None else []
    for item in edition.items:
        if item not in chosen and (sections is None or item.section in sections):
            chosen.append(item)
    return chosen


def roundup_thread(
    edition: Edition,
    *,
    config: Config,
    rules: NetworkRules,
    subscribe_url: str,
    link_placement: LinkPlacement = "every",
) -> Thread:
    """The weekly round-up thread for one network: an opening post, one post per featured or
    section item, and a closing post with the subscribe link.

    With `link_placement` "first" or "last" only that post carries links (on X a post with a
    URL costs about 13 times as much): "first" puts the edition's web page (or the subscribe
    link) in the opening post, "last" puts the subscribe link and web page in the closing post.
    """
    social, settings = config.social, _network_settings(config, rules.name)
    numbering = bool(settings and settings.numbering)
    items = _thread_items(edition, settings.sections if settings else None)
    count = len(items) + 2
    suffix_width = len(f" {count}/{count}") if numbering else 0
    body_rules = replace(rules, max_length=rules.max_length - suffix_width)
    names = {"title": edition.title, "organisation": config.organisation.name, "count": len(items),
             "stories": counted(len(items), "stories")}
    opening_template = _with_plurals(social.roundup_opening, len(items))

    opening = opening_template.format(**names)
    if link_placement in ("every", "first") and (edition.web_url or link_placement == "first"):
        opening = f"{opening}\n\n{edition.web_url or subscribe_url}"
    opening = _fit_line(f"{opening}\n\n{' '.join(social.hashtags)}".strip(), body_rules)
    if not _fits(opening, body_rules):
        opening = _fit_line(opening_template.format(**names), body_rules)

    item_url = None if link_placement == "every" else ""
    texts = [opening] + [
        item_post(item, template=social.post_template, hashtags=(), rules=body_rules, url=item_url)
        for item in items
    ]
    closing_link = subscribe_url if link_placement in ("every", "last") else ""
    closing = social.roundup_closing.format(title=edition.title, subscribe_url=closing_link,
                                            organisation=config.organisation.name)
    closing = closing.strip().rstrip(":").strip()
    if link_placement == "last" and edition.web_url:
        closing = f"{closing}\n\nThis edition: {edition.web_url}"
    texts.append(_fit_line(closing, body_rules))
    if numbering:
        texts = [f"{text} {k}/{len(texts)}" for k, text in enumerate(texts, start=1)]
    posts = tuple(Post(text=text, position=position) for position, text in enumerate(texts))
    return Thread(network=rules.name, key=f"{edition.slug}-{rules.name}", posts=posts)


def x_post_cost(text: str, pricing: XPricing = X_PRICING) -> Decimal:
    """What creating one post with `text` costs on X (a post with a URL costs more)."""
    return pricing.post_with_url if _has_url(text) else pricing.post


def estimate_x_cost(thread: Thread, pricing: XPricing = X_PRICING) -> Decimal:
    """What publishing `thread` on X costs at pay-per-use prices (a post with a URL costs more)."""
    return sum((x_post_cost(post.text, pricing) for post in thread.posts), Decimal("0"))
