"""`syndicate web --workers N`: each worker process builds the same app from what its parent hands over."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from compose.signing import unsubscribe_token
from tests.helpers import desk_data
from web.app import WORKER_CONFIG_ENV, serve_web, worker_app

SECRET = "workers-test-secret-key-0123456789"


def test_a_worker_serves_the_parents_config_ledger_and_key(tmp_path, monkeypatch):
    config = desk_data.example_config(tmp_path)
    monkeypatch.setenv("SYNDICATE_DATABASE_URL", f"sqlite:///{tmp_path}/ledger.db")
    monkeypatch.setenv("SYNDICATE_SECRET_KEY", SECRET)
    monkeypatch.setenv(WORKER_CONFIG_ENV, json.dumps({"config": config.model_dump(mode="json"), "https": False}))
    app = worker_app()
    state = app.state.syndicate
    assert state.config == config and state.secret_key == SECRET and not state.https
    client = TestClient(app)
    assert config.branding.primary_colour in client.get("/brand.css").text
    # a link signed with the parent's key works in the worker (the ledger has no such reader: a clear 400)
    token = unsubscribe_token(SECRET, subscriber_id=999, edition_id=None, now=datetime.now(UTC))
    assert "no subscriber for this link" in client.post(f"/unsubscribe/{token}").text
    state.db.dispose()


def test_no_workers_is_refused(tmp_path, sqlite_db):
    with pytest.raises(ValueError, match="--workers must be 1 or more"):
        serve_web(desk_data.example_config(tmp_path), sqlite_db, SECRET, workers=0)
