"""Subscribers: who may receive an edition, and the consent behind it.

Only these functions change a subscriber's status. Leaving is final: an address that
unsubscribed, bounced or complained is never re-activated by an import or a sign-up (only a
fresh confirmation through double opt-in, `confirm`, re-activates an unsubscribed address).
Addresses are matched case-insensitively.

Suppression for good: a hard bounce or a spam complaint (`suppress`, from the provider's events)
also puts the address on the suppression list (`SuppressionRow`), kept apart from the status. An
import, the sign-up form, a confirmation link and the desk all refuse a suppressed address and
say why (`suppression_of`, `SuppressedAddress`). If the person really asks to come back, an admin
lifts the suppression with a reason (`lift_suppression`: audited); the subscriber is then
unsubscribed, and comes back only by confirming a fresh sign-up (double opt-in), so the return
rests on their own consent, proved from the inbox that bounced or complained.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session, object_session

from compose.subscribers import (
    CsvProblem,
    NameRefused,
    SubscriberCsvRow,
    check_name,
    normalise_email,
    parse_subscriber_csv,
)
from state import erasure, events, figures
from state.ledger import SYSTEM, LedgerError, NotFound, audit
from state.lifecycle import check_initial, check_transition, move
from state.models import SUBSCRIBER_LIFECYCLE, SubscriberRow, SubscriberStatus, SuppressionRow
from state.roles import require_role
from state.subscriber_changes import record_change

LEFT = (SubscriberStatus.UNSUBSCRIBED, SubscriberStatus.BOUNCED, SubscriberStatus.COMPLAINED)
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import did: added, already subscribed, activated, and left alone because they had left."""

    added: int = 0
    unchanged: int = 0  # already active (names are refreshed)
    activated: int = 0  # pending addresses made active by the import
    left_alone: tuple[str, ...] = field(default=())  # unsubscribed/bounced/complained: never re-activated
    erased: tuple[str, ...] = field(default=())  # erased at their owner's request (`state.erasure`): never re-added

    @property
    def message(self) -> str:
        """The report in one sentence for the CLI and the desk."""
        text = f"{self.added} added, {self.unchanged} already subscribed, {self.activated} activated"
        if self.left_alone:
            text += (f", {len(self.left_alone)} not re-subscribed because they had left (unsubscribed, or suppressed "
                     "for good after a bounce or a spam complaint)")
        if self.erased:
            text += (f", {len(self.erased)} not added because they were erased at their owner's request (an admin "
                     "re-adds one with the person's consent: `syndicate subscribers readd`)")
        return text


def find(session: Session, email_or_id: str | int) -> SubscriberRow | None:
    """The subscriber with this id, or this email (any case), or None."""
    if isinstance(email_or_id, int) or (isinstance(email_or_id, str) and email_or_id.isdigit()):
        return session.get(SubscriberRow, int(email_or_id))
    return session.scalars(
        select(SubscriberRow).where(func.lower(SubscriberRow.email) == email_or_id.strip().lower())
    ).first()


def _existing(session: Session, emails: Sequence[str]) -> dict[str, SubscriberRow]:
    found: dict[str, SubscriberRow] = {}
    keys = [email.lower() for email in emails]
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start:start + _CHUNK]
        for row in session.scalars(select(SubscriberRow).where(func.lower(SubscriberRow.email).in_(chunk))):
            found[row.email.lower()] = row
    return found


def import_subscribers(session: Session, rows: Sequence[SubscriberCsvRow], *, source: str, now: datetime,
                       by: str = SYSTEM) -> ImportReport:
    """Import rows already checked by `compose.subscribers.parse_subscriber_csv` as active subscribers.

    All or nothing: the caller imports only a file with no problems, and this runs in the caller's
    transaction. Re-importing the same file changes nothing.
    """
    existing = _existing(session, [row.email for row in rows])
    suppressed = suppressed_addresses(session, [row.email for row in rows])
    gone = erasure.erased_among(session, [row.email for row in rows if row.email.lower() not in existing])
    new: list[dict[str, object]] = []
    unchanged = activated = 0
    left: list[str] = []
    erased: list[str] = []
    consent = source if source.startswith("import:") else f"import:{source}"
    check_initial(SUBSCRIBER_LIFECYCLE, SubscriberStatus.ACTIVE)
    for row in rows:
        current = existing.get(row.email.lower())
        if row.email in gone:
            erased.append(row.email)
        elif row.email.lower() in suppressed and (current is None or current.status != SubscriberStatus.ACTIVE):
            left.append(current.email if current is not None else row.email)
        elif current is None:
            new.append({"email": row.email, "name": row.name, "status": SubscriberStatus.ACTIVE,
                        "consent_source": consent, "consent_at": now, "confirmed_at": now,
                        "status_changed_at": now, "created_at": now, "tags": list(row.tags)})
        elif current.status in LEFT:
            left.append(current.email)
        elif current.status == SubscriberStatus.PENDING:
            move(current, SubscriberStatus.ACTIVE)
            current.consent_source, current.consent_at, current.status_changed_at = consent, now, now
            announce_subscribed(session, current.id, door="import", now=now)
            current.name = row.name or current.name
            _add_tags(session, current, row.tags, now=now, by=by)
            activated += 1
        else:
            if row.name and row.name != current.name:
                current.name = row.name
            _add_tags(session, current, row.tags, now=now, by=by)
            unchanged += 1
    if new:
        session.execute(insert(SubscriberRow), new)
        for added in _existing(session, [str(values["email"]) for values in new]).values():
            announce_subscribed(session, added.id, door="import", now=now)
    audit(session, actor=by, action="import", kind="subscribers", ident=None, now=now,
          source=source, added=len(new), activated=activated, left_alone=len(left), erased=len(erased))
    return ImportReport(added=len(new), unchanged=unchanged, activated=activated, left_alone=tuple(left),
                        erased=tuple(erased))


def _add_tags(session: Session, row: SubscriberRow, tags: Sequence[str], *, now: datetime, by: str) -> None:
    """An import adds the tags its file gives a subscriber (never removes one), recorded as a change."""
    merged = list(row.tags or []) + [tag for tag in tags if tag not in (row.tags or [])]
    if merged != list(row.tags or []):
        record_change(session, row, door="import", field="tags", old=list(row.tags or []), new=merged, now=now,
                      by=None if by == SYSTEM else by)
        row.tags = merged


class SuppressedAddress(LedgerError):
    """The address is suppressed for good (a hard bounce or a spam complaint): nothing but an
    admin's `lift_suppression` lets it subscribe again. The message says why and what to do."""


@dataclass(frozen=True, slots=True)
class Suppression:
    """A suppression in force, detached from the session."""

    email: str
    kind: str  # "bounce" or "complaint"
    detail: str
    since: datetime

    def refusal(self, address: str) -> str:
        """Why `address` cannot (re)subscribe, and the way back, in words staff and the person read."""
        why = "a message to it bounced for good" if self.kind == "bounce" else "its owner reported a message as spam"
        return (f"{address} is suppressed for good since {self.since:%Y-%m-%d}: {why}, and writing to it again would "
                "harm the newsletter's delivery to everyone. If the person asks to come back, an admin lifts the "
                "suppression with `syndicate subscribers reinstate ADDRESS --by ADMIN --reason WHY`, then the person "
                "signs up again and confirms from their inbox")


def _suppression(row: SuppressionRow) -> Suppression:
    return Suppression(email=row.email, kind=row.kind, detail=row.detail, since=row.suppressed_at)


def suppressed_addresses(session: Session, emails: Sequence[str]) -> dict[str, Suppression]:
    """The suppressions in force among `emails`, by lower-case address (a complaint before a bounce). Reads only."""
    found: dict[str, Suppression] = {}
    keys = sorted({email.strip().lower() for email in emails})
    for start in range(0, len(keys), _CHUNK):
        for row in session.scalars(select(SuppressionRow).where(
                SuppressionRow.email.in_(keys[start:start + _CHUNK]), SuppressionRow.lifted_at.is_(None))
                .order_by(SuppressionRow.id)):
            if row.email not in found or row.kind == "complaint":
                found[row.email] = _suppression(row)
    return found


def suppression_of(session: Session, email: str) -> Suppression | None:
    """The suppression in force for this address (any case), or None. Reads only."""
    return suppressed_addresses(session, [email]).get(email.strip().lower())


def may_confirm(session: Session, row: SubscriberRow) -> bool:
    """Whether a sign-up may write a confirmation email to this subscriber: not when active
    already, nor when bounced, complained or suppressed. Reads only."""
    return row.status not in (SubscriberStatus.ACTIVE, SubscriberStatus.BOUNCED, SubscriberStatus.COMPLAINED) \
        and suppression_of(session, row.email) is None


REINSTATING_ROLES = ("admin",)


@dataclass(frozen=True, slots=True)
class Reinstated:
    """What `lift_suppression` did: the address, the suppressions it lifted, and the status now."""

    email: str
    lifted: tuple[str, ...]  # kinds: "bounce", "complaint"
    status: str


def lift_suppression(session: Session, email_or_id: str | int, *, by: str, reason: str | None,
                     now: datetime) -> Reinstated:
    """An admin lifts the suppression of an address whose owner asked to come back, saying why
    (audited, with the suppressions lifted). The subscriber becomes unsubscribed: they come back
    by signing up again and confirming from their inbox (double opt-in); nothing here sends them
    anything. Refused (`LedgerError`) without a reason, by anyone but an admin, or for an address
    that is not suppressed. Does not commit."""
    text = " ".join((reason or "").split())
    if not text:
        raise LedgerError("say why (--reason at the terminal, the Why field on the desk), e.g. \"asked by phone on "
                          "3 Dec to be re-added; their mailbox works again\": it is kept in the audit log")
    row = find(session, email_or_id)
    address = (row.email if row is not None else str(email_or_id)).strip().lower()
    who = require_role(session, by, REINSTATING_ROLES, f"lift the suppression of {address}")
    rows = session.scalars(select(SuppressionRow).where(SuppressionRow.email == address,
                                                        SuppressionRow.lifted_at.is_(None))).all()
    stuck = row is not None and row.status in (SubscriberStatus.BOUNCED, SubscriberStatus.COMPLAINED)
    if not rows and not stuck:
        raise LedgerError(f"{address} is not suppressed: "
                          + ("there is no such subscriber" if row is None else f"it is {row.status}")
                          + "; nothing to lift")
    kinds = tuple(sorted({r.kind for r in rows})) or (
        ("complaint",) if row is not None and row.status == SubscriberStatus.COMPLAINED else ("bounce",))
    for suppression in rows:
        suppression.lifted_at, suppression.lifted_by, suppression.lifted_reason = now, who, text[:500]
    if stuck and row is not None:
        _set(row, SubscriberStatus.UNSUBSCRIBED, f"suppression lifted by {who}: {text}"[:500], now)
    audit(session, actor=who, action="reinstate", kind="subscriber", ident=row.id if row is not None else None,
          now=now, email=address, lifted=list(kinds), reason=text)
    return Reinstated(email=address, lifted=kinds, status=str(row.status) if row is not None else "none")


class CsvRejected(LedgerError):
    """A subscriber file with problems: nothing was imported."""

    def __init__(self, problems: Sequence[CsvProblem]) -> None:
        self.problems = tuple(problems)
        listed = "; ".join(str(p) for p in self.problems[:20])
        more = f" (and {len(self.problems) - 20} more)" if len(self.problems) > 20 else ""
        super().__init__(f"nothing imported: {len(self.problems)} problem(s) in the file: {listed}{more}")


@dataclass(frozen=True, slots=True)
class ImportPreview:
    """What importing a file would change, row by row, before anything is written (the desk's
    preview). `problems` are bad rows (they stop the whole import, as in the CLI); `refused` are
    good rows of people who left, whom an import never re-subscribes."""

    new: tuple[SubscriberCsvRow, ...] = ()
    updated: tuple[tuple[SubscriberCsvRow, str], ...] = ()  # the row and what changes
    unchanged: tuple[SubscriberCsvRow, ...] = ()
    refused: tuple[CsvProblem, ...] = ()
    problems: tuple[CsvProblem, ...] = ()
    rows: tuple[SubscriberCsvRow, ...] = ()

    @property
    def importable(self) -> bool:
        """True when the file has no bad row and would add or change someone."""
        return not self.problems and bool(self.new or self.updated)


def preview_import(session: Session, text: str) -> ImportPreview:
    """The same checks as `import_csv`, and what `import_subscribers` would do with each good row."""
    rows, problems = parse_subscriber_csv(text)
    existing = _existing(session, [row.email for row in rows])
    suppressed = suppressed_addresses(session, [row.email for row in rows])
    gone = erasure.erased_among(session, [row.email for row in rows if row.email.lower() not in existing])
    new: list[SubscriberCsvRow] = []
    updated: list[tuple[SubscriberCsvRow, str]] = []
    unchanged: list[SubscriberCsvRow] = []
    refused: list[CsvProblem] = []
    for row in rows:
        current = existing.get(row.email.lower())
        suppression = suppressed.get(row.email.lower())
        if row.email in gone:
            refused.append(CsvProblem(row.line, erasure.refusal(row.email)))
        elif suppression is not None and (current is None or current.status != SubscriberStatus.ACTIVE):
            refused.append(CsvProblem(row.line, suppression.refusal(row.email)))
        elif current is None:
            new.append(row)
        elif current.status in LEFT:
            refused.append(CsvProblem(row.line, f"{current.email} is {current.status}: an import never "
                                                "re-subscribes someone who left"))
        elif current.status == SubscriberStatus.PENDING:
            updated.append((row, "waiting to confirm: becomes active"))
        elif row.name and row.name != current.name:
            updated.append((row, f"name {current.name or '(none)'!r} becomes {row.name!r}"))
        else:
            unchanged.append(row)
    return ImportPreview(new=tuple(new), updated=tuple(updated), unchanged=tuple(unchanged), refused=tuple(refused),
                         problems=tuple(problems), rows=tuple(rows))


def import_csv(session: Session, text: str, *, filename: str, now: datetime) -> ImportReport:
    """Check a whole CSV file, then import it; any bad row means nothing is imported (`CsvRejected`)."""
    rows, problems = parse_subscriber_csv(text)
    if problems:
        raise CsvRejected(problems)
    return import_subscribers(session, rows, source=filename, now=now)


def subscribe_pending(session: Session, email: str, *, name: str = "", source: str, now: datetime) -> SubscriberRow:
    """A sign-up waiting for its double opt-in confirmation. Someone who left stays left until confirmed.

    An address already known is never changed here (anyone can post the form with anyone's address):
    the name it carries travels in the confirmation link and is applied by `confirm`. A new address
    gets a pending row with the name (checked by `check_name`, `NameRefused` otherwise); a new
    address on the suppression list gets none (`SuppressedAddress`), nor does an address erased at its
    owner's request (`state.erasure.ErasedAddress`). The caller asks
    `may_confirm` before it writes to the address.
    """
    address = normalise_email(email)
    name = check_name(name)
    row = find(session, address)
    if row is None:
        suppression = suppression_of(session, address)
        if suppression is not None:
            raise SuppressedAddress(suppression.refusal(address))
        erasure.refuse_erased(session, address)
        check_initial(SUBSCRIBER_LIFECYCLE, SubscriberStatus.PENDING)
        row = SubscriberRow(email=address, name=name, status=SubscriberStatus.PENDING, consent_source=source,
                            consent_at=now, status_changed_at=now, created_at=now)
        session.add(row)
        session.flush()
    return row


def confirm(session: Session, subscriber_id: int, email: str, *, now: datetime, name: str = "") -> SubscriberRow:
    """A confirmed double opt-in (the token was checked by the caller): the subscriber is active,
    with the `name` their sign-up carried (when it is one `check_name` accepts).

    A complaint (spam report) or a hard bounce is not undone by a click: those stay suppressed
    (refused); confirming an active subscriber again changes nothing. Does not commit.
    """
    row = session.get(SubscriberRow, subscriber_id)
    if row is None or row.email.lower() != email.lower():
        raise NotFound("this confirmation link does not match a subscriber: sign up again")
    if row.status != SubscriberStatus.ACTIVE:  # confirming again changes nothing
        suppression = suppression_of(session, row.email)
        if suppression is not None:
            raise SuppressedAddress(suppression.refusal(row.email))
        check_transition(SUBSCRIBER_LIFECYCLE, row.id, row.status, SubscriberStatus.ACTIVE,
                         reason=f"{row.email} is suppressed ({row.status}): contact the editors to be re-added")
    if name:
        with contextlib.suppress(NameRefused):  # a name refused since the link was sent: keep the one stored
            row.name = check_name(name)
    if row.status != SubscriberStatus.ACTIVE:
        move(row, SubscriberStatus.ACTIVE)
        announce_subscribed(session, row.id, door="form", now=now)
        row.confirmed_at = now
        row.status_changed_at = now
        row.status_reason = "confirmed"
        row.consent_at = now
    return row


def unsubscribe(session: Session, email_or_id: str | int, *, reason: str, now: datetime,
                by: str = "subscriber", edition_id: int | None = None) -> SubscriberRow:
    """Stop all sends to this subscriber at once (idempotent: a second request changes nothing).
    `by` is who asked: the subscriber (their link), or the member of staff who did it for them;
    `edition_id`, the edition whose link they used (counted in its figures, once).
    Refused (`NotFound`) for an unknown subscriber. Audited; does not commit."""
    row = find(session, email_or_id)
    if row is None:
        raise NotFound(f"there is no subscriber {email_or_id}")
    unsubscribe_many(session, [UnsubscribeAsk(row.id, reason=reason, now=now, by=by, edition_id=edition_id)])
    return row


@dataclass(frozen=True, slots=True)
class UnsubscribeAsk:
    """One unsubscribe for `unsubscribe_many`: `unsubscribe`'s arguments, the subscriber by id."""

    subscriber_id: int
    reason: str
    now: datetime
    by: str = "subscriber"
    edition_id: int | None = None


def unsubscribe_many(session: Session, asks: Sequence[UnsubscribeAsk]) -> list[SubscriberRow | None]:
    """`unsubscribe` for many subscribers (by id) in the caller's transaction, with the same effects
    as calling it for each in turn, in a few statements whatever their number: one read of the
    subscribers, one flush of their changes with their audit rows and events, and per edition one
    executemany of the delivery stamps and one counter update (`figures.stamp_many`).

    On PostgreSQL the subscribers are read `FOR UPDATE` (in id order, the counter rows last, so two
    such transactions never deadlock): of two transactions unsubscribing the same reader at once,
    the second waits and finds them gone, so the leaving is audited and announced once. (SQLite has
    no row locks and reads before it takes its one write lock: two processes may both record it.)
    Returns each ask's subscriber, or None for an unknown id (nothing is written for it). Does not commit."""
    rows = {row.id: row for row in session.scalars(
        select(SubscriberRow).where(SubscriberRow.id.in_(sorted({ask.subscriber_id for ask in asks})))
        .order_by(SubscriberRow.id).with_for_update())}
    found: list[SubscriberRow | None] = []
    stamps: dict[int, list[tuple[int, datetime, datetime]]] = {}
    for ask in asks:
        row = rows.get(ask.subscriber_id)
        found.append(row)
        if row is None:
            continue
        if row.status not in LEFT:
            _set(row, SubscriberStatus.UNSUBSCRIBED, ask.reason, ask.now)
            audit(session, actor=ask.by, action="unsubscribe", kind="subscriber", ident=row.id, now=ask.now,
                  reason=ask.reason)
        if ask.edition_id is not None:
            stamps.setdefault(ask.edition_id, []).append((row.id, ask.now, ask.now))
    session.flush()
    for edition_id in sorted(stamps):  # last: the editions' counter rows stay locked only until the commit
        figures.stamp_many(session, edition_id, "unsubscribes", stamps[edition_id])
    return found


def suppress(session: Session, subscriber_id: int, status: SubscriberStatus, *, reason: str, now: datetime,
             edition_id: int | None = None) -> bool:
    """Record a bounce, complaint or unsubscribe reported by the provider; returns True when the status
    changed. A hard bounce or a complaint also suppresses the address for good (`SuppressionRow`:
    nothing but an admin's `lift_suppression` lets it back). A complaint outranks a bounce, which
    outranks an unsubscribe: a later, milder event never replaces a stronger one. Refused for any
    other status. Does not commit."""
    if status not in LEFT:
        raise LedgerError(f"suppress takes one of {', '.join(LEFT)}, not {status}")
    row = session.get(SubscriberRow, subscriber_id)
    if row is None:
        return False
    if status in _SUPPRESSING:
        _add_suppression(session, row.email, _SUPPRESSING[status], detail=reason, subscriber_id=row.id,
                         edition_id=edition_id, now=now)
    if row.status == status or _RANK.get(row.status, 0) > _RANK[status]:
        return False
    _set(row, status, reason, now)
    return True


_RANK = {SubscriberStatus.UNSUBSCRIBED: 1, SubscriberStatus.BOUNCED: 2, SubscriberStatus.COMPLAINED: 3}
_SUPPRESSING = {SubscriberStatus.BOUNCED: "bounce", SubscriberStatus.COMPLAINED: "complaint"}


def _add_suppression(session: Session, email: str, kind: str, *, detail: str, subscriber_id: int | None,
                     edition_id: int | None, now: datetime) -> None:
    """Suppress the address (once per kind while in force). Does not commit."""
    address = email.strip().lower()
    if session.scalar(select(SuppressionRow.id).where(SuppressionRow.email == address, SuppressionRow.kind == kind,
                                                      SuppressionRow.lifted_at.is_(None)).limit(1)) is not None:
        return
    session.add(SuppressionRow(email=address, kind=kind, detail=detail[:500], subscriber_id=subscriber_id,
                               edition_id=edition_id, suppressed_at=now))
    session.flush()


def _set(row: SubscriberRow, status: SubscriberStatus, reason: str, now: datetime) -> None:
    session = object_session(row)
    if status in LEFT and row.status not in LEFT and session is not None:  # leaving (not bounced after unsubscribing)
        events.record_event(session, events.SUBSCRIBER_UNSUBSCRIBED, events.resource_id("subscriber", row.id),
                            {"id": row.id, "status": str(status)}, now=now)
    move(row, status)
    row.status_reason = reason
    row.status_changed_at = now


def announce_subscribed(session: Session, subscriber_id: int, *, door: str, now: datetime) -> None:
    """The `subscriber.subscribed` domain event (outgoing webhooks, Prefect) of a subscriber who has just
    become active, in the caller's transaction. Does not commit."""
    events.record_event(session, events.SUBSCRIBER_SUBSCRIBED, events.resource_id("subscriber", subscriber_id),
                        {"id": subscriber_id, "door": door}, now=now)


def list_subscribers(session: Session, *, status: SubscriberStatus | None = None, limit: int = 100,
                     offset: int = 0) -> Sequence[SubscriberRow]:
    """A page of subscribers by id, optionally of one status. Reads only."""
    query = select(SubscriberRow).order_by(SubscriberRow.id).limit(limit).offset(offset)
    if status is not None:
        query = query.where(SubscriberRow.status == status)
    return session.scalars(query).all()


def counts_by_status(session: Session) -> dict[str, int]:
    """How many subscribers are in each status (every status present). Reads only."""
    counts = {str(status): 0 for status in SubscriberStatus}
    for status, count in session.execute(select(SubscriberRow.status, func.count()).group_by(SubscriberRow.status)):
        counts[str(status)] = count
    return counts

