"""Approval is bound to the exact content; the ledger refuses what was not approved or has changed;
threads resume from the first unposted post."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from state import ledger
from state.db import Database
from state.events import EDITION_APPROVED
from state.models import (
    ApprovalRow,
    AuditRow,
    EditionRow,
    EditionStatus,
    EventRow,
    PostRow,
    PostStatus,
    ThreadRow,
    ThreadStatus,
)
from tests.helpers.staff import add_staff_rows

NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)


def _edition(session, content_hash: str = "a" * 64, warnings: list[str] | None = None) -> EditionRow:  # type: ignore[no-untyped-def]
    add_staff_rows(session)
    row = EditionRow(slug="2026-11-26", title="In Our View", subject="In Our View: 26 November 2026", html="<p>x</p>",
                     text="x", content_hash=content_hash, built_at=NOW, warnings=warnings or [],
                     scheduled_for=NOW + timedelta(days=7))
    session.add(row)
    session.flush()
    return row


def _thread(session, texts: list[str], *, edition_id: int | None = None) -> ThreadRow:  # type: ignore[no-untyped-def]
    if edition_id is None:
        add_staff_rows(session)
    row = ThreadRow(edition_id=edition_id, network="x", key="edition:2026-11-26", kind="roundup", content_hash="h" * 64, created_at=NOW)
    row.posts = [PostRow(position=i, text=t) for i, t in enumerate(texts)]
    session.add(row)
    session.flush()
    return row


def test_approval_is_recorded_with_who_and_the_hash(db: Database) -> None:
    with db.session() as session:
        row = _edition(session)
        ledger.approve(session, "edition", row.id, by="comms@socitm.example", now=NOW, note="looks good")
        assert row.status == EditionStatus.APPROVED
        assert ledger.is_approved(session, "edition", row.id)
        ledger.require_approved(session, "edition", row.id)
        event = session.scalars(select(EventRow).where(EventRow.name == EDITION_APPROVED)).one()
        assert event.resource_id == f"syndicate.edition.{row.id}" and event.payload["by"] == "comms@socitm.example"
        assert session.scalars(select(AuditRow).where(AuditRow.action == "approve")).one().actor == "comms@socitm.example"


def test_unapproved_content_is_refused_with_a_clear_message(db: Database) -> None:
    with db.session() as session:
        row = _edition(session)
        with pytest.raises(ledger.NotApproved, match=r"run `syndicate approve edition \d+ --by EMAIL`"):
            ledger.mark_edition_sending(session, row)
        assert row.status == EditionStatus.DRAFT


def test_changing_content_voids_the_approval(db: Database) -> None:
    with db.session() as session:
        row = _edition(session)
        ledger.approve(session, "edition", row.id, by="a@socitm.example", now=NOW)
        voided = ledger.change_content(session, row, content_hash="b" * 64, by="editor@socitm.example", now=NOW)
        assert voided and row.status == EditionStatus.DRAFT
        assert not ledger.is_approved(session, "edition", row.id)
        with pytest.raises(ledger.NotApproved, match="not approved"):
            ledger.mark_edition_sending(session, row)
        decisions = [a.decision for a in session.scalars(select(ApprovalRow).order_by(ApprovalRow.id))]
        assert decisions == ["approved", "voided"]


def test_content_changed_behind_the_ledger_is_refused(db: Database) -> None:
    """Even if something rewrote the hash without going through change_content, the send is refused."""
    with db.session() as session:
        row = _edition(session)
        ledger.approve(session, "edition", row.id, by="a@socitm.example", now=NOW)
        row.content_hash = "c" * 64
        with pytest.raises(ledger.NotApproved, match="changed after a@socitm.example approved it"):
            ledger.require_approved(session, "edition", row.id)


def test_warnings_must_be_acknowledged_before_approval(db: Database) -> None:
    with db.session() as session:
        row = _edition(session, warnings=["trimmed 3 items to stay under Gmail's clipping limit"])
        with pytest.raises(ledger.LedgerError, match="must be acknowledged"):
            ledger.approve(session, "edition", row.id, by="a@socitm.example", now=NOW)
        row.warnings_acknowledged_by = "a@socitm.example"
        ledger.approve(session, "edition", row.id, by="a@socitm.example", now=NOW)
        assert row.status == EditionStatus.APPROVED


def test_rejection_needs_a_note_and_blocks_sending(db: Database) -> None:
    with db.session() as session:
        row = _edition(session)
        with pytest.raises(ledger.LedgerError, match="needs a note"):
            ledger.reject(session, "edition", row.id, by="a@socitm.example", note=" ", now=NOW)
        ledger.reject(session, "edition", row.id, by="a@socitm.example", note="wrong intro", now=NOW)
        assert row.status == EditionStatus.REJECTED
        with pytest.raises(ledger.NotApproved):
            ledger.require_approved(session, "edition", row.id)


def test_unknown_subjects_are_clear_errors(db: Database) -> None:
    with db.session() as session:
        add_staff_rows(session)
        with pytest.raises(ledger.NotFound, match="there is no edition 99"):
            ledger.approve(session, "edition", 99, by="a@socitm.example", now=NOW)
        with pytest.raises(ledger.LedgerError, match="cannot approve a 'newsletter'"):
            ledger.approve(session, "newsletter", 1, by="a@socitm.example", now=NOW)


def test_a_thread_resumes_from_the_first_unposted_post(db: Database) -> None:
    with db.session() as session:
        thread = _thread(session, ["one", "two", "three"])
        ledger.approve(session, "thread", thread.id, by="a@socitm.example", now=NOW)
        post, reply_to = ledger.next_post(thread)
        assert post is not None and post.position == 0 and reply_to is None
        ledger.mark_post_posting(session, post)
        ledger.mark_post_posted(session, post, provider_id="1001", url=None, now=NOW)
        post, reply_to = ledger.next_post(thread)
        assert post is not None and post.position == 1 and reply_to == "1001"
        assert thread.status == ThreadStatus.PUBLISHING
        ledger.mark_post_posting(session, post)
        with pytest.raises(ledger.LedgerError, match="cannot be sent again"):
            ledger.mark_post_posting(session, post)  # a post already on its way is never sent twice
        ledger.mark_post_posted(session, post, provider_id="1002", url=None, now=NOW)
        post, _ = ledger.next_post(thread)
        assert post is not None
        ledger.mark_post_posting(session, post)
        ledger.mark_post_posted(session, post, provider_id="1003", url=None, now=NOW)
        assert thread.status == ThreadStatus.PUBLISHED
        assert ledger.next_post(thread) == (None, "1003")
        assert [p.status for p in thread.posts] == [PostStatus.POSTED] * 3


def test_two_person_rule_keeps_everyone_who_changed_it_since_the_last_approval_from_approving(db: Database) -> None:
    with db.session() as session:
        row = _edition(session)
        ledger.change_content(session, row, content_hash="d" * 64, by="admin@socitm.example", now=NOW)
        ledger.change_content(session, row, content_hash="e" * 64, by="editor@socitm.example", now=NOW)
        with pytest.raises(ledger.TwoPersonRule, match=r"you changed edition \d+ and nobody has approved it yet \(so did editor@socitm.example\)"):
            ledger.approve(session, "edition", row.id, by="ADMIN@socitm.example", now=NOW)  # not only the last editor
        assert ledger.editors_since_approval(session, "edition", row.id) == ["admin@socitm.example",
                                                                             "editor@socitm.example"]
        ledger.approve(session, "edition", row.id, by="approver@socitm.example", now=NOW)
        assert row.status == EditionStatus.APPROVED
        # after an approval the slate is clean: only later changes count
        assert ledger.editors_since_approval(session, "edition", row.id) == []
        ledger.change_content(session, row, content_hash="f" * 64, by="a@socitm.example", now=NOW)
        ledger.approve(session, "edition", row.id, by="admin@socitm.example", now=NOW)
        with pytest.raises(ledger.TwoPersonRule):
            ledger.change_content(session, row, content_hash="g" * 64, by="admin@socitm.example", now=NOW)
            ledger.approve(session, "edition", row.id, by="admin@socitm.example", now=NOW)


def test_the_two_person_rule_can_be_turned_off_for_a_team_of_one(db: Database) -> None:
    with db.session() as session:
        row = _edition(session)
        ledger.change_content(session, row, content_hash="d" * 64, by="admin@socitm.example", now=NOW)
        ledger.approve(session, "edition", row.id, by="admin@socitm.example", now=NOW, two_person_rule=False)
        assert row.status == EditionStatus.APPROVED


@pytest.mark.parametrize(("by", "error", "message"), [
    ("anyone@anywhere.example", ledger.NotStaff, "'anyone@anywhere.example' is not a member of staff"),
    ("", ledger.NotStaff, "'nobody' is not a member of staff"),
    ("editor@socitm.example", ledger.NotAllowed, "is an editor: only approvers or admins may approve edition"),
])
def test_only_an_approver_or_admin_on_the_staff_list_may_approve(db: Database, by: str, error: type, message: str) -> None:
    with db.session() as session:
        row = _edition(session)
        with pytest.raises(error, match=message) as raised:
            ledger.approve(session, "edition", row.id, by=by, now=NOW)
        assert row.status == EditionStatus.DRAFT
        assert raised.value.refusal == {"kind": "edition", "id": row.id, "by": by, "reason": str(raised.value),
                                        "content_hash": row.content_hash}
        with pytest.raises(error):
            ledger.reject(session, "edition", row.id, by=by, note="no", now=NOW)
        edition_id = row.id
    with db.session() as session:  # the refused transaction rolled back; the refusal is logged in a new one
        ledger.record_refusal(session, raised.value, now=NOW)
    with db.session() as session:
        logged = session.scalars(select(AuditRow).where(AuditRow.action == "approve-refused")).one()
        assert (logged.actor, logged.subject_kind, logged.subject_id) == (by, "edition", edition_id)
        assert logged.detail["reason"] == str(raised.value)


def test_approval_names_the_member_of_staff_as_recorded(db: Database) -> None:
    with db.session() as session:
        row = _edition(session)
        approval = ledger.approve(session, "edition", row.id, by="  Approver@Socitm.example ", now=NOW)
        assert approval.by == "approver@socitm.example"


def test_why_not_approve_says_it_before_anyone_clicks(db: Database) -> None:
    with db.session() as session:
        row = _edition(session)
        ledger.change_content(session, row, content_hash="d" * 64, by="admin@socitm.example", now=NOW)
        assert "two-person rule" in (ledger.why_not_approve(session, "edition", row.id, by="admin@socitm.example",
                                                            now=NOW) or "")
        assert "is an editor" in (ledger.why_not_approve(session, "edition", row.id, by="editor@socitm.example",
                                                         now=NOW) or "")
        assert ledger.why_not_approve(session, "edition", row.id, by="a@socitm.example", now=NOW) is None
        assert row.status == EditionStatus.DRAFT  # asking changes nothing


def test_an_edit_is_logged_with_who_and_each_field_before_and_after(db: Database) -> None:
    with db.session() as session:
        row = _edition(session)
        ledger.change_content(session, row, content_hash="d" * 64, by="Editor@socitm.example", now=NOW, changes={
            "subject": ("In Our View: 26 November", "In Our View: 3 December"),
            "intro": ("Same", "Same"),
            "items": (["news: A", "news: B"], ["news: B"]),
        })
        edit = session.scalars(select(AuditRow).where(AuditRow.action == "edit")).one()
        assert edit.actor == "editor@socitm.example"
        changes = edit.detail["changes"]
        assert set(changes) == {"subject", "items"}  # unchanged fields are left out
        assert changes["subject"]["before"] == "In Our View: 26 November"
        assert ["-", "26 November"] in changes["subject"]["diff"] and ["+", "3 December"] in changes["subject"]["diff"]
        assert changes["items"]["diff"] == [["-", "news: A"], ["=", "news: B"]]
        with pytest.raises(ledger.NotStaff):
            ledger.change_content(session, row, content_hash="e" * 64, by="cli", now=NOW)
        ledger.change_content(session, row, content_hash="e" * 64, by=ledger.SYSTEM, now=NOW)


def test_a_thread_over_its_limit_is_neither_approved_nor_sent(db: Database) -> None:
    with db.session() as session:
        thread = _thread(session, ["fine", "x" * 299])
        with pytest.raises(ledger.TooLong, match=r"post 2 is 299 / 280 \(19 over\)"):
            ledger.approve(session, "thread", thread.id, by="a@socitm.example", now=NOW)
        assert thread.status == ThreadStatus.DRAFT
        assert "19 over" in (ledger.why_not_approve(session, "post", thread.posts[1].id, by="a@socitm.example",
                                                    now=NOW) or "")
        with pytest.raises(ledger.TooLong, match="299 / 280 on x"):
            ledger.mark_post_posting(session, thread.posts[1])
        assert thread.posts[1].status == PostStatus.PENDING


def test_an_editions_threads_follow_it_when_it_is_cancelled_or_sent(db: Database) -> None:
    with db.session() as session:
        cancelled = _edition(session)
        thread = _thread(session, ["one"], edition_id=cancelled.id)
        ledger.approve(session, "thread", thread.id, by="a@socitm.example", now=NOW)
        ledger.cancel_edition(session, cancelled, by="admin@socitm.example", now=NOW)
        assert thread.status == ThreadStatus.CANCELLED
        assert thread.status_reason == f"edition {cancelled.id} was cancelled by admin@socitm.example"

        sent = EditionRow(slug="2026-12-03", title="In Our View", subject="s", html="h", text="t", content_hash="b" * 64,
                          built_at=NOW, warnings=[], scheduled_for=NOW)
        session.add(sent)
        session.flush()
        draft = ThreadRow(network="x", key="edition:2026-12-03", kind="roundup", content_hash="h" * 64, created_at=NOW,
                          edition_id=sent.id, posts=[PostRow(position=0, text="draft")])
        approved = ThreadRow(network="mastodon", key="edition:2026-12-03", kind="roundup", content_hash="i" * 64,
                             created_at=NOW, edition_id=sent.id, posts=[PostRow(position=0, text="approved")])
        session.add_all([draft, approved])
        session.flush()
        ledger.approve(session, "edition", sent.id, by="a@socitm.example", now=NOW)
        ledger.approve(session, "thread", approved.id, by="a@socitm.example", now=NOW)
        ledger.mark_edition_sending(session, sent)
        ledger.mark_edition_sent(session, sent, now=NOW, summary={"accepted": 1})
        assert draft.status == ThreadStatus.CANCELLED and "before this thread was approved" in (draft.status_reason or "")
        assert approved.status == ThreadStatus.APPROVED  # it goes out with the edition
        assert {e.name for e in session.scalars(select(EventRow))} >= {"syndicate.thread.cancelled"}


def test_cancelled_editions_are_never_sent(db: Database) -> None:
    with db.session() as session:
        row = _edition(session)
        ledger.approve(session, "edition", row.id, by="a@socitm.example", now=NOW)
        ledger.cancel_edition(session, row, by="a@socitm.example", now=NOW)
        with pytest.raises(ledger.LedgerError, match="only an approved edition can be sent"):
            ledger.mark_edition_sending(session, row)


def test_a_held_edition_is_never_sent_late_by_approving_it(db: Database) -> None:
    with db.session() as session:
        row = _edition(session)
        later = row.scheduled_for + timedelta(minutes=1)
        ledger.hold_edition(session, row, now=later, reason="not approved at its send time")
        with pytest.raises(ledger.LedgerError, match="give it a new send time"):
            ledger.approve(session, "edition", row.id, by="a@socitm.example", now=later)
        row.scheduled_for = later + timedelta(days=1)
        ledger.approve(session, "edition", row.id, by="a@socitm.example", now=later)
        assert row.status == EditionStatus.APPROVED


def test_a_partly_published_thread_cannot_be_edited(db: Database) -> None:
    with db.session() as session:
        thread = _thread(session, ["one", "two"])
        ledger.approve(session, "thread", thread.id, by="a@socitm.example", now=NOW)
        post, _ = ledger.next_post(thread)
        assert post is not None
        ledger.mark_post_posting(session, post)
        ledger.mark_post_posted(session, post, provider_id="1", url=None, now=NOW)
        second, _ = ledger.next_post(thread)
        assert second is not None
        ledger.mark_post_posting(session, second)
        ledger.mark_post_failed(session, second, status=PostStatus.FAILED, error="503", now=NOW, stop_thread=False)
        assert thread.status == ThreadStatus.APPROVED
        with pytest.raises(ledger.LedgerError, match="partly or wholly published"):
            ledger.change_content(session, thread, content_hash="z" * 64, by="e@socitm.example", now=NOW)
