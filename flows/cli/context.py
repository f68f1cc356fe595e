"""What every `syndicate` command reads: the global options (`--config`, `--json`), the clock, the
config, the database and who is acting; and `Abort`, the failure a command raises for a person to
read. Imports no command module, so every command module may import it.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from compose.errors import SyndicateError
from flows.settings import ConfigError, load_config

if TYPE_CHECKING:
    from compose.config import Config
    from state.db import Database

_STATE: dict[str, Any] = {"config": None, "json": False}


class Abort(SyndicateError):
    """A user-facing failure: printed as one clear message, exit status 1."""


def global_options(
    config_file: Annotated[Path | None, typer.Option("--config", help="Config file (default ./syndicate.toml or $SYNDICATE_CONFIG).")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout instead of tables.")] = False,
) -> None:
    """Remember the global options for the command that follows (the app's callback)."""
    _STATE["config"] = config_file
    _STATE["json"] = json_output


def now() -> datetime:
    """The clock. `SYNDICATE_NOW` (ISO 8601) pins it, for rehearsals and tests."""
    pinned = os.environ.get("SYNDICATE_NOW")
    if pinned:
        try:
            value = datetime.fromisoformat(pinned)
        except ValueError:
            raise Abort(f"SYNDICATE_NOW={pinned!r} is not an ISO 8601 time, e.g. 2026-11-26T14:00:00+00:00") from None
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.now(UTC)


def config_path() -> str | None:
    """The file `--config` names, None when it names none (the default applies)."""
    return str(_STATE["config"]) if _STATE["config"] else None


def config() -> Config:
    """The config `--config` names (or the default), validated."""
    return load_config(_STATE["config"])


def display_zone() -> tzinfo:
    """The organisation's time zone for showing times; UTC when the config cannot be read (the times
    still say which zone they are in)."""
    try:
        return config().zone
    except ConfigError:
        return UTC


def database() -> Database:
    """The ledger: `$SYNDICATE_DATABASE_URL`, else SQLite in ./var/."""
    from state.db import connect

    return connect()


def as_json() -> bool:
    """Whether `--json` was given: print one JSON object instead of tables."""
    return bool(_STATE["json"])


# --- who does it: a person at the terminal, never "cli" or "system" ------------------------------

BY = typer.Option("--by", metavar="EMAIL", help="Your email as on the staff list, for the audit log (without it the "
                  "log records your login on this machine).")


def person(session: Any, by: str | None, *, roles: tuple[str, ...] = (), doing: str = "") -> str:
    """Who the audit log names for a change made at the terminal: the member of staff `--by` names
    (refused when they are not staff, or lack one of `roles`), else the machine's login account."""
    import getpass

    from state.roles import require_role, staff_member

    if by is None:
        try:
            login = getpass.getuser()
        except (KeyError, OSError):
            login = "unknown"
        return f"{login} (terminal login)"
    return require_role(session, by, roles, doing) if roles else staff_member(session, by).email
