"""Item normalisation: identity and sanitised summaries.

Pure functions (no I/O, no clock) that turn what a source says about an article into the
values stored on an `Item`:

- `canonical_url`: the article's identity (lowercase scheme and host, no default port, no
  fragment, no tracking parameters); `item_key` falls back to the guid, then a content hash.
- `sanitise_html` / `summary_text`: untrusted feed HTML made safe for an email and a page,
  and a plain-text summary cut at a word boundary.
- `richer`: when the same article comes from two sources, the more complete record wins.

Publication dates are read by `compose.dates.parse_date`.
"""

from __future__ import annotations

import hashlib
import html as _html
import re
from dataclasses import replace
from typing import Literal
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

import nh3
import regex

from compose.models import Item

#: Query parameters that only track a click; removed from every canonical URL.
TRACKING_PARAMS = frozenset(
    {
        "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "igshid", "twclid",
        "_hsenc", "_hsmi", "hsctatracking", "ref_src", "ref_url", "mkt_tok", "oly_anon_id",
        "oly_enc_id", "vero_id", "vero_conv", "_ga", "_gl", "wt.mc_id", "ncid", "cmpid",
    }
)
#: Prefixes of tracking parameters (`utm_source`, `mc_cid`, ...).
TRACKING_PREFIXES = ("utm_", "mc_", "pk_", "piwik_", "matomo_")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_URL_SCHEMES = frozenset(_DEFAULT_PORTS)


class SummaryPolicy:
    """What survives sanitising: tags, attributes and link schemes allowed in a summary.

    Images are deliberately not allowed inline: an item carries its picture in
    `Item.image_url`, and inline images in summaries break the email layout and carry
    tracking pixels.
    """

    tags = frozenset(
        {"p", "a", "br", "ul", "ol", "li", "strong", "em", "b", "i", "blockquote", "h2", "h3", "h4",
         "code", "pre", "sub", "sup"}
    )
    attributes = {"a": {"href", "title"}}
    url_schemes = _URL_SCHEMES
    link_rel = "noopener noreferrer"
    removed_with_content = frozenset({"script", "style", "iframe", "object", "embed", "template",
                                      "noscript", "svg", "math", "form", "textarea", "select"})
    summary_limit = 300
    ellipsis = "…"


# ---------------------------------------------------------------------------- identity


_ABSOLUTE = re.compile(r"https?://[^/?#\t\r\n]", re.IGNORECASE)  # with a host: "http://" alone is relative


def canonical_url(url: str, base: str | None = None) -> str:
    """The canonical form of an article URL, used as its identity.

    Resolves `url` against `base`, lowercases scheme and host, drops the default port, the
    fragment and tracking parameters; keeps the path's case and the other parameters in order.
    Raises ValueError for anything but an absolute http(s) URL.
    """
    raw = (url or "").strip()
    # urljoin gives an absolute URL back as it was (but for dropping an empty `;params`): skip its two parses
    if base and (";" in raw or not _ABSOLUTE.match(raw)):
        raw = urljoin(base.strip(), raw)
    parts = urlsplit(raw)
    scheme = parts.scheme.lower()
    if scheme not in _URL_SCHEMES:
        raise ValueError(f"not an http(s) URL: {url!r}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError as exc:  # a port that is not a number
        raise ValueError(f"bad port in URL {url!r}") from exc
    if not host:
        raise ValueError(f"URL has no host: {url!r}")
    host = host.rstrip(".")
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    path = parts.path or "/"
    query = "&".join(p for p in parts.query.split("&") if p and not _is_tracking(p))
    return urlunsplit((scheme, netloc, path, query, ""))


def _is_tracking(pair: str) -> bool:
    name = unquote(pair.split("=", 1)[0]).lower()
    return name in TRACKING_PARAMS or name.startswith(TRACKING_PREFIXES)


def http_url(url: str | None, base: str | None = None) -> str | None:
    """`url` resolved against `base` if it is an http(s) URL, else None (for images, links)."""
    if not url:
        return None
    try:
        resolved = urljoin(base, url.strip()) if base else url.strip()
        parts = urlsplit(resolved)
        if parts.scheme.lower() not in _URL_SCHEMES or not parts.hostname:
            return None
    except ValueError:
        return None
    return resolved


def content_hash(title: str, summary_text: str, url: str) -> str:
    """A stable hash of what an item says, for items with neither a URL nor a guid."""
    text = "\x1f".join(" ".join((part or "").split()).casefold() for part in (title, summary_text, url))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


KEY_MAX_CHARS = 700  # the ledger's `items.key` column


def item_key(item: Item) -> str:
    """An item's identity: its canonical URL, else `guid:<guid>`, else `hash:<content hash>`.

    A URL or guid too long for the ledger's key column becomes `long:<sha256>` of it, so one
    such item is stored beside the others (PostgreSQL refuses an over-long value for the whole batch)
    and is still the same item when it is seen again."""
    if item.url:
        key = item.url
    elif item.guid:
        key = f"guid:{item.guid}"
    else:
        return "hash:" + content_hash(item.title, item.summary_text, item.url)
    if len(key) <= KEY_MAX_CHARS:
        return key
    return "long:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def _completeness(item: Item) -> tuple:
    return (
        bool(item.summary_text), item.image_url is not None, item.published is not None,
        len(item.summary_text), item.author is not None, item.updated is not None, len(item.title),
    )


def richer(a: Item, b: Item) -> Item:
    """The more complete of two records of the same article, its gaps filled from the other.

    Completeness: has a summary, has an image, has a date, longer summary, has an author.
    On a tie `a` (the record seen first) wins.
    """
    winner, other = (b, a) if _completeness(b) > _completeness(a) else (a, b)
    gaps = {
        name: getattr(other, name)
        for name in ("image_url", "published", "updated", "author", "guid")
        if getattr(winner, name) is None and getattr(other, name) is not None
    }
    same_image = "image_url" in gaps or winner.image_url == other.image_url
    if same_image and winner.image_alt is None and other.image_alt is not None:
        gaps["image_alt"] = other.image_alt  # alt text goes with its image
    return replace(winner, **gaps) if gaps else winner


def merge_items(items: list[Item] | tuple[Item, ...]) -> list[Item]:
    """Items de-duplicated by `item_key`, in first-seen order; the richer record wins."""
    merged: dict[str, Item] = {}
    for item in items:
        key = item_key(item)
        merged[key] = richer(merged[key], item) if key in merged else item
    return list(merged.values())


# ---------------------------------------------------------------------------- HTML

_UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufeff\ufffe\uffff]")


def drop_unprintable(text: str) -> str:
    """`text` without the characters no HTML or XML document may hold: control characters
    other than tab, newline and carriage return (vertical tab and form feed become spaces),
    DEL, C1 controls, lone surrogates and U+FFFE/U+FFFF. mjml-python refuses a document that
    holds one, so a single feed title with one would stop the whole email. U+FEFF (a byte
    order mark inside text) goes too: it is invisible, and X refuses a post that holds one."""
    if text.isprintable():
        return text
    return _UNPRINTABLE.sub(lambda match: " " if match[0] in "\x0b\x0c" else "", text)


def one_line(text: str) -> str:
    """Feed text (a title, an author) on one line: unprintable characters dropped, whitespace collapsed."""
    return " ".join(drop_unprintable(text).split())


_BLOCK_TAG = re.compile(r"<(/?)(p|br|div|li|ul|ol|h[1-6]|tr|td|th|blockquote|pre|section|article)\b",
                        re.IGNORECASE)
_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")


def sanitise_html(html: str, base_url: str | None = None, policy: type[SummaryPolicy] = SummaryPolicy) -> str:
    """Untrusted HTML reduced to a safe subset (see `SummaryPolicy`).

    Script, style and embedded content are removed with their content, event handlers and
    all other attributes dropped, relative links resolved against `base_url` (or removed
    when there is none) and every remaining link is http(s) with rel="noopener noreferrer".
    """
    if not html:
        return ""
    relative: _UrlRelative = "deny"
    if base_url and http_url(base_url):
        relative = ("rewrite_with_base", base_url)
    try:
        cleaned = _clean(html, policy, relative)
    except (ValueError, TypeError):  # a base URL the sanitiser rejects
        cleaned = _clean(html, policy, "deny")
    return cleaned.strip()


_UrlRelative = Literal["deny"] | tuple[Literal["rewrite_with_base"], str]
"""How nh3 treats relative links: dropped, or resolved against a base URL."""


def _clean(html: str, policy: type[SummaryPolicy], relative: _UrlRelative) -> str:
    return nh3.clean(
        html,
        tags=set(policy.tags),
        clean_content_tags=set(policy.removed_with_content),
        attributes={tag: set(names) for tag, names in policy.attributes.items()},
        url_schemes=set(policy.url_schemes),
        link_rel=policy.link_rel,
        strip_comments=True,
        url_relative=relative,
        attribute_filter=_trim_attribute,
    )


def _trim_attribute(_tag: str, _name: str, value: str) -> str:
    """Attribute values without surrounding whitespace (`href=" https://..."` is stored as a clean URL)."""
    return value.strip()


def plain_text(html: str) -> str:
    """The text of an HTML fragment, whitespace collapsed (blocks separated by a space)."""
    if not html:
        return ""
    if "<" in html:
        spaced = _BLOCK_TAG.sub(r" <\1\2", html)
        html = _TAG.sub(" ", nh3.clean(spaced, tags=set(), clean_content_tags=set(SummaryPolicy.removed_with_content)))
    return _SPACE.sub(" ", drop_unprintable(_html.unescape(html))).strip()


def summary_text(html: str, limit: int = SummaryPolicy.summary_limit) -> str:
    """A plain-text summary of at most `limit` characters, cut at a word boundary with an ellipsis."""
    return cut_text(plain_text(html), limit)


# A tag as `sanitise_html` writes it: `<`, then anything but `>` outside double quotes, then `>` (nh3
# also escapes `>` inside attribute values today; the quotes keep this exact if that ever changes).
_SERIALISED_TAG = re.compile(r'<[^>"]*(?:"[^"]*"[^>"]*)*>')
_SERIALISED_BLOCK_TAG = re.compile(_BLOCK_TAG.pattern + r'[^>"]*(?:"[^"]*"[^>"]*)*>', re.IGNORECASE)


def sanitised_text(html: str) -> str:
    """`plain_text` of what `sanitise_html` returned, without a second sanitiser pass (it was 40% of a
    feed's parse). Its output has no comments and no script or style left, escapes `<` and `>` in text,
    and quotes every attribute value in `"` (escaping `"`), so its tags can be cut out exactly with a
    pattern. Only for that output: any other HTML goes through `plain_text`."""
    if "<" in html:
        html = _SERIALISED_TAG.sub("", _SERIALISED_BLOCK_TAG.sub(" ", html))  # blocks part words, inline tags do not
    return _SPACE.sub(" ", drop_unprintable(_html.unescape(html))).strip()


def sanitised_summary_text(html: str, limit: int = SummaryPolicy.summary_limit) -> str:
    """`summary_text` of what `sanitise_html` returned (see `sanitised_text`)."""
    return cut_text(sanitised_text(html), limit)


class ClipLimits:
    """How `clip` cuts: no grapheme cluster longer than `max_cluster_chars` code points is kept
    (a real one, a family emoji with skin tones, has 11; a longer one is stacked combining
    marks), and a word boundary is preferred when it keeps at least `word_share` of the text."""

    max_cluster_chars = 32
    word_share = 0.5
    ellipsis = "…"


_CLUSTER = regex.compile(r"\X")


def clip(text: str, limit: int, *, max_chars: int | None = None) -> str:
    """`text` in at most `limit` grapheme clusters (and `max_chars` code points), the ellipsis
    included: cut between clusters (never inside an emoji, a flag or a letter with its marks),
    at a word boundary when one is near the end. The work is bounded by what is kept, never by
    the length of `text` (a 100,000-character title costs what its first clusters cost)."""
    max_chars = max_chars if max_chars is not None else limit * ClipLimits.max_cluster_chars
    if len(text) <= limit and len(text) <= max_chars:
        return text  # fewer code points than the limit: fewer clusters too
    ends: list[int] = []
    end = 0
    for match in _CLUSTER.finditer(text, concurrent=False):
        if len(ends) >= limit or match.end() > max_chars or match.end() - match.start() > ClipLimits.max_cluster_chars:
            break
        end = match.end()
        ends.append(end)
    else:
        if end == len(text):
            return text
    if limit < 1:
        return ""
    ends = ends[: max(0, limit - 1)]  # room for the ellipsis
    while ends and ends[-1] > max_chars - len(ClipLimits.ellipsis):
        ends.pop()
    head = text[: ends[-1]] if ends else ""
    space = max(head.rfind(" "), head.rfind("\n"))
    if space >= len(head) * ClipLimits.word_share:
        head = head[:space]
    return head.rstrip(" ,;:.-–—\n\t") + ClipLimits.ellipsis


def cut_text(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters at a word boundary, ending in an ellipsis."""
    if len(text) <= limit:
        return text
    room = limit - len(SummaryPolicy.ellipsis)
    head = text[: room + 1]
    cut = head.rfind(" ")
    head = head[:cut] if cut > room // 2 else text[:room]  # no usable space (CJK, a long URL): hard cut
    return head.rstrip(" ,;:.-–—") + SummaryPolicy.ellipsis
