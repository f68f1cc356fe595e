"""The declarative base, the UTC timestamp type, every status enum and its allowed transitions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from sqlalchemy import (
    JSON,
    DateTime,
    MetaData,
    Table,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase

_NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        """Refuse a naive time; store an aware one in UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the ledger: pass a timezone-aware UTC time")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        """Read a stored time back as an aware UTC time (SQLite keeps none)."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """The declarative base of every ledger table (naming convention, UTC times, JSON columns)."""

    metadata = MetaData(naming_convention=_NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[Any]: JSON}

    if TYPE_CHECKING:
        # Every model here maps one Table; SQLAlchemy types `__table__` as the wider FromClause.
        __table__: ClassVar[Table]


# --- statuses -----------------------------------------------------------------------------------


class EditionStatus(StrEnum):
    """Where an edition stands, from draft to sent; moves only as `EDITION_LIFECYCLE` allows."""

    DRAFT = "draft"  # built, waiting for approval
    APPROVED = "approved"  # approved for its content hash, waiting for its send time
    REJECTED = "rejected"
    SENDING = "sending"
    SENT = "sent"
    CANCELLED = "cancelled"
    HELD = "held"  # its send time came while it was not approved: never sent, staff notified


class ThreadStatus(StrEnum):
    """Where a thread of posts stands on its network; moves only as `THREAD_LIFECYCLE` allows."""

    DRAFT = "draft"
    APPROVED = "approved"
    REJECTED = "rejected"
    PUBLISHING = "publishing"
    PUBLISHED = "published"
    FAILED = "failed"  # stopped: needs staff (auth, reply refused with fallback "stop", ambiguous post)
    CANCELLED = "cancelled"


class PostStatus(StrEnum):
    """Where one post of a thread stands; moves only as `POST_LIFECYCLE` allows."""

    PENDING = "pending"
    POSTING = "posting"  # the request is about to leave / has left
    POSTED = "posted"
    FAILED = "failed"
    DUPLICATE = "duplicate"
    AMBIGUOUS = "ambiguous"


class SubscriberStatus(StrEnum):
    """Whether we may send to a subscriber; moves only as `SUBSCRIBER_LIFECYCLE` allows (leaving is final, but for a
    fresh opt-in)."""

    PENDING = "pending"
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"


class DeliveryStatus(StrEnum):
    """Where one edition's message to one subscriber stands; moves only as `DELIVERY_LIFECYCLE` allows."""

    PLANNED = "planned"
    SENDING = "sending"
    ACCEPTED = "accepted"
    FAILED = "failed"
    AMBIGUOUS = "ambiguous"
    SKIPPED = "skipped"  # the subscriber left between planning and sending


class BatchStatus(StrEnum):
    """Where one provider request (a batch of deliveries) stands; moves only as `BATCH_LIFECYCLE` allows."""

    PLANNED = "planned"
    SENDING = "sending"
    ACCEPTED = "accepted"
    FAILED = "failed"
    AMBIGUOUS = "ambiguous"


# --- allowed transitions ------------------------------------------------------------------------
#
# One table per status enum: the statuses a new row may start in, and for each status the statuses
# it may move to. `state.lifecycle.check_transition` holds every change of status against its table
# (the ledger's functions call it before they write); tests/test_ledger_transitions.py walks every
# pair the tables leave out and checks the ledger refuses it.


S = TypeVar("S", bound=StrEnum)


@dataclass(frozen=True, slots=True)
class Lifecycle(Generic[S]):
    """The allowed statuses of one kind of ledger row: where a new row starts, and each allowed move."""

    row: str  # the row's name in messages: "edition", "delivery batch", ...
    status: type[S]
    initial: frozenset[S]
    moves: Mapping[S, frozenset[S]]

    def allows(self, frm: str, to: str) -> bool:
        """True when a row in `frm` may move to `to`."""
        return to in self.moves.get(self.status(frm), frozenset())

    def sources(self, to: str) -> frozenset[S]:
        """Every status a row may move to `to` from."""
        return frozenset(frm for frm, targets in self.moves.items() if to in targets)


_E = EditionStatus
EDITION_LIFECYCLE = Lifecycle("edition", EditionStatus, initial=frozenset({_E.DRAFT}), moves={
    # edit -> draft; approve, reject, cancel; hold when its send time passes unapproved
    _E.DRAFT: frozenset({_E.DRAFT, _E.APPROVED, _E.REJECTED, _E.CANCELLED, _E.HELD}),
    _E.APPROVED: frozenset({_E.DRAFT, _E.APPROVED, _E.REJECTED, _E.CANCELLED, _E.SENDING}),
    _E.REJECTED: frozenset({_E.DRAFT, _E.APPROVED, _E.REJECTED, _E.CANCELLED}),
    _E.HELD: frozenset({_E.DRAFT, _E.APPROVED, _E.REJECTED, _E.CANCELLED}),
    _E.SENDING: frozenset({_E.SENDING, _E.SENT}),  # a send resumed after a crash stays sending
    _E.SENT: frozenset(),
    _E.CANCELLED: frozenset({_E.DRAFT, _E.REJECTED, _E.CANCELLED}),
})

_T = ThreadStatus
THREAD_LIFECYCLE = Lifecycle("thread", ThreadStatus, initial=frozenset({_T.DRAFT, _T.FAILED}), moves={
    # FAILED at creation: an item the network cannot take (recorded once for staff)
    _T.DRAFT: frozenset({_T.DRAFT, _T.APPROVED, _T.REJECTED, _T.CANCELLED}),
    _T.APPROVED: frozenset({_T.DRAFT, _T.APPROVED, _T.REJECTED, _T.CANCELLED, _T.PUBLISHING, _T.PUBLISHED,
                            _T.FAILED}),
    _T.REJECTED: frozenset({_T.DRAFT, _T.APPROVED, _T.REJECTED, _T.CANCELLED}),
    # a post that failed but may be retried puts its thread back to approved
    _T.PUBLISHING: frozenset({_T.APPROVED, _T.PUBLISHED, _T.FAILED}),
    _T.PUBLISHED: frozenset(),
    _T.FAILED: frozenset({_T.DRAFT, _T.REJECTED, _T.CANCELLED}),
    _T.CANCELLED: frozenset({_T.DRAFT, _T.REJECTED, _T.CANCELLED}),
})

_P = PostStatus
POST_LIFECYCLE = Lifecycle("post", PostStatus, initial=frozenset({_P.PENDING}), moves={
    _P.PENDING: frozenset({_P.POSTING, _P.FAILED}),
    _P.POSTING: frozenset({_P.POSTED, _P.FAILED, _P.AMBIGUOUS, _P.DUPLICATE}),
    _P.FAILED: frozenset({_P.POSTING, _P.FAILED}),
    _P.AMBIGUOUS: frozenset({_P.AMBIGUOUS, _P.FAILED}),
    # a thread over its limit is stopped on its first post even when that one went out (see the report)
    _P.POSTED: frozenset({_P.FAILED}),
    _P.DUPLICATE: frozenset({_P.FAILED}),
})

_S = SubscriberStatus
SUBSCRIBER_LIFECYCLE = Lifecycle("subscriber", SubscriberStatus, initial=frozenset({_S.PENDING, _S.ACTIVE}), moves={
    # ACTIVE at creation: an import (the file is the consent); PENDING: a sign-up waiting for its confirmation
    _S.PENDING: frozenset({_S.ACTIVE, _S.UNSUBSCRIBED, _S.BOUNCED, _S.COMPLAINED}),
    _S.ACTIVE: frozenset({_S.UNSUBSCRIBED, _S.BOUNCED, _S.COMPLAINED}),
    _S.UNSUBSCRIBED: frozenset({_S.ACTIVE, _S.BOUNCED, _S.COMPLAINED}),  # ACTIVE: a fresh double opt-in
    # UNSUBSCRIBED from BOUNCED or COMPLAINED: only an admin lifting the suppression (state.subscribers.lift_suppression)
    _S.BOUNCED: frozenset({_S.UNSUBSCRIBED, _S.COMPLAINED}),
    _S.COMPLAINED: frozenset({_S.UNSUBSCRIBED}),
})

_D = DeliveryStatus
DELIVERY_LIFECYCLE = Lifecycle("delivery", DeliveryStatus, initial=frozenset({_D.PLANNED}), moves={
    _D.PLANNED: frozenset({_D.SENDING, _D.SKIPPED}),
    _D.SENDING: frozenset({_D.ACCEPTED, _D.FAILED, _D.AMBIGUOUS, _D.PLANNED}),
    _D.AMBIGUOUS: frozenset({_D.ACCEPTED, _D.FAILED, _D.PLANNED}),  # a late answer, or staff's decision
    _D.ACCEPTED: frozenset(),
    _D.FAILED: frozenset(),
    _D.SKIPPED: frozenset(),
})

_B = BatchStatus
BATCH_LIFECYCLE = Lifecycle("delivery batch", BatchStatus, initial=frozenset({_B.PLANNED}), moves={
    _B.PLANNED: frozenset({_B.SENDING}),
    _B.SENDING: frozenset({_B.ACCEPTED, _B.FAILED, _B.AMBIGUOUS, _B.PLANNED}),  # PLANNED: safe to retry
    _B.AMBIGUOUS: frozenset({_B.ACCEPTED, _B.PLANNED}),  # a late answer, or staff's decision
    _B.ACCEPTED: frozenset(),
    _B.FAILED: frozenset(),
})

LIFECYCLES: tuple[Lifecycle[Any], ...] = (EDITION_LIFECYCLE, THREAD_LIFECYCLE, POST_LIFECYCLE, SUBSCRIBER_LIFECYCLE,
                                          DELIVERY_LIFECYCLE, BATCH_LIFECYCLE)
