"""Who may do what: members of staff and their roles, and who changed content since its last
approval (the two-person rule). Reads only: statuses change in `state.ledger`."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from state.errors import NotAllowed, NotStaff
from state.models import AuditRow, StaffRow

SYSTEM = "syndicate"  # the actor of what the pipeline does by itself: scheduled builds, holds, checks
APPROVING_ROLES = ("approver", "admin")  # who may approve or reject; every role may edit


def staff_member(session: Session, email: str) -> StaffRow:
    """The member of staff `email` names (any case), or `NotStaff` saying how to add one."""
    address = (email or "").strip()
    row = session.scalars(select(StaffRow).where(func.lower(StaffRow.email) == address.lower())).first() \
        if address else None
    if row is None:
        raise NotStaff(f"{address or 'nobody'!r} is not a member of staff: name yourself with --by EMAIL as on the "
                       "staff list (an admin adds someone with `syndicate staff add EMAIL --role approver`)")
    return row


def require_role(session: Session, email: str, roles: tuple[str, ...], doing: str) -> str:
    """The staff member's address as recorded, if their role is one of `roles`; else `NotAllowed`."""
    row = staff_member(session, email)
    if row.disabled_at is not None:
        raise NotAllowed(f"{row.email} is disabled (`syndicate staff disable`): an admin adds them again to enable them")
    if row.role not in roles:
        raise NotAllowed(f"{row.email} is {'an' if row.role[:1] in 'aeiou' else 'a'} {row.role}: only "
                         f"{' or '.join(r + 's' for r in roles)} may {doing}")
    return row.email


def editor_of(session: Session, by: str) -> str:
    """Who an edit is recorded against: a member of staff (any role may edit), or `SYSTEM`."""
    return SYSTEM if by == SYSTEM else staff_member(session, by).email


def last_editor(session: Session, kind: str, ident: int) -> str | None:
    """Who last changed this edition's or thread's content (from the audit log), or None."""
    return session.scalar(select(AuditRow.actor).where(
        AuditRow.subject_kind == kind, AuditRow.subject_id == ident, AuditRow.action == "edit",
    ).order_by(AuditRow.id.desc()).limit(1))


def _last_approval_mark(session: Session, kind: str, ident: int) -> int | None:
    return session.scalar(select(func.max(AuditRow.id)).where(
        AuditRow.subject_kind == kind, AuditRow.subject_id == ident, AuditRow.action == "approve"))


def ever_approved(session: Session, kind: str, ident: int) -> bool:
    """True when anybody ever approved this edition or thread."""
    return _last_approval_mark(session, kind, ident) is not None


def editors_since_approval(session: Session, kind: str, ident: int) -> list[str]:
    """Everyone who changed the content since its last approval (since it was made, if never), in order."""
    last = _last_approval_mark(session, kind, ident)
    query = select(AuditRow.actor).where(AuditRow.subject_kind == kind, AuditRow.subject_id == ident,
                                         AuditRow.action == "edit")
    if last is not None:
        query = query.where(AuditRow.id > last)
    seen: dict[str, str] = {}
    for actor in session.scalars(query.order_by(AuditRow.id)):
        if actor != SYSTEM:
            seen.setdefault(actor.lower(), actor)
    return list(seen.values())
