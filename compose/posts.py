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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Literal

import regex
from twitter_text import extract_urls_with_indices, parse_tweet
from twitter_text.config import config as _TWITTER_TEXT_CONFIGS
from twitter_text.extract_urls import max_url_length as MAX_URL_LENGTH
from twitter_text.has_invalid_characters import has_invalid_characters
from twitter_text.regexp.extract_url import extract_url
from twitter_text.regexp.spaces_group import spaces_group
from twitter_text.regexp.valid_cctld import valid_cctld
from twitter_text.regexp.valid_gtld import valid_gtld

from compose.config import Config, SocialNetwork, fill_template
from compose.items import clip, drop_unprintable, one_line
from compose.models import Edition, Item, Post, Thread

Counting = Literal["weighted", "chars", "graphemes"]
LinkPlacement = Literal["every", "first", "last"]


@dataclass(frozen=True, slots=True)
class NetworkRules:
    """How one network measures a post and how long a post may be.

    `url_length` is what every URL counts for (None: URLs count in full).
    `max_bytes` bounds the post's UTF-8 encoding as well (None: no byte limit).
    `twitter_text_config` names the twitter-text configuration used when `counts` is
    "weighted" ("defaults" is v3, the one X uses today).
    """

    name: str
    max_length: int
    url_length: int | None
    counts: Counting
    max_bytes: int | None = None
    twitter_text_config: str = "defaults"

    @property
    def max_field_chars(self) -> int:
        """The most code points of one item field (title, summary) worth measuring for a post:
        every network counts a code point as at least one, except in an emoji sequence (X: at
        most 11 code points for 2) or a grapheme cluster (clipped at 32 code points)."""
        return self.max_length * 6


X_RULES = NetworkRules(name="x", max_length=280, url_length=23, counts="weighted")
MASTODON_RULES = NetworkRules(name="mastodon", max_length=500, url_length=23, counts="chars")
# 300 graphemes (app.bsky.feed.post `maxGraphemes`) and 3,000 UTF-8 bytes (`maxLength`)
BLUESKY_RULES = NetworkRules(name="bluesky", max_length=300, url_length=None, counts="graphemes", max_bytes=3000)
RULES_BY_NETWORK = {rules.name: rules for rules in (X_RULES, MASTODON_RULES, BLUESKY_RULES)}


class MeasureLimits:
    """twitter-text finds URLs with a regular expression whose cost grows with the square of an
    unbroken run of letters and dots (2,000 characters of "a.a.a…" take seconds), and costs
    about 20 microseconds a character besides. So text is measured a whitespace-separated token
    at a time (URLs never span whitespace: the sum is the same). A token in which no URL can be
    (no dot followed by a top-level domain) is the sum of its grapheme clusters, each parsed
    once and remembered. One that may hold a URL is parsed whole up to `exact_token_chars`
    code points, or when it is one URL from its first character; past that it counts at an
    upper bound (its characters plus a URL's length for every dot: every URL has one), so a
    post judged to fit does fit."""

    exact_token_chars = 64


class ItemNotPostable(ValueError):
    """An item that cannot become a post on a network (its link alone is too long, the network
    would not see its link as one, or it has nothing to say): the reason says which."""


@dataclass(frozen=True, slots=True)
class XPricing:
    """X API pay-per-use prices (pricing page, changelog 2026-04-16), in US dollars."""

    post: Decimal = Decimal("0.015")
    post_with_url: Decimal = Decimal("0.200")


X_PRICING = XPricing()

_REMOTE_MENTION = re.compile(r"(?<![\w/@])(@\w+)@[\w.-]*\w")
_SENTENCE_END = re.compile(r"(?<=[.!?…])(\s+)")
_WHITESPACE = re.compile(r"(\s+)")
_TOKENS = re.compile(f"([{spaces_group}]+)")  # twitter-text's own whitespace
_PROTOCOL = re.compile(r"https?://", re.IGNORECASE)
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


def post_text(text: str) -> str:
    """Text as a network accepts it: no control characters but newlines and tabs, no U+FEFF
    (X refuses a post that holds one), no lone surrogates."""
    return drop_unprintable(text).replace("\r\n", "\n").replace("\r", "\n")


@functools.lru_cache(maxsize=16)
def _twitter_options(rules: NetworkRules) -> dict:
    options = {"emoji_parsing_enabled": False, **_TWITTER_TEXT_CONFIGS[rules.twitter_text_config]}
    options["max_weighted_tweet_length"] = rules.max_length
    if rules.url_length is not None:
        options["transformed_url_length"] = rules.url_length
    return options


def _leading_match(token: str, *, protocol: bool, spaced: bool = True) -> tuple[str, bool] | None:
    """The start of `token` that twitter-text's URL expression matches, and whether
    twitter-text takes it as a URL (with `protocol`, only one written with http(s)://).
    `spaced`: the token follows whitespace (else it starts the text, where twitter-text may
    take its first character as the one before a URL). One start is tried: linear."""
    if protocol and not _PROTOCOL.match(token):
        return None
    pad = " " if spaced else ""
    match = extract_url.match(pad + token)
    if match is None or match.start(3) != len(pad) or (protocol and not match.group(4)):
        return None
    prefix = token[: match.end() - len(pad)]
    found = extract_urls_with_indices(pad + prefix, extract_urls_without_protocol=not protocol)
    return prefix, [entity["indices"] for entity in found] == [[len(pad), len(pad) + len(prefix)]]


def _leading_url(token: str, *, protocol: bool = False) -> str | None:
    lead = _leading_match(token, protocol=protocol)
    return lead[0] if lead and lead[1] else None


def _top_level_domains() -> frozenset[str]:
    """The top-level domains twitter-text knows (the alternations of its gTLD and ccTLD expressions)."""
    names: set[str] = set()
    for pattern in (valid_gtld.pattern, valid_cctld.pattern):
        body = pattern[pattern.index("(?:(?:") + 6 : pattern.rindex(")(?=")]
        names.update(name.lower() for name in body.split("|") if name)
    return frozenset(names)


_TLDS = _top_level_domains() | {"xn--"}  # a punycode TLD starts "xn--"
_TLD_LENGTHS = tuple(sorted({len(name) for name in _TLDS}))
_TLD_STARTS = frozenset(name[:2] for name in _TLDS)  # every top-level domain has two characters or more


@functools.lru_cache(maxsize=8192)
def _may_hold_url(token: str) -> bool:
    """Whether twitter-text could find a URL in `token`: every URL has a dot followed by a
    top-level domain (or "xn--"). Linear: a set lookup or two a dot, never the URL expression."""
    start = token.find(".")
    while start >= 0:
        after = token[start + 1 : start + 1 + _TLD_LENGTHS[-1]].lower()
        if after[:2] in _TLD_STARTS and any(after[:length] in _TLDS for length in _TLD_LENGTHS):
            return True
        start = token.find(".", start + 1)
    return False


def _token_length(token: str, rules: NetworkRules, spaced: bool) -> int:
    """One token (a whitespace-free run, or a run of whitespace) measured as X counts it;
    `spaced`: it follows whitespace."""
    if len(token) <= MeasureLimits.exact_token_chars or not _may_hold_url(token):
        return _exact_length(token, rules, spaced)
    head, rest = 0, token
    lead = _leading_match(token, protocol=False, spaced=spaced)
    if lead is not None:
        prefix, is_url = lead
        head = (rules.url_length or len(prefix)) if is_url else _exact_length(prefix, rules, spaced)
        rest = token[len(prefix):]
    if not _may_hold_url(rest):
        return head + (_exact_length(rest, rules, True) if rest else 0)
    return head + _exact_length(rest.replace(".", ","), rules, True) + (rules.url_length or 0) * rest.count(".")


@functools.lru_cache(maxsize=8192)
def _exact_length(token: str, rules: NetworkRules, spaced: bool = True) -> int:
    if _may_hold_url(token):  # parsed after a space when it follows one: the URL expression looks back
        pad = " " if spaced else ""
        options = _twitter_options(rules)
        return parse_tweet(pad + token, options).weightedLength - (parse_tweet(pad, options).weightedLength if pad else 0)
    clusters = graphemes(token)
    if len(clusters) == 1:
        return parse_tweet(token, _twitter_options(rules)).weightedLength
    # no URL: twitter-text's length is the sum of its grapheme clusters' lengths (an emoji
    # sequence, a letter and its marks, CRLF never span two clusters), each parsed once
    return sum(_exact_length(cluster, rules) for cluster in clusters)


@functools.lru_cache(maxsize=8192)
def _mastodon_token(token: str, url_length: int) -> str:
    """One token as Mastodon counts it: an http(s) URL as `url_length` characters, a remote
    mention without its host. A long token with dots counts at an upper bound (see `MeasureLimits`)."""
    if "://" not in token and "@" not in token:
        return token
    if "://" not in token or not _may_hold_url(token):  # no URL: only remote mentions change
        return _REMOTE_MENTION.sub(r"\1", token)
    if len(token) <= MeasureLimits.exact_token_chars:
        return _mastodon_countable(" " + token, url_length)[1:]  # as after whitespace: the expression looks back
    lead = _leading_match(token, protocol=True)
    head, rest = "", token
    if lead is not None:
        head, rest = ("x" * url_length if lead[1] else lead[0]), token[len(lead[0]):]
    return head + rest.replace(".", ",") + "x" * (url_length * rest.count("."))


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
    """The length of `text` as `rules.name` counts it against `rules.max_length`.

    X: twitter-text's weighted length; Mastodon: graphemes, URLs as `url_length`, remote
    mentions by username; Bluesky: graphemes. Measured token by token (see `MeasureLimits`).
    """
    if rules.counts == "graphemes":
        return len(graphemes(text))
    tokens = _TOKENS.split(text)
    if rules.counts == "chars":  # graphemes of the whole text: a combining mark may follow a space
        url_length = rules.url_length if rules.url_length is not None else 0
        countable = text if rules.url_length is None else "".join(_mastodon_token(token, url_length) for token in tokens)
        return len(graphemes(countable))
    return sum(_token_length(token, rules, spaced=index > 0) for index, token in enumerate(tokens) if token)


def _within(text: str, rules: NetworkRules) -> bool:
    """Within every limit the network states (length, and bytes where it has a byte limit)."""
    if rules.max_bytes is not None and len(text.encode("utf-8", "surrogatepass")) > rules.max_bytes:
        return False
    return weighted_length(text, rules) <= rules.max_length


def is_valid(text: str, rules: NetworkRules) -> bool:
    """Whether the network accepts `text` as one post (not empty, within every limit; on X,
    no character twitter-text calls invalid)."""
    if rules.counts == "weighted" and has_invalid_characters(text):
        return False
    return _fits(text, rules)


def _fits(text: str, rules: NetworkRules) -> bool:
    return bool(text.strip()) and _within(text, rules) and weighted_length(text, rules) > 0


def _has_url(text: str) -> bool:
    """Whether X would find a link in `text` (token by token, so the cost stays linear; a long
    token that might hold one counts as holding one)."""
    for token in _TOKENS.split(text):
        if not _may_hold_url(token):
            continue
        if len(token) > MeasureLimits.exact_token_chars or extract_urls_with_indices(" " + token):
            return True
    return False


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


def _bytes(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


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
            if exact:
                size, within = 0, _within(candidate, rules)
            else:
                size = length + _size(current_gap, rules) + _size(piece, rules)
                within = size <= rules.max_length and (rules.max_bytes is None or _bytes(candidate) <= rules.max_bytes)
            if within:
                current, length, current_gap = candidate, size, gap
                continue
            parts.append(current)
        if _fits(piece, rules):
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


def _cut(text: str, keep: int) -> str:
    """The first `keep` grapheme clusters of `text` and an ellipsis ("" for none)."""
    if keep <= 0:
        return ""
    clusters = graphemes(text)
    return text if keep >= len(clusters) else "".join(clusters[:keep]).rstrip() + _ELLIPSIS


def _render(template: str, *, title: str, summary: str, url: str, hashtags: str, item: Item) -> str:
    text = fill_template(template, title=title, summary=summary, url=url, hashtags=hashtags,
                         section=item.section, source=item.source)
    lines = [line.strip() for line in post_text(text).splitlines()]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def _longest_fit(render: Callable[[int], str], most: int, rules: NetworkRules) -> int | None:
    """The largest `k <= most` with `render(k)` within the limits (binary search), or None."""
    def within(k: int) -> bool:
        return _within(render(k), rules)

    if not within(0):
        return None
    low, high = 0, most
    while low < high:
        middle = (low + high + 1) // 2
        if within(middle):
            low = middle
        else:
            high = middle - 1
    return low


def _short_summary(item: Item, rules: NetworkRules, max_sentences: int = 2) -> str:
    text = one_line(clip(item.summary_text, rules.max_length, max_chars=rules.max_field_chars))
    sentences = [piece for piece, _ in _chunks(text, _SENTENCE_END)]
    return " ".join(sentences[:max_sentences])


def _check_link(link: str, rules: NetworkRules) -> None:
    """Refuse a link that cannot be in a post on this network, saying why."""
    if not link:
        return
    if any(char.isspace() for char in link) or not link.isprintable():
        raise ItemNotPostable(f"its link {link[:80]!r} holds spaces or control characters")
    if rules.url_length is not None and (len(link) > MAX_URL_LENGTH
                                         or _leading_url(link, protocol=rules.counts != "weighted") != link):
        raise ItemNotPostable(
            f"{rules.name} would not see its link as one link (it would link only part of it, or none): "
            f"{link[:80]!r}{'…' if len(link) > 80 else ''}")
    if rules.url_length is None and not _within(link, rules):
        raise ItemNotPostable(
            f"its link is {len(link):,} characters, longer than a whole {rules.name} post "
            f"({rules.max_length} characters{f', {rules.max_bytes:,} bytes' if rules.max_bytes else ''})")


def item_post(item: Item, *, template: str, hashtags: Sequence[str], rules: NetworkRules,
              url: str | None = None) -> str:
    """One post announcing `item`: title, short summary, link and hashtags, within every limit
    the network states.

    Shortens the summary first (by words, with an ellipsis), then the title (by words, else
    between grapheme clusters), then drops hashtags from the end; the URL is never cut. `url`
    overrides the item's link ("" for none). Raises `ItemNotPostable`, with the reason, when
    no post can carry the item: its link alone does not fit or the network would not see it
    as a link, or it has neither title nor summary.
    """
    link = item.url if url is None else url
    _check_link(link, rules)
    title = one_line(clip(item.title, rules.max_length, max_chars=rules.max_field_chars))
    summary = _short_summary(item, rules)
    if not title and not summary:
        raise ItemNotPostable("it has neither a title nor a summary")
    if not title:  # the summary speaks for it
        title, summary = summary, ""
    tags = list(hashtags)
    while True:
        tag_text = " ".join(tags)

        def render(k: int, title: str = title, tags: str = tag_text) -> str:
            return _render(template, title=title, summary=_shorten(summary, k), url=link, hashtags=tags, item=item)

        keep = _longest_fit(render, len(summary.split()), rules)
        if keep is not None and (keep or title) and _fits(render(keep), rules):
            return render(keep)

        def by_words(k: int, tags: str = tag_text) -> str:
            return _render(template, title=_shorten(title, k), summary="", url=link, hashtags=tags, item=item)

        def by_clusters(k: int, tags: str = tag_text) -> str:
            return _render(template, title=_cut(title, k), summary="", url=link, hashtags=tags, item=item)

        for shorter, most in ((by_words, len(title.split())), (by_clusters, len(graphemes(title)))):
            keep = _longest_fit(shorter, most, rules)
            if keep and _fits(shorter(keep), rules):
                return shorter(keep)
        if not tags:
            raise ItemNotPostable(f"its link and the template leave no room for its title in a {rules.name} post")
        tags.pop()


def _network_settings(config: Config, network: str) -> SocialNetwork | None:
    return getattr(config.social, network, None)


def _fit_line(text: str, rules: NetworkRules) -> str:
    """A fixed post (opening, closing) shortened by words, else between clusters, if it is too long."""
    text = post_text(text).strip()
    if _fits(text, rules):
        return text
    keep = _longest_fit(lambda k: _shorten(text, k), len(text.split()), rules)
    if keep:
        return _shorten(text, keep)
    keep = _longest_fit(lambda k: _cut(text, k), len(graphemes(text)), rules)
    return _cut(text, keep or 0)


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
    An item no post can carry is left out of the thread and named in `Thread.left_out`.
    """
    social, settings = config.social, _network_settings(config, rules.name)
    numbering = bool(settings and settings.numbering)
    candidates = _thread_items(edition, settings.sections if settings else None)
    count = len(candidates) + 2
    suffix_width = len(f" {count}/{count}") if numbering else 0
    body_rules = replace(rules, max_length=rules.max_length - suffix_width,
                         max_bytes=rules.max_bytes - suffix_width if rules.max_bytes else None)

    item_url = None if link_placement == "every" else ""
    item_texts, left_out = [], []
    for item in candidates:
        try:
            item_texts.append(item_post(item, template=social.post_template, hashtags=(), rules=body_rules,
                                        url=item_url))
        except ItemNotPostable as exc:
            left_out.append(f"{item.title[:80]!r} ({item.url[:200]}) is not in the {rules.name} thread: {exc}")
    names = {"title": edition.title, "organisation": config.organisation.name, "count": len(item_texts)}
    opening = fill_template(social.roundup_opening, **names)
    if link_placement in ("every", "first") and (edition.web_url or link_placement == "first"):
        opening = f"{opening}\n\n{edition.web_url or subscribe_url}"
    opening = _fit_line(f"{opening}\n\n{' '.join(social.hashtags)}".strip(), body_rules)
    if not _fits(opening, body_rules):
        opening = _fit_line(fill_template(social.roundup_opening, **names), body_rules)

    closing_link = subscribe_url if link_placement in ("every", "last") else ""
    closing = fill_template(social.roundup_closing, title=edition.title, subscribe_url=closing_link,
                            organisation=config.organisation.name)
    closing = closing.strip().rstrip(":").strip()
    if link_placement == "last" and edition.web_url:
        closing = f"{closing}\n\nThis edition: {edition.web_url}"
    texts = [opening, *item_texts, _fit_line(closing, body_rules)]
    texts = [text for text in texts if text]
    if numbering:
        texts = [f"{text} {k}/{len(texts)}" for k, text in enumerate(texts, start=1)]
    posts = tuple(Post(text=text, position=position) for position, text in enumerate(texts))
    return Thread(network=rules.name, key=f"{edition.slug}-{rules.name}", posts=posts, left_out=tuple(left_out))


def estimate_x_cost(thread: Thread, pricing: XPricing = X_PRICING) -> Decimal:
    """What publishing `thread` on X costs at pay-per-use prices (a post with a URL costs more)."""
    return sum(
        (pricing.post_with_url if _has_url(post.text) else pricing.post for post in thread.posts),
        Decimal("0"),
    )
