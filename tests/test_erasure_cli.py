"""`syndicate subscribers export`, `erase` and `readd` as a person runs them (80 columns), and the
desk's "Their data" download: admins only, audited, the JSON complete, the erased address refused by
an import and by the sign-up form until an admin re-adds it with fresh consent."""

from __future__ import annotations

import html
import json
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from flows.cli import main
from state import erasure
from state.db import Database, connect
from state.models import AuditRow, SubscriberRow
from tests.helpers import desk_data
from web.app import create_app

NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)
SECRET = "test-secret-key-0123456789abcdef"


@pytest.fixture
def ledger_at(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    config_path = tmp_path / "syndicate.toml"
    config_path.write_text(desk_data.EXAMPLE_CONFIG.read_text("utf-8").replace(
        'outbox_dir = "outbox"', f'outbox_dir = "{tmp_path / "outbox"}"'), "utf-8")
    db = connect(f"sqlite:///{tmp_path / 'ledger.db'}")
    desk_data.seed_subscribers(db, 2, now=NOW)
    desk_data.seed_staff(db, "boss@example.org", "admin", now=NOW)
    desk_data.seed_staff(db, "ed@example.org", "editor", now=NOW)
    for key in ("SYNDICATE_SECRET_KEY", erasure.SALT_ENV):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("SYNDICATE_DATABASE_URL", f"sqlite:///{tmp_path / 'ledger.db'}")
    monkeypatch.setenv("SYNDICATE_CONFIG", str(config_path))
    monkeypatch.setenv("SYNDICATE_NOW", NOW.isoformat())
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.chdir(tmp_path)
    yield db
    db.dispose()


def run(capsys: pytest.CaptureFixture[str], *words: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(words))
    out, err = capsys.readouterr()
    if "export" not in words or "--output" in words:
        for line in (out + err).splitlines():
            assert len(line) <= 80, f"{' '.join(words)}: a line of {len(line)} columns:\n{line}"
    return code, out, err


def test_export_prints_the_json_and_writes_a_private_file(ledger_at, capsys, tmp_path):
    code, out, _ = run(capsys, "subscribers", "export", "Reader1@Example.org", "--by", "boss@example.org")
    data = json.loads(out)
    assert code == 0 and data["email"] == "reader1@example.org" and data["subscriber"]["name"] == "Reader 1"
    assert data["consent"]["source"] == "import:test" and data["erased"] is False
    target = tmp_path / "reader1.json"
    code, out, _ = run(capsys, "subscribers", "export", "reader1@example.org", "--by", "boss@example.org",
                       "--output", str(target))
    assert code == 0 and "readable by you only" in out
    assert json.loads(target.read_text("utf-8"))["subscriber"]["id"] == 1
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    with ledger_at.session() as session:
        assert [a.actor for a in session.scalars(select(AuditRow).where(AuditRow.action == "subscriber.export"))] \
            == ["boss@example.org", "boss@example.org"]


def test_an_editor_may_not_export_or_erase_and_nothing_changes(ledger_at, capsys):
    for words in (("export", "reader1@example.org"), ("erase", "reader1@example.org")):
        code, out, err = run(capsys, "subscribers", *words, "--by", "ed@example.org")
        assert code == 1 and "only admins may" in err and out == ""
    with ledger_at.session() as session:
        assert session.get(SubscriberRow, 1) is not None
        assert not list(session.scalars(select(AuditRow).where(AuditRow.action.like("subscriber.%"))))


def test_erase_then_import_and_sign_up_refuse_then_readd_brings_them_back(ledger_at, capsys, tmp_path):
    sent = tmp_path / "outbox" / "email" / "2026-11-26"
    sent.mkdir(parents=True)
    for name in ("00001-e1.eml", "00001-e1.2.eml", "00002-e1.eml"):
        (sent / name).write_text("To: someone\n\nhello\n", "utf-8")
    code, out, _ = run(capsys, "subscribers", "erase", "reader1@example.org", "--by", "boss@example.org")
    assert code == 0 and "is erased" in out and "1 subscriber" in out and "2 outbox copies" in out
    assert [p.name for p in sent.iterdir()] == ["00002-e1.eml"]
    assert stat.S_IMODE((tmp_path / erasure.SALT_FILE).stat().st_mode) == 0o600
    members = tmp_path / "members.csv"
    members.write_text("email,name\nREADER1@example.org,Reader One\nnew@example.org,New\n", "utf-8")
    code, out, _ = run(capsys, "subscribers", "import", str(members))
    assert code == 0 and "1 added" in out and "1 not added because they were erased" in out
    config = desk_data.example_config(tmp_path)
    client = TestClient(create_app(config=config, db=ledger_at, secret_key=SECRET, now=lambda: NOW, env={}))
    form = client.get("/subscribe")
    answer = client.post("/subscribe", data={"email": "reader1@example.org", "name": "",
                                             "csrf_token": desk_data.csrf_from(form.text)})
    assert answer.status_code == 200 and "erased at its owner's request" in html.unescape(answer.text)
    with ledger_at.session() as session:
        assert [r.email for r in session.scalars(select(SubscriberRow).order_by(SubscriberRow.id))] \
            == ["reader2@example.org", "new@example.org"]
    code, _, err = run(capsys, "subscribers", "readd", "reader1@example.org", "--consent", " ", "--by",
                       "boss@example.org")
    assert code == 1 and "--consent" in err
    code, out, _ = run(capsys, "subscribers", "readd", "reader1@example.org", "--consent",
                       "asked by email on 7 Dec to be re-added", "--by", "boss@example.org")
    assert code == 0 and "reader1@example.org is active again" in out
    code, out, _ = run(capsys, "--json", "subscribers", "export", "reader1@example.org", "--by", "boss@example.org")
    data = json.loads(out)
    assert data["erased"] is False and data["consent"]["source"].endswith("asked by email on 7 Dec to be re-added")
    assert [(c["door"], c["old"], c["new"]) for c in data["changes"]] == [("cli", "erased", "active")]


def test_the_desk_download_is_for_admins_and_audited(ledger_at, tmp_path):
    config = desk_data.example_config(tmp_path)
    client = TestClient(create_app(config=config, db=ledger_at, secret_key=SECRET, now=lambda: NOW, env={}))
    desk_data.sign_in(client, "ed@example.org")
    assert client.get("/desk/subscribers/1/data.json").status_code == 403
    desk_data.sign_in(client, "boss@example.org")
    listing = client.get("/desk/subscribers")
    assert 'href="/desk/subscribers/1/data.json"' in listing.text
    answer = client.get("/desk/subscribers/1/data.json")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/json")
    assert 'filename="subscriber-1-20261126.json"' in answer.headers["content-disposition"]
    assert answer.json()["subscriber"]["email"] == "reader1@example.org"
    assert client.get("/desk/subscribers/99/data.json").status_code == 404
    with ledger_at.session() as session:
        [row] = session.scalars(select(AuditRow).where(AuditRow.action == "subscriber.export")).all()
        assert row.actor == "boss@example.org" and row.detail["door"] == "desk"


def test_the_desk_refuses_to_add_or_import_an_erased_address(ledger_at, capsys, tmp_path):
    assert run(capsys, "subscribers", "erase", "reader1@example.org", "--by", "boss@example.org")[0] == 0
    config = desk_data.example_config(tmp_path)
    client = TestClient(create_app(config=config, db=ledger_at, secret_key=SECRET, now=lambda: NOW, env={}))
    desk_data.sign_in(client, "boss@example.org")
    csrf = desk_data.csrf_from(client.get("/desk/subscribers").text)
    added = client.post("/desk/subscribers/add", data={"email": "Reader1@example.org", "name": "R", "csrf_token": csrf})
    assert added.status_code == 400 and "erased at its owner" in html.unescape(added.text)
    preview = client.post("/desk/subscribers/import", data={"csrf_token": csrf},
                          files={"file": ("members.csv", b"email,name\nreader1@example.org,R\n", "text/csv")})
    assert "erased at its owner" in html.unescape(preview.text)
    with ledger_at.session() as session:
        assert [r.email for r in session.scalars(select(SubscriberRow))] == ["reader2@example.org"]
