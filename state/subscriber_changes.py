"""The log of changes to subscribers: each change with its time and its door (the preference
page, the API, the desk, the CLI, an import, the unsubscribe link, the sign-up form)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from state.models import SubscriberChangeRow, SubscriberRow

Door = Literal["preferences", "api", "desk", "cli", "import", "unsubscribe", "form"]
DOORS: tuple[Door, ...] = ("preferences", "api", "desk", "cli", "import", "unsubscribe", "form")


def record_change(session: Session, subscriber: SubscriberRow, *, door: Door, field: str, old: Any, new: Any,
                  now: datetime, by: str | None = None) -> SubscriberChangeRow | None:
    """Record that `field` of `subscriber` went from `old` to `new` through `door` (by staff or an
    API token named `by`; None: the reader). Nothing is recorded when nothing changed."""
    if old == new:
        return None
    if door not in DOORS:
        raise ValueError(f"unknown door {door!r}: use one of {', '.join(DOORS)}")
    row = SubscriberChangeRow(subscriber_id=subscriber.id, at=now, door=door, field=field, old=old, new=new, by=by)
    session.add(row)
    return row


def changes_of(session: Session, subscriber_id: int) -> Sequence[SubscriberChangeRow]:
    """Every change recorded for one subscriber, oldest first."""
    return session.scalars(select(SubscriberChangeRow).where(SubscriberChangeRow.subscriber_id == subscriber_id)
                           .order_by(SubscriberChangeRow.at, SubscriberChangeRow.id)).all()
