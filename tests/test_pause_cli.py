"""`syndicate pause` and `syndicate resume` as a person runs them, at 80 columns: who may, what
`status` (text and --json), `send` and `publish` say while paused (who, since when in the
organisation's zone, why), and bad input that is refused with one clear message and changes nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from flows.cli import main
from flows.settings import parse_config
from state import ledger
from state.db import Database, connect
from state.models import AuditRow, PauseRow
from tests.helpers import desk_data

NOW = datetime(2026, 12, 3, 10, 30, tzinfo=UTC)  # after the example edition's send time (Thu 3 Dec, 10:00)
REASON = "a story in this edition is wrong: nothing goes out until it is corrected"


@pytest.fixture
def ledger_at(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    """The example config, an approved edition that is due with subscribers, and staff; the CLI's
    environment pointed at them, 80 columns wide."""
    config_path = tmp_path / "syndicate.toml"
    text = desk_data.EXAMPLE_CONFIG.read_text("utf-8").replace('outbox_dir = "outbox"',
                                                               f'outbox_dir = "{tmp_path / "outbox"}"')
    config_path.write_text(text, "utf-8")
    config = parse_config(text)
    db = connect(f"sqlite:///{tmp_path / 'ledger.db'}")
    built = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)
    edition_id = desk_data.seed_edition(db, config, now=built)
    desk_data.seed_subscribers(db, 3, now=built)
    for email, role in (("ed@example.org", "editor"), ("ap@example.org", "approver"), ("boss@example.org", "admin")):
        desk_data.seed_staff(db, email, role, now=built)
    with db.session() as session:
        ledger.approve(session, "edition", edition_id, by="ap@example.org", now=built)
    for key in ("SYNDICATE_SECRET_KEY", "SENDGRID_API_KEY", "X_API_KEY"):
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
    for line in (err if "--json" in words else out + err).splitlines():  # JSON is for programs
        assert len(line) <= 80, f"{' '.join(words)}: a line of {len(line)} columns:\n{line}"
    return code, out, err


def flat(text: str) -> str:
    return " ".join(text.split())


def _rows(db: Database) -> tuple[int, int]:
    with db.session() as session:
        return (session.scalar(select(func.count()).select_from(PauseRow)) or 0,
                session.scalar(select(func.count()).select_from(AuditRow)) or 0)


def test_pause_holds_the_send_status_says_so_and_resume_lets_it_go(ledger_at: Database, capsys) -> None:
    code, out, _ = run(capsys, "pause", "--reason", REASON, "--by", "ap@example.org", "--channel", "email")
    assert code == 0
    assert f"Paused: email is paused by ap@example.org since Thu 3 Dec 2026, 10:30 GMT: {REASON}" in flat(out)
    assert "syndicate resume --by EMAIL --channel email" in out  # a command to paste, on one line

    code, out, _ = run(capsys, "status")
    assert code == 0
    assert flat(out).startswith(f"PAUSED: email is paused by ap@example.org since Thu 3 Dec 2026, 10:30 GMT: {REASON}. "
                                "Nothing goes out on it until an admin runs `syndicate resume --by EMAIL --channel email`.")
    code, out, _ = run(capsys, "--json", "status")
    report = json.loads(out)
    assert [(p["channel"], p["by"], p["reason"], p["since"]) for p in report["paused"]] == [
        ("email", "ap@example.org", REASON, NOW.isoformat())]

    code, out, _ = run(capsys, "send")
    assert code == 0 and "was not sent: email is paused by ap@example.org" in flat(out) and REASON in flat(out)
    assert "syndicate resume --by EMAIL" in flat(out)
    code, out, _ = run(capsys, "send", "1")
    assert code == 1 and "was not sent" in flat(out)
    code, out, _ = run(capsys, "--json", "send")
    assert json.loads(out)["editions"][0]["paused"]["reason"] == REASON
    assert not list(Path.cwd().rglob("*.eml"))  # nothing was written to the outbox either

    code, _, err = run(capsys, "resume", "--by", "ap@example.org")
    assert code == 1 and flat(err) == "error: ap@example.org is an approver: only admins may resume everything"
    code, out, _ = run(capsys, "resume", "--by", "boss@example.org")
    assert code == 0 and f"Resumed email (paused by ap@example.org: {REASON})." in flat(out)
    code, out, _ = run(capsys, "status")
    assert "PAUSED" not in out
    code, out, _ = run(capsys, "send")
    assert code == 0 and "3 of 3 recipients accepted" in out and "edition marked sent" in flat(out)


def test_pausing_everything_then_resuming_the_email_keeps_the_networks_paused(ledger_at: Database, capsys) -> None:
    assert run(capsys, "pause", "--reason", REASON, "--by", "boss@example.org")[0] == 0
    code, out, _ = run(capsys, "publish")
    assert code == 0 and "paused" not in out  # nothing due on any network: nothing held
    code, out, _ = run(capsys, "pause", "--reason", "again", "--by", "ap@example.org", "--channel", "x")
    assert code == 0 and "Already paused, left as it was: everything is paused by boss@example.org" in flat(out)
    code, out, _ = run(capsys, "resume", "--by", "boss@example.org", "--channel", "email")
    assert code == 0
    said = flat(out)
    assert "Resumed everything" in said
    for name in ("X", "Mastodon", "Bluesky", "LinkedIn"):
        assert f"Still paused: {name} is paused by boss@example.org since Thu 3 Dec 2026, 10:30 GMT: {REASON}" in said
    code, out, _ = run(capsys, "send")
    assert code == 0 and "3 of 3 recipients accepted" in out
    code, out, _ = run(capsys, "--json", "resume", "--by", "boss@example.org", "--channel", "x")
    answer = json.loads(out)
    assert code == 0 and [p["channel"] for p in answer["resumed"]] == ["x"] and answer["kept"] == []
    assert [p["channel"] for p in answer["still_paused"]] == ["mastodon", "bluesky", "linkedin"]
    code, out, _ = run(capsys, "--json", "pause", "--reason", REASON, "--by", "ap@example.org", "--channel", "x")
    assert code == 0 and [(p["channel"], p["by"]) for p in json.loads(out)["paused"]] == [("x", "ap@example.org")]


@pytest.mark.parametrize(("words", "code", "says"), [
    (["pause", "--reason", REASON, "--by", "ed@example.org"], 1,
     "error: ed@example.org is an editor: only approvers or admins may pause everything"),
    (["pause", "--reason", REASON, "--by", "nobody@example.org"], 1, "error: 'nobody@example.org' is not a member of staff"),
    (["pause", "--reason", REASON, "--by", "ap@example.org", "--channel", "telegram"], 1,
     "error: unknown channel 'telegram': use one of email, x, mastodon, bluesky, linkedin (or no --channel for everything)"),
    (["pause", "--reason", " ", "--by", "ap@example.org"], 1, "error: a pause needs a reason staff will read"),
    (["pause", "--by", "ap@example.org"], 2, "Missing option '--reason'"),
    (["resume", "--by", "boss@example.org", "--channel", "fax"], 1, "error: unknown channel 'fax'"),
])
def test_bad_input_is_one_clear_message_and_changes_nothing(ledger_at: Database, capsys, words, code, says) -> None:
    before = _rows(ledger_at)
    got, out, err = run(capsys, *words)
    assert got == code and says in flat(out + err)
    assert "Traceback" not in out + err and "unexpected" not in out + err
    assert _rows(ledger_at) == before
