"""One Prefect API server per test session, for the few tests that run real flows (`@pytest.mark.prefect`).

It reuses a migrated SQLite database kept at `.prefect-test.db` in the repo (gitignored), so a
session pays the server's start (about 6 s warm, 15-25 s the very first time) rather than fresh
migrations. On teardown it drains Prefect's log and event workers before stopping the server:
without that, the test process retries against the stopped server for about 100 s at exit.

Use it from a test module with `pytest_plugins = ["tests.prefect_fixtures"]` in tests/conftest.py,
or import the fixture: `from tests.prefect_fixtures import prefect_api  # noqa: F401`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from flows.prefect_env import configure

REPO = Path(__file__).resolve().parents[1]
TEST_DATABASE = REPO / ".prefect-test.db"
STARTUP_TIMEOUT_S = 180


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[str]:
    """The API URL of a Prefect server for this session (PREFECT_API_URL is set while it runs)."""
    configure()
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_SERVER_DATABASE_CONNECTION_URL,
        temporary_settings,
    )

    started = time.monotonic()
    database = {PREFECT_SERVER_DATABASE_CONNECTION_URL: f"sqlite+aiosqlite:///{TEST_DATABASE}"}
    previous = os.environ.get("PREFECT_API_URL")
    with temporary_settings(database):
        server = SubprocessASGIServer()
        server.start(timeout=STARTUP_TIMEOUT_S)
        os.environ["PREFECT_API_URL"] = server.api_url  # flow-run subprocesses and the relay see it too
        print(f"\nPrefect test server ready in {time.monotonic() - started:.1f} s at {server.api_url}")
        try:
            with temporary_settings({PREFECT_API_URL: server.api_url}):
                yield server.api_url
                APILogWorker.drain_all()
                EventsWorker.drain_all()
        finally:
            if previous is None:
                os.environ.pop("PREFECT_API_URL", None)
            else:
                os.environ["PREFECT_API_URL"] = previous
            server.stop()
