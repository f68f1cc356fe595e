"""Engine and session setup, and migrations to the newest schema.

`connect(url)` opens the database named by `$SYNDICATE_DATABASE_URL` (default SQLite at
`./var/syndicate.db`) and brings its schema up to date with Alembic, so every command works on
a fresh machine. PostgreSQL URLs use psycopg 3.

Checking the schema costs two small statements (is there an alembic_version table, and what it
holds): the revision the database holds against the head read from the migration files (parsed,
not run). Alembic itself (about half a second to import) is loaded
only when they differ, to upgrade.
"""

from __future__ import annotations

import ast
import functools
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

DEFAULT_URL = "sqlite:///var/syndicate.db"
_MIGRATIONS = Path(__file__).with_name("migrations")


def database_url(env: dict[str, str] | None = None) -> str:
    """The ledger's database URL: `$SYNDICATE_DATABASE_URL`, else SQLite in ./var/syndicate.db."""
    source: Mapping[str, str] = os.environ if env is None else env
    return source.get("SYNDICATE_DATABASE_URL") or DEFAULT_URL


def _normalise(url: str) -> str:
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


@dataclass
class Database:
    """The ledger's engine and its session factory; `session()` is the unit of work callers commit by."""

    engine: Engine
    sessions: sessionmaker[Session]

    @property
    def is_sqlite(self) -> bool:
        """True on SQLite (one writer at a time), False on PostgreSQL."""
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error."""
        with self.sessions() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def dispose(self) -> None:
        """Close every pooled connection (at exit, or between tests)."""
        self.engine.dispose()


def _alembic_config(url: str) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


@functools.cache
def schema_heads(versions: Path = _MIGRATIONS / "versions") -> frozenset[str]:
    """The head revision(s) of the migrations in `versions`: each file's `revision`, less every
    `down_revision` another names. Read with `ast`, without importing the files (or Alembic)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in versions.glob("*.py"):
        for node in ast.parse(path.read_bytes(), str(path)).body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target, expression = node.targets[0], node.value
            elif isinstance(node, ast.AnnAssign) and node.value is not None:
                target, expression = node.target, node.value
            else:
                continue
            if not isinstance(target, ast.Name):
                continue
            if target.id == "revision":
                revisions.add(ast.literal_eval(expression))
            elif target.id == "down_revision":
                value = ast.literal_eval(expression)
                parents.update((value,) if isinstance(value, str) else value or ())
    return frozenset(revisions - parents)


def _stored_revisions(engine: Engine) -> frozenset[str]:
    """The revision(s) the database holds: none before its first migration."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return frozenset()
        return frozenset(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())


def _upgrade(engine: Engine, url: str) -> None:
    """Bring the schema to the head with Alembic, which checks the revisions again itself."""
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    config = _alembic_config(url)
    head = ScriptDirectory.from_config(config).get_current_head()
    with engine.connect() as connection:
        if MigrationContext.configure(connection).get_current_revision() == head:
            return
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def connect(url: str | None = None, *, migrate: bool = True, echo: bool = False) -> Database:
    """Open the ledger database and, unless told not to, migrate it to the newest schema."""
    url = _normalise(url or database_url())
    parsed = make_url(url)
    kwargs: dict[str, object] = {"echo": echo, "future": True}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:" and not parsed.database.startswith("file:"):
            private_file(Path(parsed.database))
        kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
    else:
        kwargs["pool_pre_ping"] = True
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    if migrate and _stored_revisions(engine) != schema_heads():
        _upgrade(engine, url)
    return Database(engine, sessionmaker(engine, expire_on_commit=False))


LEDGER_FILE_MODE = 0o600  # the ledger holds subscribers' addresses: readable by its owner only


def private_file(path: Path) -> None:
    """Make the SQLite ledger at `path` readable by its owner only, before SQLite opens it: a new
    file is created with mode 0600 (SQLite then gives its -wal and -shm files the same mode), and
    an existing ledger, or its -wal/-shm, that group or others can read is narrowed to 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, LEDGER_FILE_MODE))
    for each in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            status = each.stat()
        except FileNotFoundError:
            continue
        if status.st_mode & 0o077 and status.st_uid == os.getuid():
            each.chmod(LEDGER_FILE_MODE)


def _sqlite_pragmas(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
