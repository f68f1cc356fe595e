"""The SQLite ledger holds subscribers' addresses: it and its -wal/-shm files are its owner's only."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from sqlalchemy import text

from state.db import connect


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_ledger_and_its_wal_and_shm_are_0600_whatever_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "var" / "syndicate.db"
    old = os.umask(0o022)
    try:
        db = connect(f"sqlite:///{path}")
        with db.session() as session:
            session.execute(text("CREATE TABLE probe (x INTEGER)"))
            session.execute(text("INSERT INTO probe VALUES (1)"))
            session.commit()
            wal, shm = path.with_name("syndicate.db-wal"), path.with_name("syndicate.db-shm")
            assert wal.exists() and shm.exists()  # WAL mode: both exist while a connection is open
            assert (_mode(path), _mode(wal), _mode(shm)) == (0o600, 0o600, 0o600)
        db.dispose()
    finally:
        os.umask(old)


def test_an_existing_world_readable_ledger_is_narrowed_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "syndicate.db"
    db = connect(f"sqlite:///{path}")
    with db.session() as session:
        session.execute(text("CREATE TABLE probe (x INTEGER)"))
        session.execute(text("INSERT INTO probe VALUES (7)"))
        session.commit()
    db.dispose()
    path.chmod(0o644)
    db = connect(f"sqlite:///{path}")
    assert _mode(path) == 0o600
    with db.session() as session:
        assert session.execute(text("SELECT x FROM probe")).scalar_one() == 7
    db.dispose()
