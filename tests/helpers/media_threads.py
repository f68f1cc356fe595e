"""Approved threads whose posts carry images, alt text and cards, for the publish-stage tests."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from state import ledger
from state.db import Database
from state.models import ApprovalRow, PostRow, PostStatus, ThreadRow, ThreadStatus
from state.post_media import thread_content_hash
from tests.helpers.staff import add_staff_rows

APPROVER = "comms@example.org"


def add_thread(db: Database, posts: list[dict[str, object]], *, now: datetime, network: str = "mastodon",
               key: str = "item:1") -> int:
    """An approved item thread due at `now` with these posts (PostRow fields: text, image_url, image_alt,
    card_url), its content hash taken over texts and media as the ledger takes it."""
    with db.session() as session:
        row = ThreadRow(network=network, key=key, kind="item", status=ThreadStatus.DRAFT, content_hash="",
                        created_at=now - timedelta(hours=1), scheduled_for=now)
        row.posts = [PostRow(position=i, status=PostStatus.PENDING, attempts=0, **p) for i, p in enumerate(posts)]
        session.add(row)
        session.flush()
        row.content_hash = thread_content_hash(row)  # approval binds the media too
        add_staff_rows(session, {APPROVER: "admin"})
        approved_at = now - timedelta(minutes=30)
        if any(p.image_url and not (p.image_alt or "").strip() for p in row.posts):
            # the ledger refuses to approve it now; an approval recorded before alt text was required
            # (an older release) is what the publish stage must still hold back
            session.add(ApprovalRow(subject_kind="thread", subject_id=row.id, content_hash=row.content_hash,
                                    decision="approved", by=APPROVER, at=approved_at))
            row.status = ThreadStatus.APPROVED
        else:
            ledger.approve(session, "thread", row.id, by=APPROVER, now=approved_at)
        return row.id


def rows(db: Database, thread_id: int) -> tuple[ThreadRow, list[PostRow]]:
    """The thread and its posts in order, as the ledger holds them now."""
    with db.session() as session:
        thread = session.get(ThreadRow, thread_id)
        assert thread is not None
        return thread, list(session.scalars(select(PostRow).where(PostRow.thread_id == thread_id)
                                            .order_by(PostRow.position)))
