"""Realistic desk data for the web tests, the browser tests and screenshots: the example
organisation's config, its items, an edition, threads, staff and subscribers; a clock the
tests move; signing in through the real form.

Everything goes through the real stage and ledger functions (store a fetch report, build the
edition, draft posts), so the pages show what a real run would show.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from compose.config import Config
from compose.models import FetchReport, Item
from flows.settings import parse_config
from flows.stages.edition import build_next_edition
from state.db import Database
from state.items import store_report, sync_sources
from state.models import EditionRow, SubscriberRow, SubscriberStatus
from state.staff import add_staff, set_password
from state.threads import draft_item_posts

if TYPE_CHECKING:
    import httpx
    from fastapi.testclient import TestClient

EXAMPLE_CONFIG = Path(__file__).resolve().parents[2] / "examples" / "syndicate.toml"
PASSWORD = "correct horse battery staple"

_ITEMS = {
    "news": [("Councils join the digital skills compact", "A new compact sets out shared training for 40 councils."),
             ("Socitm president on AI in public services", "What leaders should ask before buying an AI tool."),
             ("Cyber resilience guide published", "Practical steps for local authorities, from backups to drills.")],
    "blogs": [("Designing services with residents", "Lessons from three years of co-design in housing."),
              ("What good data sharing looks like", "Trust, purpose and a clear agreement.")],
    "publications": [("Policy briefing: digital inclusion", "How councils can close the digital divide.")],
}


def example_config(tmp_path: Path) -> Config:
    """The example organisation's config, with the outbox under `tmp_path`."""
    text = EXAMPLE_CONFIG.read_text(encoding="utf-8")
    text = text.replace('outbox_dir = "outbox"', f'outbox_dir = "{tmp_path / "outbox"}"')
    return parse_config(text, origin=str(EXAMPLE_CONFIG))


def seed_items(db: Database, config: Config, *, now: datetime) -> None:
    with db.session() as session:
        rows = sync_sources(session, config.sources)
        for source in config.sources:
            items = tuple(
                Item(url=f"https://www.socitm.net/{source.section}/{n}-{title.lower().replace(' ', '-')[:30]}",
                     title=title, section=source.section, source=source.name, summary_text=summary,
                     summary_html=f"<p>{summary}</p>", published=now - timedelta(hours=3 + n * 5),
                     image_url=None)
                for n, (title, summary) in enumerate(_ITEMS.get(source.section, ())))
            store_report(session, rows[source.name], FetchReport(source=source.name, items=items, status=200),
                         now=now - timedelta(hours=1), include_backlog=True)


def seed_edition(db: Database, config: Config, *, now: datetime) -> int:
    """Items from every source and the edition built from them; returns the edition id."""
    seed_items(db, config, now=now)
    with db.session() as session:
        result = build_next_edition(session, config, now=now)
    assert result.edition_id is not None, result.reason
    return result.edition_id


def seed_threads(db: Database, config: Config, *, now: datetime) -> list[int]:
    with db.session() as session:
        return draft_item_posts(session, config, now=now)


def seed_staff(db: Database, email: str, role: str, *, now: datetime, password: str = PASSWORD) -> None:
    with db.session() as session:
        _, token = add_staff(session, email, role, now=now)
        set_password(session, token, password, now=now)


def seed_subscribers(db: Database, count: int, *, now: datetime) -> None:
    with db.session() as session:
        for n in range(1, count + 1):
            session.add(SubscriberRow(email=f"reader{n}@example.org", name=f"Reader {n}",
                                      status=SubscriberStatus.ACTIVE, consent_source="import:test", consent_at=now,
                                      confirmed_at=now, status_changed_at=now, created_at=now))


def edition(db: Database, edition_id: int) -> EditionRow:
    with db.session() as session:
        row = session.get(EditionRow, edition_id)
        assert row is not None
        return row


class Clock:
    """A clock the tests move by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def csrf_from(html: str) -> str:
    """The CSRF token in a rendered form."""
    import re

    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF field in the page"
    return found.group(1)


def sign_in(client: TestClient, email: str, password: str = PASSWORD) -> httpx.Response:
    """Sign a test client in through the real form; returns the response to the POST."""
    token = csrf_from(client.get("/login").text)
    return client.post("/login", data={"csrf_token": token, "email": email, "password": password, "next": "/desk"},
                       follow_redirects=False)
