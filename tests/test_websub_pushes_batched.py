"""WebSub pushes stored many to a transaction (`web.websub.pushes`, a `web.group_commit.GroupCommit`):
each push answered as if alone, and the subscription's counts right when pushes arrive together,
from one web process or two at once (the counts are added in the database, never read and rewritten)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from datetime import UTC, datetime

from sqlalchemy import event, func, select

from connectors.sources.websub import sign
from state import websub
from state.db import connect
from state.events import ITEM_DISCOVERED, ITEM_UPDATED, resource_id
from state.models import EventRow, ItemRow, SourceRow, WebSubSubscriptionRow
from state.websub import PushState
from tests.helpers import desk_data
from web.app import create_app
from web.group_commit import GroupCommit

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
SECRET = "test-secret-key-0123456789abcdef"
HUB_SECRET = "hub-secret-0123456789"


def _site(db, tmp_path):
    config = desk_data.example_config(tmp_path)
    desk_data.seed_items(db, config, now=NOW)
    with db.session() as session:
        source = session.scalars(select(SourceRow).where(SourceRow.name == "news")).one()
        session.add(WebSubSubscriptionRow(source_id=source.id, hub_url="https://hub.example/", topic_url=source.url,
                                          token="tok", secret=HUB_SECRET, state=PushState.VERIFIED, discovered_at=NOW,
                                          verified_at=NOW, lease_seconds=864_000, pushes=0, rejected_pushes=0))
    return config


def _push(n: int, *, forged: bool = False, content_type: str = "application/atom+xml", title: str = ""):
    from web.websub import _Push

    body = (f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>News</title>'
            f'<id>urn:feed</id><updated>2026-12-07T09:00:00Z</updated><entry><id>urn:test:{n}</id>'
            f'<title>{title or f"Pushed story {n}"}</title><link href="https://www.socitm.net/news/pushed-{n}"/>'
            f'<updated>2026-12-07T09:00:00Z</updated><summary>Summary {n}</summary></entry></feed>').encode()
    signature = sign("not-the-secret" if forged else HUB_SECRET, body)
    return _Push(token="tok", body=body, signature=signature, content_type=content_type)


def _counts(db):
    with db.session() as session:
        row = session.scalars(select(WebSubSubscriptionRow)).one()
        stored = session.scalar(select(func.count()).where(ItemRow.url.like("https://www.socitm.net/news/pushed-%")))
        return row.pushes, row.rejected_pushes, stored, row.last_rejected_reason


def test_pushes_arriving_together_are_each_answered_and_counted(db, tmp_path):
    config = _site(db, tmp_path)
    app = create_app(config=config, db=db, secret_key=SECRET, now=lambda: NOW)
    pushes = app.state.websub_pushes
    known = pushes.look_up("tok")
    batch = ([_push(n) for n in range(20)] + [_push(100 + n, forged=True) for n in range(5)]
             + [_push(200 + n, content_type="image/png") for n in range(3)] + [_push(0)])  # the last: a repeat

    async def all_at_once():
        return await asyncio.gather(*(pushes.take(push, known) for push in batch))

    answers = asyncio.run(all_at_once())
    assert [a.status_code for a in answers] == [202] * 25 + [415] * 3 + [202]
    pushes, rejected, stored, reason = _counts(db)
    assert (pushes, rejected, stored) == (21, 8, 20)
    assert reason == "unsupported content type 'image/png'"


def test_two_web_processes_pushing_at_once_lose_no_count(db, tmp_path):
    config = _site(db, tmp_path)
    url = db.engine.url.render_as_string(hide_password=False)
    answers: list[list[int]] = [[], []]

    def worker(n: int) -> None:
        own = connect(url)
        app = create_app(config=config, db=own, secret_key=SECRET, now=lambda: NOW)

        async def load():
            pushes = app.state.websub_pushes
            known = pushes.look_up("tok")
            got = await asyncio.gather(*(pushes.take(_push(1000 * n + k), known) for k in range(40)))
            answers[n - 1] = [a.status_code for a in got]

        try:
            asyncio.run(load())
        finally:
            own.dispose()

    threads = [threading.Thread(target=worker, args=(n,)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert answers == [[202] * 40, [202] * 40]
    assert _counts(db)[:3] == (80, 0, 80)


def test_a_batch_of_pushes_is_a_few_statements_not_a_few_a_push(db, tmp_path):
    """Checked and parsed in their requests, stored together: 30 pushes in one transaction cost
    about as many statements as one (they cost four or more each, and a session each to check)."""
    config = _site(db, tmp_path)
    app = create_app(config=config, db=db, secret_key=SECRET, now=lambda: NOW)
    pushes = app.state.websub_pushes
    known = pushes.look_up("tok")
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):  # noqa: ARG001
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        async def all_at_once():
            return await asyncio.gather(*(pushes.take(_push(n), known) for n in range(30)))

        answers = asyncio.run(all_at_once())
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert [a.status_code for a in answers] == [202] * 30
    assert _counts(db)[:3] == (30, 0, 30)
    assert len(statements) <= 2 * 12  # a first push alone, then the 29 that waited for it together


def test_pushes_of_one_item_in_one_batch_are_stored_in_turn(db, tmp_path):
    """The same entry pushed twice, changed in between, arriving together: stored as if one push
    after the other (discovered, then updated to revision 2), not merged into one."""
    config = _site(db, tmp_path)
    app = create_app(config=config, db=db, secret_key=SECRET, now=lambda: NOW)
    pushes = app.state.websub_pushes
    known = pushes.look_up("tok")
    batch = [_push(1, title="First title"), _push(2, title="Another story"), _push(1, title="Second title")]

    async def all_at_once():
        return await asyncio.gather(*(pushes.take(push, known) for push in batch))

    assert [a.status_code for a in asyncio.run(all_at_once())] == [202] * 3
    with db.session() as session:
        item = session.scalars(select(ItemRow).where(ItemRow.url == "https://www.socitm.net/news/pushed-1")).one()
        assert (item.title, item.revision) == ("Second title", 2)
        names = list(session.scalars(select(EventRow.name).where(EventRow.resource_id == resource_id("item", item.id))
                                     .order_by(EventRow.id)))
        assert names == [ITEM_DISCOVERED, ITEM_UPDATED]
        source = session.scalars(select(SourceRow).where(SourceRow.name == "news")).one()
        assert (source.last_items_new, source.last_items_updated) == (0, 1)  # the last push's own counts
    assert _counts(db)[:3] == (3, 0, 2)


def test_a_known_token_no_longer_wanted_is_refused_and_forgotten(db, tmp_path):
    """The process keeps what never changes for a token; whether it still takes pushes is read in
    the writer's transaction. Unsubscribed elsewhere (another process, the gather): the next push
    gets its 410 and stores nothing, and the token is forgotten, so later ones are refused before
    their body is read."""
    from fastapi.testclient import TestClient

    config = _site(db, tmp_path)
    app = create_app(config=config, db=db, secret_key=SECRET, now=lambda: NOW, env={})
    pushes = app.state.websub_pushes
    client = TestClient(app)

    def post(n: int):
        push = _push(n)
        return client.post("/websub/tok", content=push.body, headers={
            "X-Hub-Signature": push.signature or "", "Content-Type": push.content_type})

    assert post(1).status_code == 202 and "tok" in pushes.known
    with db.session() as session:
        websub.mark_unsubscribing(session.scalars(select(WebSubSubscriptionRow)).one(), now=NOW)
    assert post(2).status_code == 410 and "tok" not in pushes.known
    assert post(3).status_code == 410
    assert _counts(db)[:3] == (1, 0, 1)


def test_pushes_are_shed_with_retry_after_when_storing_falls_behind(sqlite_db, tmp_path, caplog):
    """A writer more than `PushLimits.shed_after_s` behind: the push is answered 503 with
    Retry-After (a hub sends it again), before its body is read; counted and logged, nothing stored."""
    from fastapi.testclient import TestClient

    from web.websub import PushLimits

    config = _site(sqlite_db, tmp_path)
    app = create_app(config=config, db=sqlite_db, secret_key=SECRET, now=lambda: NOW, env={})
    pushes = app.state.websub_pushes

    class Behind:  # the writer's own protocol, as far as the callback uses it before a push is read
        def behind(self) -> float:
            return PushLimits.shed_after_s + 5

    pushes.writer = Behind()
    client = TestClient(app)
    push = _push(1)
    with caplog.at_level(logging.WARNING, logger="syndicate.websub"):
        answers = [client.post("/websub/tok", content=push.body, headers={
            "X-Hub-Signature": push.signature or "", "Content-Type": push.content_type}) for _ in range(3)]
    assert [a.status_code for a in answers] == [503] * 3
    assert answers[0].headers["Retry-After"] == str(PushLimits.retry_after_s)
    assert pushes.shed_count == 3
    assert any("pushes shed" in record.getMessage() for record in caplog.records)
    assert _counts(sqlite_db)[:3] == (0, 0, 0)


def test_the_group_commit_says_how_far_behind_it_is(sqlite_db):
    """`behind()`: 0 with nothing waiting; while a write is held, at least how long it has been held."""
    release, started = threading.Event(), threading.Event()

    def write(session, items):  # noqa: ARG001
        started.set()
        release.wait(30)
        return list(items)

    writer = GroupCommit(sqlite_db, write, name="test")
    assert writer.behind() == 0.0

    async def one():
        return await writer.run("x")

    outcome: list[str] = []
    thread = threading.Thread(target=lambda: outcome.append(asyncio.run(one())))
    thread.start()
    assert started.wait(30)
    time.sleep(0.05)
    assert writer.behind() >= 0.05
    release.set()
    thread.join(30)
    assert outcome == ["x"] and writer.behind() == 0.0


def test_store_in_turn_keeps_each_report_as_if_alone(db, tmp_path):
    """`state.items.store_in_turn` in one call: an item repeated by a later report is compared with
    what the earlier stored (a round of its own), and each report gets its own counts."""
    from compose.models import FetchReport
    from connectors.sources.registry import parse_body
    from state.items import StoreResult, store_in_turn

    config = _site(db, tmp_path)
    news = next(source for source in config.sources if source.name == "news")

    def report(n: int, title: str) -> FetchReport:
        items = parse_body(news, _push(n, title=title).body, "https://www.socitm.net/feed", {}).items
        return FetchReport(source="news", items=items, status=200, bytes=1)

    with db.session() as session, session.no_autoflush:  # as the callback's writer calls it
        row = session.scalars(select(SourceRow).where(SourceRow.name == "news")).one()
        results = store_in_turn(session, [(row, report(1, "One")), (row, report(2, "Two")), (row, report(1, "Uno")),
                                          (row, report(3, "Three")), (row, report(1, "One"))], now=NOW)
        assert results == [StoreResult(new=1), StoreResult(new=1), StoreResult(updated=1), StoreResult(new=1),
                           StoreResult(updated=1)]  # the last: back to what the first stored, still a change
        assert (row.last_items_new, row.last_items_updated) == (0, 1)
    with db.session() as session:
        titles = session.execute(select(ItemRow.title, ItemRow.revision).where(
            ItemRow.url.like("https://www.socitm.net/news/pushed-%")).order_by(ItemRow.url)).all()
        assert [tuple(t) for t in titles] == [("One", 3), ("Two", 1), ("Three", 1)]


def test_a_large_push_is_parsed_off_the_event_loop_and_stored(db, tmp_path):
    """A body over `PushLimits.parse_inline_bytes` is checked and parsed in the thread pool: the
    same answer, the same item stored, the same count."""
    from web.websub import PushLimits, _Push

    config = _site(db, tmp_path)
    app = create_app(config=config, db=db, secret_key=SECRET, now=lambda: NOW)
    pushes = app.state.websub_pushes
    small = _push(7)
    body = small.body.replace(b"<summary>Summary 7</summary>",
                              b"<summary>" + b"A long summary. " * (PushLimits.parse_inline_bytes // 16) + b"</summary>")
    assert len(body) > PushLimits.parse_inline_bytes
    push = _Push(token="tok", body=body, signature=sign(HUB_SECRET, body), content_type=small.content_type)
    answer = asyncio.run(pushes.take(push, pushes.look_up("tok")))
    assert answer.status_code == 202
    assert _counts(db)[:3] == (1, 0, 1)
