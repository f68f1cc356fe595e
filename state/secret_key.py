"""The one secret key that signs unsubscribe, confirmation and review links, and desk sessions.

`SYNDICATE_SECRET_KEY` wins when it is set. Without it, the first command that needs a key
generates one and keeps it beside the ledger (`secret-key` in the SQLite database's folder, or
`./var/secret-key` for PostgreSQL), mode 0600, created atomically so two processes starting at
once end up with the same key. Every later command (send, web, serve, the flows) reads that file.

The ledger keeps a fingerprint of the key that signed each edition's links (a keyed hash: it
proves which key was used without revealing it). `check_signing_key` refuses a key that would
break links already sent, and says how to put the old key back. The key itself is never printed,
logged or stored in the ledger.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from compose.errors import SyndicateError
from compose.signing import TokenPolicy
from state.models import EditionRow

if TYPE_CHECKING:
    from state.db import Database

ENV_NAME = "SYNDICATE_SECRET_KEY"
FILE_NAME = "secret-key"
MIN_LENGTH = 16
_FINGERPRINT_MESSAGE = b"syndicate.secret-key.fingerprint.v1"


class SecretKeyError(SyndicateError):
    """The key cannot be used; the message says why and what to do."""


@dataclass(frozen=True)
class SecretKey:
    """The key and where it came from. The value never appears in a repr."""

    value: str = field(repr=False)
    origin: str  # "the environment (SYNDICATE_SECRET_KEY)" or the key file's path

    @property
    def fingerprint(self) -> str:
        """A keyed hash that tells keys apart without revealing this one."""
        return key_fingerprint(self.value)


def key_fingerprint(key: str) -> str:
    """A keyed hash that identifies a key without revealing it (HMAC-SHA256 of a fixed message)."""
    return hmac.new(key.encode("utf-8"), _FINGERPRINT_MESSAGE, hashlib.sha256).hexdigest()[:32]


def key_file(database_url: str | None = None) -> Path:
    """Where the generated key lives: beside a SQLite ledger, else ./var/secret-key."""
    from state.db import database_url as configured_url

    url = make_url(database_url or configured_url())
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).parent / FILE_NAME
    return Path("var") / FILE_NAME


def _read(path: Path) -> str:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise SecretKeyError(f"{path} can be read by other users (mode {mode:o}): run `chmod 600 {path}`")
    key = path.read_text("utf-8").strip()
    if len(key) < MIN_LENGTH:
        raise SecretKeyError(f"{path} holds no usable key (fewer than {MIN_LENGTH} characters): restore the key "
                             f"that signed your links into it, or set {ENV_NAME}")
    return key


def create_private_secret(path: Path) -> None:
    """Write a new random secret to `path` unless one is there: a temporary file (0600 from its
    creation) linked into place, so a reader never sees a half-written secret and a racing writer
    loses and uses the winner's. The secret key and the erasure salt are both kept this way."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(secrets.token_urlsafe(48) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):  # another process made it first: use theirs
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def load_secret_key(env: Mapping[str, str] | None = None, *, database_url: str | None = None,
                    create: bool = True) -> SecretKey | None:
    """The key in use: the environment's, else the key file's, else (with `create`) a new one kept
    in the key file. None only when `create` is False and there is no key yet."""
    env = os.environ if env is None else env
    value = env.get(ENV_NAME, "")
    if value:
        if len(value) < MIN_LENGTH:
            raise SecretKeyError(f"{ENV_NAME} is shorter than {MIN_LENGTH} characters: set a long random value, "
                                 f"or unset it to use the key kept in {key_file(database_url)}")
        return SecretKey(value, f"the environment ({ENV_NAME})")
    path = key_file(database_url)
    if not path.exists():
        if not create:
            return None
        create_private_secret(path)
    return SecretKey(_read(path), str(path))


def record_signing_key(row: EditionRow, key: str) -> None:
    """Note which key signs this edition's links (the first delivery of it decides)."""
    if row.key_fingerprint is None:
        row.key_fingerprint = key_fingerprint(key)


@dataclass(frozen=True, slots=True)
class KeyMismatch:
    """An edition whose live links were signed by another key than the one in use."""

    edition_id: int
    slug: str
    sent_at: datetime | None


def editions_signed_otherwise(session: Session, key: SecretKey | None, *, now: datetime) -> list[KeyMismatch]:
    """Editions whose links are still live and were signed by another key than `key` (or by any key
    when there is none)."""
    since = now - TokenPolicy.unsubscribe_max_age - timedelta(days=1)
    rows = session.execute(select(EditionRow.id, EditionRow.slug, EditionRow.sent_at, EditionRow.key_fingerprint)
                           .where(EditionRow.key_fingerprint.is_not(None), EditionRow.built_at >= since)
                           .order_by(EditionRow.id)).all()
    wanted = key.fingerprint if key is not None else None
    return [KeyMismatch(ident, slug, sent_at) for ident, slug, sent_at, fingerprint in rows if fingerprint != wanted]


def mismatch_message(key: SecretKey | None, mismatched: list[KeyMismatch], *, database_url: str | None = None) -> str:
    """Why the key in use cannot sign (it is missing or another one), and how to put the old key back."""
    first = mismatched[0]
    which = f"edition {first.edition_id} ({first.slug})"
    more = f" and {len(mismatched) - 1} other(s)" if len(mismatched) > 1 else ""
    if key is None:
        return (f"the secret key that signed the links of {which}{more} is missing ({key_file(database_url)} does not "
                f"exist and {ENV_NAME} is not set): a new key would break every unsubscribe link already sent. "
                f"Put the old key back: restore {key_file(database_url)} (mode 0600) or set {ENV_NAME} to it")
    return (f"the secret key in use (from {key.origin}) is not the one that signed the links of {which}{more}: "
            "with it, the unsubscribe links already sent would stop working. Set the old key back "
            f"({ENV_NAME}, or the key file {key_file(database_url)}) and try again")


def check_signing_key(session: Session, key: SecretKey | None, *, now: datetime,
                      database_url: str | None = None) -> None:
    """Refuse a key that would break links already sent (raises `SecretKeyError` saying what to do)."""
    mismatched = editions_signed_otherwise(session, key, now=now)
    if mismatched:
        raise SecretKeyError(mismatch_message(key, mismatched, database_url=database_url))


def signing_key(db: Database, *, now: datetime, env: Mapping[str, str] | None = None) -> str:
    """The key for a command that signs or checks links (send, web, serve, the flows): loaded or
    generated, then checked against the editions already sent. Raises `SecretKeyError`."""
    url = db.engine.url.render_as_string(hide_password=False)
    key = load_secret_key(env, database_url=url, create=False)
    with db.session() as session:  # a missing key is refused before a new one could replace it
        check_signing_key(session, key, now=now, database_url=url)
    if key is None:
        key = load_secret_key(env, database_url=url)
    assert key is not None
    return key.value
