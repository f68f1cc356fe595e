"""Staff edits of an edition before approval: intro, subject, preheader, removed items, order and
the pinned item. An edit renders the edition again, voids an earlier approval through the ledger
and rewrites the roundups that follow the edition."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from sqlalchemy.orm import Session

from compose.config import Config
from compose.edition import build_edition
from compose.items import drop_unprintable
from compose.models import Edition
from state import ledger
from state.editions import (
    FEATURED,
    LinkWarnings,
    edition_items,
    issue_number,
    render_edition,
    set_edition_items,
    web_url,
)
from state.models import EditionRow
from state.threads import follow_edition


def edit_edition(
    session: Session, config: Config, edition_id: int, *, by: str, now: datetime, link_warnings: LinkWarnings,
    intro_markdown: str | None = None, subject: str | None = None, preheader: str | None = None,
    removed_urls: Collection[str] = (), order: Mapping[str, Sequence[str]] | None = None,
    featured_url: str | None = None,
) -> bool:
    """Staff edits before approval. Any change voids an earlier approval. Returns True if it voided one.

    `featured_url` pins an item at the top ("" unpins; None keeps the current pin). Without a
    `subject` or `preheader` from staff, both are made again from the configured templates, so
    they never name an item that was removed. The roundups that follow the edition are rewritten."""
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
    rendered, content_hash = render_edition(edition, config, link_warnings=link_warnings)
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
    set_edition_items(session, row, edition)
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
