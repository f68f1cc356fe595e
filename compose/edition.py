"""Choosing the items of an edition of the newsletter and building it (pure, no clock).

`build_edition` takes the items eligible for the next edition (the caller's query already
keeps only items published since the last sent edition and not carried by a sent edition),
groups them into the configured sections, newest first, applies the staff's overrides (a
pinned featured item, removed items, a manual order within a section), caps each section at
its `max_items` (the rest become a "more on our site" link) and fills in the subject and the
preheader from the configured templates.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, date, datetime, tzinfo

from compose.config import TEMPLATE_FIELDS as _ALL_TEMPLATE_FIELDS
from compose.config import Config, Section, fill_template
from compose.items import clip, one_line
from compose.models import Edition, EditionSection, Item, RenderedEmail
from compose.schedule import next_slot
from compose.urls import is_web_url

_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


class Headlines:
    """How many titles the `{headlines}` field of the subject and preheader holds."""

    most = 3
    fewest = 2
    max_chars = 110  # past this, drop to `fewest` titles, then shorten
    separator = " · "


class EditionLimits:
    """Bounds on what an edition carries. A subject or preheader is one line (a header line
    must not break) and no longer than an inbox shows; an item whose link is longer than
    `link_max_chars` is left out (it would be written three times into the email)."""

    subject_max_chars = 150
    preheader_max_chars = 150  # inbox previews show 35-140 characters
    link_max_chars = 4096


TEMPLATE_FIELDS = _ALL_TEMPLATE_FIELDS["edition.subject"]
_BRACE_PAIR = re.compile(r"\{(?=\{)")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def untokened(text: str) -> str:
    """Plain text from a feed in which no "{{" can open a per-recipient token such as
    {{unsubscribe_url}}, alone or beside the text around it: a zero-width space (which
    readers do not see) splits every pair of opening braces, and an opening brace at either end."""
    if "{" not in text:
        return text
    text = _BRACE_PAIR.sub("{\u200b", text)
    if text.startswith("{"):
        text = "\u200b" + text
    if text.endswith("{"):
        text += "\u200b"
    return text


def header_text(text: str, limit: int) -> str:
    """`text` fit for a header line: no control characters, line breaks or runs of spaces,
    at most `limit` characters (cut between clusters, with an ellipsis)."""
    return clip(one_line(text), limit, max_chars=limit)


def local_date(stamp: datetime, zone: tzinfo) -> date:
    """The date of `stamp` in `zone`; for a date at the edge of the calendar (0001-01-01, which
    some feeds write), where the zone's offset would leave it, the date as stored."""
    try:
        return (stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)).astimezone(zone).date()
    except (OverflowError, ValueError, OSError):
        return stamp.date()


def format_date(day: date) -> str:
    """A date as the organisation writes it, e.g. "26 November 2026" (no locale involved)."""
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


def slug_for(now: datetime, config: Config) -> str:
    """The edition's slug: its issue date in the organisation's zone, e.g. "2026-11-26"."""
    return _local_date(now, config).isoformat()


def send_date(now: datetime, config: Config) -> date:
    """The day an edition built at `now` goes out (its next send slot, in the organisation's zone):
    the date its subject and masthead carry, so two editions built the same day differ."""
    edition = config.edition
    return next_slot(now, day=edition.send_day, at=edition.send_time, zone=config.zone).astimezone(config.zone).date()


def item_count_warnings(edition: Edition, config: Config) -> list[str]:
    """A warning when the edition has fewer items than `edition.min_items`."""
    count = len(edition.items) + (1 if edition.featured else 0)
    wanted = config.edition.min_items
    if count >= wanted:
        return []
    noun = "item" if count == 1 else "items"
    return [f"this edition has only {count} {noun}, fewer than edition.min_items ({wanted}): "
            "send it anyway, wait for more, or lower edition.min_items in syndicate.toml"]


def _local_date(now: datetime, config: Config) -> date:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC), e.g. datetime.now(UTC)")
    return now.astimezone(config.zone).date()


def _newest_first_key(item: Item) -> tuple[int, float, str]:
    stamp = item.published or item.updated
    # items without a date go last; ties broken by URL so the order never depends on input order
    if stamp is None:
        return (1, 0.0, item.url)
    aware = stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
    return (0, -(aware - _EPOCH).total_seconds(), item.url)


def _ordered(items: list[Item], manual: Sequence[str] | None) -> list[Item]:
    items = sorted(items, key=_newest_first_key)
    if not manual:
        return items
    rank = {url: index for index, url in enumerate(dict.fromkeys(manual))}
    pinned = sorted((item for item in items if item.url in rank), key=lambda item: rank[item.url])
    return pinned + [item for item in items if item.url not in rank]


def _section(config: Config, section: Section, items: list[Item], manual: Sequence[str] | None) -> EditionSection:
    ordered = _ordered(items, manual)
    kept, left = ordered[: section.max_items], ordered[section.max_items :]
    more_url = str(section.url or config.organisation.site_url) if left else None
    return EditionSection(
        key=section.key, title=section.title, items=tuple(kept), more_url=more_url, omitted=len(left)
    )


def _headlines(titles: Sequence[str]) -> str:
    titles = [title for title in (header_text(title, Headlines.max_chars) for title in titles) if title]
    chosen = Headlines.separator.join(titles[: Headlines.most])
    if len(chosen) > Headlines.max_chars:
        chosen = Headlines.separator.join(titles[: Headlines.fewest])
    return untokened(clip(chosen, Headlines.max_chars))


def _fill(template: str, key: str, fields: Mapping[str, object], limit: int, warnings: list[str]) -> str:
    filled = fill_template(template, **fields).strip()
    text = header_text(filled, limit)
    if text != one_line(filled):
        warnings.append(f"the {key} was shortened to {limit} characters: {text}")
    return text


def build_edition(
    candidates: Sequence[Item],
    *,
    config: Config,
    now: datetime,
    slug: str,
    intro_markdown: str | None = None,
    featured_url: str | None = None,
    removed_urls: Collection[str] = (),
    order: Mapping[str, Sequence[str]] | None = None,
    web_url: str | None = None,
    number: int = 1,
) -> Edition | None:
    """The next edition from the eligible items, or None when nothing is left to send.

    - Items of sections that are not configured are left out; so are items whose link is not
      an http(s) link or is too long for an email, each named in `Edition.warnings`. A URL
      that appears twice is kept once (the first).
    - The subject and preheader are one line each, bounded by `EditionLimits`; nothing from an
      item can form a per-recipient token in them (see `untokened`).
    - `removed_urls`: items staff took out. `featured_url`: the item staff pinned at the top
      (shown once, above the sections); it must be one of the candidates.
    - `order`: per section key, URLs in the order staff want them first; the rest follow,
      newest first.
    - `web_url`: the edition's public page ("view in browser"); by default
      ``{edition.public_url}/editions/{slug}``.
    - `number`: the issue number, the subject's `{number}` (one more than the editions sent
      before it, so no two sent editions share it, even two sent the same day).
    """
    removed = set(removed_urls)
    known = {section.key for section in config.sections}
    unique: dict[str, Item] = {}
    problems = {url: _link_problem(url) for url in {item.url for item in candidates}}  # once per link
    warnings = _left_out(candidates, known, removed, problems)
    for item in candidates:
        if item.url in removed or item.section not in known or problems[item.url]:
            continue
        unique.setdefault(item.url, item)
    featured: Item | None = None
    if featured_url is not None:
        if featured_url in removed:
            raise ValueError(f"the featured item {featured_url} is also removed: keep it or unpin it")
        featured = unique.pop(featured_url, None)
        if featured is None:
            raise ValueError(f"the featured item {featured_url} is not among this edition's items")
    order = order or {}
    sections = []
    for section in config.sections:
        members = [item for item in unique.values() if item.section == section.key]
        if members:
            sections.append(_section(config, section, members, order.get(section.key)))
    if featured is None and not sections:
        return None
    issue_date = send_date(now, config)
    shown = ([featured] if featured else []) + [item for section in sections for item in section.items]
    fields = {
        "title": config.edition.title,
        "date": format_date(issue_date),
        "organisation": config.organisation.name,
        "count": len(shown),
        "headlines": _headlines([item.title for item in shown]),
        "number": number,
    }
    public = str(config.edition.public_url).rstrip("/")
    return Edition(
        slug=slug,
        title=config.edition.title,
        issue_date=issue_date,
        subject=_fill(config.edition.subject, "subject", fields, EditionLimits.subject_max_chars, warnings),
        preheader=_fill(config.edition.preheader, "preheader", fields, EditionLimits.preheader_max_chars, warnings),
        intro_markdown=config.edition.intro if intro_markdown is None else intro_markdown,
        sections=tuple(sections),
        featured=featured,
        web_url=web_url or f"{public}/editions/{slug}",
        warnings=tuple(warnings),
    )


def left_out(candidates: Sequence[Item], *, config: Config, removed_urls: Collection[str] = ()) -> list[str]:
    """A warning for staff per candidate that no edition can carry (its link is not an http(s)
    link, is too long, or holds spaces), naming the item. `build_edition` puts these in
    `Edition.warnings`; when it returns None, a caller can still say why with this."""
    known = {section.key for section in config.sections}
    return _left_out(candidates, known, removed_urls, {item.url: _link_problem(item.url) for item in candidates})


def _left_out(candidates: Sequence[Item], known: Collection[str], removed_urls: Collection[str],
              problems: Mapping[str, str | None]) -> list[str]:
    warnings = []
    for item in candidates:
        problem = None if item.url in removed_urls or item.section not in known else problems[item.url]
        if problem:
            warnings.append(f"left out {header_text(item.title, 80)!r}: its link {problem}")
    return warnings


_SPACE = re.compile(r"\s")  # str.isspace's characters (both are Py_UNICODE_ISSPACE), in C, not a loop in Python


def _link_problem(url: str) -> str | None:
    if not is_web_url(url):
        return f"is not an http(s) link: {url[:200]!r}"
    if len(url) > EditionLimits.link_max_chars:
        return f"is {len(url):,} characters long, over the {EditionLimits.link_max_chars:,} an email can carry: {url[:80]!r}…"
    if not url.isprintable() or _SPACE.search(url):
        return f"holds spaces or control characters: {url[:200]!r}"
    return None


def edition_content_hash(edition: Edition, rendered: RenderedEmail) -> str:
    """sha256 over everything a subscriber sees of the edition (subject, preheader, both
    parts, the items carried). An approval is bound to this value: change anything, and it
    must be approved again."""
    payload = {
        "slug": edition.slug,
        "subject": rendered.subject,
        "preheader": rendered.preheader,
        "html": rendered.html,
        "text": rendered.text,
        "web_url": edition.web_url,
        "items": [item.url for item in ((edition.featured,) if edition.featured else ()) + edition.items],
        "trimmed": list(rendered.trimmed),
    }
    encoded = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()
