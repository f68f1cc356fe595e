"""Stored editions as the desk and the pipeline read them: the items waiting for the next edition,
an edition's items and its `Edition` value, its rendering, and staff reading its warnings.
Staff edits are in `state.edition_edits`."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import CompoundSelect, Select, and_, exists, func, select, union_all
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement

from compose.config import Config
from compose.edition import edition_content_hash
from compose.models import Edition, EditionSection, Item, RenderedEmail
from state.models import EditionItemRow, EditionRow, EditionStatus, ItemRow, SourceRow

FEATURED = "featured"  # the section recorded for the pinned item, shown once above the sections
_CARRIED = (EditionStatus.SENT, EditionStatus.SENDING)

LinkWarnings = Callable[[Edition, Config], tuple[str, ...]]
"""A warning per link of the edition that does not answer (`connectors.link_check.edition_link_warnings`;
called only when `[edition] check_links = true`)."""


_ITEM_COLUMNS = (ItemRow.id, ItemRow.url, ItemRow.title, ItemRow.section, ItemRow.summary_html, ItemRow.summary_text,
                 ItemRow.published_at, ItemRow.updated_at, ItemRow.image_url, ItemRow.guid, ItemRow.author,
                 ItemRow.image_alt)  # an `Item`'s fields, in `candidate_items`' order


def _item(row: ItemRow, source: str) -> Item:
    return Item(url=row.url, title=row.title, section=row.section, source=source,
                summary_html=row.summary_html, summary_text=row.summary_text, published=row.published_at,
                updated=row.updated_at, image_url=row.image_url, guid=row.guid, author=row.author, id=row.id,
                image_alt=row.image_alt)


def last_sent_edition(session: Session) -> EditionRow | None:
    """The edition sent most recently, if any."""
    return session.scalars(select(EditionRow).where(EditionRow.status == EditionStatus.SENT)
                           .order_by(EditionRow.sent_at.desc()).limit(1)).first()


class _Unindexed(FunctionElement[Any]):
    """A column as is, which SQLite may not walk an index for (a unary `+`, SQLite's no-op for that);
    elsewhere the column. For a filter that must not pick the index a query's other range is on."""

    inherit_cache = True

    def __init__(self, column: Any) -> None:
        super().__init__(column)
        self.type = column.type


@compiles(_Unindexed)
def _unindexed(element: _Unindexed, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.clauses, **kw))


@compiles(_Unindexed, "sqlite")
def _unindexed_sqlite(element: _Unindexed, compiler: Any, **kw: Any) -> str:
    return f"+{compiler.process(element.clauses, **kw)}"


def _candidates(session: Session, *columns: Any, now: datetime) -> Select[Any] | CompoundSelect[Any]:
    """The items waiting for the next edition (see `candidate_items`), as rows of `columns`, items
    joined to their source: a subquery to select from."""
    carried = exists().where(
        EditionItemRow.item_id == ItemRow.id, EditionItemRow.edition_id == EditionRow.id,
        EditionRow.status.in_(_CARRIED),
    )
    query = (select(*columns).select_from(ItemRow).join(SourceRow, SourceRow.id == ItemRow.source_id)
             .where(ItemRow.backlog.is_(False), ~carried, _Unindexed(ItemRow.first_seen_at) <= now))
    last = last_sent_edition(session)
    if last is None:
        return query
    # published or first seen since: two index ranges (ix_items_published_at, ix_items_first_seen_at),
    # each reading its rows whole, with nothing in common (the second only what was published before).
    # Neither an OR nor ids joined back to the items: a planner may walk every item for those.
    since = last.built_at
    # (SQLite would walk ix_items_first_seen_at for `first_seen_at <= now`, every item up to now: unindexed)
    return union_all(query.where(ItemRow.published_at > since),
                     query.where(ItemRow.first_seen_at > since, ItemRow.first_seen_at <= now,
                                 ItemRow.published_at <= since))


def _rows(session: Session, query: Any) -> Any:
    """`query`'s rows through Core (no ORM rows to build), after the autoflush an ORM read would do."""
    if session.autoflush:
        session.flush()
    return session.connection().execute(query)


def _items(rows: Any) -> list[Item]:
    return [Item(id=ident, url=url, title=title, section=section, summary_html=summary_html, summary_text=summary_text,
                 published=published, updated=updated, image_url=image_url, guid=guid, author=author,
                 image_alt=image_alt, source=source)
            for ident, url, title, section, summary_html, summary_text, published, updated, image_url, guid, author,
            image_alt, source in rows]


def candidate_items(session: Session, *, now: datetime) -> list[Item]:
    """Items for the next edition, newest first: not backlog, not carried by a sent edition, and published (or first
    seen) since the last sent edition was built. Later items wait for the next edition."""
    # plain rows through Core, not ORM objects: a week of a busy ledger is thousands of items, read once, never changed
    found = _candidates(session, *_ITEM_COLUMNS, SourceRow.name.label("source"), now=now).subquery()
    return _items(_rows(session, select(*found.c).order_by(found.c.published_at.desc())))


def candidate_headlines(session: Session, *, now: datetime) -> list[Item]:
    """`candidate_items` with only what choosing among them reads (link, title, section, source, when
    published, id): no summary, image, guid, author or update time (an item's `published_at` is
    never empty, so the newest-first order never falls back to it), which `with_content` adds to the
    few an edition carries."""
    found = _candidates(session, ItemRow.id, ItemRow.url, ItemRow.title, ItemRow.section, ItemRow.published_at,
                        SourceRow.name.label("source"), now=now).subquery()
    with _collector_paused():
        rows = _rows(session, select(*found.c).order_by(found.c.published_at.desc())).all()
        return [Item(id=ident, url=url, title=title, section=section, published=published, source=source)
                for ident, url, title, section, published, source in rows]


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while a block allocates many objects that make no cycles (rows,
    items): each allocation counts towards the next collection, and every few builds one of them is
    a full one, which walks every object of the process (~150,000 in the app, 50 to 90 ms here) and
    was the build's p95. What the block frees goes by reference counting as before."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def with_content(session: Session, edition: Edition) -> Edition:
    """`edition` with each item it carries read whole (the edition was built from `candidate_headlines`)."""
    ids = [item.id for item in (*edition.items, *([edition.featured] if edition.featured else []))]
    query = (select(*_ITEM_COLUMNS, SourceRow.name).join(SourceRow, SourceRow.id == ItemRow.source_id)
             .where(ItemRow.id.in_(ids)))
    whole = {item.id: item for item in _items(_rows(session, query))}
    return replace(edition, featured=whole[edition.featured.id] if edition.featured else None,
                   sections=tuple(replace(section, items=tuple(whole[item.id] for item in section.items))
                                  for section in edition.sections))


def candidate_count(session: Session, *, now: datetime) -> int:
    """How many items `candidate_items` would return, counted by the database."""
    found = _candidates(session, ItemRow.id, now=now).subquery()
    return session.scalar(select(func.count()).select_from(found)) or 0


def issue_number(session: Session, edition_id: int | None = None) -> int:
    """The edition's issue number (the subject's `{number}`): one more than the editions sent
    before it (before `edition_id`, or before a new one). Only one edition is open at a time, so
    no two sent editions share a number, even two built and sent on the same day."""
    query = select(func.count()).select_from(EditionRow).where(EditionRow.status == EditionStatus.SENT)
    if edition_id is not None:
        query = query.where(EditionRow.id < edition_id)
    return (session.scalar(query) or 0) + 1


def web_url(config: Config, slug: str) -> str:
    """The edition's public page."""
    return f"{str(config.edition.public_url).rstrip('/')}/editions/{slug}"


def render_edition(edition: Edition, config: Config, *, link_warnings: LinkWarnings) -> tuple[RenderedEmail, str]:
    """The email of `edition` and its content hash; with `check_links`, its broken links as warnings."""
    from compose.email import counted_link, render_email  # here: Jinja, MJML and markdown-it cost ~0.3 s

    rendered = render_email(edition, config=config, link_for=counted_link(config))
    if config.edition.check_links:
        rendered = replace(rendered, warnings=rendered.warnings + link_warnings(edition, config))
    return rendered, edition_content_hash(edition, rendered)


def set_edition_items(session: Session, row: EditionRow, edition: Edition) -> None:
    """Store which items `edition` carries, where: the pinned one first (`FEATURED`), then by section."""
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
    """The items a stored edition carries, as `Item` values."""
    pairs = session.execute(select(ItemRow, SourceRow.name).join(SourceRow, SourceRow.id == ItemRow.source_id)
                            .join(EditionItemRow, and_(EditionItemRow.item_id == ItemRow.id,
                                                       EditionItemRow.edition_id == row.id)))
    return [_item(item, source) for item, source in pairs]


def edition_value(session: Session, row: EditionRow, config: Config) -> Edition:
    """Rebuild the Edition value of a stored edition (its sections and items, as stored)."""
    items = {item.id: item for item in edition_items(session, row)}
    sections = []
    for section in config.sections:
        chosen = tuple(items[link.item_id] for link in row.items if link.section == section.key)
        if chosen:
            sections.append(EditionSection(key=section.key, title=section.title, items=chosen,
                                           more_url=str(section.url) if section.url else None))
    featured = items.get(row.featured_item_id) if row.featured_item_id else None
    return Edition(slug=row.slug, title=row.title, issue_date=row.built_at.astimezone(config.zone).date(),
                   subject=row.subject, preheader=row.preheader, intro_markdown=row.intro_markdown,
                   sections=tuple(sections), featured=featured,
                   web_url=f"{str(config.edition.public_url).rstrip('/')}/editions/{row.slug}")


def acknowledge_warnings(session: Session, edition_id: int, *, by: str, now: datetime) -> None:
    """A member of staff has read the edition's warnings (broken links, size) and lets it go as it is."""
    from state import ledger  # here, not at the top: `syndicate status` needs none of its imports

    row = ledger.get_edition(session, edition_id)
    by = ledger.editor_of(session, by)
    row.warnings_acknowledged_by = by
    ledger.audit(session, actor=by, action="acknowledge-warnings", kind="edition", ident=row.id, now=now,
                 warnings=row.warnings)
