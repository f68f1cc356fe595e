"""Quiet time at the terminal, as a person runs it (80 columns, piped): `edition show` and `status`
say what quiet time moved and why before anyone approves; `override-quiet` needs an admin and a
reason, is audited, and is shown afterwards."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from state.db import Database
from state.models import AuditRow
from tests.helpers import desk_data
from tests.test_quiet_flow import CHRISTMAS, build, london

REPO = Path(__file__).resolve().parents[1]
NOW = london("2027-12-17 09:00")


def _setup(db: Database, tmp_path: Path) -> tuple[dict[str, str], int]:
    text = desk_data.EXAMPLE_CONFIG.read_text("utf-8").replace('outbox_dir = "outbox"',
                                                               f'outbox_dir = "{tmp_path / "outbox"}"')
    head, _, _ = text.partition("\n[calendar]\n")
    config_path = tmp_path / "syndicate.toml"
    config_path.write_text(head + "\n" + CHRISTMAS, "utf-8")
    from flows.settings import load_config

    edition_id = build(db, load_config(config_path), london("2027-12-16 14:00"))
    desk_data.seed_staff(db, "boss@example.org", "admin", now=NOW)
    desk_data.seed_staff(db, "approver@example.org", "approver", now=NOW)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SYNDICATE_", "COLUMNS", "LINES"))}
    env.update(SYNDICATE_DATABASE_URL=db.engine.url.render_as_string(hide_password=False),
               SYNDICATE_CONFIG=str(config_path), SYNDICATE_NOW=NOW.isoformat(), PYTHONPATH=str(REPO), COLUMNS="80")
    return env, edition_id


def run(words: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "flows.cli", *words], env=env, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)


def _flat(text: str) -> str:
    return " ".join(text.split())


def _fits(text: str) -> None:
    assert not [line for line in text.splitlines() if len(line) > 80], text


def test_edition_show_and_status_say_what_quiet_time_moved_and_why(sqlite_db: Database, tmp_path: Path) -> None:
    env, edition_id = _setup(sqlite_db, tmp_path)
    shown = run(["edition", "show", str(edition_id)], env)
    assert shown.returncode == 0, shown.stderr
    _fits(shown.stdout)
    said = _flat(shown.stdout)
    assert "Scheduled for: Wed 29 Dec" in said
    assert ("Quiet time: moved by quiet time from Thu 23 Dec 2027 10:00 GMT to Wed 29 Dec 2027 08:00 GMT: "
            "Christmas shutdown; Christmas Day (bank holiday in England)") in said
    data = json.loads(run(["--json", "edition", "show", str(edition_id)], env).stdout)
    assert data["quiet"]["state"] == "moved" and data["quiet"]["reasons"][0] == "Christmas shutdown"
    assert data["quiet"]["due_at"] == london("2027-12-23 10:00").isoformat()

    status = run(["status"], env)
    assert status.returncode == 0, status.stderr
    _fits(status.stdout)
    assert "Quiet time" in status.stdout and "Christmas shutdown" in _flat(status.stdout)
    report = json.loads(run(["--json", "status"], env).stdout)
    assert {(q["kind"], q["state"]) for q in report["quiet"]} == {("edition", "moved"), ("thread", "moved")}


def test_override_quiet_needs_an_admin_and_a_reason_and_is_audited(sqlite_db: Database, tmp_path: Path) -> None:
    env, edition_id = _setup(sqlite_db, tmp_path)
    refused = run(["override-quiet", "edition", str(edition_id), "--by", "approver@example.org", "--reason", "soon"], env)
    assert refused.returncode == 1
    assert "error: approver@example.org is an approver: only admins may override quiet time for edition" in _flat(refused.stderr)
    blank = run(["override-quiet", "edition", str(edition_id), "--by", "boss@example.org", "--reason", " "], env)
    assert blank.returncode == 1 and "needs a reason" in blank.stderr
    done = run(["override-quiet", "edition", str(edition_id), "--by", "boss@example.org",
                "--reason", "Safety notice agreed with the chief executive"], env)
    assert done.returncode == 0, done.stderr
    _fits(done.stdout)
    assert _flat(done.stdout).startswith(
        f"edition {edition_id}: quiet time overridden by boss@example.org on Fri 17 Dec 2027 09:00 GMT: "
        "\u201cSafety notice agreed with the chief executive\u201d; it goes out at Thu 23 Dec 2027 10:00 GMT")
    assert "Quiet time: quiet time overridden by boss@example.org" in _flat(
        run(["edition", "show", str(edition_id)], env).stdout)
    with sqlite_db.session() as session:
        entry = session.scalars(select(AuditRow).where(AuditRow.action == "quiet-override")).one()
        assert (entry.actor, entry.subject_kind, entry.subject_id) == ("boss@example.org", "edition", edition_id)
