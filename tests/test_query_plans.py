"""The hot queries use indexes: no full scan of a big table where an index should serve (issue 20).

On a small ledger of the big one's shape (tests/helpers/ledger_data.py), the real functions run
(`syndicate edition build`'s stage, `status`, every desk page) while a SQLAlchemy event captures
each SELECT they send; each is then explained (SQLite `EXPLAIN QUERY PLAN`, PostgreSQL `EXPLAIN`
with sequential scans priced out, so a seq scan in the plan means no index could serve it) and a
full scan of a big table fails the test, naming the query and its plan.

A few queries read a whole table by nature (an aggregate over every subscriber, a download of
them all): `WHOLE_TABLE` names each with why; nothing else may scan.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from state.db import Database
from tests.helpers.ledger_data import NOW, bench_config, desk_ids, desk_paths, fill, sign_in

BIG = ("items", "subscribers", "deliveries", "clicks", "events", "reader_clicks", "reader_opens", "posts",
       "audit_log", "subscriber_changes")

# (a fragment of the statement, the big table it may read whole, why)
WHOLE_TABLE = (
    ("GROUP BY subscribers.status", "subscribers", "the count of subscribers per status (status, desk)"),
    ("ORDER BY subscribers.id", "subscribers", "the CSV download of every subscriber"),
    ("SELECT count(*) AS count_1 \nFROM (SELECT subscribers.id", "subscribers",
     "the subscribers page's pager counts the rows its search matches (all of them, unsearched)"),
    ("SELECT count(*) AS count_1 \nFROM (SELECT audit_log.id", "audit_log",
     "the audit page's pager counts the rows its filter matches (all of them, unfiltered)"),
    ("SELECT DISTINCT audit_log.subject_kind", "audit_log",
     "the audit page's filter lists the kinds there are (from ix_audit_log_subject alone on PostgreSQL)"),
)
ITEMS, SUBSCRIBERS = 400, 60


@pytest.fixture
def ledger(db: Database, tmp_path: Path) -> tuple[Database, Any]:
    config, _ = bench_config(tmp_path)
    fill(db, config, items=ITEMS, subscribers=SUBSCRIBERS)
    return db, config


@contextmanager
def captured(db: Database) -> Iterator[list[tuple[str, Any]]]:
    statements: list[tuple[str, Any]] = []

    def keep(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")) and not executemany:
            statements.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", keep)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", keep)


def _plan(db: Database, statement: str, parameters: Any) -> str:
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        if db.is_sqlite:
            cursor.execute(f"EXPLAIN QUERY PLAN {statement}", parameters)
            return "\n".join(str(row[-1]) for row in cursor.fetchall())
        cursor.execute("SET enable_seqscan = off")  # a seq scan left in the plan: no index could serve it
        cursor.execute(f"EXPLAIN {statement}", parameters)
        return "\n".join(str(row[0]) for row in cursor.fetchall())
    finally:
        raw.rollback()
        raw.close()


def _partial_indexes() -> set[str]:
    """Indexes of some rows only (e.g. the held-back items): walking one whole reads only those rows."""
    from state.models import Base

    return {str(index.name) for table in Base.metadata.tables.values() for index in table.indexes
            if index.dialect_options["sqlite"].get("where") is not None}


def _full_scans(db: Database, plan: str) -> set[str]:
    if db.is_sqlite:
        # "SCAN items" or "SCAN items USING INDEX ..." (every row, in index order); "SEARCH" is a range
        partial = _partial_indexes()
        found = {table for table, index in re.findall(r"\bSCAN (\w+)(?: USING (?:COVERING )?INDEX (\w+))?", plan)
                 if index not in partial}
    else:
        found = set(re.findall(r"Seq Scan on (\w+)", plan))
    return found & set(BIG)


def _allowed(statement: str, table: str) -> bool:
    return any(fragment in statement and table == whole for fragment, whole, _ in WHOLE_TABLE)


def _limited_by_key(statement: str, table: str, plan: str, sqlite: bool) -> bool:
    """A walk of the table in its primary key order stopped by a LIMIT (the newest N rows): SQLite
    plans it as SCAN; it reads N rows, not the table."""
    return sqlite and re.search(rf"ORDER BY {table}\.id( DESC)?\s+LIMIT", statement) is not None


def check(db: Database, run: Callable[[], object]) -> list[str]:
    with captured(db) as statements:
        run()
    assert statements, "the call sent no query"
    problems = []
    for statement, parameters in statements:
        plan = _plan(db, statement, parameters)
        for table in sorted(_full_scans(db, plan)):
            if _allowed(statement, table) or _limited_by_key(statement, table, plan, db.is_sqlite):
                continue
            problems.append(f"full scan of {table}:\n{statement}\n--- plan:\n{plan}")
    return problems


def test_edition_build_uses_indexes(ledger: tuple[Database, Any]) -> None:
    from flows.stages.edition import build_edition_and_threads

    db, config = ledger

    def build() -> None:
        with db.sessions() as session:
            built = build_edition_and_threads(session, config, now=NOW, by="syndicate")
            assert built["built"], built["reason"]
            session.rollback()

    problems = check(db, build)
    assert problems == [], "\n\n".join(problems)


def test_status_uses_indexes(ledger: tuple[Database, Any]) -> None:
    from state.status_report import status_report

    db, config = ledger

    def status() -> None:
        with db.sessions() as session:
            status_report(session, config, now=NOW)

    problems = check(db, status)
    assert problems == [], "\n\n".join(problems)


def test_desk_pages_use_indexes(ledger: tuple[Database, Any]) -> None:
    from fastapi.testclient import TestClient

    from web.app import create_app

    db, config = ledger
    app = create_app(config=config, db=db, secret_key="plans-secret-key-0123456789abcdef", now=lambda: NOW)
    problems: list[str] = []
    with TestClient(app, base_url="http://127.0.0.1") as client:
        sign_in(client)
        for path in desk_paths(desk_ids(SUBSCRIBERS)):
            def get(path: str = path) -> None:
                answer = client.get(path)
                assert answer.status_code == 200, f"{path}: {answer.status_code}"

            problems += [f"{path}: {problem}" for problem in check(db, get)]
    assert problems == [], "\n\n".join(problems)


def test_a_missing_index_is_caught(ledger: tuple[Database, Any]) -> None:
    """The check itself: a query on an unindexed column of a big table is reported."""
    from sqlalchemy import select

    from state.models import ItemRow

    db, _ = ledger

    def unindexed() -> None:
        with db.sessions() as session:
            session.scalars(select(ItemRow.id).where(ItemRow.title == "Digital leaders briefing 7")).all()

    problems = check(db, unindexed)
    assert len(problems) == 1 and "full scan of items" in problems[0]
