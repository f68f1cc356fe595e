"""Shared fixtures: a real ledger database per test, on SQLite and on PostgreSQL.

PostgreSQL is the machine's server (`$SYNDICATE_TEST_POSTGRES_URL`, default
postgresql://postgres@127.0.0.1:5432/test). Tests that use it never skip: an unreachable
server is a failure that says how to start it.

Everything the tests read is in the repository (third-party files under `tests/corpora/`).
`--corpora DIR` points the corpus ingestion test at a folder kept outside instead
(`make test-corpora CORPORA=DIR`); the summary says how many files it read from where.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from state.db import Database, connect
from state.models import Base
from tests.helpers.postgres import ThrowawayPostgres

NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--corpora", metavar="DIR", default=None,
                     help="run tests/test_corpora.py's ingestion test over the feeds and pages in DIR "
                          "instead of tests/corpora (make test-corpora CORPORA=DIR)")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say what the corpus ingestion test read: how many files, from which folder, and the outcome."""
    lines = []
    for outcome in ("passed", "failed"):
        for report in terminalreporter.stats.get(outcome, []):
            for name, value in getattr(report, "user_properties", []):
                if name == "corpus" and report.when == "call":
                    files, folder = value
                    lines.append(f"{outcome}: {files} files ingested from {folder}")
    if lines:
        terminalreporter.write_sep("-", "corpora")
        for line in lines:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway database on the machine's PostgreSQL for this test session."""
    databases = ThrowawayPostgres()
    name = databases.create("syndicate_test")
    yield databases.url(name)
    databases.drop_all()


_migrated: dict[str, Database] = {}


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated, empty ledger on each backend."""
    if request.param == "sqlite":
        database = connect(f"sqlite:///{tmp_path / 'ledger.db'}")
        yield database
        database.dispose()
        return
    url = request.getfixturevalue("postgres_url")
    database = _migrated.get(url) or connect(url)
    _migrated[url] = database
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with database.engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    yield database


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    database = connect(f"sqlite:///{tmp_path / 'ledger.db'}")
    yield database
    database.dispose()


@pytest.fixture
def now() -> datetime:
    return NOW
