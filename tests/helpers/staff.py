"""Members of staff for ledger tests: rows on the staff list (no password: they never sign in)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from state.models import StaffRow

WHEN = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
TEAM = {"a@socitm.example": "approver", "approver@socitm.example": "approver", "comms@socitm.example": "admin",
        "admin@socitm.example": "admin", "editor@socitm.example": "editor", "e@socitm.example": "editor"}


def add_staff_rows(session: Session, members: dict[str, str] | None = None) -> None:
    """Put `members` (email -> role; default `TEAM`) on the staff list, once each."""
    have = set(session.scalars(select(StaffRow.email)))
    for email, role in (members or TEAM).items():
        if email not in have:
            session.add(StaffRow(email=email, role=role, failed_logins=0, created_at=WHEN))
    session.flush()
