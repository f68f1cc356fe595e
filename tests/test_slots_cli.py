"""`syndicate posts slots` and `syndicate posts move`, run as a person runs them (a subprocess, piped,
COLUMNS=80): the week's slots fit 80 columns with local, human times; a move names its member of
staff, keeps the approval, and a refusal says what to do (exit 1)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from state import ledger
from state.db import Database
from state.models import AuditRow, ItemRow, ThreadRow
from tests.helpers import desk_data
from tests.test_slots_desk import SLOTS, slotted_config

REPO = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)  # Tuesday 1 December 2026, 09:30 in London (GMT)
LONDON = ZoneInfo("Europe/London")
ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


@pytest.fixture
def setup(sqlite_db: Database, tmp_path: Path):  # type: ignore[no-untyped-def]
    config = slotted_config(tmp_path)
    config_path = tmp_path / "syndicate.toml"
    text = desk_data.EXAMPLE_CONFIG.read_text("utf-8")
    config_path.write_text(re.sub(r"^# slots = .*$", SLOTS, text, count=1, flags=re.M), "utf-8")
    desk_data.seed_items(sqlite_db, config, now=NOW)
    threads = desk_data.seed_threads(sqlite_db, config, now=NOW)
    desk_data.seed_staff(sqlite_db, "editor@example.org", "editor", now=NOW)
    desk_data.seed_staff(sqlite_db, "boss@example.org", "admin", now=NOW)
    with sqlite_db.session() as session:
        for thread_id in threads[:2]:  # Tuesday 12:30, Wednesday 09:00
            ledger.approve(session, "thread", thread_id, by="boss@example.org", now=NOW, config=config)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SYNDICATE_", "COLUMNS", "LINES"))}
    env.update(SYNDICATE_DATABASE_URL=sqlite_db.engine.url.render_as_string(hide_password=False),
               SYNDICATE_CONFIG=str(config_path), SYNDICATE_NOW=NOW.isoformat(), PYTHONPATH=str(REPO), COLUMNS="80")
    return sqlite_db, env, threads


def run(words: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "flows.cli", *words], env=env, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)


def fits(text: str) -> None:
    long = [line for line in text.splitlines() if len(line) > 80]
    assert not long, "lines wider than 80:\n" + "\n".join(long)
    assert "…" not in text and not ISO_TIME.search(text), text


def scheduled(db: Database, thread_id: int) -> datetime | None:
    with db.session() as session:
        return session.get(ThreadRow, thread_id).scheduled_for  # type: ignore[union-attr]


def test_posts_slots_lists_the_week_at_80_columns(setup) -> None:  # type: ignore[no-untyped-def]
    db, env, threads = setup
    done = run(["posts", "slots", "--days", "3"], env)
    assert done.returncode == 0, done.stderr
    fits(done.stdout)
    flat = " ".join(done.stdout.split())
    with db.session() as session:
        title = session.scalars(select(ItemRow.title).join(ThreadRow, ThreadRow.item_id == ItemRow.id)
                                .where(ThreadRow.id == threads[0])).one()
    assert f"Tue 1 Dec, 12:30 GMT x thread {threads[0]}: {title[:20]}" in flat  # the title wraps in its column
    assert f"Wed 2 Dec, 09:00 GMT x thread {threads[1]}:" in flat
    assert "Wed 2 Dec, 12:30 GMT x free" in flat
    assert "Tue 1 Dec, 09:00 GMT" not in flat  # passed: not ahead
    assert 'syndicate posts move THREAD_ID --to "YYYY-MM-DD HH:MM" --by EMAIL' in done.stdout
    data = json.loads(run(["--json", "posts", "slots", "--days", "3"], env).stdout)
    assert data["slots"][0] == {"at": "2026-12-01T12:30:00+00:00", "network": "x", "thread": threads[0], "quiet": None}


def test_posts_move_to_a_time_or_the_next_slot_keeps_the_approval(setup) -> None:  # type: ignore[no-untyped-def]
    db, env, threads = setup
    done = run(["posts", "move", str(threads[0]), "--to", "2026-12-03 12:30", "--by", "editor@example.org"], env)
    assert done.returncode == 0, done.stderr
    fits(done.stdout)
    assert " ".join(done.stdout.split()) == (f"thread {threads[0]} (x) moved to Thu 3 Dec, 12:30 GMT (was Tue 1 Dec, "
                                             f"12:30 GMT); its approval stands")
    assert scheduled(db, threads[0]) == datetime(2026, 12, 3, 12, 30, tzinfo=UTC)
    done = run(["posts", "move", str(threads[2]), "--slot", "next", "--by", "editor@example.org"], env)
    assert done.returncode == 0, done.stderr
    assert scheduled(db, threads[2]) == datetime(2026, 12, 1, 12, 30, tzinfo=UTC)  # the slot threads[0] left
    with db.session() as session:
        assert ledger.is_approved(session, "thread", threads[0])
        actors = session.scalars(select(AuditRow.actor).where(AuditRow.action == "move")).all()
        assert actors == ["editor@example.org", "editor@example.org"]


@pytest.mark.parametrize(("words", "says"), [
    (["--by", "editor@example.org"], 'say where to: --to "YYYY-MM-DD HH:MM" or --slot next'),
    (["--slot", "first", "--by", "editor@example.org"], "the only slot by name is \"next\""),
    (["--to", "next tuesday", "--by", "editor@example.org"], "is not a date and time: write it as YYYY-MM-DD HH:MM"),
    (["--to", "2026-12-02 09:00", "--by", "editor@example.org"], "is taken by another thread: choose a free one"),
    (["--to", "2026-12-01 08:00", "--by", "editor@example.org"], "has passed: choose a time ahead"),
    (["--slot", "next", "--by", "nobody@example.org"], "nobody@example.org"),
])
def test_posts_move_refuses_clearly(setup, words: list[str], says: str) -> None:  # type: ignore[no-untyped-def]
    db, env, threads = setup
    done = run(["posts", "move", str(threads[0]), *words], env)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and "unexpected" not in done.stderr
    assert says in " ".join(done.stderr.split())
    fits(done.stderr)
    assert scheduled(db, threads[0]) == datetime(2026, 12, 1, 12, 30, tzinfo=UTC)


def test_approving_a_post_says_which_slot_it_took(setup) -> None:  # type: ignore[no-untyped-def]
    db, env, threads = setup
    done = run(["approve", "thread", str(threads[2]), "--by", "boss@example.org"], env)
    assert done.returncode == 0, done.stderr
    fits(done.stdout)
    assert " ".join(done.stdout.split()).startswith(
        f"thread {threads[2]} approved by boss@example.org: goes out Wed 2 Dec, 12:30 GMT")
    assert scheduled(db, threads[2]) == datetime(2026, 12, 2, 12, 30, tzinfo=UTC)
    data = json.loads(run(["--json", "approve", "thread", str(threads[3]), "--by", "boss@example.org"], env).stdout)
    assert data["scheduled_for"] == "2026-12-03T09:00:00+00:00"
