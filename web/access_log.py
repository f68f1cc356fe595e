"""The access log without secrets: set-up, confirm, unsubscribe, preferences, WebSub and calendar feed
links carry tokens that work for whoever holds them, so uvicorn's access log shows `[token]` in their place.
Requests to the click redirect and the open pixel are left out of the log altogether: an address
and a time beside a link would say who read what."""

from __future__ import annotations

import logging
import re

_TOKEN_PATH = re.compile(r"/(setup|confirm|unsubscribe|preferences|websub|calendar|r|o)/[^/?#\s\"]+")
_CLICK_PATH = re.compile(r"^/[ro]/[^/]+$")  # the click redirect and open pixel: never logged (web.clicks)
_ACCESS_LOGGER = "uvicorn.access"


def redact(text: str) -> str:
    """`text` with the token of every tokened path replaced by `[token]`."""
    return _TOKEN_PATH.sub(r"/\1/[token]", text)


class TokenFilter(logging.Filter):
    """Rewrites an access-log record's path (uvicorn passes it as an argument) before it is written."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(arg, str) and _CLICK_PATH.match(arg.split("?")[0])
                                                  for arg in record.args):
            return False  # who clicked what, from which address and when: not kept, not even in a log
        if isinstance(record.args, tuple):
            record.args = tuple(redact(arg) if isinstance(arg, str) else arg for arg in record.args)
        elif isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def quiet_tokens(logger_name: str = _ACCESS_LOGGER) -> TokenFilter:
    """Install the filter on uvicorn's access logger once (idempotent); returns it."""
    logger = logging.getLogger(logger_name)
    for existing in logger.filters:
        if isinstance(existing, TokenFilter):
            return existing
    token_filter = TokenFilter()
    logger.addFilter(token_filter)
    return token_filter
