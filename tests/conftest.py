"""Shared fixtures: a real ledger database per test, on SQLite and on PostgreSQL.

PostgreSQL is the machine's server (`$SYNDICATE_TEST_POSTGRES_URL`, default
postgresql://postgres@127.0.0.1:5432/test). Tests that use it never skip: an unreachable
server is a failure that says how to start it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from state.db import Database, connect
from state.models import Base

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CORPORA = SHARED / "corpora"
POSTGRES_URL = os.environ.get("SYNDICATE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway database on the machine's PostgreSQL for this test session."""
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    name = f"syndicate_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"PostgreSQL at {POSTGRES_URL} is not reachable ({exc.__class__.__name__}): "
                    "run `make postgres` or set SYNDICATE_TEST_POSTGRES_URL", pytrace=False)
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    yield url
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


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
