"""The threads page reads the ledger a fixed number of times, however many threads it shows (issue
20: it sent about five queries a thread), and what it reads for all its threads at once (latest
approval, editors since the last approval, ever approved, why this member of staff may not approve,
quiet time, link cards) is what the one-thread functions answer for each, on both backends."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, select, update

from compose.calendar import QuietCalendar
from compose.config import Config
from flows.settings import parse_config
from state import ledger, quiet
from state.db import Database
from state.models import ItemRow, ThreadRow, ThreadStatus
from state.threads import write_posts
from tests.helpers import desk_data
from web.app import create_app
from web.post_previews import card_items, previews
from web.threads import SHOWN

NOW = datetime.fromisoformat("2026-03-10T09:00:00+00:00")
SECRET = "test-secret-key-0123456789abcdef"
EDITOR, APPROVER, ADMIN = "ed@example.org", "ap@example.org", "boss@example.org"
STAFF = (EDITOR, APPROVER, ADMIN, "nobody@example.org")


def _history(db: Database, config: Config, ids: list[int]) -> None:
    """Threads each with another story: edited, approved, edited again after approval, edited by
    two people, rejected; the rest untouched."""
    at = NOW - timedelta(hours=2)

    def edit(session: Any, ident: int, by: str) -> None:
        row = session.get(ThreadRow, ident)
        write_posts(session, row, [p.text + f" ({by[:2]})" for p in row.posts], by=by, now=at)

    with db.session() as session:
        edit(session, ids[0], EDITOR)
        ledger.approve(session, "thread", ids[0], by=APPROVER, now=at, config=config)
        edit(session, ids[0], ADMIN)  # after the approval: the admin may not approve it now
        edit(session, ids[1], EDITOR)
        edit(session, ids[1], ADMIN)
        ledger.approve(session, "thread", ids[2], by=ADMIN, now=at, config=config)
        ledger.reject(session, "thread", ids[3], by=APPROVER, note="shorter, please", now=at)
        edit(session, ids[4], APPROVER)
        session.commit()


@pytest.fixture
def desk(db: Database, tmp_path: Path) -> tuple[Any, Database, Config, list[int]]:
    text = desk_data.EXAMPLE_CONFIG.read_text("utf-8").replace('outbox_dir = "outbox"', f'outbox_dir = "{tmp_path}"')
    for network in ("mastodon", "bluesky"):  # more networks, more threads: a post per item on each
        text = text.replace(f"[social.{network}]\nenabled = false", f"[social.{network}]\nenabled = true")
    config = parse_config(text, origin="test")
    desk_data.seed_edition(db, config, now=NOW - timedelta(hours=1))
    desk_data.seed_threads(db, config, now=NOW - timedelta(hours=1))
    for email, role in ((EDITOR, "editor"), (APPROVER, "approver"), (ADMIN, "admin")):
        desk_data.seed_staff(db, email, role, now=NOW)
    with db.session() as session:
        ids = list(session.scalars(select(ThreadRow.id).where(ThreadRow.status.in_(SHOWN)).order_by(ThreadRow.id)))
    assert len(ids) >= 8, "too few threads to tell a page of them from a page of one"
    _history(db, config, ids)
    app = create_app(config=config, db=db, secret_key=SECRET, now=lambda: NOW, env={})
    return app, db, config, ids


def _statements(db: Database, client: TestClient, path: str) -> int:
    sent: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        assert client.get(path).status_code == 200
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    return len(sent)


def test_the_threads_page_sends_as_many_statements_for_many_threads_as_for_two(desk) -> None:  # type: ignore[no-untyped-def]
    app, db, _, ids = desk
    client = TestClient(app, base_url="http://testserver")
    assert desk_data.sign_in(client, APPROVER).status_code == 303
    client.get("/desk/threads")  # the first request of a process reads what later ones find cached
    many = _statements(db, client, "/desk/threads")
    with db.session() as session:  # the others out of the page, as if long published
        session.execute(update(ThreadRow).where(ThreadRow.id.in_(ids[2:])).values(status=ThreadStatus.PUBLISHED))
        session.commit()
    two = _statements(db, client, "/desk/threads")
    assert many == two, f"{len(ids)} threads: {many} statements; 2 threads: {two}"


def test_what_the_page_reads_for_all_its_threads_is_what_each_thread_answers(desk) -> None:  # type: ignore[no-untyped-def]
    _, db, config, ids = desk
    with db.session() as session:
        rows = list(session.scalars(select(ThreadRow).where(ThreadRow.id.in_(ids)).order_by(ThreadRow.id)))
        approvals = ledger.latest_approvals(session, "thread", ids)
        history = ledger.ApprovalHistory.of(session, "thread", ids)
        for row in rows:
            one = ledger.latest_approval(session, "thread", row.id)
            assert (approvals.get(row.id) and approvals[row.id].id) == (one and one.id)
            assert history.editors[row.id] == ledger.editors_since_approval(session, "thread", row.id)
            assert (row.id in history.marks) == ledger.ever_approved(session, "thread", row.id)
        # the stories differ, so a mix-up between threads would show
        assert history.editors[ids[0]] == [ADMIN] and history.editors[ids[1]] == [EDITOR, ADMIN]
        assert ids[0] in history.marks and ids[1] not in history.marks
        assert approvals[ids[3]].decision == "rejected" and ids[5] not in approvals
        for by in STAFF:
            many = ledger.why_not_approve_many(session, "thread", rows, by=by, now=NOW, config=config)
            assert many == {row.id: ledger.why_not_approve(session, "thread", row.id, by=by, now=NOW, config=config)
                            for row in rows}, by
        reasons = ledger.why_not_approve_many(session, "thread", rows, by=ADMIN, now=NOW, config=config)
        assert "two-person rule" in str(reasons[ids[0]]) and "so did ed@example.org" in str(reasons[ids[1]])
        assert reasons[ids[2]] is None
        calendar = QuietCalendar.from_config(config)
        assert quiet.quiet_notes(session, calendar, rows) == {row.id: quiet.quiet_note(session, calendar, row)
                                                              for row in rows}
        items = {item.id: item for item in session.scalars(select(ItemRow))}
        cards = card_items(session, rows, items)
        for row in rows:
            item = items.get(row.item_id) if row.item_id else None
            assert previews(session, row, item, cards) == previews(session, row, item)
