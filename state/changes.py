"""What an edit changed, as the audit log keeps it: each field's before and after, and a word diff
a person can read (kept with the row, so the audit page shows it as it was recorded).

A diff is a list of `[op, text]` pairs: "=" kept, "-" removed, "+" added. Lists (the items of an
edition, the posts of a thread) are diffed entry by entry.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from typing import Any

_TOKENS = re.compile(r"\s+|[^\s]+")
MAX_FIELD = 20_000  # characters of a field kept in the log; longer values are cut and say so


def word_diff(before: str, after: str) -> list[list[str]]:
    """`before` → `after` as kept, removed and added runs of words. Whitespace kept between two
    changes joins them ("-26 November +3 December", not "-26 +3 = -November +December")."""
    old, new = _TOKENS.findall(before), _TOKENS.findall(after)
    out: list[list[str]] = []
    removed, added = "", ""
    codes = difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes()
    for index, (tag, i1, i2, j1, j2) in enumerate(codes):
        if tag == "equal":
            kept = "".join(old[i1:i2])
            if (removed or added) and not kept.strip() and index + 1 < len(codes):
                removed, added = removed + kept, added + kept
                continue
            _add(out, "-", removed)
            _add(out, "+", added)
            removed, added = "", ""
            _add(out, "=", kept)
            continue
        removed += "".join(old[i1:i2])
        added += "".join(new[j1:j2])
    _add(out, "-", removed)
    _add(out, "+", added)
    return out


def list_diff(before: Sequence[str], after: Sequence[str]) -> list[list[str]]:
    """Entries kept, removed and added, in order (a moved entry shows as removed then added)."""
    out: list[list[str]] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=list(before), b=list(after), autojunk=False).get_opcodes():
        if tag == "equal":
            out += [["=", entry] for entry in before[i1:i2]]
            continue
        if tag in ("delete", "replace"):
            out += [["-", entry] for entry in before[i1:i2]]
        if tag in ("insert", "replace"):
            out += [["+", entry] for entry in after[j1:j2]]
    return out


def _add(out: list[list[str]], op: str, text: str) -> None:
    if not text:
        return
    if out and out[-1][0] == op:
        out[-1][1] += text
    else:
        out.append([op, text])


def _clip(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_FIELD:
        return value[:MAX_FIELD] + f"… ({len(value) - MAX_FIELD} more characters not kept)"
    if isinstance(value, list):
        return [_clip(entry) for entry in value]
    return value


def describe(fields: Mapping[str, tuple[Any, Any]]) -> dict[str, dict[str, Any]]:
    """The fields that changed, each with before, after and its diff; unchanged fields are left out."""
    changed: dict[str, dict[str, Any]] = {}
    for name, (before, after) in fields.items():
        if before == after:
            continue
        if isinstance(before, list | tuple) or isinstance(after, list | tuple):
            old, new = [str(v) for v in before or ()], [str(v) for v in after or ()]
            changed[name] = {"before": _clip(old), "after": _clip(new), "diff": _clip(list_diff(old, new))}
        else:
            old_text, new_text = str(before or ""), str(after or "")
            changed[name] = {"before": _clip(old_text), "after": _clip(new_text),
                             "diff": [[op, _clip(text)] for op, text in word_diff(old_text, new_text)]}
    return changed
