"""An edition with items in several sections, built, rendered and approved the real way
(`build_next_edition`), and readers who chose sections: for the per-reader delivery tests,
the crash/resume test and bench/bench_sections.py."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from compose.config import Config
from state import ledger
from state.db import Database
from state.models import ItemRow, SourceRow, SubscriberRow, SubscriberStatus
from tests.helpers.staff import add_staff_rows

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
SECTIONS = ("news", "blogs", "publications", "events")
TITLES = {"news": "News", "blogs": "Blogs", "publications": "Publications", "events": "Events"}
APPROVER = "approver@example.org"


def sectioned_config(outbox: Path, **email: object) -> Config:
    return Config.model_validate({
        "organisation": {"name": "Example Org", "site_url": "https://example.org", "postal_address": "1 High St, Town"},
        "edition": {"from_email": "news@example.org", "from_name": "Example News", "reply_to": "editors@example.org",
                    "public_url": "https://news.example.org"},
        "sections": [{"key": key, "title": TITLES[key]} for key in SECTIONS],
        "email": {"outbox_dir": str(outbox), "concurrency": 2, **email},
    })


def item_title(section: str, n: int) -> str:
    return f"{TITLES[section]} story {n}"


def add_items(db: Database, sections: Iterable[str], *, per_section: int = 2, now: datetime = NOW) -> None:
    """`per_section` items in each of `sections`, published in the hour before `now`."""
    with db.session() as session:
        for section in sections:
            source = SourceRow(name=f"{section}-feed", kind="feed", url=f"https://example.org/{section}.xml",
                               section=section)
            session.add(source)
            session.flush()
            for n in range(1, per_section + 1):
                url = f"https://example.org/{section}/{n}"
                session.add(ItemRow(key=url, url=url, title=item_title(section, n), summary_text=f"About {section} {n}.",
                                    section=section, source_id=source.id, content_hash=f"{section}{n}",
                                    published_at=now - timedelta(minutes=10 * n), first_seen_at=now - timedelta(hours=1)))


def build_and_approve(db: Database, config: Config, *, now: datetime = NOW, segment: dict[str, Any] | None = None,
                      approve: bool = True) -> int:
    """Build the next edition from the items in the ledger, set its segment, approve it; its id."""
    from flows.stages.edition import build_next_edition

    with db.session() as session:
        result = build_next_edition(session, config, now=now - timedelta(minutes=30))
        assert result.edition_id is not None and result.built, result.reason
        row = ledger.get_edition(session, result.edition_id)
        row.segment = segment
        row.scheduled_for = now
        if approve:
            add_staff_rows(session, {APPROVER: "approver"})
            ledger.approve(session, "edition", row.id, by=APPROVER, now=now - timedelta(minutes=20))
        return row.id


def every_combination(sections: Sequence[str] = SECTIONS) -> list[list[str] | None]:
    """Every section set a reader may choose: None (the default, every section) and each subset
    (the empty one included)."""
    subsets: list[list[str] | None] = [None]
    for size in range(len(sections) + 1):
        subsets += [list(combo) for combo in itertools.combinations(sections, size)]
    return subsets


def add_readers(db: Database, choices: Sequence[list[str] | None], *, tags: Sequence[list[str]] | None = None,
                paused_until: Sequence[datetime | None] | None = None, now: datetime = NOW, start: int = 1) -> None:
    """One active reader per entry of `choices` (their sections), with `tags` and `paused_until`."""
    rows = [{"email": f"reader{start + i}@example.com", "name": f"Reader {start + i}",
             "status": SubscriberStatus.ACTIVE, "consent_source": "test", "created_at": now, "sections": chosen,
             "tags": list(tags[i]) if tags else [], "paused_until": paused_until[i] if paused_until else None}
            for i, chosen in enumerate(choices)]
    with db.session() as session:
        for first in range(0, len(rows), 5000):
            session.execute(insert(SubscriberRow), rows[first:first + 5000])
