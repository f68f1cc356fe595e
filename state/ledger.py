"""The ledger: the only code that changes the status of an edition, a thread or a post.

Each allowed transition is a function here. Sessions are opened by the caller (a stage in
`flows/`) and passed in; callers commit around each external call.

Approval is bound to a hash of the exact content: `approve` records the hash it saw, and
`require_approved` refuses when the content changed since, or when nobody approved it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from state import events
from state.models import (
    ApprovalRow,
    AuditRow,
    EditionRow,
    EditionStatus,
    PostRow,
    PostStatus,
    ThreadRow,
    ThreadStatus,
)


class LedgerError(Exception):
    """A transition that is not allowed; the message says why and what to do."""


class NotFound(LedgerError):
    pass


class NotApproved(LedgerError):
    pass


class TwoPersonRule(LedgerError):
    """The approver made the last edit, and the two-person rule is on."""


SUBJECT_KINDS = ("edition", "thread", "post")


def audit(session: Session, *, actor: str, action: str, kind: str, ident: int | None, now: datetime, **detail: object) -> None:
    session.add(AuditRow(at=now, actor=actor, action=action, subject_kind=kind, subject_id=ident, detail=detail))


def get_edition(session: Session, edition_id: int) -> EditionRow:
    row = session.get(EditionRow, edition_id)
    if row is None:
        raise NotFound(f"there is no edition {edition_id}: `syndicate status` lists the editions")
    return row


def get_thread(session: Session, thread_id: int) -> ThreadRow:
    row = session.get(ThreadRow, thread_id)
    if row is None:
        raise NotFound(f"there is no thread {thread_id}: `syndicate status` lists the threads")
    return row


def _subject(session: Session, kind: str, ident: int) -> tuple[str, EditionRow | ThreadRow]:
    """The row approvals are about, and its kind: a post is approved through its thread."""
    if kind == "edition":
        return kind, get_edition(session, ident)
    if kind == "thread":
        return kind, get_thread(session, ident)
    if kind == "post":
        post = session.get(PostRow, ident)
        if post is None:
            raise NotFound(f"there is no post {ident}")
        return "thread", post.thread
    raise LedgerError(f"cannot approve a {kind!r}: use one of {', '.join(SUBJECT_KINDS)}")


_ACTIONS = {"approved": "approve", "rejected": "reject"}


def _decide(session: Session, kind: str, row: EditionRow | ThreadRow, *, decision: str, event: str, by: str,
            note: str | None, now: datetime, payload: dict[str, object]) -> ApprovalRow:
    """Record a decision on the content as it is now, its event and its audit row."""
    record = ApprovalRow(subject_kind=kind, subject_id=row.id, content_hash=row.content_hash, decision=decision,
                         by=by, note=note, at=now)
    session.add(record)
    events.record_event(session, event, events.resource_id(kind, row.id), {"id": row.id, "by": by, **payload}, now=now)
    audit(session, actor=by, action=_ACTIONS[decision], kind=kind, ident=row.id, now=now, note=note,
          content_hash=row.content_hash)
    return record


def latest_approval(session: Session, kind: str, ident: int) -> ApprovalRow | None:
    return session.scalars(
        select(ApprovalRow)
        .where(ApprovalRow.subject_kind == kind, ApprovalRow.subject_id == ident)
        .order_by(ApprovalRow.id.desc())
        .limit(1)
    ).first()


def is_approved(session: Session, kind: str, ident: int) -> bool:
    kind, row = _subject(session, kind, ident)
    approval = latest_approval(session, kind, row.id)
    return approval is not None and approval.decision == "approved" and approval.content_hash == row.content_hash


def last_editor(session: Session, kind: str, ident: int) -> str | None:
    return session.scalar(select(AuditRow.actor).where(
        AuditRow.subject_kind == kind, AuditRow.subject_id == ident, AuditRow.action == "edit",
    ).order_by(AuditRow.id.desc()).limit(1))


def approve(session: Session, kind: str, ident: int, *, by: str, now: datetime, note: str | None = None,
            two_person_rule: bool = False) -> ApprovalRow:
    """Approve the content as it is now. A post is approved through its thread (one hash covers
    every post of the thread). With the two-person rule, the last editor may not approve."""
    kind, row = _subject(session, kind, ident)
    editor = last_editor(session, kind, row.id) if two_person_rule else None
    if editor is not None and editor.lower() == by.lower():
        raise TwoPersonRule(f"the two-person rule is on: {by} made the last edit to {kind} {row.id}, "
                            "so someone else must approve it")
    if isinstance(row, EditionRow):
        if row.status not in (EditionStatus.DRAFT, EditionStatus.REJECTED, EditionStatus.HELD, EditionStatus.APPROVED):
            raise LedgerError(f"edition {row.id} is {row.status}: only a draft, rejected or held edition can be approved")
        if row.warnings and not row.warnings_acknowledged_by:
            raise LedgerError(
                f"edition {row.id} has warnings that must be acknowledged before approval: "
                + "; ".join(str(w) for w in row.warnings)
                + " (run `syndicate edition show ID`, then `syndicate edition acknowledge ID --by EMAIL`)"
            )
        if row.status == EditionStatus.HELD and (row.scheduled_for is None or row.scheduled_for <= now):
            raise LedgerError(
                f"edition {row.id} was held because its send time passed before anyone approved it: "
                "give it a new send time in the review desk (Schedule), then approve it"
            )
        row.status = EditionStatus.APPROVED
        event = events.EDITION_APPROVED
    else:
        if row.status not in (ThreadStatus.DRAFT, ThreadStatus.REJECTED, ThreadStatus.APPROVED):
            raise LedgerError(f"thread {row.id} is {row.status}: only a draft or rejected thread can be approved")
        row.status = ThreadStatus.APPROVED
        event = events.POST_APPROVED
    return _decide(session, kind, row, decision="approved", event=event, by=by, note=note, now=now,
                   payload={"content_hash": row.content_hash,
                            "scheduled_for": row.scheduled_for.isoformat() if row.scheduled_for else None})


def reject(session: Session, kind: str, ident: int, *, by: str, note: str, now: datetime) -> ApprovalRow:
    if not note or not note.strip():
        raise LedgerError("a rejection needs a note that says what to change (--note TEXT)")
    kind, row = _subject(session, kind, ident)
    if isinstance(row, EditionRow):
        if row.status in (EditionStatus.SENDING, EditionStatus.SENT):
            raise LedgerError(f"edition {row.id} is {row.status}: it can no longer be rejected")
        row.status = EditionStatus.REJECTED
        event = events.EDITION_REJECTED
    else:
        if row.status in (ThreadStatus.PUBLISHING, ThreadStatus.PUBLISHED):
            raise LedgerError(f"thread {row.id} is {row.status}: it can no longer be rejected")
        row.status = ThreadStatus.REJECTED
        event = events.POST_REJECTED
    return _decide(session, kind, row, decision="rejected", event=event, by=by, note=note, now=now,
                   payload={"note": note})


def require_approved(session: Session, kind: str, ident: int) -> None:
    """Raise `NotApproved` with a clear message unless the current content is approved."""
    kind, row = _subject(session, kind, ident)
    approval = latest_approval(session, kind, row.id)
    if approval is None or approval.decision != "approved":
        raise NotApproved(
            f"{kind} {row.id} is not approved: run `syndicate approve {kind} {row.id} --by EMAIL` after reviewing it"
        )
    if approval.content_hash != row.content_hash:
        raise NotApproved(
            f"{kind} {row.id} changed after {approval.by} approved it at {approval.at:%Y-%m-%d %H:%M} UTC: "
            f"review the new content and approve it again"
        )


def change_content(session: Session, row: EditionRow | ThreadRow, *, content_hash: str, by: str, now: datetime) -> bool:
    """Record new content; any earlier approval no longer applies. Returns True when it voided one."""
    if row.content_hash == content_hash:
        return False
    kind = "edition" if isinstance(row, EditionRow) else "thread"
    if isinstance(row, EditionRow) and row.status in (EditionStatus.SENDING, EditionStatus.SENT):
        raise LedgerError(f"edition {row.id} is {row.status}: its content can no longer change")
    if isinstance(row, ThreadRow) and (row.status in (ThreadStatus.PUBLISHING, ThreadStatus.PUBLISHED)
                                       or any(post.status == PostStatus.POSTED for post in row.posts)):
        raise LedgerError(f"thread {row.id} is partly or wholly published: its content can no longer change")
    was_approved = row.status in (EditionStatus.APPROVED, ThreadStatus.APPROVED)
    row.content_hash = content_hash
    row.status = EditionStatus.DRAFT if kind == "edition" else ThreadStatus.DRAFT
    if was_approved:
        session.add(ApprovalRow(subject_kind=kind, subject_id=row.id, content_hash=content_hash,
                                decision="voided", by=by, note="content changed", at=now))
    audit(session, actor=by, action="edit", kind=kind, ident=row.id, now=now, voided_approval=was_approved)
    return was_approved


# --- editions ------------------------------------------------------------------------------------


def mark_edition_sending(session: Session, row: EditionRow) -> None:
    require_approved(session, "edition", row.id)
    if row.status not in (EditionStatus.APPROVED, EditionStatus.SENDING):
        raise LedgerError(f"edition {row.id} is {row.status}: only an approved edition can be sent")
    row.status = EditionStatus.SENDING


def mark_edition_sent(session: Session, row: EditionRow, *, now: datetime, summary: dict[str, int]) -> None:
    if row.status != EditionStatus.SENDING:
        raise LedgerError(f"edition {row.id} is {row.status}, not sending")
    row.status = EditionStatus.SENT
    row.sent_at = now
    events.record_event(session, events.EDITION_SENT, events.resource_id("edition", row.id),
                        {"id": row.id, "slug": row.slug, **summary}, now=now)


def hold_edition(session: Session, row: EditionRow, *, now: datetime, reason: str) -> None:
    """Its send time came and it is not approved: never send it, tell staff."""
    row.status = EditionStatus.HELD
    events.record_event(session, events.EDITION_HELD, events.resource_id("edition", row.id),
                        {"id": row.id, "reason": reason}, now=now)
    audit(session, actor="system", action="hold", kind="edition", ident=row.id, now=now, reason=reason)


def cancel_edition(session: Session, row: EditionRow, *, by: str, now: datetime) -> None:
    if row.status in (EditionStatus.SENDING, EditionStatus.SENT):
        raise LedgerError(f"edition {row.id} is {row.status}: it can no longer be cancelled")
    row.status = EditionStatus.CANCELLED
    audit(session, actor=by, action="cancel", kind="edition", ident=row.id, now=now)


def open_editions(session: Session) -> Sequence[EditionRow]:
    """Editions built but not yet sent (or given up on)."""
    return session.scalars(
        select(EditionRow)
        .where(EditionRow.status.in_([EditionStatus.DRAFT, EditionStatus.APPROVED, EditionStatus.SENDING,
                                      EditionStatus.HELD, EditionStatus.REJECTED]))
        .order_by(EditionRow.id)
    ).all()


# --- threads and posts ---------------------------------------------------------------------------


def next_post(thread: ThreadRow) -> tuple[PostRow | None, str | None]:
    """The first post not yet published and the provider id it must reply to."""
    reply_to: str | None = None
    for post in thread.posts:
        if post.status in (PostStatus.POSTED, PostStatus.DUPLICATE) and post.provider_id:
            reply_to = post.provider_id
            continue
        return post, reply_to
    return None, reply_to


def mark_post_posting(session: Session, post: PostRow) -> None:
    if post.status not in (PostStatus.PENDING, PostStatus.FAILED):
        raise LedgerError(f"post {post.id} is {post.status}: it cannot be sent again (resolve it in the review desk)")
    post.status = PostStatus.POSTING
    post.attempts += 1
    thread = post.thread
    if thread.status == ThreadStatus.APPROVED:
        thread.status = ThreadStatus.PUBLISHING


def mark_post_posted(session: Session, post: PostRow, *, provider_id: str, url: str | None, now: datetime) -> None:
    post.status = PostStatus.POSTED
    post.provider_id = provider_id
    post.provider_url = url
    post.posted_at = now
    post.error = None
    thread = post.thread
    if all(p.status == PostStatus.POSTED for p in thread.posts):
        thread.status = ThreadStatus.PUBLISHED
        thread.published_at = now
        events.record_event(session, events.THREAD_PUBLISHED, events.resource_id("thread", thread.id),
                            {"id": thread.id, "network": thread.network, "posts": len(thread.posts)}, now=now)


def mark_post_failed(session: Session, post: PostRow, *, status: PostStatus, error: str, now: datetime,
                     stop_thread: bool) -> None:
    """A post that did not go out (FAILED, retried later), or one that needs staff (AMBIGUOUS, DUPLICATE)."""
    post.status = status
    post.error = error
    thread = post.thread
    thread.error = error
    if stop_thread:
        thread.status = ThreadStatus.FAILED
        events.record_event(session, events.THREAD_FAILED, events.resource_id("thread", thread.id),
                            {"id": thread.id, "network": thread.network, "error": error}, now=now)
    elif thread.status == ThreadStatus.PUBLISHING:
        thread.status = ThreadStatus.APPROVED
