"""The one check every change of status goes through, against the tables in `state.models`.

`check_transition` refuses a move its row's table does not allow (or, with `only`, one the
calling function does not make), and `check_initial` a new row's first status; both raise
`TransitionRefused` naming the row, the from and to status, and what is allowed. `move` checks
and then sets the status of a loaded row. None of them commits.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from state.errors import TransitionRefused
from state.models import (
    BATCH_LIFECYCLE,
    DELIVERY_LIFECYCLE,
    EDITION_LIFECYCLE,
    POST_LIFECYCLE,
    SUBSCRIBER_LIFECYCLE,
    THREAD_LIFECYCLE,
    DeliveryBatchRow,
    DeliveryRow,
    EditionRow,
    Lifecycle,
    PostRow,
    SubscriberRow,
    ThreadRow,
)

Row = EditionRow | ThreadRow | PostRow | SubscriberRow | DeliveryRow | DeliveryBatchRow

_BY_ROW: dict[type, Lifecycle[Any]] = {
    EditionRow: EDITION_LIFECYCLE, ThreadRow: THREAD_LIFECYCLE, PostRow: POST_LIFECYCLE,
    SubscriberRow: SUBSCRIBER_LIFECYCLE, DeliveryRow: DELIVERY_LIFECYCLE, DeliveryBatchRow: BATCH_LIFECYCLE,
}


def lifecycle_of(row: Row) -> Lifecycle[Any]:
    """The table of allowed transitions for this kind of row."""
    return _BY_ROW[type(row)]


def _listed(statuses: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(str(s) for s in statuses))


def check_transition(lifecycle: Lifecycle[Any], ident: int | None, frm: str, to: str, *,
                     only: Iterable[str] | None = None, reason: str | None = None) -> None:
    """Refuse (`TransitionRefused`) a move from `frm` to `to` that the table does not allow, or that is
    not among `only` (the from-statuses the calling function moves from). `reason` leads the message."""
    allowed = lifecycle.sources(to)
    if only is not None:
        allowed = allowed & frozenset(only)
    if frm in allowed:
        return
    name = f"{lifecycle.row} {ident}" if ident is not None else f"a {lifecycle.row}"
    onward = _listed(lifecycle.moves.get(lifecycle.status(frm), ()))
    lead = reason or f"{name} is {frm}: it cannot become {to}"
    raise TransitionRefused(
        f"{lead} (a {lifecycle.row} becomes {to} only from {', '.join(_listed(allowed)) or 'nothing'}; "
        f"from {frm} it may become {', '.join(onward) or 'nothing: it is final'})",
        row=lifecycle.row, ident=ident, frm=str(frm), to=str(to), allowed=_listed(allowed))


def check_initial(lifecycle: Lifecycle[Any], to: str) -> None:
    """Refuse (`TransitionRefused`) a new row whose first status its table does not allow."""
    if to in lifecycle.initial:
        return
    raise TransitionRefused(
        f"a new {lifecycle.row} cannot start {to}: it starts {' or '.join(_listed(lifecycle.initial))}",
        row=lifecycle.row, ident=None, frm=None, to=str(to), allowed=_listed(lifecycle.initial))


def move(row: Row, to: str, *, only: Iterable[str] | None = None, reason: str | None = None) -> None:
    """Check the move of a loaded `row` to `to` (see `check_transition`), then set its status."""
    check_transition(lifecycle_of(row), row.id, row.status, to, only=only, reason=reason)
    row.status = to  # type: ignore[assignment]
