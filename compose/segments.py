"""Who gets which email of an edition: readers' sections, staff's segments, pauses. Pure.

An edition is composed once. Each reader gets the sections they chose (`subscribers.sections`,
None: every section) that have something this edition; a reader left with nothing gets no email
that week. Staff may send an edition to a **segment**: readers carrying any (or all) of some
tags, and/or only some sections (then the email carries only those sections, to readers who
chose at least one of them). A paused reader (`paused_until` after now) gets nothing.

`place(reader, ...)` is the one rule: the planner of deliveries (`state.deliveries.plan`), the
segment's size shown before approval and the tests all ask it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from compose.errors import SyndicateError

MATCHES = ("any", "all")
TAG_PATTERN = re.compile(r"^[\w][\w .:/+-]{0,63}$")  # "member", "cio", "council: county", "type/supplier"


class SegmentError(SyndicateError, ValueError):
    """A segment or a tag that cannot be used, saying what to fix."""


def clean_tag(raw: str) -> str:
    """A tag as stored: trimmed, inner spaces collapsed, lower case; refused when empty or odd."""
    tag = " ".join(raw.split()).casefold()
    if not TAG_PATTERN.match(tag):
        raise SegmentError(f"{raw!r} is not a tag: use up to 64 letters, digits, spaces or . : / + - _, "
                           "starting with a letter or digit")
    return tag


def split_tags(cell: str) -> tuple[str, ...]:
    """The tags of a CSV cell: `;`-separated ("member; cio"), cleaned, each once, in order."""
    tags: list[str] = []
    for part in cell.split(";"):
        if part.strip():
            tag = clean_tag(part)
            if tag not in tags:
                tags.append(tag)
    return tuple(tags)


@dataclass(frozen=True, slots=True)
class Segment:
    """Who an edition goes to: readers with `any` or `all` of `tags` (no tags: every reader), and
    only `sections` of it (none: every section), each reader still getting only what they chose."""

    tags: tuple[str, ...] = ()
    match: str = "any"
    sections: tuple[str, ...] = ()

    @classmethod
    def build(cls, *, tags: Iterable[str] = (), match: str = "any", sections: Iterable[str] = (),
              known_sections: Collection[str] | None = None) -> Segment:
        """A checked segment: tags cleaned, sections among `known_sections`; a clear error otherwise."""
        if match not in MATCHES:
            raise SegmentError(f"match {match!r} is not one of: {', '.join(MATCHES)}")
        cleaned = sorted({clean_tag(tag) for tag in tags})
        chosen = sorted({section.strip() for section in sections if section.strip()})
        if known_sections is not None:
            unknown = [section for section in chosen if section not in known_sections]
            if unknown:
                raise SegmentError(f"unknown section(s) {', '.join(unknown)}: use one of "
                                   f"{', '.join(known_sections)} (the keys of [[sections]] in syndicate.toml)")
        return cls(tags=tuple(cleaned), match=match if cleaned else "any", sections=tuple(chosen))

    @classmethod
    def from_json(cls, value: Mapping[str, Any] | None) -> Segment:
        """The segment stored on an edition (None: every reader)."""
        if not value:
            return cls()
        return cls(tags=tuple(value.get("tags") or ()), match=str(value.get("match") or "any"),
                   sections=tuple(value.get("sections") or ()))

    def as_json(self) -> dict[str, Any] | None:
        """As stored on the edition and its approval: None when it is everyone."""
        if self.everyone:
            return None
        return {"tags": list(self.tags), "match": self.match, "sections": list(self.sections)}

    @property
    def everyone(self) -> bool:
        return not self.tags and not self.sections

    def describe(self) -> str:
        """The segment in words, for staff."""
        if self.everyone:
            return "every subscriber"
        parts = []
        if self.tags:
            joiner = " and " if self.match == "all" else " or "
            parts.append(f"tagged {joiner.join(self.tags)}")
        if self.sections:
            parts.append(f"sections {', '.join(self.sections)} only")
        return "; ".join(parts)

    def has_tags(self, tags: Collection[str]) -> bool:
        if not self.tags:
            return True
        if self.match == "all":
            return all(tag in tags for tag in self.tags)
        return any(tag in tags for tag in self.tags)


def segment_key(segment: Mapping[str, Any] | None) -> str:
    """A stable fingerprint of a stored segment (what an approval is bound to besides the content)."""
    encoded = json.dumps(Segment.from_json(segment).as_json(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------- one reader's place


NOT_IN_SEGMENT = "not in the segment"


@dataclass(frozen=True, slots=True)
class Placement:
    """What one reader gets of an edition: the sections of their email (`sections`), or why
    they get none (`skip`: a reason for the ledger), or nothing at all (`outside`: not in the
    segment, so not a recipient)."""

    sections: frozenset[str] = frozenset()
    skip: str = ""
    outside: bool = False


def place(*, sections: Iterable[str] | None, tags: Iterable[str] | None, paused_until: datetime | None,
          edition_sections: frozenset[str], segment: Segment, now: datetime) -> Placement:
    """The rule for one active reader (see the module docstring)."""
    tags = frozenset(" ".join(str(tag).split()).casefold() for tag in tags or ())  # as `clean_tag` keeps them
    chosen = edition_sections if sections is None else frozenset(sections)
    if not segment.has_tags(tags):
        return Placement(outside=True)
    if segment.sections and (sections is not None and not chosen & frozenset(segment.sections)):
        return Placement(outside=True)
    if paused_until is not None and paused_until > now:
        return Placement(skip=f"paused until {paused_until:%Y-%m-%d %H:%M} UTC")
    if sections is not None and not chosen:
        return Placement(skip="chose no sections")
    wanted = chosen & edition_sections
    if segment.sections:
        wanted &= frozenset(segment.sections)
    if not wanted:
        return Placement(skip="nothing in their sections this edition")
    return Placement(sections=wanted)


def set_key(sections: Collection[str] | None) -> str | None:
    """How a section set is written in the ledger ("blogs,news"); None: the whole edition."""
    return None if sections is None else ",".join(sorted(sections))


def set_of(key: str | None) -> frozenset[str] | None:
    """The section set a ledger key stands for (None: the whole edition)."""
    return None if key is None else frozenset(part for part in key.split(",") if part)
