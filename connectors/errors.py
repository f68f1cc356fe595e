"""Errors that leave `connectors/`: every library's exceptions are translated into these.

    SyndicateError
    ├── SourceError                 a source could not be fetched or parsed (kept as data on FetchReport)
    └── DeliveryError               an outbound email batch or post did not go through
        ├── TransientError          not accepted; safe to retry later (429, 5xx before acceptance, connect refused)
        ├── PermanentError          not accepted; retrying the same request will not help (400, 413, duplicate)
        │   ├── DuplicateContentError   the network already has this exact post (X 403 duplicate)
        │   └── ReplyNotAllowedError    the network refused a reply (X restricts API replies on some plans)
        ├── AuthError               credentials refused (401/403): stop the whole run and alert staff
        └── AmbiguousError          the request left and no answer came back: it may have been accepted.
                                    Never retried blindly; held for staff to resend or mark sent.

Every error carries a `hint` that tells the operator what to do, and optional context as
keyword arguments (`status`, `retry_after_s`, `provider_message`).
"""

from __future__ import annotations


class SyndicateError(Exception):
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


class SourceError(SyndicateError):
    pass


class DeliveryError(SyndicateError):
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
