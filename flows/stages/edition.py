"""Stage 2, compose: choose the items for the next edition, render it, and store it for approval."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import Session

from compose.config import Config
from compose.edition import build_edition, edition_content_hash, left_out, slug_for
from compose.email import render_email
from compose.items import drop_unprintable
from compose.models import Edition, Item, RenderedEmail
from compose.schedule import next_slot
from connectors.channels.reach import loopback_warning
from flows.stages.publish import follow_edition
from state import events, ledger
from state.models import EditionItemRow, EditionRow, EditionStatus, ItemRow, SourceRow

_CARRIED = (EditionStatus.SENT, EditionStatus.SENDING)


@dataclass(frozen=True, slots=True)
class BuildResult:
    edition_id: int | None
    built: bool
    reason: str
    warnings: tuple[str, ...] = ()


def _item(row: ItemRow, source: str) -> Item:
    return Item(url=row.url, title=row.title, section=row.section, source=source,
                summary_html=row.summary_html, summary_text=row.summary_text, published=row.published_at,
                updated=row.updated_at, image_url=row.image_url, guid=row.guid, author=row.author, id=row.id)


def last_sent_edition(session: Session) -> EditionRow | None:
    return session.scalars(select(EditionRow).where(EditionRow.status == EditionStatus.SENT)
                           .order_by(EditionRow.sent_at.desc()).limit(1)).first()


def candidate_items(session: Session, *, now: datetime) -> list[Item]:
    """Items for the next edition: not backlog, not carried by a sent edition, and published (or first
    seen) since the last sent edition was built. Later items wait for the next edition."""
    carried = exists().where(
        EditionItemRow.item_id == ItemRow.id, EditionItemRow.edition_id == EditionRow.id,
        EditionRow.status.in_(_CARRIED),
    )
    query = (select(ItemRow, SourceRow.name).join(SourceRow, SourceRow.id == ItemRow.source_id)
             .where(ItemRow.backlog.is_(False), ~carried, ItemRow.first_seen_at <= now))
    last = last_sent_edition(session)
    if last is not None:
        query = query.where(or_(ItemRow.published_at > last.built_at, ItemRow.first_seen_at > last.built_at))
    return [_item(row, source) for row, source in session.execute(query.order_by(ItemRow.published_at.desc()))]


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


def issue_number(session: Session, edition_id: int | None = None) -> int:
    """The edition's issue number (the subject's `{number}`): one more than the editions sent
    before it (before `edition_id`, or before a new one). Only one edition is open at a time, so
    no two sent editions share a number, even two built and sent on the same day."""
    query = select(func.count()).select_from(EditionRow).where(EditionRow.status == EditionStatus.SENT)
    if edition_id is not None:
        query = query.where(EditionRow.id < edition_id)
    return (session.scalar(query) or 0) + 1


def web_url(config: Config, slug: str) -> str:
    return f"{str(config.edition.public_url).rstrip('/')}/editions/{slug}"


def _render(edition: Edition, config: Config) -> tuple[RenderedEmail, str]:
    rendered = render_email(edition, config=config)
    if config.edition.check_links:
        rendered = replace(rendered, warnings=rendered.warnings + _link_warnings(edition, config))
    return rendered, edition_content_hash(edition, rendered)


def _link_warnings(edition: Edition, config: Config) -> tuple[str, ...]:
    from connectors.link_check import broken_links
    from connectors.outbound import OutboundGuard

    shown = ((edition.featured,) if edition.featured else ()) + edition.items
    guard = OutboundGuard.trusting([str(source.url) for source in config.sources], config.fetch.allow_hosts)
    broken = broken_links((item.url for item in shown), guard=guard)
    return tuple(f"broken link in \"{item.title}\": {item.url} ({broken[item.url]})"
                 for item in shown if item.url in broken)


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
    candidates = candidate_items(session, now=now)
    slug = _unique_slug(session, slug_for(now, config))
    edition = build_edition(candidates, config=config, now=now, slug=slug, intro_markdown=config.edition.intro or None,
                            web_url=web_url(config, slug), number=issue_number(session))
    if edition is None:
        return _nothing_to_build(candidates, config)
    rendered, content_hash = _render(edition, config)
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
    _set_items(session, row, edition)
    events.record_event(session, events.EDITION_BUILT, events.resource_id("edition", row.id),
                        {"id": row.id, "slug": slug, "items": len(edition.items),
                         "scheduled_for": row.scheduled_for.isoformat() if row.scheduled_for else None}, now=now)
    ledger.audit(session, actor=ledger.editor_of(session, by), action="build", kind="edition", ident=row.id, now=now,
                 items=len(edition.items))
    for old in replaced:
        ledger.cancel_edition(session, old, by=by, now=now, reason=f"edition {old.id} was replaced by edition {row.id} ({slug})")
    return BuildResult(row.id, True, f"built edition {row.id} ({slug}) with {len(edition.items)} items",
                       tuple(rendered.warnings))


FEATURED = "featured"  # the section recorded for the pinned item, shown once above the sections


def _set_items(session: Session, row: EditionRow, edition: Edition) -> None:
    row.items.clear()
    session.flush()  # delete before insert: (edition_id, item_id) is unique
    if edition.featured is not None:
        assert edition.featured.id is not None
        row.items.append(EditionItemRow(item_id=edition.featured.id, section=FEATURED, section_position=-1, position=0))
    for section_position, section in enumerate(edition.sections):
        for position, item in enumerate(section.items):
            assert item.id is not None
            row.items.append(EditionItemRow(item_id=item.id, section=section.key,
                                            section_position=section_position, position=position))


def edition_items(session: Session, row: EditionRow) -> list[Item]:
    pairs = session.execute(select(ItemRow, SourceRow.name).join(SourceRow, SourceRow.id == ItemRow.source_id)
                            .join(EditionItemRow, and_(EditionItemRow.item_id == ItemRow.id,
                                                       EditionItemRow.edition_id == row.id)))
    return [_item(item, source) for item, source in pairs]


def edit_edition(
    session: Session, config: Config, edition_id: int, *, by: str, now: datetime,
    intro_markdown: str | None = None, subject: str | None = None, preheader: str | None = None,
    removed_urls: Collection[str] = (), order: Mapping[str, Sequence[str]] | None = None,
    featured_url: str | None = None,
) -> bool:
    """Staff edits before approval. Any change voids an earlier approval. Returns True if it voided one.

    `featured_url` pins an item at the top ("" unpins; None keeps the current pin). Without a
    `subject` or `preheader` from staff, both are made again from the configured templates, so
    they never name an item that was removed."""
    for field_name, value in (("subject", subject), ("preheader", preheader)):
        if value and (drop_unprintable(value) != value or any(c in value for c in "\t\n\r\u2028\u2029")):
            raise ledger.LedgerError(f"the {field_name} holds a line break or another control character: "
                                     "write it on one line (it goes into the email's headers and preview)")
    row = ledger.get_edition(session, edition_id)
    items = edition_items(session, row)
    if featured_url is None and row.featured_item_id is not None:
        featured_url = next((item.url for item in items if item.id == row.featured_item_id), None)
    try:
        edition = build_edition(items, config=config, now=row.built_at, slug=row.slug,
                                intro_markdown=row.intro_markdown if intro_markdown is None else intro_markdown,
                                featured_url=featured_url or None, removed_urls=removed_urls, order=order,
                                web_url=web_url(config, row.slug), number=issue_number(session, row.id))
    except ValueError as exc:
        raise ledger.LedgerError(str(exc)) from None
    if edition is None:
        raise ledger.LedgerError("that edit would leave the edition empty: reject it instead")
    edition = replace(edition, subject=subject or edition.subject, preheader=preheader or edition.preheader)
    rendered, content_hash = _render(edition, config)
    voided = ledger.change_content(session, row, content_hash=content_hash, by=by, now=now, changes={
        "subject": (row.subject, rendered.subject), "preheader": (row.preheader, rendered.preheader),
        "intro": (row.intro_markdown, edition.intro_markdown),
        "items": (_item_lines(row), _edition_lines(edition)),
    })
    row.subject, row.preheader, row.intro_markdown = rendered.subject, rendered.preheader, edition.intro_markdown
    row.html, row.text, row.html_bytes = rendered.html, rendered.text, rendered.html_bytes
    row.warnings = list(rendered.warnings)
    row.warnings_acknowledged_by = None
    row.featured_item_id = edition.featured.id if edition.featured else None
    _set_items(session, row, edition)
    session.flush()
    session.refresh(row, ["items"])
    follow_edition(session, config, row, by=by, now=now)
    return voided


def _item_lines(row: EditionRow) -> list[str]:
    """The items of a stored edition as the audit log lists them: pinned first, then by section."""
    return [f"{'pinned' if link.section == FEATURED else link.section}: {link.item.title}" for link in row.items]


def _edition_lines(edition: Edition) -> list[str]:
    pinned = [f"pinned: {edition.featured.title}"] if edition.featured else []
    return pinned + [f"{section.key}: {item.title}" for section in edition.sections for item in section.items]


def acknowledge_warnings(session: Session, edition_id: int, *, by: str, now: datetime) -> None:
    row = ledger.get_edition(session, edition_id)
    by = ledger.editor_of(session, by)
    row.warnings_acknowledged_by = by
    ledger.audit(session, actor=by, action="acknowledge-warnings", kind="edition", ident=row.id, now=now,
                 warnings=row.warnings)


def count_items(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(ItemRow)) or 0


def build_edition_and_threads(session: Session, config: Config, *, now: datetime,
                              by: str = ledger.SYSTEM) -> dict[str, Any]:
    """Stage 2 whoever starts it (`syndicate edition build`, the `build-edition` flow): build the next
    edition, then draft its roundup thread per enabled network. When nothing was built because all
    there is was held back as backlog, the reason says so and how to release it."""
    from flows.stages.publish import draft_roundup, edition_value

    result = build_next_edition(session, config, now=now, by=by)
    threads: list[int] = []
    reason = result.reason
    if result.built and result.edition_id is not None:
        row = ledger.get_edition(session, result.edition_id)
        threads = draft_roundup(session, config, row, edition_value(session, row, config), now=now)
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
