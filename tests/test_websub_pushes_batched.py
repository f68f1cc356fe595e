"""WebSub pushes stored many to a transaction (`web.websub.pushes`, a `web.group_commit.GroupCommit`):
each push answered as if alone, and the subscription's counts right when pushes arrive together,
from one web process or two at once (the counts are added in the database, never read and rewritten)."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime

from sqlalchemy import func, select

from connectors.sources.websub import sign
from state.db import connect
from state.models import ItemRow, SourceRow, WebSubSubscriptionRow
from state.websub import PushState
from tests.helpers import desk_data
from web.app import create_app

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


def _push(n: int, *, forged: bool = False, content_type: str = "application/atom+xml"):
    from web.websub import _Push

    body = (f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>News</title>'
            f'<id>urn:feed</id><updated>2026-12-07T09:00:00Z</updated><entry><id>urn:test:{n}</id>'
            f'<title>Pushed story {n}</title><link href="https://www.socitm.net/news/pushed-{n}"/>'
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
