"""Stage 2, compose: choose the items for the next edition, render it, and store it for approval."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from compose.calendar import QuietCalendar
from compose.config import Config
from compose.edition import build_edition, left_out, slug_for
from compose.models import Item
from compose.schedule import next_slot
from connectors.channels.reach import loopback_warning
from connectors.link_check import edition_link_warnings
from flows.settings import network_limits
from state import events, ledger, quiet
from state.editions import (
    candidate_headlines,
    edition_value,
    issue_number,
    last_sent_edition,
    render_edition,
    set_edition_items,
    web_url,
    with_content,
)
from state.models import EditionRow, EditionStatus
from state.threads import draft_roundup


@dataclass(frozen=True, slots=True)
class BuildResult:
    edition_id: int | None
    built: bool
    reason: str
    warnings: tuple[str, ...] = ()


def _unique_slug(session: Session, slug: str) -> str:
    taken = set(session.scalars(select(EditionRow.slug).where(
        or_(EditionRow.slug == slug, EditionRow.slug.like(f"{slug}-%")))))
    if slug not in taken:
        return slug
    n = 2
    while f"{slug}-{n}" in taken:
        n += 1
    return f"{slug}-{n}"


def _nothing_to_build(candidates: Sequence[Item], config: Config) -> BuildResult:
    """Why no edition was built: no new items, or new items that no edition can carry, each named
    (as warnings) with what to fix."""
    if not candidates:
        return BuildResult(None, False, "no new items since the last edition: nothing to send")
    known = {section.key: section for section in config.sections}
    reasons = left_out(candidates, config=config)
    for item in candidates:
        if item.section not in known:
            reasons.append(f"left out {item.title[:80]!r} (from {item.source}): its section {item.section!r} is not "
                           "among [[sections]] in syndicate.toml")
    count = len(candidates)
    noun = "item" if count == 1 else "items"
    return BuildResult(None, False,
                       f"no edition built: none of the {count} new {noun} can go in an email (each is named below): "
                       "fix the links at their source (or the source's selectors), or add the missing section to "
                       "syndicate.toml, then gather and build again", tuple(reasons))


def build_next_edition(session: Session, config: Config, *, now: datetime, by: str = ledger.SYSTEM,
                       env: Mapping[str, str] | None = None) -> BuildResult:
    """Compose the next edition, or say why none was built. A rejected edition still open is
    replaced: cancelled, with its threads, saying by which edition. `by` is the member of staff
    who asked for it, or `ledger.SYSTEM` for a scheduled build."""
    open_rows = ledger.open_editions(session)
    replaced = [row for row in open_rows if row.status == EditionStatus.REJECTED]
    waiting = [row for row in open_rows if row.status != EditionStatus.REJECTED]
    if waiting:
        row = waiting[0]
        return BuildResult(row.id, False, f"edition {row.id} ({row.slug}) is {row.status} and not sent yet: "
                                          "approve and send it, or reject it, before building the next one")
    candidates = candidate_headlines(session, now=now)  # what choosing reads; the chosen are read whole below
    slug = _unique_slug(session, slug_for(now, config))
    edition = build_edition(candidates, config=config, now=now, slug=slug, intro_markdown=config.edition.intro or None,
                            web_url=web_url(config, slug), number=issue_number(session))
    if edition is None:
        return _nothing_to_build(candidates, config)
    edition = with_content(session, edition)
    rendered, content_hash = render_edition(edition, config, link_warnings=edition_link_warnings)
    unreachable = loopback_warning(config, env)  # links readers cannot open, with a real channel set up
    if unreachable:
        rendered = replace(rendered, warnings=(*rendered.warnings, unreachable))
    featured_id = edition.featured.id if edition.featured else None
    row = ledger.create_edition(session, slug=slug, title=edition.title, subject=rendered.subject,
                                preheader=rendered.preheader, intro_markdown=edition.intro_markdown,
                                featured_item_id=featured_id, html=rendered.html, text=rendered.text,
                                content_hash=content_hash, html_bytes=rendered.html_bytes,
                                warnings=list(rendered.warnings), built_at=now,
                                scheduled_for=next_slot(now, day=config.edition.send_day, at=config.edition.send_time,
                                                        zone=config.zone))
    quiet.place(session, QuietCalendar.from_config(config), row, now=now)  # a send time in quiet time moves
    set_edition_items(session, row, edition)
    events.record_event(session, events.EDITION_BUILT, events.resource_id("edition", row.id),
                        {"id": row.id, "slug": slug, "items": len(edition.items),
                         "scheduled_for": row.scheduled_for.isoformat() if row.scheduled_for else None}, now=now)
    ledger.audit(session, actor=ledger.editor_of(session, by), action="build", kind="edition", ident=row.id, now=now,
                 items=len(edition.items))
    for old in replaced:
        ledger.cancel_edition(session, old, by=by, now=now, reason=f"edition {old.id} was replaced by edition {row.id} ({slug})")
    return BuildResult(row.id, True, f"built edition {row.id} ({slug}) with {len(edition.items)} items",
                       tuple(rendered.warnings))


def build_edition_and_threads(session: Session, config: Config, *, now: datetime,
                              by: str = ledger.SYSTEM) -> dict[str, Any]:
    """Stage 2 whoever starts it (`syndicate edition build`, the `build-edition` flow): build the next
    edition, then draft its roundup thread per enabled network. When nothing was built because all
    there is was held back as backlog, the reason says so and how to release it."""
    result = build_next_edition(session, config, now=now, by=by)
    config = network_limits(config)  # the roundup is measured with the instance's own limits
    threads: list[int] = []
    reason = result.reason
    if result.built and result.edition_id is not None:
        row = ledger.get_edition(session, result.edition_id)
        threads = draft_roundup(session, config, row, edition_value(session, row, config), now=now)
        from flows.stages.cards import check_cards

        check_cards(session, config, threads)  # an empty link card is noted on its thread for staff
    elif result.edition_id is None:
        reason = _nothing_new_reason(session, reason)
    return {"id": result.edition_id, "built": result.built, "reason": reason, "warnings": list(result.warnings),
            "threads": threads}


def _nothing_new_reason(session: Session, reason: str) -> str:
    from state.items import backlog_counts

    backlog = sum(backlog_counts(session).values())
    if last_sent_edition(session) is None:
        reason = "no new items yet: nothing to send"
    if backlog:
        reason = (f"{reason.removesuffix(': nothing to send')}. {backlog} item(s) are held back as backlog (what a "
                  "source already had at its first gather, so adding a source never floods subscribers); to "
                  "include them: syndicate backlog release [--source NAME] [--since DATE]")
    return reason
