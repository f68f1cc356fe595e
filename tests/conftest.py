"""Shared fixtures: a real ledger database per test, on SQLite and on PostgreSQL.

PostgreSQL is the machine's server (`$SYNDICATE_TEST_POSTGRES_URL`, default
postgresql://postgres@127.0.0.1:5432/test). Tests that use it never skip: an unreachable
server is a failure that says how to start it.
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

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CORPORA = SHARED / "corpora"
NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)


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


@pytest.fixture
def corpora() -> Path:
    if not CORPORA.is_dir():
        pytest.fail(f"the shared corpora are missing at {CORPORA}: tests read ../shared/corpora beside the repo",
                    pytrace=False)
    return CORPORA
