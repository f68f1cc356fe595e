"""The ledger: the only code that changes the status of an edition, a thread or a post.

Each allowed transition is a function here, and each checks its move against the table of its
status (`state.models`, checked by `state.lifecycle`) before it writes anything; new editions,
threads and posts are created here too. Sessions are opened by the caller (a stage in `flows/`)
and passed in; callers commit around each external call.

Approval is bound to a hash of the exact content: `approve` records the hash it saw, and
`require_approved` refuses when the content changed since, or when nobody approved it.

Who may do what is checked here, whatever the door (desk, CLI, flow): approving and rejecting
need a member of staff with the approver or admin role; an edit names a member of staff (or
`SYSTEM`, for what the pipeline does by itself) and is logged with what changed, before and after;
with the two-person rule (on unless `[review] two_person_rule = false`) nobody who changed the
content since its last approval may approve it. A refused approval raises with `refusal` set, and
the caller logs it with `record_refusal` in a transaction of its own (the refused one rolls back).
A post over its network's limit is never approved nor sent, nor an image without alt text.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from compose.segments import Segment, segment_key
from compose.threads import missing_alt_reason
from state import events, slots
from state.changes import describe
from state.errors import LedgerError as LedgerError
from state.errors import MissingAltText as MissingAltText
from state.errors import NotAllowed as NotAllowed
from state.errors import NotApproved as NotApproved
from state.errors import NotFound as NotFound
from state.errors import NotStaff as NotStaff
from state.errors import TooLong as TooLong
from state.errors import TransitionRefused as TransitionRefused
from state.errors import TwoPersonRule as TwoPersonRule
from state.lifecycle import check_initial, check_transition, move
from state.models import (
    EDITION_LIFECYCLE,
    POST_LIFECYCLE,
    THREAD_LIFECYCLE,
    ApprovalRow,
    AuditRow,
    EditionRow,
    EditionStatus,
    PostRow,
    PostStatus,
    ThreadRow,
    ThreadStatus,
)
from state.roles import APPROVING_ROLES as APPROVING_ROLES
from state.roles import SYSTEM as SYSTEM
from state.roles import approval_marks as approval_marks
from state.roles import check_role
from state.roles import editor_of as editor_of
from state.roles import editors_since_approval as editors_since_approval
from state.roles import editors_since_approvals as editors_since_approvals
from state.roles import ever_approved as ever_approved
from state.roles import last_editor as last_editor
from state.roles import require_role as require_role
from state.roles import staff_member as staff_member

if TYPE_CHECKING:
    from compose.config import Config
    from compose.post_length import NetworkRules


SUBJECT_KINDS = ("edition", "thread", "post")


def audit(session: Session, *, actor: str, action: str, kind: str, ident: int | None, now: datetime, **detail: object) -> None:
    """Add an audit row (who did what to which row, with details) in the caller's transaction. Does not commit."""
    session.add(AuditRow(at=now, actor=actor, action=action, subject_kind=kind, subject_id=ident, detail=detail))


def get_edition(session: Session, edition_id: int) -> EditionRow:
    """The edition with this id; `NotFound` otherwise."""
    row = session.get(EditionRow, edition_id)
    if row is None:
        raise NotFound(f"there is no edition {edition_id}: `syndicate status` lists the editions")
    return row


def get_thread(session: Session, thread_id: int) -> ThreadRow:
    """The thread with this id; `NotFound` otherwise."""
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
                         by=by, note=note, at=now, segment=_segment(row))
    session.add(record)
    events.record_event(session, event, events.resource_id(kind, row.id), {"id": row.id, "by": by, **payload}, now=now)
    audit(session, actor=by, action=_ACTIONS[decision], kind=kind, ident=row.id, now=now, note=note,
          content_hash=row.content_hash)
    return record


def _segment(row: EditionRow | ThreadRow) -> dict[str, Any] | None:
    """The segment an edition goes to (`compose.segments`), as an approval binds it; None for a thread."""
    return Segment.from_json(row.segment).as_json() if isinstance(row, EditionRow) else None


def same_segment(approval: ApprovalRow, row: EditionRow | ThreadRow) -> bool:
    """True when `approval` was given for the segment `row` goes to now (threads have none)."""
    return segment_key(approval.segment) == segment_key(_segment(row))


def latest_approval(session: Session, kind: str, ident: int) -> ApprovalRow | None:
    """The last decision recorded on this edition or thread (approved, rejected or voided), or None."""
    return latest_approvals(session, kind, [ident]).get(ident)


def latest_approvals(session: Session, kind: str, idents: Collection[int]) -> dict[int, ApprovalRow]:
    """`latest_approval` of each of these editions or threads, in one query for them all; those
    with no decision are not in it."""
    if not idents:
        return {}
    last = (select(func.max(ApprovalRow.id))
            .where(ApprovalRow.subject_kind == kind, ApprovalRow.subject_id.in_(set(idents)))
            .group_by(ApprovalRow.subject_id))
    return {row.subject_id: row for row in session.scalars(select(ApprovalRow).where(ApprovalRow.id.in_(last)))}


def is_approved(session: Session, kind: str, ident: int) -> bool:
    """True when the content as it is now was approved (the last decision is an approval of this very hash)."""
    kind, row = _subject(session, kind, ident)
    approval = latest_approval(session, kind, row.id)
    return (approval is not None and approval.decision == "approved" and approval.content_hash == row.content_hash
            and same_segment(approval, row))


def over_limit(thread: ThreadRow, config: Config | None = None) -> list[str]:
    """Each post of `thread` its network refuses, as "post 2 is 299 / 280 (19 over)"."""
    from compose.post_length import (  # twitter-text: ~0.7 s
        RULES_BY_NETWORK,
        is_valid,
        rules_for,
        weighted_length,
    )

    if thread.network not in RULES_BY_NETWORK:
        return []
    rules = rules_for(thread.network, config)
    problems = []
    for number, post in enumerate(thread.posts, start=1):
        if is_valid(post.text, rules):
            continue
        length = weighted_length(post.text, rules)
        if not post.text.strip():
            problems.append(f"post {number} is empty")
        elif length > rules.max_length:
            problems.append(f"post {number} is {length} / {rules.max_length} ({length - rules.max_length} over)")
        else:
            problems.append(f"post {number} is not a valid {thread.network} post")
    return problems


_APPROVABLE_THREADS = (ThreadStatus.DRAFT, ThreadStatus.REJECTED, ThreadStatus.APPROVED)  # not a publishing one


def _check_approvable(session: Session, kind: str, row: EditionRow | ThreadRow, who: str, *, now: datetime,
                      two_person_rule: bool, config: Config | None, history: ApprovalHistory | None = None) -> None:
    """Raise the reason `who` (already checked to be an approver) may not approve `row` now; `history`
    holds its editors since its last approval when the caller read them for many rows at once."""
    if two_person_rule:
        history = history or ApprovalHistory.of(session, kind, [row.id])
        editors = history.editors[row.id]
        if who.lower() in (e.lower() for e in editors):
            others = [e for e in editors if e.lower() != who.lower()]
            since = "since its last approval" if row.id in history.marks else "and nobody has approved it yet"
            raise TwoPersonRule(
                f"two-person rule: you changed {kind} {row.id} {since}"
                + (f" (so did {', '.join(others)})" if others else "")
                + ", so an approver who did not change it must approve it")
    if isinstance(row, EditionRow):
        check_transition(EDITION_LIFECYCLE, row.id, row.status, EditionStatus.APPROVED,
                         reason=f"edition {row.id} is {row.status}: only a draft, rejected or held edition can be approved")
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
        return
    check_transition(THREAD_LIFECYCLE, row.id, row.status, ThreadStatus.APPROVED, only=_APPROVABLE_THREADS,
                     reason=f"thread {row.id} is {row.status}: only a draft or rejected thread can be approved")
    problems = over_limit(row, config)
    if problems:
        raise TooLong(f"thread {row.id} cannot be approved: on {row.network} {'; '.join(problems)}: "
                      "shorten it on the desk (Posts) first")
    no_alt = missing_alt_reason(row.posts)
    if no_alt:
        raise MissingAltText(f"thread {row.id} cannot be approved: {no_alt}")


def why_not_approve(session: Session, kind: str, ident: int, *, by: str, now: datetime, two_person_rule: bool = True,
                    config: Config | None = None) -> str | None:
    """Why `by` may not approve this content now (shown before anyone clicks), or None."""
    try:
        kind, row = _subject(session, kind, ident)
        who = require_role(session, by, APPROVING_ROLES, f"approve {kind} {row.id}")
        _check_approvable(session, kind, row, who, now=now, two_person_rule=two_person_rule, config=config)
    except LedgerError as exc:
        return str(exc)
    return None


class ApprovalHistory:
    """Of some editions or threads (all of one kind): the audit id of each one's last approval
    (`marks`: those ever approved) and who edited each since (`editors`), read in two queries."""

    def __init__(self, marks: dict[int, int], editors: dict[int, list[str]]) -> None:
        self.marks, self.editors = marks, editors

    @classmethod
    def of(cls, session: Session, kind: str, idents: Collection[int]) -> ApprovalHistory:
        marks = approval_marks(session, kind, idents)
        return cls(marks, editors_since_approvals(session, kind, idents, marks))


def why_not_approve_many(session: Session, kind: str, rows: Sequence[EditionRow | ThreadRow], *, by: str,
                         now: datetime, two_person_rule: bool = True, config: Config | None = None,
                         history: ApprovalHistory | None = None) -> dict[int, str | None]:
    """`why_not_approve` of each of these editions or threads (all of `kind`), by id, with the same
    answers, in three queries for them all (one with `history`) instead of four each (a page of threads)."""
    if not rows:
        return {}
    try:
        member = staff_member(session, by)
    except LedgerError as exc:
        return {row.id: str(exc) for row in rows}
    history = history or ApprovalHistory.of(session, kind, [row.id for row in rows])
    answers: dict[int, str | None] = {}
    for row in rows:
        try:
            who = check_role(member, APPROVING_ROLES, f"approve {kind} {row.id}")
            _check_approvable(session, kind, row, who, now=now, two_person_rule=two_person_rule, config=config,
                              history=history)
            answers[row.id] = None
        except LedgerError as exc:
            answers[row.id] = str(exc)
    return answers


def approve(session: Session, kind: str, ident: int, *, by: str, now: datetime, note: str | None = None,
            two_person_rule: bool = True, config: Config | None = None) -> ApprovalRow:
    """Approve the content as it is now, as `by`: a member of staff with the approver or admin role.

    A post is approved through its thread (one hash covers every post of the thread); a thread
    with a post over its network's limit is refused. With the two-person rule, nobody who changed
    the content since its last approval may approve it. A refusal raises with `refusal` set.
    Moves it to approved (an edition from draft, rejected, held or approved; a thread from draft,
    rejected or approved) with its approval, event and audit rows. Does not commit."""
    kind, row = _subject(session, kind, ident)
    try:
        who = require_role(session, by, APPROVING_ROLES, f"approve {kind} {row.id}")
        _check_approvable(session, kind, row, who, now=now, two_person_rule=two_person_rule, config=config)
    except LedgerError as exc:
        exc.refusal = {"kind": kind, "id": row.id, "by": by, "reason": str(exc), "content_hash": row.content_hash}
        raise
    if isinstance(row, EditionRow):
        move(row, EditionStatus.APPROVED)
        event = events.EDITION_APPROVED
    else:
        move(row, ThreadStatus.APPROVED, only=_APPROVABLE_THREADS)
        event = events.POST_APPROVED
        if config is not None:
            slots.take_slot(session, config, row, now=now)  # an item post without a fixed time: the next free slot
    return _decide(session, kind, row, decision="approved", event=event, by=who, note=note, now=now,
                   payload={"content_hash": row.content_hash,
                            "scheduled_for": row.scheduled_for.isoformat() if row.scheduled_for else None})


def record_refusal(session: Session, error: LedgerError, *, now: datetime) -> None:
    """Log a refused approval (in the caller's new transaction: the refused one was rolled back)."""
    if error.refusal is None:
        return
    refusal = error.refusal
    audit(session, actor=str(refusal["by"]), action="approve-refused", kind=str(refusal["kind"]),
          ident=int(refusal["id"]), now=now, reason=refusal["reason"], content_hash=refusal["content_hash"])


def auto_approve(session: Session, thread: ThreadRow, *, reason: str, now: datetime,
                 config: Config | None = None) -> ApprovalRow:
    """Approve an item's post because the config says its source or section needs no review
    (`auto_approve = true`): recorded as `SYSTEM`, with the reason. Never a roundup thread, never
    one over its network's limit, and only a draft, rejected or approved one. Does not commit."""
    if thread.kind != "item":
        raise LedgerError(f"thread {thread.id} is a {thread.kind} thread: only item posts are approved automatically")
    problems = over_limit(thread, config)
    if problems:
        raise TooLong(f"thread {thread.id} is not approved automatically: on {thread.network} {'; '.join(problems)}")
    move(thread, ThreadStatus.APPROVED, only=_APPROVABLE_THREADS)
    if config is not None:
        slots.take_slot(session, config, thread, now=now)
    return _decide(session, "thread", thread, decision="approved", event=events.POST_APPROVED, by=SYSTEM,
                   note=reason, now=now, payload={"content_hash": thread.content_hash, "auto": True})


def reject(session: Session, kind: str, ident: int, *, by: str, note: str, now: datetime) -> ApprovalRow:
    """Send the content back with a note; `by` must be an approver or admin. Refused without a note,
    and for an edition sending or sent, or a thread publishing or published. Does not commit."""
    if not note or not note.strip():
        raise LedgerError("a rejection needs a note that says what to change (--note TEXT)")
    kind, row = _subject(session, kind, ident)
    by = require_role(session, by, APPROVING_ROLES, f"reject {kind} {row.id}")
    move(row, EditionStatus.REJECTED if kind == "edition" else ThreadStatus.REJECTED,
         reason=f"{kind} {row.id} is {row.status}: it can no longer be rejected")
    event = events.EDITION_REJECTED if kind == "edition" else events.POST_REJECTED
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
    if not same_segment(approval, row):
        raise NotApproved(
            f"{kind} {row.id} goes to {Segment.from_json(_segment(row)).describe()} now, but {approval.by} approved "
            f"it for {Segment.from_json(approval.segment).describe()}: review the segment and approve it again"
        )


def change_content(session: Session, row: EditionRow | ThreadRow, *, content_hash: str, by: str, now: datetime,
                   changes: Mapping[str, tuple[Any, Any]] | None = None, **detail: object) -> bool:
    """Record new content; any earlier approval no longer applies. Returns True when it voided one.

    `by` is a member of staff (any role) or `SYSTEM`; `changes` maps each field to (before, after)
    and goes into the audit log with a word diff (`state.changes`). The row becomes a draft again;
    refused for an edition sending or sent, and a thread publishing, published or with a post out.
    Does not commit."""
    if row.content_hash == content_hash:
        return False
    kind = "edition" if isinstance(row, EditionRow) else "thread"
    by = editor_of(session, by)
    if isinstance(row, ThreadRow) and any(post.status == PostStatus.POSTED for post in row.posts):
        raise LedgerError(f"thread {row.id} is partly or wholly published: its content can no longer change")
    was_approved = row.status in (EditionStatus.APPROVED, ThreadStatus.APPROVED)
    move(row, EditionStatus.DRAFT if kind == "edition" else ThreadStatus.DRAFT,
         reason=(f"edition {row.id} is {row.status}: its content can no longer change" if kind == "edition" else
                 f"thread {row.id} is partly or wholly published: its content can no longer change"))
    row.content_hash = content_hash
    if was_approved:
        session.add(ApprovalRow(subject_kind=kind, subject_id=row.id, content_hash=content_hash,
                                decision="voided", by=by, note="content changed", at=now))
    audit(session, actor=by, action="edit", kind=kind, ident=row.id, now=now, voided_approval=was_approved,
          changes=describe(changes or {}), **detail)
    return was_approved


# --- editions ------------------------------------------------------------------------------------


def create_edition(session: Session, *, slug: str, title: str, subject: str, preheader: str, intro_markdown: str,
                   featured_item_id: int | None, html: str, text: str, content_hash: str, html_bytes: int,
                   warnings: list[Any], built_at: datetime, scheduled_for: datetime | None) -> EditionRow:
    """A new edition, a draft waiting for approval, added to the session (flushed, not committed)."""
    check_initial(EDITION_LIFECYCLE, EditionStatus.DRAFT)
    row = EditionRow(slug=slug, title=title, status=EditionStatus.DRAFT, subject=subject, preheader=preheader,
                     intro_markdown=intro_markdown, featured_item_id=featured_item_id, html=html, text=text,
                     content_hash=content_hash, html_bytes=html_bytes, warnings=warnings, built_at=built_at,
                     scheduled_for=scheduled_for)
    session.add(row)
    session.flush()
    return row



def mark_edition_sending(session: Session, row: EditionRow) -> None:
    """The edition starts going out. Refused unless its current content is approved (`NotApproved`) and it is approved
    or already sending (a resumed send). Sets the status only; the caller commits before any message leaves."""
    require_approved(session, "edition", row.id)
    move(row, EditionStatus.SENDING, reason=f"edition {row.id} is {row.status}: only an approved edition can be sent")


def mark_edition_sent(session: Session, row: EditionRow, *, now: datetime, summary: dict[str, int]) -> None:
    """Every batch of a sending edition is settled: it is sent, with its `edition.sent` event; its roundup threads
    nobody approved are cancelled. Refused unless it is sending. Does not commit."""
    move(row, EditionStatus.SENT, reason=f"edition {row.id} is {row.status}, not sending")
    row.sent_at = now
    events.record_event(session, events.EDITION_SENT, events.resource_id("edition", row.id),
                        {"id": row.id, "slug": row.slug, **summary}, now=now)
    for thread in edition_threads(session, row.id):  # approved ones go out with it; the rest stop here
        if thread.status in (ThreadStatus.DRAFT, ThreadStatus.REJECTED):
            cancel_thread(session, thread, by=SYSTEM, now=now,
                          reason=f"edition {row.id} was sent on {now:%Y-%m-%d %H:%M} UTC before this thread was approved")


def hold_edition(session: Session, row: EditionRow, *, now: datetime, reason: str) -> None:
    """Its send time came and it is not approved: never send it, tell staff (its event and audit rows).
    Only a draft is held. Does not commit."""
    move(row, EditionStatus.HELD)
    events.record_event(session, events.EDITION_HELD, events.resource_id("edition", row.id),
                        {"id": row.id, "reason": reason}, now=now)
    audit(session, actor=SYSTEM, action="hold", kind="edition", ident=row.id, now=now, reason=reason)


def cancel_edition(session: Session, row: EditionRow, *, by: str, now: datetime, reason: str | None = None) -> None:
    """Never send it; its unsent threads are cancelled with it (`reason` says why, e.g. replaced).
    Refused for an edition sending or sent. Does not commit."""
    check_transition(EDITION_LIFECYCLE, row.id, row.status, EditionStatus.CANCELLED,
                     reason=f"edition {row.id} is {row.status}: it can no longer be cancelled")
    by = editor_of(session, by)
    move(row, EditionStatus.CANCELLED)
    audit(session, actor=by, action="cancel", kind="edition", ident=row.id, now=now, reason=reason)
    for thread in edition_threads(session, row.id):
        if thread.status in (ThreadStatus.DRAFT, ThreadStatus.REJECTED, ThreadStatus.APPROVED, ThreadStatus.FAILED):
            cancel_thread(session, thread, by=by, now=now,
                          reason=reason or f"edition {row.id} was cancelled by {by}")


def edition_threads(session: Session, edition_id: int) -> Sequence[ThreadRow]:
    """The roundup threads of an edition, one per network."""
    return session.scalars(select(ThreadRow).where(ThreadRow.edition_id == edition_id).order_by(ThreadRow.id)).all()


def cancel_thread(session: Session, row: ThreadRow, *, by: str, now: datetime, reason: str) -> None:
    """Never publish it, saying why (its event and audit rows). Refused for a thread that has started
    going out; a cancelled one is left as it is. Does not commit."""
    published = "partly or wholly published: it can no longer be cancelled"
    if any(post.status in (PostStatus.POSTED, PostStatus.POSTING) for post in row.posts):
        raise LedgerError(f"thread {row.id} is {published}")
    check_transition(THREAD_LIFECYCLE, row.id, row.status, ThreadStatus.CANCELLED, reason=f"thread {row.id} is {published}")
    if row.status == ThreadStatus.CANCELLED:
        return
    move(row, ThreadStatus.CANCELLED)
    row.status_reason = reason
    audit(session, actor=editor_of(session, by), action="cancel", kind="thread", ident=row.id, now=now, reason=reason)
    events.record_event(session, events.THREAD_CANCELLED, events.resource_id("thread", row.id),
                        {"id": row.id, "network": row.network, "reason": reason}, now=now)


def open_editions(session: Session) -> Sequence[EditionRow]:
    """Editions built but not yet sent (or given up on)."""
    return session.scalars(
        select(EditionRow)
        .where(EditionRow.status.in_([EditionStatus.DRAFT, EditionStatus.APPROVED, EditionStatus.SENDING,
                                      EditionStatus.HELD, EditionStatus.REJECTED]))
        .order_by(EditionRow.id)
    ).all()


# --- threads and posts ---------------------------------------------------------------------------


def new_posts(texts: Sequence[str]) -> list[PostRow]:
    """The posts of a thread, in order, each pending (for `create_thread`, or to replace a thread's posts)."""
    check_initial(POST_LIFECYCLE, PostStatus.PENDING)
    return [PostRow(position=i, text=text, status=PostStatus.PENDING, attempts=0) for i, text in enumerate(texts)]


def create_thread(session: Session, *, network: str, key: str, kind: str, texts: Sequence[str], content_hash: str,
                  now: datetime, item_id: int | None = None, edition_id: int | None = None,
                  scheduled_for: datetime | None = None, error: str | None = None,
                  failed: str | None = None) -> ThreadRow:
    """A new thread of pending posts, a draft waiting for approval, with its `thread.drafted` event
    (flushed, not committed). `error` notes what staff should know (e.g. items a roundup left out);
    `failed` records an item the network cannot take: the thread starts FAILED with that reason."""
    status = ThreadStatus.DRAFT if failed is None else ThreadStatus.FAILED
    check_initial(THREAD_LIFECYCLE, status)
    row = ThreadRow(network=network, key=key, kind=kind, item_id=item_id, edition_id=edition_id, status=status,
                    content_hash=content_hash, created_at=now, scheduled_for=scheduled_for,
                    error=failed if failed is not None else error)
    row.posts = new_posts(texts)
    session.add(row)
    session.flush()
    events.record_event(session, events.THREAD_DRAFTED, events.resource_id("thread", row.id),
                        {"id": row.id, "network": network, "kind": kind, "posts": len(texts)}, now=now)
    return row


def note_thread_problem(thread: ThreadRow, problem: str | None) -> None:
    """Record what staff should know about a thread without changing its status: why an approved
    thread waits (an image without alt text) or what its link card lacks. None clears it. Nothing
    is committed."""
    thread.error = problem


def note_post_error(post: PostRow, error: str) -> None:
    """Record why a post is still `posting` (its answer was lost): the status does not change.
    Refused for a post that is not posting. Nothing is committed."""
    if post.status != PostStatus.POSTING:
        raise LedgerError(f"post {post.id} is {post.status}, not posting: its error is recorded with its status")
    post.error = error


def next_post(thread: ThreadRow) -> tuple[PostRow | None, str | None]:
    """The first post not yet published and the provider id it must reply to."""
    reply_to: str | None = None
    for post in thread.posts:
        if post.status in (PostStatus.POSTED, PostStatus.DUPLICATE) and post.provider_id:
            reply_to = post.provider_id
            continue
        return post, reply_to
    return None, reply_to


def mark_post_posting(session: Session, post: PostRow, *, rules: NetworkRules | None = None) -> None:
    """About to send `post`: refused when it was sent already, or when its network would refuse it
    (`rules`, default the network's own limits). The post becomes posting (its thread publishing when
    it was approved); the caller commits before the request leaves."""
    from compose.post_length import RULES_BY_NETWORK, is_valid, weighted_length  # twitter-text: ~0.7 s

    check_transition(POST_LIFECYCLE, post.id, post.status, PostStatus.POSTING,
                     reason=f"post {post.id} is {post.status}: it cannot be sent again (resolve it in the review desk)")
    rules = rules or RULES_BY_NETWORK.get(post.thread.network)
    if rules is not None and not is_valid(post.text, rules):
        length = weighted_length(post.text, rules)
        raise TooLong(f"post {post.id} is {length} / {rules.max_length} on {rules.name} "
                      f"({length - rules.max_length} over): it is not sent; shorten it and approve the thread again")
    thread = post.thread
    if thread.status == ThreadStatus.APPROVED:
        move(thread, ThreadStatus.PUBLISHING)
    move(post, PostStatus.POSTING)
    post.attempts += 1


def mark_post_posted(session: Session, post: PostRow, *, provider_id: str, url: str | None, now: datetime) -> None:
    """The network took the post (`provider_id`, `url`): it is posted, and when it was the thread's last, the thread is
    published with its event. Refused unless the post is posting and (for the last post) the thread approved or
    publishing. Does not commit."""
    check_transition(POST_LIFECYCLE, post.id, post.status, PostStatus.POSTED)
    thread = post.thread
    whole = all(p.status == PostStatus.POSTED for p in thread.posts if p is not post)
    if whole:
        move(thread, ThreadStatus.PUBLISHED)
        thread.published_at = now
    move(post, PostStatus.POSTED)
    post.provider_id = provider_id
    post.provider_url = url
    post.posted_at = now
    post.error = None
    if whole:
        events.record_event(session, events.THREAD_PUBLISHED, events.resource_id("thread", thread.id),
                            {"id": thread.id, "network": thread.network, "posts": len(thread.posts)}, now=now)


_NOT_OUT = (PostStatus.FAILED, PostStatus.AMBIGUOUS, PostStatus.DUPLICATE)


def mark_post_failed(session: Session, post: PostRow, *, status: PostStatus, error: str, now: datetime,
                     stop_thread: bool) -> None:
    """A post that did not go out (FAILED, retried later), or one that needs staff (AMBIGUOUS, DUPLICATE).

    `stop_thread`: the thread fails too (only an approved or publishing one), with its event; else a
    publishing thread goes back to approved. Refused for a move its table does not allow. Does not commit."""
    if status not in _NOT_OUT:
        raise LedgerError(f"a post that did not go out is {' or '.join(_NOT_OUT)}, not {status}")
    check_transition(POST_LIFECYCLE, post.id, post.status, status)
    thread = post.thread
    if stop_thread:
        move(thread, ThreadStatus.FAILED)
        events.record_event(session, events.THREAD_FAILED, events.resource_id("thread", thread.id),
                            {"id": thread.id, "network": thread.network, "error": error}, now=now)
    elif thread.status == ThreadStatus.PUBLISHING:
        move(thread, ThreadStatus.APPROVED)
    move(post, status)
    post.error = error
    thread.error = error
