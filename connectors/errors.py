"""Errors that leave `connectors/`: every library's exceptions are translated into these.

`ConnectorError` and its subclasses are one family of the tree drawn in `compose.errors`
(the one drawing of every error we raise). Every error here carries a `hint` that tells the
operator what to do, and optional context as keyword arguments (`status`, `retry_after_s`,
`provider_message`).
"""

from __future__ import annotations

from compose.errors import SyndicateError


class ConnectorError(SyndicateError):
    """An outside service failed; `hint` says what to do."""

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        status: int | None = None,
        retry_after_s: float | None = None,
        provider_message: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.status = status
        self.retry_after_s = retry_after_s
        self.provider_message = provider_message

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} (hint: {self.hint})"


class SourceError(ConnectorError):
    pass


class DeliveryError(ConnectorError):
    pass


class TransientError(DeliveryError):
    pass


class PermanentError(DeliveryError):
    pass


class DuplicateContentError(PermanentError):
    pass


class ReplyNotAllowedError(PermanentError):
    pass


class AuthError(DeliveryError):
    pass


class AmbiguousError(DeliveryError):
    pass
