"""Loading `syndicate.toml` and the environment, with errors that name the key and the fix."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compose.errors import SyndicateError

if TYPE_CHECKING:
    from compose.config import Config
    from state.db import Database

DEFAULT_CONFIG = "syndicate.toml"


class ConfigError(SyndicateError):
    """The configuration cannot be used; the message says which key and how to fix it."""


def config_path(explicit: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    return Path(explicit or env.get("SYNDICATE_CONFIG") or DEFAULT_CONFIG)


def _location(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "...'"


_URL_ERRORS = {"url_parsing", "url_scheme", "url_type", "url_syntax_violation", "url_too_long"}


def problem(error: Mapping[str, Any]) -> str:
    """One clear line for one pydantic error: what the value must be, what was given, how to fix it."""
    kind, ctx, given = str(error["type"]), error.get("ctx") or {}, error.get("input")
    got = f" (it is {_shown(given)})" if not isinstance(given, dict | list) else ""
    if kind == "extra_forbidden":
        return "unknown key: remove it or check its spelling against the commented example syndicate.toml"
    if kind == "missing":
        return "missing: this key is required"
    if kind in _URL_ERRORS:
        return f"not a full web address{got}: write it with http:// or https://, e.g. \"https://www.example.org/feed\""
    if kind in {"int_parsing", "int_type", "int_from_float"}:
        return f"must be a whole number, without quotes{got}"
    if kind in {"float_parsing", "float_type"}:
        return f"must be a number, without quotes{got}"
    if kind in {"bool_parsing", "bool_type"}:
        return f"must be true or false, without quotes{got}"
    if kind == "string_type":
        return f"must be text in quotes{got}"
    if kind in {"literal_error", "enum"}:
        return f"must be one of {ctx.get('expected', '')}{got}"
    if kind in {"list_type", "tuple_type", "set_type"}:
        return f"must be a list in square brackets, e.g. [\"a\", \"b\"]{got}"
    if kind in {"dict_type", "model_type", "model_attributes_type"}:
        return f"must be a table of keys{got}"
    limits = {"greater_than": "more than {gt}", "greater_than_equal": "at least {ge}", "less_than": "less than {lt}",
              "less_than_equal": "at most {le}", "string_too_short": "at least {min_length} character(s) long",
              "string_too_long": "at most {max_length} character(s) long", "too_short": "at least {min_length} long",
              "too_long": "at most {max_length} long"}
    if kind in limits:
        return f"must be {limits[kind].format(**ctx)}{got}"
    if kind.startswith(("time", "date", "datetime")):
        return f"is not a valid {kind.split('_')[0]}{got}: write a time as \"10:00\", a date as \"2026-12-03\""
    message = str(error["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return message.replace("Input should be", "should be", 1) if message.startswith("Input should") else message


def parse_config(text: str, *, origin: str = "syndicate.toml") -> Config:
    from pydantic import ValidationError  # with the config models: only what reads the config pays for them

    from compose.config import Config

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{origin} is not valid TOML: {exc}") from None
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        lines = [f"  {_location(tuple(error['loc']))}: {problem(error)}" for error in exc.errors()]
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
    return network_limits(parse_config(text, origin=str(target)), refresh=False)


def network_limits(config: Config, *, refresh: bool = True) -> Config:
    """`config` with each network's limits as the network states them (today Mastodon's
    `max_characters`, read from the instance posts go to and cached for a day under var/mastodon/).
    `refresh=False` reads the cache only; drafting refreshes it (a failed read keeps the
    configured limits, with a warning)."""
    if not config.social.mastodon.enabled or not os.environ.get("MASTODON_ACCESS_TOKEN", "").strip():
        return config  # what it returns without Mastodon, without importing it (requests, the channels: ~0.3 s)
    from connectors.channels.mastodon_instance import with_instance_limits

    return with_instance_limits(config, refresh=refresh, timeout_s=5.0)


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
