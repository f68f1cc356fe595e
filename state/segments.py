"""An edition's segment (who it goes to: tags and sections, `compose.segments`) and its size.

Setting a segment is an edit: recorded against a member of staff (so the two-person rule counts
them as an editor), audited with the old and new segment, and it voids an approval given for
another segment (`state.ledger.require_approved` refuses a send whose segment differs from the
approved one). Its size is what the planner would do now (`state.deliveries.recipient_groups`):
who would get an email, who would be skipped and why, and how many distinct emails that makes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from compose.segments import Segment, clean_tag, segment_key
from state import ledger
from state.changes import describe
from state.deliveries import recipient_groups
from state.lifecycle import move
from state.models import ApprovalRow, EditionRow, EditionStatus, SubscriberRow, SubscriberStatus
from state.subscriber_changes import Door, record_change
from state.subscribers import find

_SETTABLE = (EditionStatus.DRAFT, EditionStatus.APPROVED, EditionStatus.REJECTED, EditionStatus.HELD)


@dataclass(frozen=True, slots=True)
class SegmentSize:
    """What an edition's segment comes to now, before it is sent."""

    segment: Segment
    recipients: int  # would get an email
    emails: int  # distinct emails (section sets) among them
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> readers who would get none
    outside: int = 0  # active readers the segment leaves out
    active: int = 0

    def describe(self) -> str:
        """One sentence for staff."""
        noun = "reader" if self.recipients == 1 else "readers"
        said = f"{self.recipients:,} {noun} would get an email ({self.segment.describe()})"
        if self.emails > 1:
            said += f", in {self.emails} versions by section"
        skips = [f"{count:,} {reason}" for reason, count in sorted(self.skipped.items())]
        if skips:
            said += f"; skipped: {', '.join(skips)}"
        if self.outside:
            said += f"; {self.outside:,} of {self.active:,} active readers are outside the segment"
        return said

    def as_dict(self) -> dict[str, Any]:
        return {"segment": self.segment.as_json(), "described": self.segment.describe(),
                "recipients": self.recipients, "emails": self.emails, "skipped": dict(self.skipped),
                "outside": self.outside, "active": self.active}


def segment_of(row: EditionRow) -> Segment:
    return Segment.from_json(row.segment)


def segment_size(session: Session, row: EditionRow, *, now: datetime) -> SegmentSize:
    """Who the edition would reach if it were sent now. Reads only."""
    groups, skipped = recipient_groups(session, row, now=now)
    active = session.scalar(select(func.count()).select_from(SubscriberRow)
                            .where(SubscriberRow.status == SubscriberStatus.ACTIVE)) or 0
    recipients = sum(len(ids) for ids in groups.values())
    skips = {reason: len(ids) for reason, ids in skipped.items()}
    return SegmentSize(segment_of(row), recipients, len(groups), skips,
                       outside=active - recipients - sum(skips.values()), active=active)


def set_segment(session: Session, edition_id: int, segment: Segment, *, by: str, now: datetime) -> bool:
    """Send the edition to `segment` (`Segment()`: everyone). Returns True when this voided an
    approval. Refused for an edition sending, sent or cancelled. Does not commit."""
    row = ledger.get_edition(session, edition_id)
    by = ledger.editor_of(session, by)
    if row.status not in _SETTABLE:
        raise ledger.LedgerError(f"edition {row.id} is {row.status}: its segment can no longer change")
    old, new = Segment.from_json(row.segment).as_json(), segment.as_json()
    if segment_key(old) == segment_key(new):
        return False
    was_approved = row.status == EditionStatus.APPROVED
    if was_approved:
        move(row, EditionStatus.DRAFT)
        session.add(ApprovalRow(subject_kind="edition", subject_id=row.id, content_hash=row.content_hash,
                                decision="voided", by=by, note="segment changed", at=now, segment=new))
    row.segment = new
    ledger.audit(session, actor=by, action="edit", kind="edition", ident=row.id, now=now,
                 voided_approval=was_approved, segment=new,
                 changes=describe({"segment": (Segment.from_json(old).describe(), segment.describe())}))
    return was_approved


def change_tags(session: Session, email: str, *, add: Sequence[str] = (), remove: Sequence[str] = (),
                door: Door, by: str | None, now: datetime) -> list[str]:
    """Add and remove tags of one subscriber (cleaned: `compose.segments.clean_tag`), recorded as a
    change through `door` and audited; returns the tags now. Refused for an unknown address."""
    row = find(session, email)
    if row is None:
        raise ledger.NotFound(f"there is no subscriber {email!r}: check the address (`syndicate subscribers list`)")
    before = list(row.tags or [])
    dropping = {clean_tag(tag) for tag in remove}
    after = [tag for tag in before if tag not in dropping]
    after += [tag for tag in dict.fromkeys(clean_tag(tag) for tag in add) if tag not in after]
    if after != before:
        record_change(session, row, door=door, field="tags", old=before, new=after, now=now, by=by)
        ledger.audit(session, actor=by or ledger.SYSTEM, action="tags", kind="subscriber", ident=row.id, now=now,
                     old=before, new=after)
        row.tags = after
    return after
