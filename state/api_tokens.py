"""Bearer tokens of the JSON API (`/api/v1`): made, listed and revoked by admins, audited.

A token is `synd_` followed by 43 random URL-safe characters (256 bits), shown once when it is made;
the ledger keeps only its SHA-256 and its first characters (so staff recognise it in a list). A
request's token is hashed and looked up by that hash, then the hashes are compared in constant
time; a revoked token is refused from the moment the revocation commits. `last_used_at` says
when it was last accepted (written at most once a minute per token, so reads stay cheap).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from state.errors import LedgerError, NotFound
from state.ledger import audit
from state.models import ApiTokenRow
from state.roles import require_role

Scope = Literal["read", "write"]
SCOPES: tuple[Scope, ...] = ("read", "write")
PREFIX = "synd_"
ADMIN_ROLES = ("admin",)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_TOUCH_EVERY = timedelta(minutes=1)


class TokenRefused(LedgerError):
    """A token that cannot be made, or revoked, as asked: the message says what to change."""


@dataclass(frozen=True, slots=True)
class ApiCaller:
    """Who a request's token says is calling: the token's name (recorded as `by`) and its scope."""

    name: str
    scope: str

    def may(self, scope: Scope) -> bool:
        return self.scope == "write" or scope == "read"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, name: str, *, scope: str, by: str, now: datetime) -> tuple[ApiTokenRow, str]:
    """A new token named `name` with `scope`, made by the admin `by`: the row and the token itself,
    which is never shown again. Refused for a bad or taken name, an unknown scope, or a non-admin."""
    who = require_role(session, by, ADMIN_ROLES, "make API tokens")
    name = (name or "").strip()
    if not _NAME.match(name):
        raise TokenRefused(f"{name!r} cannot name a token: use up to 100 letters, digits, '.', '_' or '-', "
                           "starting with a letter or digit (e.g. membership-crm)")
    if scope not in SCOPES:
        raise TokenRefused(f"unknown scope {scope!r}: use read (GET only) or write (also changes subscribers)")
    if session.scalar(select(ApiTokenRow.id).where(ApiTokenRow.name == name)) is not None:
        raise TokenRefused(f"there is already a token named {name!r}: pick another name, or revoke it first "
                           f"(`syndicate api-tokens revoke {name} --by ADMIN`)")
    token = PREFIX + secrets.token_urlsafe(32)
    row = ApiTokenRow(name=name, scope=scope, token_hash=token_hash(token), prefix=token[:9], created_by=who,
                      created_at=now)
    session.add(row)
    session.flush()
    audit(session, actor=who, action="api-token-create", kind="api_token", ident=row.id, now=now, name=name,
          scope=scope)
    return row, token


def list_tokens(session: Session) -> Sequence[ApiTokenRow]:
    """Every token, revoked ones too, oldest first. Reads only."""
    return session.scalars(select(ApiTokenRow).order_by(ApiTokenRow.id)).all()


def revoke_token(session: Session, name: str, *, by: str, now: datetime) -> ApiTokenRow:
    """Revoke the token `name` (admins only, audited): every request with it is refused from the commit
    on. Revoking a revoked token changes nothing."""
    who = require_role(session, by, ADMIN_ROLES, "revoke API tokens")
    row = session.scalars(select(ApiTokenRow).where(ApiTokenRow.name == (name or "").strip())).first()
    if row is None:
        raise NotFound(f"there is no API token named {name!r}: `syndicate api-tokens list` shows them")
    if row.revoked_at is None:
        row.revoked_at, row.revoked_by = now, who
        audit(session, actor=who, action="api-token-revoke", kind="api_token", ident=row.id, now=now, name=row.name)
    return row


def authenticate(session: Session, presented: str, *, now: datetime) -> ApiCaller | None:
    """The caller a presented token belongs to, or None when it is unknown, malformed or revoked.
    Marks the token used (at most once a minute). Does not commit."""
    if not presented.startswith(PREFIX) or len(presented) > 200:
        return None
    digest = token_hash(presented)
    row = session.scalars(select(ApiTokenRow).where(ApiTokenRow.token_hash == digest)).first()
    if row is None or not hmac.compare_digest(row.token_hash, digest) or row.revoked_at is not None:
        return None
    if row.last_used_at is None or now - _aware(row.last_used_at, now) >= _TOUCH_EVERY:
        row.last_used_at = now
    return ApiCaller(name=row.name, scope=row.scope)


def _aware(moment: datetime, like: datetime) -> datetime:
    return moment if moment.tzinfo is not None or like.tzinfo is None else moment.replace(tzinfo=like.tzinfo)
