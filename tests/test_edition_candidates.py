"""The edition build reads its candidates' headlines only (state.editions.candidate_headlines) and
the chosen items whole (with_content): the edition is the one built from every candidate read
whole, item for item, on SQLite and PostgreSQL, on a ledger of the bench's shape (issue 20)."""

from __future__ import annotations

from pathlib import Path

from compose.edition import build_edition
from state.db import Database
from state.editions import candidate_count, candidate_headlines, candidate_items, with_content
from tests.helpers.ledger_data import NOW, bench_config, fill


def test_headlines_then_content_build_the_edition_of_whole_items(db: Database, tmp_path: Path) -> None:
    config, _ = bench_config(tmp_path)
    fill(db, config, items=400, subscribers=20)
    with db.session() as session:
        whole = candidate_items(session, now=NOW)
        headlines = candidate_headlines(session, now=NOW)
        assert len(whole) == len(headlines) == candidate_count(session, now=NOW) > 0
        assert [(i.id, i.url, i.title, i.section, i.source, i.published) for i in whole] == \
            [(i.id, i.url, i.title, i.section, i.source, i.published) for i in headlines]
        expected = build_edition(whole, config=config, now=NOW, slug="s")
        chosen = build_edition(headlines, config=config, now=NOW, slug="s")
        assert expected is not None and chosen is not None
        assert with_content(session, chosen) == expected
        assert any(item.summary_text for item in expected.items)  # the content is there to compare
