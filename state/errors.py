"""The ledger's errors: each says why a transition is not allowed and what to do.

    LedgerError
    ├── NotFound        no such edition, thread or post
    ├── TransitionRefused  a status its table (`state.models`) does not let move there
    ├── NotApproved     the content is not approved (or changed since)
    ├── NotStaff        `--by` (or the desk's member of staff) names nobody on the staff list
    ├── NotAllowed      the member of staff's role does not allow it
    │   └── TwoPersonRule   they changed the content since its last approval
    └── TooLong         a post is over its network's limit
"""

from __future__ import annotations

from typing import Any

from compose.errors import SyndicateError


class LedgerError(SyndicateError):
    """A transition that is not allowed; the message says why and what to do.

    `refusal` is set when an approval was refused: the caller logs it (`record_refusal`)."""

    refusal: dict[str, Any] | None = None


class NotFound(LedgerError):
    """No such edition, thread, post, batch or subscriber: the message says where to look."""


class NotApproved(LedgerError):
    """The content was never approved, or changed since: the message says who approved what, and when."""


class NotStaff(LedgerError):
    """`--by` (or the desk's member of staff) names nobody on the staff list."""


class NotAllowed(LedgerError):
    """The member of staff's role does not allow this (only approvers and admins approve)."""


class TwoPersonRule(NotAllowed):
    """The would-be approver changed the content since its last approval."""


class TooLong(LedgerError):
    """A post is over its network's limit."""


class TransitionRefused(LedgerError):
    """A change of status its table does not allow: names the row, where it is, where it was asked
    to go and where it may go from there."""

    def __init__(self, message: str, *, row: str, ident: int | None, frm: str | None, to: str,
                 allowed: tuple[str, ...]) -> None:
        super().__init__(message)
        self.row, self.ident, self.frm, self.to, self.allowed = row, ident, frm, to, allowed


class MissingAltText(LedgerError):
    """A post carries an image without alt text: it is neither approved nor published until staff write it."""
