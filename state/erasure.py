"""Erasure on request (UK GDPR article 17): everything held about one address is deleted, and only a
salted hash of it is kept, so that no import, sign-up or API call subscribes it again silently.

The hash is HMAC-SHA256 of the canonical address (`canonical_address`: NFC, trimmed, lower case,
the domain as email-validator writes it) keyed with the erasure salt: `SYNDICATE_ERASURE_SALT`
when set, else a random salt kept beside the ledger like the secret key (`erasure-salt` next to
a SQLite database, `./var/erasure-salt` otherwise), mode 0600, created on the first erasure. A
ledger dump alone cannot be searched for an address. Each hash remembers which salt made it (a
keyed fingerprint, `salt_mark`): a lost or replaced salt is refused with a clear error instead
of letting erased addresses back in.

`erase` (admins only, audited without the address) deletes the subscriber, their changes,
deliveries, per-reader clicks and opens, suppressions and the outgoing webhook bodies that name
them, and empties the provider events and audit details that name the address. `is_erased` is what the sign-up form, an import and the API
ask. `readd` is the one way back: a member of staff re-adds the address with the person's fresh
consent (audited); the hash is removed and the subscriber is active again.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import stat
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from email_validator import EmailNotValidError
from sqlalchemy import ColumnElement, Delete, Text, cast, delete, func, or_, select
from sqlalchemy.orm import Session

from compose.subscribers import check_name, normalise_email
from state import webhooks
from state.ledger import LedgerError, audit
from state.models import (
    AuditRow,
    DeliveryRow,
    DeliveryStatus,
    ErasedAddressRow,
    ProviderEventRow,
    ReaderClickRow,
    ReaderOpenRow,
    SubscriberChangeRow,
    SubscriberRow,
    SubscriberStatus,
    SuppressionRow,
)
from state.roles import require_role
from state.secret_key import create_private_secret, key_file
from state.subscriber_changes import Door, record_change

SALT_ENV = "SYNDICATE_ERASURE_SALT"
SALT_FILE = "erasure-salt"
MIN_SALT_LENGTH = 16
ERASING_ROLES = ("admin",)
ERASED_TEXT = "[erased]"


class ErasureError(LedgerError):
    """An erasure or re-add that cannot be done; the message says why and what to do."""


class ErasedAddress(LedgerError):
    """The address was erased at its owner's request: it is not subscribed again without a member
    of staff's re-add with fresh consent. The message says so, and what to do."""


def canonical_address(email: str) -> str:
    """The form of an address that is hashed: the same for every way of writing one address (any
    case, NFC or NFD, spaces around it, the domain in Unicode or as IDNA when it is valid)."""
    text = unicodedata.normalize("NFC", email.strip())
    with contextlib.suppress(EmailNotValidError, ValueError):
        text = unicodedata.normalize("NFC", normalise_email(text))
    return text.lower()


def address_digest(salt: str, email: str) -> str:
    """HMAC-SHA256 of the canonical address, keyed with the salt (hex)."""
    return hmac.new(salt.encode("utf-8"), canonical_address(email).encode("utf-8"), hashlib.sha256).hexdigest()


def salt_mark(salt: str) -> str:
    """Which salt made a hash, without revealing it."""
    return hmac.new(salt.encode("utf-8"), b"syndicate.erasure-salt.mark.v1", hashlib.sha256).hexdigest()[:16]


# --- the salt ---------------------------------------------------------------------------------------------


def salt_file(database_url: str) -> Path:
    """Where the generated salt lives: beside the secret key (`state.secret_key.key_file`)."""
    return key_file(database_url).with_name(SALT_FILE)


def _database_url(session: Session) -> str:
    return session.get_bind().engine.url.render_as_string(hide_password=False)


def erasure_salt(session: Session, *, env: Mapping[str, str] | None = None, create: bool = False) -> str | None:
    """The salt in use: the environment's, else the salt file's, else (with `create`) a new one kept
    in the salt file. None when there is none yet and `create` is False."""
    env = os.environ if env is None else env
    value = env.get(SALT_ENV, "")
    if value:
        if len(value) < MIN_SALT_LENGTH:
            raise ErasureError(f"{SALT_ENV} is shorter than {MIN_SALT_LENGTH} characters: set a long random value")
        return value
    path = salt_file(_database_url(session))
    if not path.exists():
        if not create:
            return None
        create_private_secret(path)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ErasureError(f"{path} can be read by other users (mode {mode:o}): run `chmod 600 {path}`")
    salt = path.read_text("utf-8").strip()
    if len(salt) < MIN_SALT_LENGTH:
        raise ErasureError(f"{path} holds no usable salt: restore the file it held, or set {SALT_ENV}")
    return salt


def _check_salt(session: Session, salt: str | None) -> None:
    """Refuse to answer with a salt that did not make the hashes kept (a lost or replaced salt file)."""
    marks = set(session.scalars(select(ErasedAddressRow.salt_mark).distinct()))
    if marks and (salt is None or salt_mark(salt) not in marks):
        raise ErasureError(f"the erasure salt is missing or is not the one that hashed the erased addresses: restore "
                           f"the `{SALT_FILE}` file beside the ledger (or {SALT_ENV}) from your backup; until then "
                           "no address can be checked, so none is subscribed")


# --- asking -------------------------------------------------------------------------------------------------


def is_erased(session: Session, email: str, *, env: Mapping[str, str] | None = None) -> bool:
    """True when this address (any case or form) was erased and not re-added since."""
    if session.scalar(select(ErasedAddressRow.id).limit(1)) is None:
        return False
    salt = erasure_salt(session, env=env)
    _check_salt(session, salt)
    assert salt is not None
    return session.scalar(select(ErasedAddressRow.id).where(
        ErasedAddressRow.digest == address_digest(salt, email))) is not None


def erased_among(session: Session, emails: list[str], *, env: Mapping[str, str] | None = None) -> set[str]:
    """The addresses (as given) of `emails` that were erased: one salt lookup for a whole import."""
    if not emails or session.scalar(select(ErasedAddressRow.id).limit(1)) is None:
        return set()
    salt = erasure_salt(session, env=env)
    _check_salt(session, salt)
    assert salt is not None
    by_digest = {address_digest(salt, email): email for email in emails}
    found: set[str] = set()
    digests = list(by_digest)
    for start in range(0, len(digests), 500):
        for digest in session.scalars(select(ErasedAddressRow.digest)
                                      .where(ErasedAddressRow.digest.in_(digests[start:start + 500]))):
            found.add(by_digest[digest])
    return found


def refusal(email: str) -> str:
    """What the sign-up form, an import and the API say about an erased address."""
    return (f"{email} was erased at its owner's request and is not subscribed again automatically; if the person "
            "asks to come back, an admin re-adds it with their consent (`syndicate subscribers readd`)")


def refuse_erased(session: Session, email: str) -> None:
    """Raise `ErasedAddress` for an erased address."""
    if is_erased(session, email):
        raise ErasedAddress(refusal(email))


# --- erasing ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Erased:
    """What `erase` removed (counts), never the address itself."""

    digest: str
    subscriber_id: int | None
    removed: dict[str, int] = field(default_factory=dict)


def _like(text: str) -> str:
    """The longest ASCII run of `text`, escaped for LIKE: a coarse filter, checked exactly after."""
    runs = "".join(char if char.isascii() else "\0" for char in text).split("\0")
    needle = max(runs, key=len)
    return "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _scrub(value: Any, address: str) -> tuple[Any, bool]:
    """`value` (decoded JSON) with every string naming `address` replaced, and whether anything was."""
    if isinstance(value, str):
        return (ERASED_TEXT, True) if address in canonical_address(value) or address in value.lower() else (value, False)
    if isinstance(value, list):
        pairs = [_scrub(item, address) for item in value]
        return [item for item, _ in pairs], any(changed for _, changed in pairs)
    if isinstance(value, dict):
        out, changed = {}, False
        for key, item in value.items():
            out[key], hit = _scrub(item, address)
            changed = changed or hit
        return out, changed
    return value, False


def _events_about(address: str, subscriber_id: int | None) -> Any:
    named = func.lower(ProviderEventRow.payload["email"].as_string()) == address
    if subscriber_id is None:
        return named
    return or_(named, ProviderEventRow.payload["subscriber_id"].as_string() == str(subscriber_id))


def erase(session: Session, email: str, *, by: str, now: datetime, env: Mapping[str, str] | None = None) -> Erased:
    """Delete everything held about `email` and keep its salted hash (admins only; audited with the
    hash's first characters and the counts, never the address). Refused while a message to it is
    being sent. Erasing an address held nowhere still keeps its hash: the person asked never to be
    written to. Does not commit."""
    who = require_role(session, by, ERASING_ROLES, "erase a subscriber's data")
    address = canonical_address(email)
    if "@" not in address:
        raise ErasureError(f"{email!r} is not an email address: give the address to erase")
    salt = erasure_salt(session, env=env, create=True)
    assert salt is not None
    _check_salt(session, salt)
    row = session.scalars(select(SubscriberRow).where(func.lower(SubscriberRow.email) == address)).first()
    sid = row.id if row is not None else None
    removed: dict[str, int] = {}
    if row is not None:
        if session.scalar(select(DeliveryRow.id).where(DeliveryRow.subscriber_id == sid,
                                                       DeliveryRow.status == DeliveryStatus.SENDING).limit(1)):
            raise ErasureError(f"an edition is being sent to {email} right now: erase it once the send has finished "
                               "(`syndicate status` shows it)")
        for name, model in (("changes", SubscriberChangeRow), ("deliveries", DeliveryRow),
                            ("reader_clicks", ReaderClickRow), ("reader_opens", ReaderOpenRow)):
            removed[name] = _deleted(session, delete(model).where(model.subscriber_id == sid))
    removed["suppressions"] = _deleted(session, delete(SuppressionRow).where(
        or_(func.lower(SuppressionRow.email) == address, *([SuppressionRow.subscriber_id == sid] if sid else []))))
    events = session.scalars(select(ProviderEventRow).where(_events_about(address, sid))).all()
    for event in events:
        event.payload = {"erased": True}
    removed["provider_events"] = len(events)
    removed["audit_details"] = _scrub_audit(session, address, sid)
    removed["webhook_deliveries"] = webhooks.forget_address(session, address)
    if row is not None:
        session.delete(row)
        removed["subscriber"] = 1
    digest = address_digest(salt, address)
    if session.scalar(select(ErasedAddressRow.id).where(ErasedAddressRow.digest == digest)) is None:
        session.add(ErasedAddressRow(digest=digest, salt_mark=salt_mark(salt), erased_at=now, erased_by=who))
    session.flush()
    audit(session, actor=who, action="subscriber.erase", kind="subscriber", ident=sid, now=now,
          digest=digest[:16], removed=removed)
    return Erased(digest=digest, subscriber_id=sid, removed=removed)


def _deleted(session: Session, statement: Delete) -> int:
    """Run a DELETE; how many rows it removed."""
    result = session.execute(statement)
    return int(getattr(result, "rowcount", 0) or 0)


def _scrub_audit(session: Session, address: str, subscriber_id: int | None) -> int:
    about: ColumnElement[bool] = cast(AuditRow.detail, Text).ilike(_like(address), escape="\\")
    if subscriber_id is not None:
        about = or_(about, (AuditRow.subject_kind == "subscriber") & (AuditRow.subject_id == subscriber_id))
    count = 0
    for audit_row in session.scalars(select(AuditRow).where(about)):
        detail, changed = _scrub(json.loads(json.dumps(audit_row.detail or {})), address)
        if changed:
            audit_row.detail = detail
            count += 1
    return count


# --- the way back -------------------------------------------------------------------------------------------


def readd(session: Session, email: str, *, consent: str, by: str, now: datetime, name: str = "",
          door: Door = "cli", env: Mapping[str, str] | None = None) -> SubscriberRow:
    """Re-add an erased address because its owner asked to come back (admins only; audited): the
    hash is removed and the subscriber is active, with `consent` (how and when they asked) as its
    consent record. Refused for an address that is not erased, or without a consent note. Does not commit."""
    note = " ".join((consent or "").split())
    if not note:
        raise ErasureError("say how the person gave their consent (--consent), e.g. \"asked by email on 7 Dec "
                           "2026 to be re-added\": it becomes their consent record")
    who = require_role(session, by, ERASING_ROLES, f"re-add {email}")
    address = normalise_email(email)
    salt = erasure_salt(session, env=env)
    _check_salt(session, salt)
    erased = session.scalars(select(ErasedAddressRow).where(
        ErasedAddressRow.digest == address_digest(salt, address))).first() if salt else None
    if erased is None:
        raise ErasureError(f"{address} is not erased: nothing to re-add (`syndicate subscribers import` or the "
                           "sign-up form add a new address)")
    session.delete(erased)
    row = SubscriberRow(email=address, name=check_name(name), status=SubscriberStatus.ACTIVE,
                        consent_source=f"staff:{who}: {note}"[:500], consent_at=now, confirmed_at=now,
                        status_changed_at=now, status_reason="re-added after erasure", created_at=now)
    session.add(row)
    session.flush()
    record_change(session, row, door=door, field="status", old="erased", new=str(SubscriberStatus.ACTIVE), now=now, by=who)
    audit(session, actor=who, action="subscriber.readd", kind="subscriber", ident=row.id, now=now, consent=note)
    return row
