"""Throwaway databases on the machine's PostgreSQL for tests, dropped afterwards.

`$SYNDICATE_TEST_POSTGRES_URL` (default postgresql://postgres@127.0.0.1:5432/test) names the server.
An unreachable server is a test failure that says how to start it, never a skip.
"""

from __future__ import annotations

import os
import uuid

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ADMIN_URL = os.environ.get("SYNDICATE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


class ThrowawayPostgres:
    """Creates databases (optionally copied from a template) and drops every one of them on `drop_all`."""

    def __init__(self) -> None:
        self.admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
        self.names: list[str] = []

    def create(self, prefix: str = "syndicate", *, template: str | None = None, name: str | None = None) -> str:
        name = name or f"{prefix}_{uuid.uuid4().hex[:10]}"
        copy = f' TEMPLATE "{template}"' if template else ""
        try:
            with self.admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"{copy}'))
        except Exception as exc:  # noqa: BLE001
            if template:
                raise
            pytest.fail(f"PostgreSQL at {ADMIN_URL} is not reachable ({type(exc).__name__}): run `make postgres` "
                        "or set SYNDICATE_TEST_POSTGRES_URL", pytrace=False)
        self.names.append(name)
        return name

    def url(self, name: str, driver: str | None = None) -> str:
        url = make_url(ADMIN_URL).set(database=name)
        return (url.set(drivername=driver) if driver else url).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        with self.admin.connect() as connection:
            for name in reversed(self.names):
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.names.clear()
        self.admin.dispose()
