"""Images and their alt text in the ledger (state/post_media.py), on SQLite and PostgreSQL: a
thread with an image and no alt text is refused approval, naming the post; staff write the alt
text (who wrote it is kept, bad text is refused and changes nothing); the alt text is part of
what is approved, so changing it voids the approval."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from compose.threads import thread_hash
from state import ledger
from state.db import Database
from state.models import ApprovalRow, AuditRow, PostRow, ThreadRow, ThreadStatus
from state.post_media import missing_alt, set_image_alt, sync_media_hash, thread_content_hash
from state.threads import write_posts
from tests.helpers.staff import add_staff_rows

NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)
IMAGE = "https://www.socitm.net/media/skills-compact.jpg"
APPROVER, EDITOR = "approver@socitm.example", "editor@socitm.example"


def _thread(session, *, alts: tuple[str | None, ...] = (None,), network: str = "x") -> ThreadRow:  # type: ignore[no-untyped-def]
    """A drafted item thread: post 1 has no image, each post after it carries the item's image
    with the alt text in `alts` (None: none)."""
    add_staff_rows(session)
    texts = ["Councils join the digital skills compact https://www.socitm.net/news/1"] + \
            [f"Reply {n} with the picture" for n in range(1, len(alts) + 1)]
    row = ledger.create_thread(session, network=network, key="item:1", kind="item", texts=texts,
                               content_hash=thread_hash(texts), now=NOW, scheduled_for=NOW + timedelta(hours=1))
    for post, alt in zip(row.posts[1:], alts, strict=True):
        post.image_url, post.image_alt = IMAGE, alt
    row.content_hash = thread_content_hash(row)
    session.flush()
    return row


def test_a_thread_with_an_image_without_alt_text_is_refused_approval(db: Database) -> None:
    with db.session() as session:
        thread = _thread(session, alts=("A group of council officers at a training day", None))
        assert missing_alt(session, thread) == [3]
        with pytest.raises(ledger.MissingAltText) as refused:
            ledger.approve(session, "thread", thread.id, by=APPROVER, now=NOW)
        assert str(refused.value) == (f"thread {thread.id} cannot be approved: post 3 has an image without alt text: "
                                      "write it on the desk (Posts), under the post’s preview")
        assert refused.value.refusal is not None
        assert ledger.why_not_approve(session, "thread", thread.id, by=APPROVER, now=NOW).endswith("post’s preview")
        tid = thread.id
    with db.session() as session:
        assert session.get(ThreadRow, tid).status == ThreadStatus.DRAFT
        assert session.scalars(select(ApprovalRow)).all() == []


def test_writing_the_alt_text_lets_it_be_approved_and_changing_it_voids_the_approval(db: Database) -> None:
    with db.session() as session:
        thread = _thread(session)
        post_id, tid, before = thread.posts[1].id, thread.id, thread.content_hash
        assert set_image_alt(session, post_id, "  Officers around a table at a training day\r\n", by=EDITOR, now=NOW)
        post = session.get(PostRow, post_id)
        assert post.image_alt == "Officers around a table at a training day" and post.image_alt_by == EDITOR
        assert thread.content_hash != before and thread.content_hash == thread_content_hash(thread)
        ledger.approve(session, "thread", tid, by=APPROVER, now=NOW)
        assert ledger.is_approved(session, "thread", tid)
    with db.session() as session:
        assert not set_image_alt(session, post_id, "Officers around a table at a training day", by=EDITOR, now=NOW)
        assert ledger.is_approved(session, "thread", tid)  # the same text again changes nothing
        assert set_image_alt(session, post_id, "Six officers around a table at a training day", by=EDITOR, now=NOW)
    with db.session() as session:
        thread = session.get(ThreadRow, tid)
        assert thread.status == ThreadStatus.DRAFT and not ledger.is_approved(session, "thread", tid)
        assert ledger.latest_approval(session, "thread", tid).decision == "voided"
        with pytest.raises(ledger.NotApproved):
            ledger.require_approved(session, "thread", tid)
        edit = session.scalars(select(AuditRow).where(AuditRow.action == "edit").order_by(AuditRow.id.desc())).first()
        assert edit.actor == EDITOR and "post 2 alt text" in str(edit.detail)


@pytest.mark.parametrize(("alt", "why"), [
    ("   \n ", "the alt text is empty"),
    ("x" * 1001, "the alt text is 1,001 characters, 1 over the network's 1,000: shorten it"),
    ("a\x00b", r"control character U\+0000"),
])
def test_bad_alt_text_is_refused_and_changes_nothing(db: Database, alt: str, why: str) -> None:
    with db.session() as session:
        thread = _thread(session)
        post_id, before = thread.posts[1].id, thread.content_hash
        with pytest.raises(ledger.LedgerError, match=why):
            set_image_alt(session, post_id, alt, by=EDITOR, now=NOW)
        assert session.get(PostRow, post_id).image_alt is None and thread.content_hash == before


def test_only_staff_write_alt_text_and_only_for_an_image(db: Database) -> None:
    with db.session() as session:
        thread = _thread(session)
        with pytest.raises(ledger.NotStaff):
            set_image_alt(session, thread.posts[1].id, "A chart", by="stranger@example.org", now=NOW)
        with pytest.raises(ledger.LedgerError, match="post 1 of thread .* has no image"):
            set_image_alt(session, thread.posts[0].id, "A chart", by=EDITOR, now=NOW)
        with pytest.raises(ledger.NotFound):
            set_image_alt(session, 999_999, "A chart", by=EDITOR, now=NOW)
        assert session.get(PostRow, thread.posts[1].id).image_alt_by is None


def test_the_alt_text_of_a_posted_thread_can_no_longer_change(db: Database) -> None:
    with db.session() as session:
        thread = _thread(session, alts=("A chart of training places by region",))
        ledger.approve(session, "thread", thread.id, by=APPROVER, now=NOW)
        first = thread.posts[0]
        ledger.mark_post_posting(session, first)
        ledger.mark_post_posted(session, first, provider_id="1", url=None, now=NOW)
        with pytest.raises(ledger.LedgerError, match="partly or wholly published"):
            set_image_alt(session, thread.posts[1].id, "A bar chart", by=EDITOR, now=NOW)
        assert thread.posts[1].image_alt == "A chart of training places by region"


def test_editing_a_post_keeps_its_image_in_the_hash(db: Database) -> None:
    with db.session() as session:
        thread = _thread(session, alts=("A chart of training places by region",))
        texts = [p.text for p in thread.posts]
        assert not write_posts(session, thread, texts, by=EDITOR, now=NOW)  # same text and image: unchanged
        texts[0] = "Forty councils join the digital skills compact https://www.socitm.net/news/1"
        assert write_posts(session, thread, texts, by=EDITOR, now=NOW)
        assert thread.content_hash == thread_content_hash(thread) != thread_hash(texts)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(alt=st.text(max_size=1100))
def test_any_alt_text_is_stored_as_given_or_refused_with_nothing_changed(db: Database, alt: str) -> None:
    """Whatever staff type (emoji, RTL, NUL, lone surrogates, 1,100 characters), it is either kept
    exactly as stored (trimmed) on both databases, or refused with the reason and nothing changes."""
    with db.session() as session:
        thread = _thread(session)
        post_id, tid, before = thread.posts[1].id, thread.id, thread.content_hash
        try:
            set_image_alt(session, post_id, alt, by=EDITOR, now=NOW)
            stored = alt.replace("\r\n", "\n").strip()
        except ledger.LedgerError as exc:
            assert str(exc).startswith("the alt text ")
            stored = None
    with db.session() as session:
        post, thread = session.get(PostRow, post_id), session.get(ThreadRow, tid)
        assert post.image_alt == stored
        assert (thread.content_hash == before) is (stored is None)
        session.delete(thread)


def test_media_set_by_a_draft_is_hashed_and_a_change_voids_the_approval(db: Database) -> None:
    """The drafting code sets each post's image, alt text and card after writing the texts;
    `sync_media_hash` brings the hash up to date: silently for a new draft, through the ledger
    (voiding the approval, logged) once someone approved it."""
    with db.session() as session:
        add_staff_rows(session)
        texts = ["The roundup https://www.socitm.net/news/1"]
        thread = ledger.create_thread(session, network="bluesky", key="edition:1", kind="roundup", texts=texts,
                                      content_hash=thread_hash(texts), now=NOW)
        thread.posts[0].image_url, thread.posts[0].image_alt = IMAGE, "Officers at a training day"
        assert sync_media_hash(session, thread, by=ledger.SYSTEM, now=NOW, derived=True)
        assert thread.content_hash == thread_content_hash(thread) == thread.derived_hash != thread_hash(texts)
        assert session.scalars(select(AuditRow).where(AuditRow.action == "edit")).all() == []
        assert not sync_media_hash(session, thread, by=ledger.SYSTEM, now=NOW, derived=True)  # nothing new
        ledger.approve(session, "thread", thread.id, by=APPROVER, now=NOW)
        thread.posts[0].card_url = "https://www.socitm.net/news/1"  # the edition's lead story changed
        assert sync_media_hash(session, thread, by=ledger.SYSTEM, now=NOW, derived=True)
        assert thread.status == ThreadStatus.DRAFT and not ledger.is_approved(session, "thread", thread.id)
        assert thread.derived_hash == thread.content_hash  # still follows its edition
        assert ledger.latest_approval(session, "thread", thread.id).decision == "voided"
