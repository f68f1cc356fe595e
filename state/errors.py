"""The ledger's errors: each says why a transition is not allowed and what to do.

    LedgerError
    ├── NotFound        no such edition, thread or post
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
    pass


class NotApproved(LedgerError):
    pass


class NotStaff(LedgerError):
    """`--by` (or the desk's member of staff) names nobody on the staff list."""


class NotAllowed(LedgerError):
    """The member of staff's role does not allow this (only approvers and admins approve)."""


class TwoPersonRule(NotAllowed):
    """The would-be approver changed the content since its last approval."""


class TooLong(LedgerError):
    """A post is over its network's limit."""
