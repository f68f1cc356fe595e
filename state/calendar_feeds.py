"""Each member of staff's iCalendar feed link: a signed token (`compose.signing.calendar_feed_token`)
naming them and a random nonce kept here. The link works while the account is enabled, has a
password and the nonce is current: resetting the link (a new nonce) or disabling the account
(which deletes the row) ends it at once.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from compose.signing import calendar_feed_token
from state.ledger import audit
from state.models import CalendarFeedRow, StaffRow


def _nonce() -> str:
    return secrets.token_urlsafe(24)


def feed_token(session: Session, staff_id: int, *, secret_key: str, now: datetime) -> str | None:
    """The member of staff's current feed token, or None until they make their link."""
    row = session.scalars(select(CalendarFeedRow).where(CalendarFeedRow.staff_id == staff_id)).first()
    if row is None:
        return None
    return calendar_feed_token(secret_key, staff_id=staff_id, nonce=row.nonce, now=row.created_at)


def new_feed_link(session: Session, staff_id: int, *, by: str, now: datetime) -> None:
    """Make the member of staff's feed link, or replace it (the old link stops working), audited."""
    row = session.scalars(select(CalendarFeedRow).where(CalendarFeedRow.staff_id == staff_id)).first()
    replaced = row is not None
    if row is None:
        row = CalendarFeedRow(staff_id=staff_id, nonce=_nonce(), created_at=now)
        session.add(row)
    else:
        row.nonce, row.created_at = _nonce(), now
    session.flush()
    audit(session, actor=by, action="calendar-feed.reset" if replaced else "calendar-feed.create", kind="staff",
          ident=staff_id, now=now)


def end_feed(session: Session, staff_id: int) -> None:
    """The member of staff's feed link stops working (their account is disabled)."""
    session.execute(delete(CalendarFeedRow).where(CalendarFeedRow.staff_id == staff_id))


def feed_owner(session: Session, staff_id: int, nonce: str) -> StaffRow | None:
    """The member of staff a (genuinely signed) feed token belongs to, if the link is still theirs:
    the nonce current, the account enabled, with a password."""
    found = session.execute(select(CalendarFeedRow.nonce, StaffRow).join(StaffRow, StaffRow.id == CalendarFeedRow.staff_id)
                            .where(CalendarFeedRow.staff_id == staff_id)).first()
    if found is None:
        return None
    current, staff = found
    if not hmac.compare_digest(current, nonce) or staff.disabled_at is not None or not staff.password_hash:
        return None
    return staff
