"""How LinkedIn threads are drafted in the ledger (SQLite and PostgreSQL), per `[social.linkedin]
mode`: "roundup" gives each edition one post listing its stories and no post per item; "item" gives
a post per new item (one post each, its article preview added when it is published) and no round-up.
The other networks are drafted as before either way."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from compose.config import Config
from compose.post_length import LINKEDIN_RULES, weighted_length
from flows.settings import parse_config
from flows.stages.edition import build_edition_and_threads
from state.db import Database
from state.models import ThreadRow
from tests.helpers.desk_data import EXAMPLE_CONFIG, seed_items, seed_threads

NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)


def config_with_linkedin(tmp_path: Path, mode: str) -> Config:
    text = EXAMPLE_CONFIG.read_text(encoding="utf-8")
    text = text.replace('outbox_dir = "outbox"', f'outbox_dir = "{tmp_path / "outbox"}"')
    switched = text.replace('[social.linkedin]\nenabled = false\nmode = "roundup"',
                            f'[social.linkedin]\nenabled = true\nmode = "{mode}"')
    assert switched != text, "the example config's [social.linkedin] table moved"
    return parse_config(switched, origin=str(EXAMPLE_CONFIG))


def build(db: Database, config: Config) -> None:
    """Items gathered, the edition built with its round-ups (`syndicate edition build`), item posts drafted."""
    seed_items(db, config, now=NOW)
    with db.session() as session:
        assert build_edition_and_threads(session, config, now=NOW)["built"]
    seed_threads(db, config, now=NOW)


def threads(db: Database) -> list[tuple[str, str, list[str]]]:
    with db.session() as session:
        rows = session.scalars(select(ThreadRow).order_by(ThreadRow.id)).all()
        return [(row.network, row.kind, [post.text for post in row.posts]) for row in rows]


def test_roundup_mode_drafts_one_post_per_edition_and_none_per_item(db: Database, tmp_path: Path) -> None:
    config = config_with_linkedin(tmp_path, "roundup")
    build(db, config)
    linkedin = [(kind, texts) for network, kind, texts in threads(db) if network == "linkedin"]
    [(kind, [text])] = linkedin
    assert kind == "roundup" and weighted_length(text, LINKEDIN_RULES) <= 3000
    assert text.count("https://www.socitm.net/") >= 3 and "\N{SPOOL OF THREAD}" not in text
    x = [kind for network, kind, _ in threads(db) if network == "x"]
    assert "roundup" in x and "item" in x  # X as before


def test_item_mode_drafts_a_post_per_item_and_no_roundup(db: Database, tmp_path: Path) -> None:
    config = config_with_linkedin(tmp_path, "item")
    build(db, config)
    linkedin = [(kind, texts) for network, kind, texts in threads(db) if network == "linkedin"]
    x_items = [texts for network, kind, texts in threads(db) if network == "x" and kind == "item"]
    assert linkedin and {kind for kind, _ in linkedin} == {"item"}
    assert all(len(texts) == 1 for _, texts in linkedin) and len(linkedin) == len(x_items)
    assert all("https://www.socitm.net/" in texts[0] for _, texts in linkedin)
