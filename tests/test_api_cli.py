"""`syndicate api-tokens ...` and `syndicate webhooks ...` as an admin types them: the token and the
secret are printed once, lists never show them, non-admins are refused, the API takes the token."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from flows.cli import main
from flows.demo import EXAMPLES
from flows.settings import load_config
from state.db import connect
from web.app import create_app

SECRET = "test-secret-key-0123456789abcdef"


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SYNDICATE_DATABASE_URL", f"sqlite:///{tmp_path / 'ledger.db'}")
    monkeypatch.setenv("SYNDICATE_SECRET_KEY", SECRET)
    monkeypatch.setenv("SYNDICATE_CONFIG", str(EXAMPLES / "syndicate.toml"))
    monkeypatch.setenv("COLUMNS", "80")

    def run(*words: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(list(words))
        out, err = capsys.readouterr()
        return code, out, err

    assert run("staff", "add", "admin@socitm.example", "--role", "admin")[0] == 0
    assert run("staff", "add", "ed@socitm.example", "--role", "editor", "--by", "admin@socitm.example")[0] == 0
    return run


def test_a_token_is_shown_once_listed_without_it_works_on_the_api_and_is_revoked(cli, tmp_path):
    code, out, _ = cli("api-tokens", "create", "membership-crm", "--scope", "write", "--by", "admin@socitm.example")
    assert code == 0 and "shown only once" in out
    token = out.strip().splitlines()[-1]
    assert token.startswith("synd_") and len(token) > 40
    code, listed, _ = cli("api-tokens", "list")
    assert code == 0 and "membership-crm" in listed and token not in listed and token[:9] in listed
    assert all(len(line) <= 80 for line in listed.splitlines())
    app = create_app(config=load_config(str(EXAMPLES / "syndicate.toml")), db=connect(), secret_key=SECRET)
    client = TestClient(app)
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/subscribers", headers=headers).status_code == 200
    code, out, _ = cli("api-tokens", "revoke", "membership-crm", "--by", "admin@socitm.example")
    assert code == 0 and "revoked" in out
    assert client.get("/api/v1/subscribers", headers=headers).status_code == 401
    code, out, _ = cli("--json", "api-tokens", "list")
    assert json.loads(out)["tokens"][0]["revoked_at"] is not None


def test_only_an_admin_makes_tokens_or_webhooks(cli):
    code, _, err = cli("api-tokens", "create", "x", "--scope", "read", "--by", "ed@socitm.example")
    assert code == 1 and "only admins may make API tokens" in err
    code, _, err = cli("webhooks", "add", "https://crm.example.org/h", "--events", "edition.sent",
                       "--by", "ed@socitm.example")
    assert code == 1 and "only admins may add webhooks" in err
    code, _, err = cli("api-tokens", "create", "x", "--scope", "everything", "--by", "admin@socitm.example")
    assert code == 1 and "unknown scope" in err


def test_webhooks_add_list_deliveries_send_and_remove(cli):
    code, out, _ = cli("webhooks", "add", "https://crm.example.org/hooks", "--events",
                       "subscriber.subscribed,subscriber.unsubscribed", "--by", "admin@socitm.example")
    assert code == 0 and "shown only once" in out and out.strip().splitlines()[-1].startswith("whsec_")
    code, out, _ = cli("webhooks", "list")
    assert code == 0 and "crm.example.org" in out and "whsec_" not in out
    code, _, err = cli("webhooks", "add", "https://crm.example.org/hooks", "--events", "subscriber.deleted",
                       "--by", "admin@socitm.example")
    assert code == 1 and "subscriber.subscribed, subscriber.unsubscribed, edition.sent" in err
    code, out, _ = cli("--json", "webhooks", "deliveries")
    assert code == 0 and json.loads(out) == {"deliveries": []}
    code, out, _ = cli("webhooks", "send")
    assert code == 0 and "0 queued" in out
    code, out, _ = cli("webhooks", "remove", "1", "--by", "admin@socitm.example")
    assert code == 0 and "removed" in out
    code, _, err = cli("webhooks", "remove", "1", "--by", "admin@socitm.example")
    assert code == 1 and "webhooks list" in err
