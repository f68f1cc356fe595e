"""state.figures.list_size_history on SQLite and PostgreSQL: the list week by week, read from the
active count and the few who arrived or left within the span, equals a count of every subscriber
week by week (the definition), on a list of random arrivals, confirmations and departures around
and inside the span (issue 20: the reports' charts read the span, not every subscriber)."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta

from sqlalchemy import insert

from state import figures
from state.models import SubscriberRow, SubscriberStatus
from tests.test_deliver import NOW

LEFT = (SubscriberStatus.UNSUBSCRIBED, SubscriberStatus.BOUNCED, SubscriberStatus.COMPLAINED)


def _rows(seed: int, count: int) -> list[dict[str, object]]:
    """Subscribers arriving over 30 weeks (some confirmed later), some leaving later, some pending."""
    rng = random.Random(seed)
    rows = []
    for n in range(count):
        created = NOW - timedelta(weeks=30) + timedelta(minutes=rng.randrange(30 * 7 * 24 * 60))
        confirmed = created + timedelta(days=rng.randrange(5)) if rng.random() < 0.7 else None
        status = rng.choice([SubscriberStatus.ACTIVE] * 4 + [*LEFT, SubscriberStatus.PENDING])
        changed = None
        if status in LEFT and rng.random() < 0.9:  # a few left with no time recorded
            changed = (confirmed or created) + timedelta(minutes=rng.randrange(12 * 7 * 24 * 60))
        rows.append({"email": f"s{n}@example.com", "status": status, "consent_source": "test", "created_at": created,
                     "confirmed_at": confirmed, "status_changed_at": changed})
    return rows


def _by_definition(rows: list[dict[str, object]], *, until: datetime, weeks: int) -> list[tuple[date, int]]:
    """Who was active at each week's end, one subscriber at a time."""
    out = []
    for back in range(weeks - 1, -1, -1):
        end = until - timedelta(weeks=back)
        count = 0
        for row in rows:
            arrived = row["confirmed_at"] or row["created_at"]
            changed = row["status_changed_at"]
            there = row["status"] == SubscriberStatus.ACTIVE or (
                row["status"] in LEFT and changed is not None and changed > end)  # type: ignore[operator]
            count += bool(arrived <= end and there)  # type: ignore[operator]
        out.append(((end - timedelta(microseconds=1)).date(), count))
    return out


def test_list_size_history_matches_a_count_of_every_subscriber(db):
    rows = _rows(20, 400)
    with db.session() as session:
        session.execute(insert(SubscriberRow), rows)
    with db.session() as session:
        for until, weeks in ((NOW, 12), (NOW - timedelta(weeks=7, hours=5), 5), (NOW, 1), (NOW + timedelta(weeks=2), 40)):
            assert figures.list_size_history(session, until=until, weeks=weeks) == \
                _by_definition(rows, until=until, weeks=weeks), (until, weeks)
