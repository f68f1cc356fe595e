"""The ledger owns every status: each table of allowed transitions (state/models/base.py) is walked pair
by pair, on SQLite and on PostgreSQL.

For every status enum and every (from, to) pair the table leaves out, a real row is put in `from`
and every ledger function that moves that kind of row to `to` is called: it refuses
(`LedgerError`), or, where the function is idempotent or only follows another row (declared
below, per function, with the statuses it leaves alone), it does nothing; either way the row is
unchanged. Every pair the table allows is made by at least one of those functions. And no code
outside state/ sets a ledger row's status or error.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import product
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from compose.subscribers import SubscriberCsvRow
from state import deliveries, ledger, subscribers
from state.db import Database
from state.errors import LedgerError, TransitionRefused
from state.lifecycle import check_initial, check_transition
from state.models import (
    BATCH_LIFECYCLE,
    DELIVERY_LIFECYCLE,
    EDITION_LIFECYCLE,
    LIFECYCLES,
    POST_LIFECYCLE,
    SUBSCRIBER_LIFECYCLE,
    THREAD_LIFECYCLE,
    ApprovalRow,
    BatchStatus,
    DeliveryBatchRow,
    DeliveryRow,
    DeliveryStatus,
    EditionRow,
    EditionStatus,
    Lifecycle,
    PostRow,
    PostStatus,
    SubscriberRow,
    SubscriberStatus,
    ThreadRow,
    ThreadStatus,
)
from tests.helpers.staff import add_staff_rows

NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)
APPROVER, EDITOR = "comms@socitm.example", "editor@socitm.example"
ROOT = Path(__file__).resolve().parent.parent


# --- the tables themselves --------------------------------------------------------------------------


def _pairs(lifecycle: Lifecycle[Any], *, allowed: bool) -> list[tuple[str, str]]:
    return [(frm, to) for frm, to in product(lifecycle.status, lifecycle.status) if lifecycle.allows(frm, to) == allowed]


def test_every_status_enum_has_a_table_over_all_its_statuses() -> None:
    import state.models as models

    enums = {value for name, value in vars(models).items() if name.endswith("Status") and isinstance(value, type)}
    assert {lifecycle.status for lifecycle in LIFECYCLES} == enums
    for lifecycle in LIFECYCLES:
        assert set(lifecycle.moves) == set(lifecycle.status), f"{lifecycle.row}: a status without a row in its table"
        assert lifecycle.initial, f"{lifecycle.row}: no status to start in"


@pytest.mark.parametrize("lifecycle", LIFECYCLES, ids=lambda lc: lc.row)
def test_the_checker_refuses_every_pair_the_table_leaves_out(lifecycle: Lifecycle[Any]) -> None:
    for frm, to in _pairs(lifecycle, allowed=False):
        with pytest.raises(TransitionRefused) as refused:
            check_transition(lifecycle, 7, frm, to)
        error = refused.value
        assert (error.row, error.ident, error.frm, error.to) == (lifecycle.row, 7, frm, to)
        assert error.allowed == tuple(sorted(lifecycle.sources(to)))
        assert f"{lifecycle.row} 7 is {frm}: it cannot become {to}" in str(error)
    for frm, to in _pairs(lifecycle, allowed=True):
        check_transition(lifecycle, 7, frm, to)


@pytest.mark.parametrize("lifecycle", LIFECYCLES, ids=lambda lc: lc.row)
def test_a_new_row_starts_only_in_an_initial_status(lifecycle: Lifecycle[Any]) -> None:
    for status in lifecycle.status:
        if status in lifecycle.initial:
            check_initial(lifecycle, status)
        else:
            with pytest.raises(TransitionRefused, match=f"a new {lifecycle.row} cannot start {status}"):
                check_initial(lifecycle, status)


def test_a_function_narrower_than_the_table_is_refused_with_the_table_s_words() -> None:
    with pytest.raises(TransitionRefused, match=r"delivery batch 3 is sending: it cannot become accepted .*only from "
                                                r"ambiguous; from sending it may become accepted, ambiguous, failed"):
        check_transition(BATCH_LIFECYCLE, 3, BatchStatus.SENDING, BatchStatus.ACCEPTED, only=[BatchStatus.AMBIGUOUS])


# --- walking the tables with real rows ---------------------------------------------------------------


Build = Callable[[Session, str, "Mover"], Any]  # a row put in the given status, for this mover; never committed
Call = Callable[[Session, Any], object]


@dataclass(frozen=True)
class Mover:
    """A ledger function that moves a row to `to`. `quiet`: the statuses it leaves the row in as they
    are, without an error, by design (an idempotent request, or a row that only follows another)."""

    name: str
    to: str
    call: Call
    quiet: frozenset[str] = frozenset()
    needs: tuple[str, ...] = ()  # what `build` must set up around the row for this function (deliveries)


def _status(session: Session, row: Any) -> str:
    session.flush()
    return str(session.scalar(select(type(row).status).where(type(row).id == row.id)))


def _walk(db: Database, lifecycle: Lifecycle[Any], build: Build, movers: list[Mover],
          snapshot: Callable[[Any], tuple[object, ...]] = lambda row: ()) -> None:
    problems: list[str] = []
    for frm, to in product(lifecycle.status, lifecycle.status):
        allowed = lifecycle.allows(frm, to)
        moved_by: list[str] = []
        for mover in (m for m in movers if m.to == to):
            session = db.sessions()
            try:
                row = build(session, frm, mover)
                before = snapshot(row)
                try:
                    mover.call(session, row)
                except LedgerError as exc:
                    refused: LedgerError | None = exc
                else:
                    refused = None
                status = _status(session, row)
                if status == to and refused is None:
                    moved_by.append(mover.name)
                if allowed:
                    continue
                if refused is None and frm not in mover.quiet:
                    problems.append(f"{lifecycle.row} {frm} -> {to}: {mover.name} was not refused")
                if refused is not None and frm in mover.quiet:
                    problems.append(f"{lifecycle.row} {frm} -> {to}: {mover.name} raised where it is declared quiet: "
                                    f"{refused}")
                if status != frm or snapshot(row) != before:
                    problems.append(f"{lifecycle.row} {frm} -> {to}: {mover.name} changed the row to {status}")
            finally:
                session.rollback()
                session.close()
        if allowed and not moved_by:
            problems.append(f"{lifecycle.row} {frm} -> {to} is allowed but no ledger function made it")
    assert not problems, "\n".join(problems)


def _approve_now(session: Session, kind: str, row: EditionRow | ThreadRow) -> None:
    session.add(ApprovalRow(subject_kind=kind, subject_id=row.id, content_hash=row.content_hash,
                            decision="approved", by="a@socitm.example", at=NOW - timedelta(hours=1)))


def _set(session: Session, row: Any, status: str) -> None:
    """Put a row in a status for the walk (tests only: the code under test never does this)."""
    session.flush()
    session.execute(update(type(row)).where(type(row).id == row.id).values(status=status))
    session.refresh(row)


def _edition(session: Session, status: str) -> EditionRow:
    add_staff_rows(session)
    row = ledger.create_edition(session, slug="2026-11-26", title="In Our View", subject="In Our View", preheader="",
                                intro_markdown="", featured_item_id=None, html="<p>x</p>", text="x",
                                content_hash="a" * 64, html_bytes=8, warnings=[], built_at=NOW,
                                scheduled_for=NOW + timedelta(days=7))
    _set(session, row, status)
    _approve_now(session, "edition", row)
    return row


E = EditionStatus
EDITION_MOVERS = [
    Mover("approve", E.APPROVED, lambda s, r: ledger.approve(s, "edition", r.id, by=APPROVER, now=NOW)),
    Mover("reject", E.REJECTED, lambda s, r: ledger.reject(s, "edition", r.id, by=APPROVER, note="redo", now=NOW)),
    Mover("change_content", E.DRAFT, lambda s, r: ledger.change_content(s, r, content_hash="b" * 64, by=EDITOR, now=NOW)),
    Mover("mark_edition_sending", E.SENDING, lambda s, r: ledger.mark_edition_sending(s, r)),
    Mover("mark_edition_sent", E.SENT, lambda s, r: ledger.mark_edition_sent(s, r, now=NOW, summary={})),
    Mover("hold_edition", E.HELD, lambda s, r: ledger.hold_edition(s, r, now=NOW, reason="its time passed")),
    Mover("cancel_edition", E.CANCELLED, lambda s, r: ledger.cancel_edition(s, r, by=EDITOR, now=NOW)),
]


def test_every_edition_transition(db: Database) -> None:
    _walk(db, EDITION_LIFECYCLE, lambda s, status, _m: _edition(s, status), EDITION_MOVERS, snapshot=lambda r: (r.content_hash,))


def _thread(session: Session, status: str, post: str = PostStatus.PENDING) -> ThreadRow:
    add_staff_rows(session)
    row = ledger.create_thread(session, network="x", key="item:1", kind="item", texts=["A short post"],
                               content_hash="h" * 64, now=NOW, scheduled_for=NOW)
    _set(session, row, status)
    _set(session, row.posts[0], post)
    _approve_now(session, "thread", row)
    return row


T = ThreadStatus
ALL_THREAD = frozenset(T)
THREAD_MOVERS = [
    Mover("approve", T.APPROVED, lambda s, r: ledger.approve(s, "thread", r.id, by=APPROVER, now=NOW)),
    Mover("auto_approve", T.APPROVED, lambda s, r: ledger.auto_approve(s, r, reason="configured", now=NOW)),
    # a post that may be retried puts a publishing thread back to approved, and leaves any other as it is
    Mover("mark_post_failed (retry)", T.APPROVED, quiet=ALL_THREAD - {T.PUBLISHING},
          call=lambda s, r: ledger.mark_post_failed(s, r.posts[0], status=PostStatus.FAILED, error="x", now=NOW,
                                                    stop_thread=False)),
    Mover("reject", T.REJECTED, lambda s, r: ledger.reject(s, "thread", r.id, by=APPROVER, note="redo", now=NOW)),
    Mover("change_content", T.DRAFT, lambda s, r: ledger.change_content(s, r, content_hash="b" * 64, by=EDITOR, now=NOW)),
    # the first post going out moves an approved thread to publishing; a publishing one stays so
    Mover("mark_post_posting", T.PUBLISHING, quiet=ALL_THREAD - {T.APPROVED},
          call=lambda s, r: ledger.mark_post_posting(s, r.posts[0])),
    Mover("mark_post_failed (stop)", T.FAILED,
          lambda s, r: ledger.mark_post_failed(s, r.posts[0], status=PostStatus.FAILED, error="x", now=NOW,
                                               stop_thread=True)),
    Mover("cancel_thread", T.CANCELLED, lambda s, r: ledger.cancel_thread(s, r, by=EDITOR, now=NOW, reason="x")),
    # its last post going out publishes the thread (walked with that post on its way)
    Mover("mark_post_posted", T.PUBLISHED, needs=(PostStatus.POSTING,),
          call=lambda s, r: ledger.mark_post_posted(s, r.posts[0], provider_id="1", url=None, now=NOW)),
]


def test_every_thread_transition(db: Database) -> None:
    _walk(db, THREAD_LIFECYCLE, lambda s, status, m: _thread(s, status, *m.needs), THREAD_MOVERS,
          snapshot=lambda r: (r.content_hash,))


def _post(session: Session, status: str) -> PostRow:
    return _thread(session, ThreadStatus.PUBLISHING, post=status).posts[0]


P = PostStatus
POST_MOVERS = [
    Mover("mark_post_posting", P.POSTING, lambda s, r: ledger.mark_post_posting(s, r)),
    Mover("mark_post_posted", P.POSTED, lambda s, r: ledger.mark_post_posted(s, r, provider_id="1", url=None, now=NOW)),
    *(Mover(f"mark_post_failed ({status})", status,
            lambda s, r, status=status: ledger.mark_post_failed(s, r, status=status, error="x", now=NOW,
                                                                stop_thread=False))
      for status in (P.FAILED, P.AMBIGUOUS, P.DUPLICATE)),
    # nothing moves a post back to pending: a thread's posts are replaced by new ones (`new_posts`)
]


def test_every_post_transition(db: Database) -> None:
    _walk(db, POST_LIFECYCLE, lambda s, status, _m: _post(s, status), POST_MOVERS,
          snapshot=lambda r: (r.error, r.provider_id, r.thread.status, r.thread.error))


def test_only_a_posting_post_has_its_error_noted(db: Database) -> None:
    for status in PostStatus:
        with db.session() as session:
            post = _post(session, status)
            if status == PostStatus.POSTING:
                ledger.note_post_error(post, "no answer")
                assert post.error == "no answer" and _status(session, post) == status
            else:
                with pytest.raises(LedgerError, match=f"is {status}, not posting"):
                    ledger.note_post_error(post, "no answer")
                assert post.error is None
            session.rollback()


def _subscriber(session: Session, status: str) -> SubscriberRow:
    row = subscribers.subscribe_pending(session, "reader@example.org", name="Reader", source="form", now=NOW)
    _set(session, row, status)
    return row


S = SubscriberStatus
LEFT = frozenset(subscribers.LEFT)
LEFT_RANK = (S.UNSUBSCRIBED, S.BOUNCED, S.COMPLAINED)
SUBSCRIBER_MOVERS = [
    Mover("confirm", S.ACTIVE, quiet=frozenset({S.ACTIVE}),  # confirming twice changes nothing
          call=lambda s, r: subscribers.confirm(s, r.id, r.email, now=NOW)),
    Mover("import_subscribers", S.ACTIVE, quiet=LEFT | {S.ACTIVE},  # an import never re-subscribes who left
          call=lambda s, r: subscribers.import_subscribers(s, [SubscriberCsvRow(2, r.email, "Reader")], source="x.csv",
                                                           now=NOW)),
    Mover("unsubscribe", S.UNSUBSCRIBED, quiet=LEFT,  # a second request changes nothing
          call=lambda s, r: subscribers.unsubscribe(s, r.id, reason="link", now=NOW)),
    # a complaint outranks a bounce, which outranks an unsubscribe: a milder event leaves a stronger one alone
    *(Mover(f"suppress ({status})", status, quiet=frozenset(LEFT_RANK[LEFT_RANK.index(status):]),
            call=lambda s, r, status=status: subscribers.suppress(s, r.id, status, reason="provider", now=NOW))
      for status in LEFT),
    Mover("lift_suppression", S.UNSUBSCRIBED,  # an admin, when the person asks to come back
          call=lambda s, r: (add_staff_rows(s), subscribers.lift_suppression(s, r.id, by="admin@socitm.example",
                                                                              reason="asked to come back", now=NOW))),
    Mover("subscribe_pending", S.PENDING, quiet=frozenset(S),  # a known address is never changed by the form
          call=lambda s, r: subscribers.subscribe_pending(s, r.email, source="form", now=NOW)),
]


def test_every_subscriber_transition(db: Database) -> None:
    _walk(db, SUBSCRIBER_LIFECYCLE, lambda s, status, _m: _subscriber(s, status), SUBSCRIBER_MOVERS)


def _batch(session: Session, status: str, *, delivery: str = DeliveryStatus.PLANNED,
           subscriber: str = SubscriberStatus.ACTIVE) -> DeliveryBatchRow:
    """An edition planned for two subscribers (one batch), the batch in `status`, both deliveries in
    `delivery`, the first subscriber in `subscriber`."""
    edition = _edition(session, EditionStatus.SENDING)
    for n in (1, 2):
        subscribers.import_subscribers(session, [SubscriberCsvRow(n, f"reader{n}@example.org")], source="x.csv", now=NOW)
    deliveries.plan(session, edition, batch_size=10, now=NOW, channel="outbox")
    batch = session.scalars(select(DeliveryBatchRow)).one()
    _set(session, batch, status)
    session.execute(update(DeliveryRow).values(status=delivery))
    first = session.scalars(select(SubscriberRow).order_by(SubscriberRow.id)).first()
    assert first is not None
    _set(session, first, subscriber)
    return batch


def _claim(session: Session, batch: DeliveryBatchRow) -> object:
    return deliveries.claim_next_batch(session, batch.edition_id, worker="w1", now=NOW)


B = BatchStatus
BATCH_MOVERS = [
    Mover("claim_next_batch", B.SENDING, quiet=frozenset(B) - {B.PLANNED}, call=_claim),  # it takes planned ones only
    Mover("mark_accepted", B.ACCEPTED,
          lambda s, r: deliveries.mark_accepted(s, r.id, provider_id="sg-1", rejected={}, now=NOW)),
    Mover("resolve_ambiguous (mark_sent)", B.ACCEPTED,
          lambda s, r: deliveries.resolve_ambiguous(s, r.id, action="mark_sent", by=APPROVER, now=NOW)),
    Mover("mark_failed", B.FAILED, lambda s, r: deliveries.mark_failed(s, r.id, error="400", now=NOW)),
    Mover("mark_ambiguous", B.AMBIGUOUS, lambda s, r: deliveries.mark_ambiguous(s, r.id, error="timeout", now=NOW)),
    Mover("release", B.PLANNED, lambda s, r: deliveries.release(s, r.id, error="429", not_before=None, now=NOW)),
    Mover("resolve_ambiguous (resend)", B.PLANNED,
          lambda s, r: deliveries.resolve_ambiguous(s, r.id, action="resend", by=APPROVER, now=NOW)),
]


def test_every_batch_transition(db: Database) -> None:
    _walk(db, BATCH_LIFECYCLE, lambda s, status, _m: _batch(s, status), BATCH_MOVERS, snapshot=lambda r: (r.provider_id, r.error))


# A delivery moves with its batch, in bulk: each function moves the deliveries in the statuses it
# moves from and leaves the others alone (quiet). Each is walked with its batch in the status it needs.
D = DeliveryStatus
ALL_DELIVERY = frozenset(D)


def _first_subscriber(session: Session) -> int:
    return int(session.scalars(select(SubscriberRow.id).order_by(SubscriberRow.id)).first() or 0)


def _on_batch(call: Callable[[Session, int], object]) -> Call:
    return lambda s, delivery: call(s, delivery.batch_id)


def _claim_for(session: Session, delivery: DeliveryRow) -> object:
    return deliveries.claim_next_batch(session, delivery.edition_id, worker="w1", now=NOW)


DELIVERY_MOVERS = [  # needs: (the batch's status, the first subscriber's status)
    Mover("claim_next_batch", D.SENDING, _claim_for, ALL_DELIVERY, (B.PLANNED, S.ACTIVE)),
    Mover("claim_next_batch (left)", D.SKIPPED, _claim_for, ALL_DELIVERY, (B.PLANNED, S.UNSUBSCRIBED)),
    Mover("mark_accepted", D.ACCEPTED, _on_batch(
        lambda s, b: deliveries.mark_accepted(s, b, provider_id="sg-1", rejected={}, now=NOW)),
        ALL_DELIVERY, (B.SENDING, S.ACTIVE)),
    Mover("mark_accepted (late)", D.ACCEPTED, _on_batch(
        lambda s, b: deliveries.mark_accepted(s, b, provider_id="sg-1", rejected={}, now=NOW)),
        ALL_DELIVERY, (B.AMBIGUOUS, S.ACTIVE)),
    Mover("resolve_ambiguous (mark_sent)", D.ACCEPTED, _on_batch(
        lambda s, b: deliveries.resolve_ambiguous(s, b, action="mark_sent", by=APPROVER, now=NOW)),
        ALL_DELIVERY, (B.AMBIGUOUS, S.ACTIVE)),
    Mover("mark_failed", D.FAILED, _on_batch(lambda s, b: deliveries.mark_failed(s, b, error="400", now=NOW)),
          ALL_DELIVERY, (B.SENDING, S.ACTIVE)),
    Mover("mark_accepted (rejected)", D.FAILED, _on_batch(
        lambda s, b: deliveries.mark_accepted(s, b, provider_id="sg-1", now=NOW,
                                              rejected={_first_subscriber(s): "duplicate"})),
        ALL_DELIVERY, (B.AMBIGUOUS, S.ACTIVE)),
    Mover("mark_ambiguous", D.AMBIGUOUS, _on_batch(lambda s, b: deliveries.mark_ambiguous(s, b, error="x", now=NOW)),
          ALL_DELIVERY, (B.SENDING, S.ACTIVE)),
    Mover("release", D.PLANNED, _on_batch(
        lambda s, b: deliveries.release(s, b, error="429", not_before=None, now=NOW)),
        ALL_DELIVERY, (B.SENDING, S.ACTIVE)),
    Mover("split", D.PLANNED, _on_batch(lambda s, b: deliveries.split(s, b, now=NOW)),
          ALL_DELIVERY, (B.SENDING, S.ACTIVE)),
    Mover("resolve_ambiguous (resend)", D.PLANNED, _on_batch(
        lambda s, b: deliveries.resolve_ambiguous(s, b, action="resend", by=APPROVER, now=NOW)),
        ALL_DELIVERY, (B.AMBIGUOUS, S.ACTIVE)),
]


def _delivery(session: Session, status: str, mover: Mover) -> DeliveryRow:
    batch_status, subscriber = mover.needs
    _batch(session, batch_status, delivery=status, subscriber=subscriber)
    row = session.scalars(select(DeliveryRow).order_by(DeliveryRow.subscriber_id)).first()
    assert row is not None
    return row


def test_every_delivery_transition(db: Database) -> None:
    _walk(db, DELIVERY_LIFECYCLE, _delivery, DELIVERY_MOVERS, snapshot=lambda d: (d.provider_message_id,))


# --- nobody else writes a status ------------------------------------------------------------------------


LEDGER_ROWS = {"EditionRow", "ThreadRow", "PostRow", "SubscriberRow", "DeliveryRow", "DeliveryBatchRow"}


def _writes(source: str, name: str) -> list[str]:
    """Each place in `source` that sets `.status` or `.error`, or creates a ledger row with a status."""
    found = []
    for node in ast.walk(ast.parse(source)):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = [t for target in node.targets for t in (target.elts if isinstance(target, ast.Tuple) else [target])]
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        for target in targets:
            if (isinstance(target, ast.Attribute) and target.attr in ("status", "error")
                    and not (isinstance(target.value, ast.Name) and target.value.id == "self")):  # e.g. an exception's own
                found.append(f"{name}:{node.lineno} sets .{target.attr}")
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in LEDGER_ROWS
                and any(k.arg == "status" for k in node.keywords)):
            found.append(f"{name}:{node.lineno} creates a {node.func.id} with its status")
    return found


def test_no_code_outside_state_sets_a_status_or_an_error() -> None:
    found = [line for package in ("compose", "connectors", "flows", "web")
             for path in sorted((ROOT / package).rglob("*.py"))
             for line in _writes(path.read_text(encoding="utf-8"), path.relative_to(ROOT).as_posix())]
    assert not found, "only the ledger (state/) changes a status or an error:\n" + "\n".join(found)


def test_the_search_finds_a_status_written_by_hand() -> None:
    sample = ("def f(self, row, post):\n    self.status = 404\n    row.status, row.error = 'failed', 'x'\n"
              "    post.error = 'y'\n    return ThreadRow(status='draft')\n")
    assert [line.split(" ", 1)[1] for line in _writes(sample, "flows/sample.py")] == [
        "sets .status", "sets .error", "sets .error", "creates a ThreadRow with its status"]
