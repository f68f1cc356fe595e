"""The ledger of clicks: how often each link of a sent edition was followed, privacy first.

Every click through `/r/<token>` (web.clicks) adds one to its link's row in `clicks`: the
edition, the item (None for a link that is not an item's), the URL, a count and the first and
last time. Nothing there says who clicked. Only when `[tracking] per_reader_clicks` is on does a
click whose link names a subscriber also add to that reader's row in `reader_clicks`; only when
`[tracking] open_pixel` is on do opens go to `reader_opens`. Both are deleted with the subscriber.

Clicks arrive one at a time (`record_click`) or counted in memory and written in batches
(`record_clicks`: one upsert per table, counts added in the database, so any number of web
workers may flush at once and none overwrites another's count).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, case, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from compose.clicks import carries_notice, direct_links, signed_links, with_open_pixel
from compose.config import Config
from compose.email import add_utm
from state.models import ClickRow, EditionItemRow, EditionRow, ItemRow, ReaderClickRow, ReaderOpenRow


@dataclass(frozen=True)
class ItemClicks:
    """The clicks on one link of an edition: its item (None for another link), URL, title, section
    (None for another link), clicks, and how many distinct readers clicked it when per-reader
    records were kept for the edition (None when they were not: then nobody is identified)."""

    item_id: int | None
    url: str
    title: str
    section: str | None
    clicks: int
    readers: int | None


@dataclass(frozen=True)
class Click:
    """Clicks on one link counted in memory before they are written (`record_clicks`)."""

    edition_id: int
    item_id: int | None
    url: str
    subscriber_id: int | None
    count: int
    first_at: datetime
    last_at: datetime


@dataclass(frozen=True)
class Opens:
    """An edition's opens as the open pixel counted them (only when `open_pixel` was on)."""

    opens: int
    readers: int


def link_key(item_id: int | None, url: str) -> str:
    """What names a link within its edition: "item:<id>", or "url:<hash of the url>"."""
    if item_id is not None:
        return f"item:{item_id}"
    return "url:" + hashlib.sha256(url.encode("utf-8")).hexdigest()[:40]


def record_click(session: Session, *, edition_id: int, item_id: int | None, url: str, subscriber_id: int | None,
                 now: datetime) -> None:
    """Count one click on a link of an edition; and the reader's, when `subscriber_id` is given
    (only when per-reader clicks are on: the caller decides)."""
    record_clicks(session, [Click(edition_id, item_id, url, subscriber_id, 1, now, now)])


def _insert(session: Session, table: Table) -> Any:
    dialect = session.get_bind().dialect.name
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)


def _upsert(session: Session, table: Table, rows: list[dict[str, Any]], keys: list[str], counter: str) -> None:
    if not rows:
        return
    statement = _insert(session, table).values(rows)
    excluded = statement.excluded
    statement = statement.on_conflict_do_update(index_elements=keys, set_={
        counter: table.c[counter] + excluded[counter],
        "first_at": case((excluded.first_at < table.c.first_at, excluded.first_at), else_=table.c.first_at),
        "last_at": case((excluded.last_at > table.c.last_at, excluded.last_at), else_=table.c.last_at),
    })
    session.execute(statement)


def _merge(into: dict[tuple[Any, ...], dict[str, Any]], key: tuple[Any, ...], row: dict[str, Any],
           counter: str) -> None:
    held = into.get(key)
    if held is None:
        into[key] = row
        return
    held[counter] += row[counter]
    held["first_at"] = min(held["first_at"], row["first_at"])
    held["last_at"] = max(held["last_at"], row["last_at"])


def record_clicks(session: Session, clicks: Iterable[Click]) -> int:
    """Add counted clicks to the ledger in one statement per table; returns how many clicks.

    Clicks on the same link are added together first (one row per link and statement), then
    added to what the ledger holds, in the database, so concurrent writers never lose a count."""
    counted: dict[tuple[Any, ...], dict[str, Any]] = {}
    readers: dict[tuple[Any, ...], dict[str, Any]] = {}
    total = 0
    for click in clicks:
        if click.count <= 0:
            continue
        total += click.count
        link = link_key(click.item_id, click.url)
        _merge(counted, (click.edition_id, link), {
            "edition_id": click.edition_id, "item_id": click.item_id, "link": link, "url": click.url,
            "clicks": click.count, "first_at": click.first_at, "last_at": click.last_at}, "clicks")
        if click.subscriber_id is not None:
            _merge(readers, (click.edition_id, link, click.subscriber_id), {
                "edition_id": click.edition_id, "link": link, "subscriber_id": click.subscriber_id,
                "clicks": click.count, "first_at": click.first_at, "last_at": click.last_at}, "clicks")
    ordered = sorted(counted.items())  # one lock order for every writer: no deadlock between workers
    _upsert(session, ClickRow.__table__, [row for _, row in ordered], ["edition_id", "link"], "clicks")
    ordered_readers = sorted(readers.items())
    _upsert(session, ReaderClickRow.__table__, [row for _, row in ordered_readers],
            ["edition_id", "link", "subscriber_id"], "clicks")
    return total


def record_open(session: Session, *, edition_id: int, subscriber_id: int, now: datetime, count: int = 1) -> None:
    """Count a reader's open of an edition (the open pixel, only when `open_pixel` is on)."""
    _upsert(session, ReaderOpenRow.__table__, [{"edition_id": edition_id, "subscriber_id": subscriber_id,
                                                "opens": count, "first_at": now, "last_at": now}],
            ["edition_id", "subscriber_id"], "opens")


def open_counts(session: Session, edition_id: int) -> Opens | None:
    """An edition's opens and distinct readers who opened it; None when no open was recorded."""
    opens, readers = session.execute(
        select(func.coalesce(func.sum(ReaderOpenRow.opens), 0), func.count(ReaderOpenRow.id))
        .where(ReaderOpenRow.edition_id == edition_id)).one()
    return Opens(int(opens), int(readers)) if readers else None


def click_counts(session: Session, edition_id: int) -> list[ItemClicks]:
    """Every item of the edition in its order (pinned first, then section by section), with its
    clicks (0 when none), then the other links that were clicked, most clicked first.

    `readers` is the number of distinct readers per link when the edition has per-reader
    records, else None."""
    counts = {row.link: row for row in session.scalars(select(ClickRow).where(ClickRow.edition_id == edition_id))}
    has_readers = session.scalar(select(ReaderClickRow.id).where(ReaderClickRow.edition_id == edition_id)
                                 .limit(1)) is not None
    readers: dict[str, int] = {}
    if has_readers:
        readers = {link: int(n) for link, n in session.execute(
            select(ReaderClickRow.link, func.count(func.distinct(ReaderClickRow.subscriber_id)))
            .where(ReaderClickRow.edition_id == edition_id).group_by(ReaderClickRow.link))}
    out: list[ItemClicks] = []
    placed = session.execute(
        select(EditionItemRow.item_id, EditionItemRow.section, ItemRow.title, ItemRow.url)
        .join(ItemRow, ItemRow.id == EditionItemRow.item_id)
        .where(EditionItemRow.edition_id == edition_id)
        .order_by(EditionItemRow.section_position, EditionItemRow.position))
    for item_id, section, title, url in placed:
        link = link_key(item_id, url)
        row = counts.pop(link, None)
        out.append(ItemClicks(item_id=item_id, url=row.url if row else url, title=title, section=section,
                              clicks=row.clicks if row else 0,
                              readers=readers.get(link, 0) if has_readers else None))
    others = [row.item_id for row in counts.values() if row.item_id is not None]
    titles: dict[int | None, str] = {}
    if others:
        titles = {ident: title for ident, title in session.execute(
            select(ItemRow.id, ItemRow.title).where(ItemRow.id.in_(others)))}
    for link, row in sorted(counts.items(), key=lambda pair: (-pair[1].clicks, pair[1].url)):
        out.append(ItemClicks(item_id=row.item_id, url=row.url, title=titles.get(row.item_id, row.url)
                              if row.item_id is not None else row.url, section=None, clicks=row.clicks,
                              readers=readers.get(link, 0) if has_readers else None))
    return out


def total_clicks(session: Session, edition_id: int) -> int:
    """Every counted click on the edition's links."""
    return int(session.scalar(select(func.coalesce(func.sum(ClickRow.clicks), 0))
                              .where(ClickRow.edition_id == edition_id)) or 0)


# ---------------------------------------------------------------- the email's links, from the ledger


def link_targets(session: Session, edition_id: int, config: Config) -> dict[int, str]:
    """Where each article link of an edition leads (item id -> its URL with the edition's UTM
    tags): from the ledger's items of the edition, never from a link's text."""
    slug = session.scalar(select(EditionRow.slug).where(EditionRow.id == edition_id))
    if slug is None:
        return {}
    rows = session.execute(select(ItemRow.id, ItemRow.url).join(EditionItemRow, EditionItemRow.item_id == ItemRow.id)
                           .where(EditionItemRow.edition_id == edition_id))
    return {item_id: add_utm(url, campaign=slug, config=config) for item_id, url in rows}


def tracks_readers(row: EditionRow, config: Config) -> tuple[bool, bool]:
    """(per-reader clicks, open pixel) for sending `row`: what the config turns on, and only when
    the email as approved carries the privacy notice (a config changed after approval never makes
    an email track its readers without saying so)."""
    tracking = config.tracking
    told = bool(tracking.notice_text) and carries_notice(row.text, tracking.notice_text)
    return tracking.per_reader_clicks and told, tracking.open_pixel and told


def as_sent(row: EditionRow, config: Config, *, secret_key: str,
            parts: tuple[str, str] | None = None) -> tuple[str, str]:
    """The edition's (HTML, text) as it goes out: every article link signed for this edition,
    with the per-recipient reader token and the open pixel only as `tracks_readers` allows.
    `parts`: the (HTML, text) of one section set's email of it (`compose.email.SectionEmails`)
    instead of the whole edition's."""
    public_url = str(config.edition.public_url)
    per_reader, pixel = tracks_readers(row, config)
    html_in, text_in = parts if parts is not None else (row.html, row.text)
    html_part = signed_links(html_in, public_url=public_url, secret_key=secret_key, edition_id=row.id,
                             per_reader=per_reader)
    if pixel:
        html_part = with_open_pixel(html_part, public_url, row.id)
    text_part = signed_links(text_in, public_url=public_url, secret_key=secret_key, edition_id=row.id,
                             per_reader=per_reader)
    return html_part, text_part


def as_shown(session: Session, row: EditionRow, config: Config) -> tuple[str, str]:
    """The edition's (HTML, text) for staff and the public archive: each article link goes
    straight to the article, so what is shown is where a reader lands."""
    public_url = str(config.edition.public_url)
    targets = link_targets(session, row.id, config)
    return (direct_links(row.html, public_url=public_url, targets=targets, escape=True),
            direct_links(row.text, public_url=public_url, targets=targets, escape=False))
