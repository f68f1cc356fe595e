"""The example organisation with quiet time and posting slots, and a schedule around NOW for the
calendar tests and screenshots: editions sent and to come, threads drafted, approved and published."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from compose.config import Config
from flows.settings import parse_config
from state import ledger
from state.db import Database
from state.models import EditionRow, ThreadRow
from tests.helpers import desk_data

CALENDAR = """[calendar]
holidays = "england"

[[calendar.periods]]
name = "Pre-election period"
start = 2026-12-14
end = 2026-12-15
channels = ["email", "x"]

[[calendar.windows]]
channel = "x"
days = "weekdays"
start = "08:00"
end = "18:00"
"""


def calendar_config(tmp_path: Path, *, zone: str = "Europe/London") -> Config:
    """The example config with quiet time ([calendar]) and x's posting slots, in `zone`."""
    text = desk_data.EXAMPLE_CONFIG.read_text(encoding="utf-8")
    text = text.replace('outbox_dir = "outbox"', f'outbox_dir = "{tmp_path / "outbox"}"')
    text = text.replace('[calendar]\n', "").replace('holidays = "none"\n', "", 1)
    text = text.replace("[social.x]\nenabled = true\n",
                        '[social.x]\nenabled = true\nslots = ["weekdays 09:00", "weekdays 12:30", "saturday 10:00"]\n')
    text = text.replace('timezone = "Europe/London"', f'timezone = "{zone}"')
    return parse_config(text + "\n" + CALENDAR, origin=str(desk_data.EXAMPLE_CONFIG))


def seed_schedule(db: Database, config: Config, *, now: datetime) -> dict[str, int]:
    """An edition due next (from the real build), an older one sent, item threads (one approved at a
    slot, one published as a two-post thread); returns their ids by name."""
    edition_id = desk_data.seed_edition(db, config, now=now)
    thread_ids = desk_data.seed_threads(db, config, now=now)
    desk_data.seed_staff(db, "sam@example.org", "approver", now=now)
    with db.session() as session:
        sent = ledger.create_edition(session, slug="2026-11-19", title="In Our View", subject="In Our View: last week",
                                     preheader="", intro_markdown="", featured_item_id=None, html="<p>x</p>", text="x",
                                     content_hash="f" * 64, html_bytes=8, warnings=[], built_at=now - timedelta(days=8),
                                     scheduled_for=now - timedelta(days=7))
        ledger.approve(session, "edition", sent.id, by="sam@example.org", now=now - timedelta(days=8))
        ledger.mark_edition_sending(session, sent)
        ledger.mark_edition_sent(session, sent, now=now - timedelta(days=7, minutes=-3), summary={})
        first, second = (session.get(ThreadRow, ident) for ident in thread_ids[:2])
        assert first is not None and second is not None
        first.scheduled_for = now + timedelta(days=1, hours=-5)  # Friday 09:00 London: a slot
        ledger.approve(session, "thread", first.id, by="sam@example.org", now=now)
        published = ledger.create_thread(session, network="x", key="item:published", kind="item",
                                         texts=["A two-post thread, first post", "and its second post"],
                                         content_hash="e" * 64, now=now - timedelta(days=3),
                                         scheduled_for=now - timedelta(days=2))
        ledger.approve(session, "thread", published.id, by="sam@example.org", now=now - timedelta(days=3))
        for n, post in enumerate(published.posts):
            ledger.mark_post_posting(session, post)
            ledger.mark_post_posted(session, post, provider_id=f"x-{n}", url=None,
                                    now=now - timedelta(days=2) + timedelta(minutes=n))
        session.flush()
        edition = session.get(EditionRow, edition_id)
        assert edition is not None
        return {"edition": edition_id, "sent": sent.id, "approved": first.id, "draft": second.id,
                "published": published.id}
