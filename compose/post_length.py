"""How long a post is on each network, as the network counts it, and whether it fits.

Each network counts length its own way, and that is data (`NetworkRules`):

- X counts a *weighted* length (twitter-text: CJK and emoji weigh 2, every URL 23);
- Mastodon counts grapheme clusters, every http(s) URL as 23 and a remote mention
  `@user@host` as `@user` (Mastodon's `StatusLengthValidator`);
- Bluesky counts grapheme clusters with URLs in full (links become facets on publishing),
  and at most 3,000 UTF-8 bytes;
- LinkedIn takes 3,000 characters of commentary, counted here as UTF-16 code units (a Java
  string's length: an emoji outside the Basic Multilingual Plane counts 2), URLs in full.

Measuring never costs more than a few milliseconds, whatever the text (see `MeasureLimits`).
twitter-text is imported on the first measurement, not with this module: compiling its
expressions takes about 0.7 s, which a command that never measures a post need not pay.
Pure: no I/O, no clock. Grapheme clusters come from the `regex` module's `\\X`
(Unicode extended grapheme clusters: ZWJ emoji, flags, combining marks stay whole).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

import regex

if TYPE_CHECKING:
    from compose.config import Config

Counting = Literal["weighted", "chars", "graphemes", "utf16"]

_REMOTE_MENTION = re.compile(r"(?<![\w/@])(@\w+)@[\w.-]*\w")
_PROTOCOL = re.compile(r"https?://", re.IGNORECASE)


@dataclass(frozen=True)
class _TwitterText:
    """What this module uses of twitter-text, and what it derives from its expressions."""

    parse_tweet: Callable[..., Any]
    extract_urls_with_indices: Callable[..., list[dict[str, Any]]]
    has_invalid_characters: Callable[[str], bool]
    configs: dict[str, dict[str, Any]]
    extract_url: re.Pattern[str]
    tokens: re.Pattern[str]  # splits on twitter-text's own whitespace, keeping it
    tlds: frozenset[str]  # the top-level domains it knows, and "xn--" (a punycode TLD starts so)
    tld_lengths: tuple[int, ...]
    tld_starts: frozenset[str]  # every top-level domain has two characters or more


@functools.cache
def _twitter() -> _TwitterText:
    """twitter-text, imported (and its expressions compiled) the first time a post is measured."""
    from twitter_text import extract_urls_with_indices, parse_tweet
    from twitter_text.config import config
    from twitter_text.has_invalid_characters import has_invalid_characters
    from twitter_text.regexp.extract_url import extract_url
    from twitter_text.regexp.spaces_group import spaces_group
    from twitter_text.regexp.valid_cctld import valid_cctld
    from twitter_text.regexp.valid_gtld import valid_gtld

    tlds = _top_level_domains(valid_gtld, valid_cctld) | {"xn--"}
    return _TwitterText(parse_tweet=parse_tweet, extract_urls_with_indices=extract_urls_with_indices,
                        has_invalid_characters=has_invalid_characters, configs=config, extract_url=extract_url,
                        tokens=re.compile(f"([{spaces_group}]+)"), tlds=tlds,
                        tld_lengths=tuple(sorted({len(name) for name in tlds})),
                        tld_starts=frozenset(name[:2] for name in tlds))


def has_invalid_characters(text: str) -> bool:
    """Whether `text` holds a character twitter-text calls invalid (X refuses the post)."""
    return _twitter().has_invalid_characters(text)


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
# 3,000 characters of commentary (learn.microsoft.com/linkedin/marketing/community-management/shares/posts-api)
LINKEDIN_RULES = NetworkRules(name="linkedin", max_length=3000, url_length=None, counts="utf16")
RULES_BY_NETWORK = {rules.name: rules for rules in (X_RULES, MASTODON_RULES, BLUESKY_RULES, LINKEDIN_RULES)}


def rules_for(network: str, config: Config | None = None) -> NetworkRules:
    """The rules of `network`, with `social.<network>.max_characters` applied when configured."""
    rules = RULES_BY_NETWORK[network]
    settings = getattr(config.social, network, None) if config is not None else None
    if settings is not None and settings.max_characters:
        rules = replace(rules, max_length=settings.max_characters)
    return rules


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


def graphemes(text: str) -> list[str]:
    """The user-perceived characters (extended grapheme clusters) of `text`."""
    return regex.findall(r"\X", text)


@functools.lru_cache(maxsize=16)
def _twitter_options(rules: NetworkRules) -> dict:
    options = {"emoji_parsing_enabled": False, **_twitter().configs[rules.twitter_text_config]}
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
    match = _twitter().extract_url.match(pad + token)
    if match is None or match.start(3) != len(pad) or (protocol and not match.group(4)):
        return None
    prefix = token[: match.end() - len(pad)]
    found = _twitter().extract_urls_with_indices(pad + prefix, extract_urls_without_protocol=not protocol)
    return prefix, [entity["indices"] for entity in found] == [[len(pad), len(pad) + len(prefix)]]


def leading_url(token: str, *, protocol: bool = False) -> str | None:
    """The URL `token` starts with, as twitter-text finds it (with `protocol`, only one written
    with http(s)://), or None."""
    lead = _leading_match(token, protocol=protocol)
    return lead[0] if lead and lead[1] else None


def _top_level_domains(*expressions: re.Pattern[str]) -> frozenset[str]:
    """The top-level domains twitter-text knows (the alternations of its gTLD and ccTLD expressions)."""
    names: set[str] = set()
    for pattern in (expression.pattern for expression in expressions):
        body = pattern[pattern.index("(?:(?:") + 6 : pattern.rindex(")(?=")]
        names.update(name.lower() for name in body.split("|") if name)
    return frozenset(names)


@functools.lru_cache(maxsize=8192)
def _may_hold_url(token: str) -> bool:
    """Whether twitter-text could find a URL in `token`: every URL has a dot followed by a
    top-level domain (or "xn--"). Linear: a set lookup or two a dot, never the URL expression."""
    twitter = _twitter()
    start = token.find(".")
    while start >= 0:
        after = token[start + 1 : start + 1 + twitter.tld_lengths[-1]].lower()
        if after[:2] in twitter.tld_starts and any(after[:length] in twitter.tlds for length in twitter.tld_lengths):
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
        options, parse_tweet = _twitter_options(rules), _twitter().parse_tweet
        return parse_tweet(pad + token, options).weightedLength - (parse_tweet(pad, options).weightedLength if pad else 0)
    clusters = graphemes(token)
    if len(clusters) == 1:
        return _twitter().parse_tweet(token, _twitter_options(rules)).weightedLength
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
    if "://" not in rest or not _may_hold_url(rest):
        return head + _REMOTE_MENTION.sub(r"\1", rest)
    return head + rest.replace(".", ",") + "x" * (url_length * rest.count("."))


def _mastodon_countable(text: str, url_length: int) -> str:
    """Mastodon's countable text: each http(s) URL becomes `url_length` x's, remote mentions lose their host."""
    urls = [u for u in _twitter().extract_urls_with_indices(text, extract_urls_without_protocol=False)]
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
    mentions by username; Bluesky: graphemes; LinkedIn: UTF-16 code units. Measured token by token (see `MeasureLimits`).
    """
    if rules.counts == "graphemes":
        return len(graphemes(text))
    if rules.counts == "utf16":
        return len(text.encode("utf-16-le", "surrogatepass")) // 2
    tokens = _twitter().tokens.split(text)
    if rules.counts == "chars":  # graphemes of the whole text: a combining mark may follow a space
        url_length = rules.url_length if rules.url_length is not None else 0
        countable = text if rules.url_length is None else "".join(_mastodon_token(token, url_length) for token in tokens)
        return len(graphemes(countable))
    return sum(_token_length(token, rules, spaced=index > 0) for index, token in enumerate(tokens) if token)


def within_limits(text: str, rules: NetworkRules) -> bool:
    """Within every limit the network states (length, and bytes where it has a byte limit)."""
    if rules.max_bytes is not None and len(text.encode("utf-8", "surrogatepass")) > rules.max_bytes:
        return False
    return weighted_length(text, rules) <= rules.max_length


def is_valid(text: str, rules: NetworkRules) -> bool:
    """Whether the network accepts `text` as one post (not empty, within every limit; on X,
    no character twitter-text calls invalid)."""
    if rules.counts == "weighted" and has_invalid_characters(text):
        return False
    return fits(text, rules)


def fits(text: str, rules: NetworkRules) -> bool:
    """Whether `text` can be one post: it says something and is within every limit."""
    return bool(text.strip()) and within_limits(text, rules) and weighted_length(text, rules) > 0


def has_url(text: str) -> bool:
    """Whether X would find a link in `text` (token by token, so the cost stays linear; a long
    token that might hold one counts as holding one)."""
    twitter = _twitter()
    for token in twitter.tokens.split(text):
        if not _may_hold_url(token):
            continue
        if len(token) > MeasureLimits.exact_token_chars or twitter.extract_urls_with_indices(" " + token):
            return True
    return False
