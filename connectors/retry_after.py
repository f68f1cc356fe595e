"""How long a service asks us to wait: the two header forms every connector reads.

    retry_after_s(value, now=...)   RFC 9110 `Retry-After`: delta-seconds or an HTTP-date
    reset_in_s(value, now=...)      a rate-limit reset time: epoch seconds (X, SendGrid) or an
                                    ISO 8601 time (Mastodon's `X-RateLimit-Reset`)

Both take the current unix time as a parameter and answer None for a missing or unreadable
value, so each caller keeps its own default and its own floor.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def retry_after_s(value: str | None, *, now: float) -> float | None:
    """Seconds to wait from a `Retry-After` value (delta-seconds or an HTTP-date), never below 0."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


def reset_in_s(value: str | None, *, now: float) -> float | None:
    """Seconds until a rate-limit reset given as epoch seconds or as an ISO 8601 time (may be
    negative when the reset is past: callers apply their own floor)."""
    if not value:
        return None
    value = value.strip()
    try:
        stamp = float(value)
    except ValueError:
        try:
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp() - now
    return stamp - now if math.isfinite(stamp) else None
