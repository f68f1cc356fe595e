"""Storing what gather found: new items, updates, backlog, cross-source duplicates, failures."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from compose.config import Source
from compose.models import FetchReport, Item, SourceCursor
from flows.settings import parse_config
from flows.stages.gather import gather_sources
from state.db import Database
from state.events import ITEM_DISCOVERED, ITEM_UPDATED, SOURCE_FAILED
from state.items import store_report, sync_sources
from state.models import EventRow, ItemRow, SourceRow

NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)
CONFIG = parse_config("""
[organisation]
name = "Socitm"
site_url = "https://www.socitm.net"
postal_address = "Northampton, UK"
[edition]
from_email = "a@socitm.example"
from_name = "In Our View"
reply_to = "b@socitm.example"
[[sections]]
key = "news"
title = "News"
[[sources]]
name = "news"
kind = "feed"
url = "https://www.socitm.net/news/feed.xml"
section = "news"
[[sources]]
name = "partner"
kind = "feed"
url = "https://partner.example/feed.xml"
section = "news"
""")


def _item(n: int, source: str = "news", **extra: object) -> Item:
    fields = {"url": f"https://www.socitm.net/news/{n}", "title": f"Story {n}", "section": "news", "source": source,
              "summary_text": f"Summary {n}", "summary_html": f"<p>Summary {n}</p>",
              "published": NOW - timedelta(hours=n)}
    fields.update(extra)
    return Item(**fields)  # type: ignore[arg-type]


def _report(source: str, items: list[Item], **extra: object) -> FetchReport:
    return FetchReport(source=source, items=tuple(items), status=200, bytes=100,
                       cursor=SourceCursor(url="x", etag='"v1"'), **extra)  # type: ignore[arg-type]


def _fetcher(reports: dict[str, FetchReport]):  # type: ignore[no-untyped-def]
    def fetch(sources: list[Source], cursors: dict[str, SourceCursor]) -> list[FetchReport]:
        return [reports[s.name] for s in sources]
    return fetch


def _events(session, name: str) -> int:  # type: ignore[no-untyped-def]
    return session.scalar(select(func.count()).select_from(EventRow).where(EventRow.name == name))


def test_first_gather_of_a_new_source_is_backlog(db: Database) -> None:
    with db.session() as session:
        summary = gather_sources(session, CONFIG, now=NOW, fetch=_fetcher({
            "news": _report("news", [_item(1), _item(2)]), "partner": _report("partner", [])}))
        assert summary.new == 2
        assert session.scalar(select(func.count()).select_from(ItemRow).where(ItemRow.backlog.is_(True))) == 2
        assert _events(session, ITEM_DISCOVERED) == 0  # backlog is never announced
    with db.session() as session:
        summary = gather_sources(session, CONFIG, now=NOW + timedelta(minutes=30), fetch=_fetcher({
            "news": _report("news", [_item(1), _item(2), _item(3)]), "partner": _report("partner", [])}))
        assert summary.new == 1
        fresh = session.scalars(select(ItemRow).where(ItemRow.backlog.is_(False))).all()
        assert [row.title for row in fresh] == ["Story 3"]
        assert _events(session, ITEM_DISCOVERED) == 1


def test_include_backlog_announces_everything(db: Database) -> None:
    with db.session() as session:
        gather_sources(session, CONFIG, now=NOW, include_backlog=True, fetch=_fetcher({
            "news": _report("news", [_item(1), _item(2)]), "partner": _report("partner", [])}))
        assert _events(session, ITEM_DISCOVERED) == 2
        row = session.scalars(select(SourceRow).where(SourceRow.name == "news")).one()
        assert row.etag == '"v1"' and row.last_items_new == 2 and row.consecutive_failures == 0


def test_same_article_from_two_sources_is_one_item_and_richer_wins(db: Database) -> None:
    poor = _item(1, summary_text="", summary_html="")
    rich = _item(1, source="partner", summary_text="A much longer and more useful summary",
                 summary_html="<p>A much longer and more useful summary</p>", image_url="https://www.socitm.net/i.png")
    with db.session() as session:
        gather_sources(session, CONFIG, now=NOW, include_backlog=True, fetch=_fetcher({
            "news": _report("news", [poor]), "partner": _report("partner", [rich])}))
        rows = session.scalars(select(ItemRow)).all()
        assert len(rows) == 1
        assert rows[0].image_url == "https://www.socitm.net/i.png"
        assert rows[0].summary_text.startswith("A much longer")
        assert _events(session, ITEM_DISCOVERED) == 1


def test_changed_content_is_updated_not_announced_again(db: Database) -> None:
    with db.session() as session:
        gather_sources(session, CONFIG, now=NOW, include_backlog=True,
                       fetch=_fetcher({"news": _report("news", [_item(1)]), "partner": _report("partner", [])}))
    with db.session() as session:
        summary = gather_sources(session, CONFIG, now=NOW + timedelta(hours=1), fetch=_fetcher({
            "news": _report("news", [_item(1, title="Story 1 (corrected)")]), "partner": _report("partner", [])}))
        assert (summary.new, summary.updated) == (0, 1)
        row = session.scalars(select(ItemRow)).one()
        assert row.title == "Story 1 (corrected)" and row.revision == 2 and row.updated_at is not None
        assert _events(session, ITEM_DISCOVERED) == 1 and _events(session, ITEM_UPDATED) == 1
    with db.session() as session:  # the same content again changes nothing
        summary = gather_sources(session, CONFIG, now=NOW + timedelta(hours=2), fetch=_fetcher({
            "news": _report("news", [_item(1, title="Story 1 (corrected)")]), "partner": _report("partner", [])}))
        assert (summary.new, summary.updated) == (0, 0)


def test_a_broken_source_is_recorded_and_does_not_stop_the_others(db: Database) -> None:
    broken = FetchReport(source="partner", status=404, error="the server returned 404 Not Found",
                         hint="check the URL in syndicate.toml")
    for attempt in (1, 2):
        with db.session() as session:
            summary = gather_sources(session, CONFIG, now=NOW + timedelta(hours=attempt), include_backlog=True,
                                     fetch=_fetcher({"news": _report("news", [_item(attempt)]), "partner": broken}))
            assert summary.new == 1 and summary.failed == 1
    with db.session() as session:
        row = session.scalars(select(SourceRow).where(SourceRow.name == "partner")).one()
        assert row.consecutive_failures == 2
        assert row.last_error == "the server returned 404 Not Found" and row.last_error_hint
        assert row.last_success_at is None
        assert _events(session, SOURCE_FAILED) == 2


def test_permanent_redirect_is_stored_and_used_next_time(db: Database) -> None:
    with db.session() as session:
        rows = sync_sources(session, CONFIG.sources)
        store_report(session, rows["news"], _report("news", [], moved_to="https://www.socitm.net/feeds/news.xml"), now=NOW)
    seen: dict[str, SourceCursor] = {}

    def fetch(sources: list[Source], cursors: dict[str, SourceCursor]) -> list[FetchReport]:
        seen.update(cursors)
        return [_report(s.name, []) for s in sources]

    with db.session() as session:
        gather_sources(session, CONFIG, now=NOW, fetch=fetch)
    assert seen["news"].url == "https://www.socitm.net/feeds/news.xml"
    assert seen["news"].etag == '"v1"'


def test_retry_after_skips_the_source_until_then(db: Database) -> None:
    with db.session() as session:
        rows = sync_sources(session, CONFIG.sources)
        store_report(session, rows["partner"], FetchReport(source="partner", status=429, error="too many requests",
                                                           retry_after_s=3600), now=NOW)
    calls: list[str] = []

    def fetch(sources: list[Source], cursors: dict[str, SourceCursor]) -> list[FetchReport]:
        calls.extend(s.name for s in sources)
        return [_report(s.name, []) for s in sources]

    with db.session() as session:
        summary = gather_sources(session, CONFIG, now=NOW + timedelta(minutes=5), fetch=fetch)
    assert calls == ["news"]
    assert any(s.skipped for s in summary.sources if s.name == "partner")


def test_an_item_with_a_link_longer_than_the_key_column_is_stored_beside_the_others(db: Database) -> None:
    # 12,800 characters that hardly compress: over PostgreSQL's limit for a B-tree index entry (2,704 bytes)
    long_url = "https://www.socitm.net/news/" + "".join(hashlib.sha256(bytes([n])).hexdigest() for n in range(200))
    items = [_item(1), _item(2, url=long_url), _item(3, guid="g" * 1_500, url="")]
    with db.session() as session:
        row = sync_sources(session, CONFIG.sources)["news"]
        result = store_report(session, row, _report("news", items), now=NOW, include_backlog=True)
    assert result.new == 3
    with db.session() as session:  # the same items again are the same items, not new ones
        row = session.scalars(select(SourceRow).where(SourceRow.name == "news")).one()
        again = store_report(session, row, _report("news", items), now=NOW + timedelta(hours=1))
        assert again.new == 0
        assert session.scalar(select(func.count()).select_from(ItemRow)) == 3
        assert long_url in set(session.scalars(select(ItemRow.url)))
