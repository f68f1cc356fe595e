"""One secret, kept: without SYNDICATE_SECRET_KEY the first command that needs a key generates one
beside the ledger (mode 0600, created atomically, never printed), every command uses it, the
environment still overrides, and a key that would break links already sent is refused by `send`,
`web` and `status` with what to do."""

from __future__ import annotations

import json
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from flows.cli import main
from flows.demo import EXAMPLES, PLACEHOLDER_ORIGIN, serve_site
from state.db import connect
from state.models import EditionRow
from state.secret_key import (
    SecretKeyError,
    key_file,
    key_fingerprint,
    load_secret_key,
)

OTHER_KEY = "another-key-that-signed-nothing-0123"


def test_generated_once_beside_a_sqlite_ledger_with_mode_0600(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger' / 'syndicate.db'}"
    assert load_secret_key({}, database_url=url, create=False) is None
    first = load_secret_key({}, database_url=url)
    assert first is not None and len(first.value) >= 32
    path = tmp_path / "ledger" / "secret-key"
    assert key_file(url) == path and first.origin == str(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = load_secret_key({}, database_url=url)
    assert again is not None and again.value == first.value
    assert first.value not in repr(first)
    assert [p.name for p in path.parent.iterdir()] == ["secret-key"], "no temporary file is left behind"


def test_postgresql_keeps_it_in_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert key_file("postgresql://syndicate@db.internal/syndicate") == Path("var") / "secret-key"


def test_the_environment_overrides_and_a_short_one_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'syndicate.db'}"
    load_secret_key({}, database_url=url)
    key = load_secret_key({"SYNDICATE_SECRET_KEY": OTHER_KEY}, database_url=url)
    assert key is not None and key.value == OTHER_KEY and "environment" in key.origin
    with pytest.raises(SecretKeyError, match="shorter than 16 characters"):
        load_secret_key({"SYNDICATE_SECRET_KEY": "short"}, database_url=url)


def test_a_key_file_others_can_read_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'syndicate.db'}"
    load_secret_key({}, database_url=url)
    (tmp_path / "secret-key").chmod(0o644)
    with pytest.raises(SecretKeyError, match="chmod 600"):
        load_secret_key({}, database_url=url)


def test_processes_racing_to_create_it_all_get_the_same_key(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'syndicate.db'}"
    start = threading.Barrier(8)
    keys: list[str] = []

    def load() -> None:
        start.wait()
        key = load_secret_key({}, database_url=url)
        assert key is not None
        keys.append(key.value)

    workers = [threading.Thread(target=load) for _ in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(keys) == 8 and len(set(keys)) == 1
    assert (tmp_path / "secret-key").read_text().strip() == keys[0]


KEYS = ["0123456789abcdef", "0123456789abcdeF", "0123456789abcdef ", "ключ-который-подписал-письма",
        "🔑" * 16, "a" * 4096, "e" * 32]


def test_the_fingerprint_names_a_key_without_revealing_it() -> None:
    fingerprints = [key_fingerprint(key) for key in KEYS]
    assert fingerprints == [key_fingerprint(key) for key in KEYS], "the same key, the same fingerprint"
    assert len(set(fingerprints)) == len(KEYS), "each key its own"
    assert all(len(f) == 32 and f not in key and key not in f for f, key in zip(fingerprints, KEYS, strict=True))


# --- through the commands -----------------------------------------------------------------------


@pytest.fixture
def sent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Iterator[Path]:
    """A ledger whose first edition went out, signed with the key kept beside the ledger."""
    monkeypatch.chdir(tmp_path)
    for key in ("SYNDICATE_SECRET_KEY", "SYNDICATE_DATABASE_URL", "SYNDICATE_CONFIG", "SENDGRID_API_KEY",
                "X_API_KEY", "MASTODON_ACCESS_TOKEN", "BLUESKY_HANDLE"):
        monkeypatch.delenv(key, raising=False)
    with serve_site() as origin:
        text = (EXAMPLES / "syndicate.toml").read_text("utf-8").replace(PLACEHOLDER_ORIGIN, origin)
        (tmp_path / "syndicate.toml").write_text(text, "utf-8")
        for args in (["subscribers", "import", str(EXAMPLES / "subscribers.csv")], ["gather", "--include-backlog"],
                     ["edition", "build"], ["staff", "add", "ap@example.org", "--role", "approver"],
                     ["approve", "edition", "1", "--by", "ap@example.org"]):
            assert main(args) == 0, capsys.readouterr()
        assert not (tmp_path / "var" / "secret-key").exists(), "nothing so far needed a key"
        assert main(["send", "1"]) == 0, capsys.readouterr()
        out, err = capsys.readouterr()
        key = (tmp_path / "var" / "secret-key").read_text().strip()
        assert key not in out + err, "the key is never printed"
        yield tmp_path


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, " ".join((out + err).split())


def test_send_records_which_key_signed_the_edition(sent: Path) -> None:
    key = (sent / "var" / "secret-key").read_text().strip()
    with connect().session() as session:
        row = session.scalars(select(EditionRow)).one()
    assert row.key_fingerprint == key_fingerprint(key) and key not in row.key_fingerprint


def test_status_is_calm_with_the_key_that_signed(sent: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, text = _run(capsys, "status")
    assert code == 0 and "Secret key" not in text
    code, _ = _run(capsys, "--json", "status")
    assert code == 0


@pytest.mark.parametrize("command", [["send"], ["status"], ["web", "--port", "1"]])
def test_another_key_in_the_environment_is_refused(sent: Path, command: list[str], monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SYNDICATE_SECRET_KEY", OTHER_KEY)
    code, text = _run(capsys, *command)
    assert code == 1
    assert "is not the one that signed the links of edition 1" in text and "Set the old key back" in text
    assert OTHER_KEY not in text


@pytest.mark.parametrize("command", [["send"], ["status"], ["web", "--port", "1"]])
def test_a_lost_key_file_is_refused_not_replaced(sent: Path, command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    (sent / "var" / "secret-key").unlink()
    code, text = _run(capsys, *command)
    assert code == 1 and "is missing" in text and "Put the old key back" in text
    assert not (sent / "var" / "secret-key").exists(), "no new key was made to replace it"


def test_the_old_key_put_back_through_the_environment_works(sent: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    key_path = sent / "var" / "secret-key"
    old = key_path.read_text().strip()
    key_path.unlink()
    monkeypatch.setenv("SYNDICATE_SECRET_KEY", old)
    code, text = _run(capsys, "--json", "status")
    assert code == 0, text
    code, text = _run(capsys, "send")
    assert code == 0, text


def test_the_flows_sign_with_the_same_key(sent: Path) -> None:
    from flows.settings import signing_key

    db = connect()
    from datetime import UTC, datetime

    assert signing_key(db, now=datetime.now(UTC)) == (sent / "var" / "secret-key").read_text().strip()
    assert json.dumps(os.environ.get("SYNDICATE_SECRET_KEY")) == "null"
