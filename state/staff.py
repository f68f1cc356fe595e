"""Staff accounts for the review desk: who may edit, approve and administer, and how they sign in.

A member of staff is added by an admin (`syndicate staff add EMAIL --role ROLE`), which prints a
one-time link to choose a password. Only a SHA-256 of that link's token is stored, and it expires.
Passwords are hashed with argon2. Failed sign-ins lock the account for a growing delay
(`LoginPolicy`), so guessing a password is slow even across many addresses of the attacker.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from state.ledger import SYSTEM, LedgerError, audit
from state.models import StaffRow

ROLES = ("editor", "approver", "admin")

# what each role may do on the desk; "view" is every page
CAPABILITIES: dict[str, frozenset[str]] = {
    "editor": frozenset({"view", "edit"}),
    "approver": frozenset({"view", "edit", "approve"}),  # fixes a typo without waiting for an editor
    "admin": frozenset({"view", "edit", "approve", "admin"}),
}


class StaffError(LedgerError):
    """A staff account operation that cannot be done; the message says why."""


class LoginPolicy:
    """How sign-in resists guessing, and how long a set-up link lives."""

    free_failures = 5  # failures before the first lock
    first_lock = timedelta(seconds=30)  # doubled for each failure after that
    longest_lock = timedelta(hours=1)
    setup_link_lifetime = timedelta(hours=72)
    min_password_length = 12
    max_password_length = 1024


_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not a password: used to take as long when the address is unknown")


def lock_delay(failures: int) -> timedelta | None:
    """How long to refuse sign-ins after `failures` consecutive failures (None: not locked)."""
    over = failures - LoginPolicy.free_failures
    if over < 0:
        return None
    return min(LoginPolicy.first_lock * (2 ** min(over, 16)), LoginPolicy.longest_lock)


@dataclass(frozen=True, slots=True)
class Staff:
    """A signed-in member of staff, detached from the database session."""

    id: int
    email: str
    role: str
    fingerprint: str  # changes when the password changes: older sessions stop working

    def can(self, capability: str) -> bool:
        return capability in CAPABILITIES.get(self.role, frozenset())


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def fingerprint(row: StaffRow) -> str:
    return hashlib.sha256((row.password_hash or "").encode("utf-8")).hexdigest()[:20]


def as_staff(row: StaffRow) -> Staff:
    return Staff(id=row.id, email=row.email, role=row.role, fingerprint=fingerprint(row))


def find_staff(session: Session, email: str) -> StaffRow | None:
    return session.scalars(select(StaffRow).where(func.lower(StaffRow.email) == email.strip().lower())).first()


def _issue_setup(row: StaffRow, now: datetime) -> str:
    token = secrets.token_urlsafe(32)
    row.setup_token_hash = _token_hash(token)
    row.setup_expires_at = now + LoginPolicy.setup_link_lifetime
    return token


def add_staff(session: Session, email: str, role: str, *, now: datetime, by: str = SYSTEM) -> tuple[StaffRow, str]:
    """A new member of staff without a password, and the one-time token of their set-up link.

    Adding an address that exists already issues a fresh link and sets the role (a lost link is
    replaced this way); the old link stops working.
    """
    if role not in ROLES:
        raise StaffError(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
    address = email.strip()
    if "@" not in address or len(address) > 320:
        raise StaffError(f"{email!r} is not an email address")
    row = find_staff(session, address)
    if row is None:
        row = StaffRow(email=address, role=role, failed_logins=0, created_at=now)
        session.add(row)
    row.role = role
    token = _issue_setup(row, now)
    session.flush()
    audit(session, actor=by, action="staff.add", kind="staff", ident=row.id, now=now, email=address, role=role)
    return row, token


def setup_link(public_url: str, token: str) -> str:
    return f"{str(public_url).rstrip('/')}/setup/{token}"


def setup_link_text(public_url: str, email: str, role: str, token: str) -> str:
    """What `syndicate staff add` prints: the link to give to the new member of staff."""
    hours = int(LoginPolicy.setup_link_lifetime.total_seconds() // 3600)
    return (f"{email} can now sign in to the review desk as {role}.\n"
            f"Send them this one-time link to choose a password (it works once, for {hours} hours):\n"
            f"  {setup_link(public_url, token)}")


def staff_for_setup(session: Session, token: str, *, now: datetime) -> StaffRow:
    """The member of staff a set-up link belongs to; `StaffError` if forged, used or expired."""
    digest = _token_hash(token)
    row = session.scalars(select(StaffRow).where(StaffRow.setup_token_hash == digest)).first()
    if row is None or not hmac.compare_digest(row.setup_token_hash or "", digest):
        raise StaffError("this set-up link is not valid: it was already used or never issued. "
                         "Ask an admin for a new one (`syndicate staff add EMAIL --role ROLE`)")
    if row.setup_expires_at is None or row.setup_expires_at <= now:
        raise StaffError("this set-up link has expired: ask an admin for a new one "
                         "(`syndicate staff add EMAIL --role ROLE`)")
    return row


def set_password(session: Session, token: str, password: str, *, now: datetime) -> StaffRow:
    """Choose a password through a set-up link; the link then stops working."""
    row = staff_for_setup(session, token, now=now)
    if not LoginPolicy.min_password_length <= len(password) <= LoginPolicy.max_password_length:
        raise StaffError(f"choose a password of at least {LoginPolicy.min_password_length} characters")
    row.password_hash = _hasher.hash(password)
    row.setup_token_hash = None
    row.setup_expires_at = None
    row.failed_logins = 0
    row.locked_until = None
    audit(session, actor=row.email, action="staff.set-password", kind="staff", ident=row.id, now=now)
    return row


@dataclass(frozen=True, slots=True)
class LoginResult:
    staff: Staff | None
    locked_until: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.staff is not None


def authenticate(session: Session, email: str, password: str, *, now: datetime) -> LoginResult:
    """Check a sign-in. A locked account is refused even with the right password, until its lock ends."""
    row = find_staff(session, email)
    if row is None or not row.password_hash:
        _verify(_DUMMY_HASH, password)  # as slow as a real check: no hint that the address is unknown
        return LoginResult(None)
    if row.locked_until is not None and row.locked_until > now:
        return LoginResult(None, locked_until=row.locked_until)
    if _verify(row.password_hash, password):
        row.failed_logins = 0
        row.locked_until = None
        if _hasher.check_needs_rehash(row.password_hash):
            row.password_hash = _hasher.hash(password)
        audit(session, actor=row.email, action="staff.login", kind="staff", ident=row.id, now=now)
        return LoginResult(as_staff(row))
    row.failed_logins = (row.failed_logins or 0) + 1
    delay = lock_delay(row.failed_logins)
    row.locked_until = now + delay if delay else None
    audit(session, actor=row.email, action="staff.login-failed", kind="staff", ident=row.id, now=now,
          failures=row.failed_logins)
    return LoginResult(None, locked_until=row.locked_until)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def current_staff(session: Session, staff_id: int, fingerprint_: str) -> Staff | None:
    """The member of staff of a session cookie, if the account still exists with the same password."""
    row = session.get(StaffRow, staff_id)
    if row is None or not row.password_hash or not hmac.compare_digest(fingerprint(row), fingerprint_):
        return None
    return as_staff(row)


def list_staff(session: Session) -> list[StaffRow]:
    return list(session.scalars(select(StaffRow).order_by(StaffRow.email)))
