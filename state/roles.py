"""Who may do what: members of staff and their roles, and who changed content since its last
approval (the two-person rule). Reads only: statuses change in `state.ledger`."""

from __future__ import annotations

from collections.abc import Collection, Mapping

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
    return check_role(staff_member(session, email), roles, doing)


def check_role(row: StaffRow, roles: tuple[str, ...], doing: str) -> str:
    """`require_role` for a member of staff already read: their address, or `NotAllowed`."""
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


def approval_marks(session: Session, kind: str, idents: Collection[int]) -> dict[int, int]:
    """The audit id of the last approval of each of these editions or threads (one query for them all);
    those never approved are not in it."""
    if not idents:
        return {}
    return {ident: mark for ident, mark in session.execute(
        select(AuditRow.subject_id, func.max(AuditRow.id)).where(
            AuditRow.subject_kind == kind, AuditRow.subject_id.in_(set(idents)), AuditRow.action == "approve")
        .group_by(AuditRow.subject_id)).tuples() if ident is not None}


def ever_approved(session: Session, kind: str, ident: int) -> bool:
    """True when anybody ever approved this edition or thread."""
    return ident in approval_marks(session, kind, [ident])


def editors_since_approvals(session: Session, kind: str, idents: Collection[int],
                            marks: Mapping[int, int] | None = None) -> dict[int, list[str]]:
    """`editors_since_approval` of each of these editions or threads, in one query for them all
    (two without `marks`, their `approval_marks`); each one is in it, with [] when nobody edited it."""
    if marks is None:
        marks = approval_marks(session, kind, idents)
    seen: dict[int, dict[str, str]] = {ident: {} for ident in idents}
    if not seen:
        return {}
    for ident, mark, actor in session.execute(
            select(AuditRow.subject_id, AuditRow.id, AuditRow.actor).where(
                AuditRow.subject_kind == kind, AuditRow.subject_id.in_(set(idents)), AuditRow.action == "edit")
            .order_by(AuditRow.id)).tuples():
        if ident is None:
            continue
        last = marks.get(ident)
        if actor != SYSTEM and (last is None or mark > last):
            seen[ident].setdefault(actor.lower(), actor)
    return {ident: list(editors.values()) for ident, editors in seen.items()}


def editors_since_approval(session: Session, kind: str, ident: int) -> list[str]:
    """Everyone who changed the content since its last approval (since it was made, if never), in order."""
    return editors_since_approvals(session, kind, [ident])[ident]
