"""Keeping credentials out of logs: a filter for the loggers of the client libraries we drive.

Some libraries log what they send at DEBUG (python-http-client the Authorization header,
oauthlib the OAuth1 signature base string with the access token). `SecretFilter` masks each
secret in those records before any handler sees them; a channel attaches it to its library's
loggers when it is built and detaches it in `close()`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable


class SecretFilter(logging.Filter):
    """Replaces every occurrence of the given secrets in a record's message with `mask`."""

    def __init__(self, secrets: Iterable[str], *, mask: str = "****") -> None:
        super().__init__()
        self.secrets = [secret for secret in secrets if secret]
        self.mask = mask
        self._loggers: list[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(secret in message for secret in self.secrets):
            for secret in self.secrets:
                message = message.replace(secret, self.mask)
            record.msg, record.args = message, ()
        return True

    def attach(self, *logger_names: str) -> SecretFilter:
        """Filter the records of these loggers (until `detach`)."""
        for name in logger_names:
            logging.getLogger(name).addFilter(self)
            self._loggers.append(name)
        return self

    def detach(self) -> None:
        """Stop filtering the loggers `attach` was given."""
        for name in self._loggers:
            logging.getLogger(name).removeFilter(self)
        self._loggers.clear()
