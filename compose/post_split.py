"""A long text as the posts of a thread, each within its network's limits.

`split_text` cuts between sentences, then between words, never inside a URL, a hashtag, a
mention or a grapheme cluster; lengths are measured as each network counts them
(`compose.post_length`). Pure: no I/O, no clock.
"""

from __future__ import annotations

import functools
import re
from dataclasses import replace

from compose.post_length import NetworkRules, fits, graphemes, has_url, weighted_length, within_limits

_SENTENCE_END = re.compile(r"(?<=[.!?…])(\s+)")
_WHITESPACE = re.compile(r"(\s+)")


def sentences(text: str) -> list[str]:
    """The sentences of `text`, each with its closing punctuation (cut after . ! ? or …)."""
    return [piece for piece, _ in _chunks(text, _SENTENCE_END)]


def _chunks(text: str, pattern: re.Pattern[str]) -> list[tuple[str, str]]:
    """`text` cut by `pattern` into (piece, whitespace that followed it) pairs."""
    fields = pattern.split(text)
    pairs = [(fields[i], fields[i + 1] if i + 1 < len(fields) else "") for i in range(0, len(fields), 2)]
    return [(piece, gap) for piece, gap in pairs if piece]


def _split_word(word: str, rules: NetworkRules) -> list[str]:
    """An overlong word cut at grapheme boundaries; never a URL, hashtag or mention."""
    if has_url(word) or word[:1] in "#@":
        raise ValueError(f"{word[:40]!r}… is longer than a {rules.name} post and cannot be split")
    parts, current = [], ""
    for cluster in graphemes(word):
        if current and not fits(current + cluster, rules):
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
                size, within = 0, within_limits(candidate, rules)
            else:
                size = length + _size(current_gap, rules) + _size(piece, rules)
                within = size <= rules.max_length and (rules.max_bytes is None or _bytes(candidate) <= rules.max_bytes)
            if within:
                current, length, current_gap = candidate, size, gap
                continue
            parts.append(current)
        if fits(piece, rules):
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
    if all(fits(part, rules) for part in parts):
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
