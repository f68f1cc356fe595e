"""Loading `syndicate.toml` and the environment, with errors that name the key and the fix."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from compose.config import Config

if TYPE_CHECKING:
    from state.db import Database

DEFAULT_CONFIG = "syndicate.toml"


class ConfigError(Exception):
    """The configuration cannot be used; the message says which key and how to fix it."""


def config_path(explicit: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    return Path(explicit or env.get("SYNDICATE_CONFIG") or DEFAULT_CONFIG)


def _location(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def parse_config(text: str, *, origin: str = "syndicate.toml") -> Config:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{origin} is not valid TOML: {exc}") from None
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            where = _location(tuple(error["loc"]))
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = "unknown key: remove it or check its spelling against the commented example syndicate.toml"
            elif error["type"] == "missing":
                message = "missing: this key is required"
            lines.append(f"  {where}: {message}")
        raise ConfigError(f"{origin} has {len(lines)} problem(s):\n" + "\n".join(lines)) from None


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    target = config_path(path)
    try:
        text = target.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"no config file at {target}: copy the commented example (`cp examples/syndicate.toml syndicate.toml`) "
            "or pass --config FILE"
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read {target}: {exc.strerror}") from None
    return parse_config(text, origin=str(target))


def secret_key(env: Mapping[str, str] | None = None, *, database_url: str | None = None) -> str:
    """The key that signs unsubscribe, confirmation and review links: SYNDICATE_SECRET_KEY, else the key
    kept beside the ledger (generated on first use). See `state.secret_key`."""
    from state.secret_key import SecretKeyError, load_secret_key

    try:
        key = load_secret_key(env, database_url=database_url)
    except SecretKeyError as exc:
        raise ConfigError(str(exc)) from None
    assert key is not None
    return key.value


def signing_key(db: Database, *, now: datetime) -> str:
    """The key for a command that signs or checks links, refused (ConfigError saying what to do) when it
    would break links already sent."""
    from state.secret_key import SecretKeyError
    from state.secret_key import signing_key as checked_key

    try:
        return checked_key(db, now=now)
    except SecretKeyError as exc:
        raise ConfigError(str(exc)) from None
