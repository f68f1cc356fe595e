"""Publication dates as pages and feeds write them, read into aware UTC datetimes.

`parse_date` understands ISO 8601, RFC 822 and the loose forms HTML listing pages use
("6 December 2018", "Dec 6, 2018", "06/12/2018" day first as in the UK), in English, German
and French month names. Pure: no I/O, no clock (a time without a zone takes `default_tz`).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, tzinfo
from email.utils import parsedate_to_datetime

_MONTHS = {
    name: number
    for number, names in enumerate(
        (("jan", "january", "januar", "janvier"), ("feb", "february", "februar", "fév", "février"),
         ("mar", "march", "märz", "mars"), ("apr", "april", "avril"), ("may", "mai"),
         ("jun", "june", "juni", "juin"), ("jul", "july", "juli", "juillet"),
         ("aug", "august", "août"), ("sep", "sept", "september", "septembre"),
         ("oct", "october", "oktober", "okt", "octobre"), ("nov", "november", "novembre"),
         ("dec", "december", "dezember", "dez", "décembre")),
        start=1,
    )
    for name in names
}
_MONTH = r"(?P<month>[a-zäéû]{3,9})\.?"
_TIME = r"(?:[ ,T]+(?:at\s+)?(?P<hour>\d{1,2})[:.](?P<minute>\d{2})(?::(?P<second>\d{2}))?\s*(?P<ampm>[ap]\.?m\.?)?)?"
_DATE_PATTERNS = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        r"(?P<day>\d{1,2})(?:st|nd|rd|th)?\.?\s+" + _MONTH + r",?\s+(?P<year>\d{4})" + _TIME,  # 6 December 2018
        _MONTH + r"\s+(?P<day>\d{1,2})(?:st|nd|rd|th)?,?\s+(?P<year>\d{4})" + _TIME,  # Dec 6, 2018
        r"(?P<year>\d{4})[/.-](?P<nmonth>\d{1,2})[/.-](?P<day>\d{1,2})" + _TIME,  # 2018/12/06
        r"(?P<day>\d{1,2})[/.-](?P<nmonth>\d{1,2})[/.-](?P<year>\d{4})" + _TIME,  # 06/12/2018 (UK, day first)
    )
)


def parse_date(text: str | None, default_tz: tzinfo = UTC) -> datetime | None:
    """A publication date as an aware UTC datetime, or None when `text` holds none.

    Understands ISO 8601, RFC 822, "6 December 2018", "Dec 6, 2018", "06/12/2018" (day first,
    as in the UK) and "2018-12-06", with an optional time. A time without a zone is taken to
    be in `default_tz`.
    """
    text = " ".join((text or "").split())
    if not text or len(text) > 200:
        return None
    found = _iso(text) or _rfc822(text) or _loose(text, default_tz)
    if found is None:
        return None
    if found.tzinfo is None:
        found = found.replace(tzinfo=default_tz)
    return found.astimezone(UTC)


def _iso(text: str) -> datetime | None:
    candidate = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
    if not re.match(r"\d{4}-\d{2}-\d{2}", candidate):
        return None
    try:
        return datetime.fromisoformat(candidate)
    except ValueError:
        return None


def _rfc822(text: str) -> datetime | None:
    if not re.search(r"\d{1,2}:\d{2}", text):
        return None
    try:
        return parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None


def _loose(text: str, default_tz: tzinfo) -> datetime | None:
    for pattern in _DATE_PATTERNS:
        for match in pattern.finditer(text):
            found = _from_match(match.groupdict(), default_tz)
            if found is not None:
                return found
    return None


def _from_match(g: dict[str, str | None], default_tz: tzinfo) -> datetime | None:
    name = g.get("month")
    month = _MONTHS.get(name.lower().rstrip(".")) if name else int(g["nmonth"] or 0)
    hour, minute, second = int(g.get("hour") or 0), int(g.get("minute") or 0), int(g.get("second") or 0)
    ampm = (g.get("ampm") or "").lower().replace(".", "")
    if ampm == "pm" and hour < 12:
        hour += 12
    elif ampm == "am" and hour == 12:
        hour = 0
    if not month:
        return None
    year, day = g["year"], g["day"]
    if year is None or day is None:
        return None
    try:
        return datetime(int(year), month, int(day), hour, minute, second, tzinfo=default_tz)
    except (TypeError, ValueError):
        return None
