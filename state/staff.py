"""Staff accounts for the review desk: who may edit, approve and administer, and how they sign in.

A member of staff is added by an admin (`syndicate staff add EMAIL --role ROLE`), which prints a
one-time link to choose a password. Only a SHA-256 of that link's token is stored, and it expires.
Passwords are hashed with argon2. Guessing is throttled by the web app per account and client
address together (`web.security.IpThrottle`), never by the account alone: an outsider who knows
an address cannot lock its owner out.

Sessions are revocable: a session names its member of staff and their `session_generation`, which
goes up on sign-out, a password change, a role change, re-adding and `disable_staff`; a session of
an older generation no longer signs anyone in (`current_staff`, checked on every request).
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

from state.calendar_feeds import end_feed
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

    free_failures = 5  # failures of one account from one address before the first wait
    free_failures_per_address = 20  # failures from one address, over every account, before the first wait
    first_lock = timedelta(seconds=30)  # doubled for each failure after that
    longest_lock = timedelta(hours=1)
    setup_link_lifetime = timedelta(hours=72)
    min_password_length = 12
    max_password_length = 1024


_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not a password: used to take as long when the address is unknown")


def lock_delay(failures: int, free: int | None = None) -> timedelta | None:
    """How long to refuse sign-ins after `failures` consecutive failures (None: not locked)."""
    over = failures - (LoginPolicy.free_failures if free is None else free)
    if over < 0:
        return None
    return min(LoginPolicy.first_lock * (2 ** min(over, 16)), LoginPolicy.longest_lock)


@dataclass(frozen=True, slots=True)
class Staff:
    """A signed-in member of staff, detached from the database session."""

    id: int
    email: str
    role: str
    generation: int  # goes up whenever this person's sessions must end

    def can(self, capability: str) -> bool:
        """True when this member of staff's role grants `capability`."""
        return capability in CAPABILITIES.get(self.role, frozenset())


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def as_staff(row: StaffRow) -> Staff:
    """A detached `Staff` for a staff row (safe to keep after its session closes)."""
    return Staff(id=row.id, email=row.email, role=row.role, generation=row.session_generation or 0)


def end_sessions(row: StaffRow) -> None:
    """Every session of this member of staff stops working at its next request."""
    row.session_generation = (row.session_generation or 0) + 1


def find_staff(session: Session, email: str) -> StaffRow | None:
    """The member of staff with this email (any case), or None."""
    return session.scalars(select(StaffRow).where(func.lower(StaffRow.email) == email.strip().lower())).first()


def _issue_setup(row: StaffRow, now: datetime) -> str:
    token = secrets.token_urlsafe(32)
    row.setup_token_hash = _token_hash(token)
    row.setup_expires_at = now + LoginPolicy.setup_link_lifetime
    return token


def add_staff(session: Session, email: str, role: str, *, now: datetime, by: str = SYSTEM) -> tuple[StaffRow, str]:
    """A new member of staff without a password, and the one-time token of their set-up link.

    Adding an address that exists already resets it: a fresh link, the role given, no password
    (the old one stops working), every session ended, enabled again if it was disabled.
    """
    if role not in ROLES:
        raise StaffError(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
    address = email.strip()
    if "@" not in address or len(address) > 320:
        raise StaffError(f"{email!r} is not an email address")
    row = find_staff(session, address)
    if row is None:
        row = StaffRow(email=address, role=role, failed_logins=0, created_at=now, session_generation=0)
        session.add(row)
    else:
        row.password_hash = None
        row.disabled_at = None
        row.failed_logins = 0
        row.locked_until = None
        end_sessions(row)
        end_feed(session, row.id)
    row.role = role
    token = _issue_setup(row, now)
    session.flush()
    audit(session, actor=by, action="staff.add", kind="staff", ident=row.id, now=now, email=address, role=role)
    return row, token


def setup_link(public_url: str, token: str) -> str:
    """The address of the set-up page for a one-time token."""
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
    if row.disabled_at is not None:
        raise StaffError("this account is disabled: ask an admin to add it again (`syndicate staff add EMAIL --role ROLE`)")
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
    end_sessions(row)
    row.setup_token_hash = None
    row.setup_expires_at = None
    row.failed_logins = 0
    row.locked_until = None
    audit(session, actor=row.email, action="staff.set-password", kind="staff", ident=row.id, now=now)
    return row


@dataclass(frozen=True, slots=True)
class LoginResult:
    """The outcome of a sign-in: the member of staff, or None (the same for every reason it failed)."""

    staff: Staff | None

    @property
    def ok(self) -> bool:
        """True when the sign-in succeeded."""
        return self.staff is not None


def authenticate(session: Session, email: str, password: str, *, now: datetime) -> LoginResult:
    """Check a sign-in: the same work (one argon2 verification) and the same answer for an unknown,
    disabled or password-less account as for a wrong password. Throttling is the caller's
    (per account and address together), so the account itself is never locked."""
    row = find_staff(session, email)
    if row is None or not row.password_hash or row.disabled_at is not None:
        _verify(_DUMMY_HASH, password)  # as slow as a real check: no hint that the address is unknown
        return LoginResult(None)
    if _verify(row.password_hash, password):
        row.failed_logins = 0
        if _hasher.check_needs_rehash(row.password_hash):
            row.password_hash = _hasher.hash(password)
        audit(session, actor=row.email, action="staff.login", kind="staff", ident=row.id, now=now)
        return LoginResult(as_staff(row))
    row.failed_logins = (row.failed_logins or 0) + 1
    audit(session, actor=row.email, action="staff.login-failed", kind="staff", ident=row.id, now=now,
          failures=row.failed_logins)
    return LoginResult(None)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def current_staff(session: Session, staff_id: int, generation: int) -> Staff | None:
    """The member of staff of a session, if the account still exists, is enabled, has a password and
    none of its sessions were ended since this one began."""
    row = session.get(StaffRow, staff_id)
    if (row is None or not row.password_hash or row.disabled_at is not None
            or (row.session_generation or 0) != generation):
        return None
    return as_staff(row)


def sign_out_everywhere(session: Session, staff_id: int, *, now: datetime) -> None:
    """End every session of this member of staff (signing out ends them all, on every device)."""
    row = session.get(StaffRow, staff_id)
    if row is not None:
        end_sessions(row)
        audit(session, actor=row.email, action="staff.logout", kind="staff", ident=row.id, now=now)


def disable_staff(session: Session, email: str, *, now: datetime, by: str = SYSTEM) -> StaffRow:
    """Disable a member of staff: every session ends, the password and any set-up link stop working.
    Adding the address again (`add_staff`) enables it with a new set-up link."""
    row = find_staff(session, email)
    if row is None:
        raise StaffError(f"there is no member of staff {email.strip()!r}: see `syndicate staff list` or the staff page")
    if row.disabled_at is None:
        row.disabled_at = now
    row.setup_token_hash = None
    row.setup_expires_at = None
    end_sessions(row)
    end_feed(session, row.id)
    audit(session, actor=by, action="staff.disable", kind="staff", ident=row.id, now=now, email=row.email)
    return row


def list_staff(session: Session) -> list[StaffRow]:
    """Every member of staff, by email."""
    return list(session.scalars(select(StaffRow).order_by(StaffRow.email)))
