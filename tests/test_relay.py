"""The event relay: at least once, in order per resource, nothing lost while Prefect is away.

Runs on SQLite and PostgreSQL (the `db` fixture). Emitters are plain recording functions; the
Prefect API emitter is driven through a real httpx client on a MockTransport.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from flows.relay import PrefectApiEmitter, event_uuid, pending_events, relay_events
from state.db import Database
from state.events import (
    EDITION_SENT,
    ITEM_DISCOVERED,
    ITEM_UPDATED,
    SOURCE_FAILED,
    THREAD_PUBLISHED,
    record_event,
    record_events,
    resource_id,
)
from state.models import EditionRow, EventRow, ItemRow, SourceRow, ThreadRow

NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)


class Recorder:
    """A Prefect stand-in: records what it was sent; fails for chosen resources while told to."""

    def __init__(self, failing: set[str] | None = None) -> None:
        self.sent: list[dict[str, Any]] = []
        self.failing = failing or set()

    def __call__(self, **event: Any) -> None:
        if event["resource"]["prefect.resource.id"] in self.failing:
            raise ConnectionError("Prefect API unreachable")
        self.sent.append(event)


def _seed(db: Database, rows: list[tuple[str, str]]) -> None:
    with db.session() as session:
        for offset, (name, resource) in enumerate(rows):
            record_event(session, name, resource, {"n": offset}, now=NOW + timedelta(seconds=offset))


def _rows(db: Database) -> list[EventRow]:
    with db.session() as session:
        return list(session.scalars(select(EventRow).order_by(EventRow.id)).all())


def test_every_event_is_relayed_in_order_with_its_fields(db: Database) -> None:
    _seed(db, [(ITEM_DISCOVERED, resource_id("item", 1)), (ITEM_DISCOVERED, resource_id("item", 2)),
               (ITEM_UPDATED, resource_id("item", 1))])
    emit = Recorder()
    report = relay_events(db, emit=emit, now=NOW + timedelta(minutes=1))
    assert (report.relayed, report.pending) == (3, 0)
    rows = _rows(db)
    assert [e["event"] for e in emit.sent] == [ITEM_DISCOVERED, ITEM_DISCOVERED, ITEM_UPDATED]
    assert [e["resource"]["prefect.resource.id"] for e in emit.sent] == ["syndicate.item.1", "syndicate.item.2",
                                                                         "syndicate.item.1"]
    assert [e["payload"] for e in emit.sent] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert emit.sent[1]["occurred"] == NOW + timedelta(seconds=1)
    assert [e["id"] for e in emit.sent] == [event_uuid(r) for r in rows]
    assert all(r.relayed_at == NOW + timedelta(minutes=1) and r.relay_attempts == 1 and r.relay_error is None
               for r in rows)
    assert relay_events(db, emit=emit, now=NOW).relayed == 0  # nothing twice when all went well
    assert len(emit.sent) == 3


def test_a_failing_resource_waits_in_order_while_others_go_on(db: Database) -> None:
    _seed(db, [(ITEM_DISCOVERED, "syndicate.item.1"), (ITEM_DISCOVERED, "syndicate.item.2"),
               (ITEM_UPDATED, "syndicate.item.1"), (ITEM_UPDATED, "syndicate.item.2")])
    emit = Recorder(failing={"syndicate.item.1"})
    report = relay_events(db, emit=emit, now=NOW)
    assert (report.relayed, report.failed, report.deferred) == (2, 1, 1)
    assert "ConnectionError: Prefect API unreachable" in report.errors["syndicate.item.1"]
    first, _, later, _ = _rows(db)
    assert first.relayed_at is None and first.relay_attempts == 1 and "unreachable" in (first.relay_error or "")
    assert later.relayed_at is None and later.relay_attempts == 0  # never tried ahead of the failed one
    assert pending_events(db) == 2

    emit.failing.clear()  # the API is back
    assert relay_events(db, emit=emit, now=NOW + timedelta(minutes=5)).relayed == 2
    item_one = [(e["event"], e["payload"]["n"]) for e in emit.sent if e["resource"]["prefect.resource.id"].endswith(".1")]
    assert item_one == [(ITEM_DISCOVERED, 0), (ITEM_UPDATED, 2)]
    recovered = _rows(db)[0]
    assert recovered.relay_attempts == 2 and recovered.relay_error is None and pending_events(db) == 0


def test_an_outage_delays_events_and_loses_none(db: Database) -> None:
    with db.session() as session:
        record_events(session, [(ITEM_DISCOVERED, f"syndicate.item.{i}", {"i": i}) for i in range(30)], now=NOW)
    down = Recorder(failing={f"syndicate.item.{i}" for i in range(30)})
    for attempt in range(3):
        assert relay_events(db, emit=down, now=NOW + timedelta(minutes=attempt)).failed == 30
    up = Recorder()
    assert relay_events(db, emit=up, now=NOW + timedelta(hours=1), batch=20).relayed == 20  # batch bounds a pass
    assert relay_events(db, emit=up, now=NOW + timedelta(hours=1), batch=20).relayed == 10
    assert sorted(e["payload"]["i"] for e in up.sent) == list(range(30))
    assert {r.relay_attempts for r in _rows(db)} == {4}


def test_a_re_emit_after_a_crash_is_the_same_prefect_event(db: Database) -> None:
    _seed(db, [(ITEM_DISCOVERED, "syndicate.item.7")])
    first, second = Recorder(), Recorder()
    relay_events(db, emit=first, now=NOW)
    with db.session() as session:  # as if the process died after emitting, before marking the row
        session.execute(update(EventRow).values(relayed_at=None))
    relay_events(db, emit=second, now=NOW)
    assert first.sent[0]["id"] == second.sent[0]["id"]
    assert isinstance(first.sent[0]["id"], uuid.UUID) and first.sent[0]["id"].version == 5


def test_event_ids_differ_between_rows_with_the_same_id_in_other_ledgers(db: Database) -> None:
    row = EventRow(id=1, name=ITEM_DISCOVERED, resource_id="syndicate.item.1", payload={}, occurred_at=NOW)
    other = EventRow(id=1, name=ITEM_DISCOVERED, resource_id="syndicate.item.1", payload={},
                     occurred_at=NOW + timedelta(microseconds=1))
    assert event_uuid(row) == event_uuid(row) != event_uuid(other)


def _api(status: int, seen: list[Any]) -> httpx.Client:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.url.path, json.loads(request.content)))
        return httpx.Response(status)

    return httpx.Client(base_url="http://127.0.0.1:4200/api", transport=httpx.MockTransport(handler))


def test_the_prefect_api_emitter_posts_events_and_raises_unless_accepted(db: Database) -> None:
    _seed(db, [(ITEM_DISCOVERED, "syndicate.item.3")])
    seen: list[Any] = []
    refused = PrefectApiEmitter(client_factory=lambda: _api(503, seen))
    assert relay_events(db, emit=refused, now=NOW).failed == 1
    assert "503" in (_rows(db)[0].relay_error or "")

    accepted = PrefectApiEmitter(client_factory=lambda: _api(204, seen))
    assert relay_events(db, emit=accepted, now=NOW).relayed == 1
    method, path, body = seen[-1]
    assert (method, path) == ("POST", "/api/events")
    assert body[0]["event"] == ITEM_DISCOVERED and body[0]["resource"]["prefect.resource.id"] == "syndicate.item.3"
    assert body[0]["id"] == str(event_uuid(_rows(db)[0])) and body[0]["payload"] == {"n": 0}
    assert seen[0][2][0]["id"] == body[0]["id"]  # the retry was the same event


@pytest.mark.parametrize("batch", [1, 500])
def test_batch_size_never_reorders_a_resource(db: Database, batch: int) -> None:
    _seed(db, [(ITEM_DISCOVERED, "syndicate.item.1"), (ITEM_UPDATED, "syndicate.item.1"),
               (ITEM_UPDATED, "syndicate.item.1")])
    emit = Recorder()
    while relay_events(db, emit=emit, now=NOW, batch=batch).relayed:
        pass
    assert [e["payload"]["n"] for e in emit.sent] == [0, 1, 2]


def test_events_name_their_resources_and_related_resources_in_words(db: Database) -> None:
    """What the Prefect UI's event feed shows and automations filter on: titles, subjects, networks."""
    long_subject = "In Our View #12: " + "interoperability and data standards " * 10
    with db.session() as session:
        source = SourceRow(name="Socitm news", kind="rss", url="https://www.socitm.net/feed", section="news")
        session.add(source)
        session.flush()
        item = ItemRow(key="https://www.socitm.net/a", url="https://www.socitm.net/a", title="Councils and AI",
                       section="news", source_id=source.id, content_hash="c" * 64, published_at=NOW,
                       first_seen_at=NOW)
        edition = EditionRow(slug="2026-11-26", title="In Our View", subject=long_subject, html="<p>x</p>",
                             text="x", content_hash="h" * 64, built_at=NOW)
        session.add_all([item, edition])
        session.flush()
        roundup = ThreadRow(network="bluesky", key="edition:2026-11-26", kind="roundup", edition_id=edition.id,
                            content_hash="t" * 64, created_at=NOW)
        single = ThreadRow(network="x", key=f"item:{item.id}", kind="item", item_id=item.id, content_hash="u" * 64,
                           created_at=NOW)
        session.add_all([roundup, single])
        session.flush()
        ids = (source.id, item.id, edition.id, roundup.id, single.id)
    source_id, item_id, edition_id, roundup_id, single_id = ids
    with db.session() as session:
        record_event(session, SOURCE_FAILED, resource_id("source", source_id), {"source": "Socitm news"}, now=NOW)
        record_event(session, ITEM_DISCOVERED, resource_id("item", item_id), {}, now=NOW)
        record_event(session, EDITION_SENT, resource_id("edition", edition_id), {"slug": "2026-11-26"}, now=NOW)
        record_event(session, THREAD_PUBLISHED, resource_id("thread", roundup_id), {"network": "bluesky"}, now=NOW)
        record_event(session, THREAD_PUBLISHED, resource_id("thread", single_id), {"network": "x"}, now=NOW)
        record_event(session, THREAD_PUBLISHED, resource_id("thread", 999), {"network": "mastodon"}, now=NOW)
    emit = Recorder()
    assert relay_events(db, emit=emit, now=NOW).relayed == 6
    failed, found, sent, bluesky, x_thread, gone = emit.sent
    assert failed["resource"]["prefect.resource.name"] == "Socitm news"
    assert found["resource"]["prefect.resource.name"] == "Councils and AI"
    assert found["related"] == [{"prefect.resource.id": f"syndicate.source.{source_id}",
                                 "prefect.resource.role": "source", "prefect.resource.name": "Socitm news"}]
    name = sent["resource"]["prefect.resource.name"]
    assert name.startswith("In Our View #12: interoperability") and len(name) == 200 and name.endswith("\u2026")
    assert sent["resource"]["syndicate.edition.slug"] == "2026-11-26"
    assert sent["resource"]["prefect.resource.id"] == f"syndicate.edition.{edition_id}"
    assert bluesky["resource"]["syndicate.network"] == "bluesky"
    assert bluesky["resource"]["prefect.resource.name"].startswith("Bluesky roundup of In Our View #12")
    assert [(r["prefect.resource.role"], r["prefect.resource.id"]) for r in bluesky["related"]] == [
        ("network", "syndicate.network.bluesky"), ("edition", f"syndicate.edition.{edition_id}")]
    assert x_thread["resource"]["prefect.resource.name"] == "X thread: Councils and AI"
    assert x_thread["related"][1] == {"prefect.resource.id": f"syndicate.item.{item_id}",
                                      "prefect.resource.role": "item", "prefect.resource.name": "Councils and AI"}
    assert gone["resource"]["syndicate.network"] == "mastodon"  # no longer in the ledger: its payload names it
    assert gone["related"][0]["prefect.resource.name"] == "Mastodon"


def test_the_emitted_event_carries_its_labels_as_prefect_reads_them(db: Database) -> None:
    with db.session() as session:
        source = SourceRow(name="Socitm news", kind="rss", url="https://www.socitm.net/feed", section="news")
        session.add(source)
        session.flush()
        record_event(session, SOURCE_FAILED, resource_id("source", source.id), {"source": "Socitm news"}, now=NOW)
    seen: list[Any] = []
    assert relay_events(db, emit=PrefectApiEmitter(client_factory=lambda: _api(204, seen)), now=NOW).relayed == 1
    body = seen[0][2][0]
    assert body["resource"]["prefect.resource.name"] == "Socitm news"
    assert body["resource"]["syndicate.section"] == "news" and body["related"] == []
