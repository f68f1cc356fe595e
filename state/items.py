"""Sources and items in the ledger: the store half of `gather`.

`sync_sources` mirrors the configured sources into the `sources` table; `store_report` records
one fetch: the source's health figures and cursor, new items (bulk inserted, one
`syndicate.item.discovered` event each), and changed items (updated, revision bumped, one
`syndicate.item.updated` event, never announced again). The first successful gather of a new
source marks what it finds as backlog, so adding a source never floods subscribers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, func, insert, select, update
from sqlalchemy.orm import Session

from compose import items as item_rules
from compose.config import Source
from compose.models import FetchReport, Item, SourceCursor
from state import events
from state.models import ItemRow, SourceRow

_CHUNK = 900  # rows per statement: well under SQLite's 32,766 bound parameters


@dataclass(frozen=True, slots=True)
class StoreResult:
    """What storing a source's items did: new, updated, duplicates of another source, and backlog."""

    new: int = 0
    updated: int = 0
    duplicates: int = 0
    backlog: int = 0


def sync_sources(session: Session, sources: Sequence[Source]) -> dict[str, SourceRow]:
    """Create or update a row per configured source; returns them by name."""
    rows = {row.name: row for row in session.scalars(select(SourceRow))}
    for source in sources:
        row = rows.get(source.name)
        url = str(source.url)
        if row is None:
            row = SourceRow(name=source.name, kind=source.kind, url=url, section=source.section,
                            consecutive_failures=0, last_bytes=0, last_elapsed_ms=0.0,
                            last_items_new=0, last_items_updated=0)
            session.add(row)
            rows[source.name] = row
        else:
            if row.url != url and row.moved_to != url:
                row.etag = row.last_modified = None  # a new URL: the old validators mean nothing
            row.kind, row.url, row.section = source.kind, url, source.section
    session.flush()
    return rows


def cursor_of(row: SourceRow) -> SourceCursor:
    """Where to fetch next: a permanent redirect seen earlier wins over the configured URL."""
    return SourceCursor(url=row.moved_to or row.url, etag=row.etag, last_modified=row.last_modified)


def _row_values(item: Item, key: str, source_id: int, now: datetime, *, backlog: bool) -> dict[str, object]:
    return {
        "key": key,
        "url": item.url,
        "guid": item.guid,
        "title": item.title,
        "summary_html": item.summary_html,
        "summary_text": item.summary_text,
        "image_url": item.image_url,
        "image_alt": item.image_alt,
        "author": item.author,
        "section": item.section,
        "source_id": source_id,
        "content_hash": item_rules.content_hash(item.title, item.summary_text, item.url),
        "published_at": item.published or item.updated or now,
        "first_seen_at": now,
        "updated_at": None,
        "revision": 1,
        "backlog": backlog,
    }


def _as_item(row: ItemRow, source_name: str) -> Item:
    return Item(url=row.url, title=row.title, section=row.section, source=source_name,
                summary_html=row.summary_html, summary_text=row.summary_text, published=row.published_at,
                image_url=row.image_url, guid=row.guid, author=row.author, id=row.id, image_alt=row.image_alt)


@dataclass(frozen=True, slots=True)
class _Stored:
    """What a gather needs to know of a stored item to tell whether it changed (no full row load)."""

    id: int
    source_id: int
    content_hash: str
    image_url: str | None
    image_alt: str | None


def _existing(session: Session, keys: Sequence[str]) -> dict[str, _Stored]:
    found: dict[str, _Stored] = {}
    columns = (ItemRow.key, ItemRow.id, ItemRow.source_id, ItemRow.content_hash, ItemRow.image_url, ItemRow.image_alt)
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start:start + _CHUNK]
        found.update((key, _Stored(ident, source_id, content_hash, image_url, image_alt))
                     for key, ident, source_id, content_hash, image_url, image_alt in session.execute(select(*columns).where(
                         ItemRow.key.in_(chunk))))
    return found


def _rows(session: Session, ids: Sequence[int]) -> dict[int, ItemRow]:
    rows: dict[int, ItemRow] = {}
    for start in range(0, len(ids), _CHUNK):
        rows.update((row.id, row) for row in session.scalars(select(ItemRow).where(ItemRow.id.in_(ids[start:start + _CHUNK]))))
    return rows


def _record_health(session: Session, row: SourceRow, report: FetchReport, *, now: datetime) -> None:
    row.last_attempt_at = now
    row.last_status = report.status
    row.last_bytes = report.bytes
    row.last_elapsed_ms = report.elapsed_ms
    row.last_items_new = row.last_items_updated = 0
    if report.moved_to and report.moved_to != row.moved_to:
        row.moved_to = report.moved_to
        events.record_event(session, events.SOURCE_MOVED, events.resource_id("source", row.id),
                            {"source": row.name, "from": row.url, "to": report.moved_to}, now=now)
    if report.retry_after_s:
        row.retry_after = now + timedelta(seconds=report.retry_after_s)
    if not report.ok:
        row.last_error, row.last_error_hint, row.last_error_at = report.error, report.hint, now
        row.consecutive_failures = (row.consecutive_failures or 0) + 1
        events.record_event(session, events.SOURCE_FAILED, events.resource_id("source", row.id),
                            {"source": row.name, "error": report.error, "hint": report.hint,
                             "consecutive_failures": row.consecutive_failures}, now=now)
        return
    if report.cursor is not None:
        row.etag, row.last_modified = report.cursor.etag, report.cursor.last_modified
    row.last_success_at = now
    row.consecutive_failures = 0
    row.last_error = row.last_error_hint = None


def store_report(
    session: Session, row: SourceRow, report: FetchReport, *, now: datetime, include_backlog: bool = False,
) -> StoreResult:
    """Record one fetch of one source. Never raises for a failed fetch: the failure is stored."""
    return store_reports(session, [(row, report)], now=now, include_backlog=include_backlog)[row.id]


@dataclass(slots=True)
class _Found:
    item: Item
    source: SourceRow
    backlog: bool


def store_reports(
    session: Session, fetched: Sequence[tuple[SourceRow, FetchReport]], *, now: datetime, include_backlog: bool = False,
) -> dict[int, StoreResult]:
    """Record a whole gather run at once: each source's health, then every item found, merged
    across sources and written in bulk (one lookup and one insert per chunk, not per source)."""
    return _store_together(session, fetched, now=now, include_backlog=include_backlog)[0]


def store_in_turn(session: Session, fetched: Sequence[tuple[SourceRow, FetchReport]], *,
                  now: datetime) -> list[StoreResult]:
    """Record fetches as if stored one after another, each as `store_report` would (WebSub pushes:
    each is a fetch of its own): a later report of an item updates what an earlier one stored, and a
    source's health and last counts are its last report's. One result a report, in order.

    The reports are written together in rounds (`store_reports` of many, a handful of statements
    between them): a round takes them in order until one names an item the round already has, which
    starts the next round, so that the later report's item is compared with the stored one."""
    results: list[StoreResult] = []
    for number, round_ in enumerate(_rounds(fetched)):
        if number:
            session.flush()  # what the last round changed, for this one to compare with (autoflush may be off)
        first_of = {row.id: row.first_gathered_at is None for row, _, _ in round_}
        _, (inserted, updated) = _store_together(session, [(row, report) for row, report, _ in round_], now=now)
        last: dict[int, tuple[SourceRow, StoreResult]] = {}
        for row, report, keys in round_:
            new = len(keys & inserted)
            result = StoreResult(new=new, updated=len(keys & updated), duplicates=len(report.items) - len(keys) if report.ok else 0,
                                 backlog=new if first_of.pop(row.id, False) else 0)
            results.append(result)
            last[row.id] = (row, result)
        for row, result in last.values():
            row.last_items_new, row.last_items_updated = result.new, result.updated
    return results


def _rounds(fetched: Sequence[tuple[SourceRow, FetchReport]]) -> list[list[tuple[SourceRow, FetchReport, set[str]]]]:
    rounds: list[list[tuple[SourceRow, FetchReport, set[str]]]] = []
    current: list[tuple[SourceRow, FetchReport, set[str]]] = []
    keys_of_round: set[str] = set()
    for row, report in fetched:
        keys = {item_rules.item_key(item) for item in report.items} if report.ok else set()
        if current and not keys.isdisjoint(keys_of_round):
            rounds.append(current)
            current, keys_of_round = [], set()
        current.append((row, report, keys))
        keys_of_round |= keys
    if current:
        rounds.append(current)
    return rounds


def _store_together(
    session: Session, fetched: Sequence[tuple[SourceRow, FetchReport]], *, now: datetime, include_backlog: bool = False,
) -> tuple[dict[int, StoreResult], tuple[set[str], set[str]]]:
    found: dict[str, _Found] = {}
    duplicates: dict[int, int] = {}
    for row, report in fetched:
        _record_health(session, row, report, now=now)
        if not report.ok:
            continue
        backlog = row.first_gathered_at is None and not include_backlog
        if row.first_gathered_at is None:
            row.first_gathered_at = now
        for item in report.items:
            key = item_rules.item_key(item)
            other = found.get(key)
            if other is None:
                found[key] = _Found(item, row, backlog)
                continue
            duplicates[row.id] = duplicates.get(row.id, 0) + 1
            best = item_rules.richer(other.item, item)
            found[key] = _Found(best, row if best is item else other.source, other.backlog and backlog)
    new, updated, keys = _store_items(session, found, now=now)
    results: dict[int, StoreResult] = {}
    for row, _report in fetched:
        row.last_items_new, row.last_items_updated = new.get(row.id, 0), updated.get(row.id, 0)
        results[row.id] = StoreResult(new=row.last_items_new, updated=row.last_items_updated,
                                      duplicates=duplicates.get(row.id, 0),
                                      backlog=row.last_items_new if row.first_gathered_at == now and not include_backlog else 0)
    return results, keys


def _store_items(session: Session, found: dict[str, _Found], *,
                 now: datetime) -> tuple[dict[int, int], dict[int, int], tuple[set[str], set[str]]]:
    """New and updated items by source id, and the keys of the items inserted and of those updated."""
    new: dict[int, int] = {}
    updated: dict[int, int] = {}
    inserted_keys: set[str] = set()
    updated_keys: set[str] = set()
    if not found:
        return new, updated, (inserted_keys, updated_keys)
    # a ledger with no item yet (a first gather) has nothing to compare with: 15,000 keys looked up
    # in vain cost about 0.13 s; up to a chunk of keys, one lookup costs less than asking first
    stored_any = len(found) <= _CHUNK or session.execute(select(ItemRow.id).limit(1)).first() is not None
    existing = _existing(session, list(found)) if stored_any else {}
    values: list[dict[str, object]] = []
    backlog_of: dict[str, bool] = {}
    to_compare: list[tuple[_Stored, _Found]] = []
    for key, entry in found.items():
        stored = existing.get(key)
        if stored is None:
            values.append(_row_values(entry.item, key, entry.source.id, now, backlog=entry.backlog))
            backlog_of[key] = entry.backlog
        elif stored.source_id != entry.source.id or not _unchanged(stored, entry.item):
            to_compare.append((stored, entry))  # most items of a changed feed are unchanged: skipped above
    rows = _rows(session, [stored.id for stored, _ in to_compare])
    changed: list[tuple[ItemRow, SourceRow]] = []
    for stored, entry in to_compare:
        current = rows[stored.id]
        same_source = stored.source_id == entry.source.id
        candidate = entry.item if same_source else item_rules.richer(_as_item(current, ""), entry.item)
        if not same_source and candidate is not entry.item:
            continue  # the stored record is the richer one
        new_hash = item_rules.content_hash(candidate.title, candidate.summary_text, candidate.url)
        if (new_hash == current.content_hash and (candidate.image_url or None) == current.image_url
                and (candidate.image_alt or None) == current.image_alt):
            continue
        _apply(current, replace(candidate, section=current.section), new_hash, now)
        changed.append((current, entry.source))
        updated_keys.add(current.key)
        updated[entry.source.id] = updated.get(entry.source.id, 0) + 1
    table = ItemRow.__table__
    connection = session.connection()
    inserted: list[tuple[int, str, str, int]] = []
    for start in range(0, len(values), _CHUNK):
        chunk = values[start:start + _CHUNK]
        inserted.extend(connection.execute(
            insert(table).returning(table.c.id, table.c.key, table.c.url, table.c.source_id), chunk).all())
    names = {entry.source.id: (entry.source.name, entry.source.section) for entry in found.values()}
    announced = []
    for ident, key, url, source_id in inserted:
        new[source_id] = new.get(source_id, 0) + 1
        inserted_keys.add(key)
        if not backlog_of[key]:
            name, section = names[source_id]
            announced.append((events.ITEM_DISCOVERED, events.resource_id("item", ident),
                              {"item_id": ident, "source": name, "section": section, "url": url}))
    events.record_events(session, announced, now=now)
    events.record_events(session, [
        (events.ITEM_UPDATED, events.resource_id("item", row.id),
         {"item_id": row.id, "source": source.name, "revision": row.revision}) for row, source in changed], now=now)
    return new, updated, (inserted_keys, updated_keys)


def _unchanged(stored: _Stored, item: Item) -> bool:
    return (stored.content_hash == item_rules.content_hash(item.title, item.summary_text, item.url)
            and stored.image_url == (item.image_url or None) and stored.image_alt == (item.image_alt or None))


def _apply(row: ItemRow, item: Item, content_hash: str, now: datetime) -> None:
    row.url = item.url
    row.title = item.title
    row.summary_html = item.summary_html
    row.summary_text = item.summary_text
    row.image_url = item.image_url
    row.image_alt = item.image_alt
    row.author = item.author
    if item.published:
        row.published_at = item.published
    row.content_hash = content_hash
    row.updated_at = now
    row.revision += 1


def release_backlog(session: Session, source_id: int | None = None, *, since: datetime | None = None) -> int:
    """Let held-back backlog into the next edition: of one source (or all), published at or after
    `since` (or all). Returns how many items were released."""
    query = update(ItemRow).where(ItemRow.backlog.is_(True))
    if source_id is not None:
        query = query.where(ItemRow.source_id == source_id)
    if since is not None:
        query = query.where(ItemRow.published_at >= since)
    # an UPDATE's result is a CursorResult; Session.execute is typed with the wider Result
    result = cast(CursorResult[Any], session.execute(query.values(backlog=False)))
    return result.rowcount or 0


def backlog_counts(session: Session) -> dict[str, int]:
    """Items held back as backlog, by source name (sources with none left out)."""
    # count(*), not count(items.id): PostgreSQL then counts from the partial index alone (21 to 9 ms at 1M items)
    rows = session.execute(select(SourceRow.name, func.count()).join(ItemRow, ItemRow.source_id == SourceRow.id)
                           .where(ItemRow.backlog.is_(True)).group_by(SourceRow.name).order_by(SourceRow.name))
    return {name: count for name, count in rows}
