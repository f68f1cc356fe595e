"""The default subject names the issue number and the send date, so two editions sent the same
day (the first sent early) never share a subject; `{number}` is a field every template may use."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from compose.config import Config
from compose.models import FetchReport, Item
from connectors.link_check import edition_link_warnings
from flows.settings import ConfigError, parse_config
from flows.stages.edition import build_next_edition
from state.edition_edits import edit_edition
from state.editions import issue_number
from state.items import store_report, sync_sources
from state.models import EditionRow, EditionStatus
from tests.helpers import desk_data

NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)  # Thursday, after the 10:00 send: the next send is 3 December


def _more_items(db, config: Config, *, now: datetime, tag: str) -> None:
    source = config.sources[0]
    with db.session() as session:
        rows = sync_sources(session, config.sources)
        items = tuple(Item(url=f"https://www.socitm.net/{source.section}/{tag}-{n}", title=f"Later story {tag} {n}",
                           section=source.section, source=source.name, summary_text="More.", summary_html="<p>More.</p>",
                           published=now - timedelta(minutes=10 + n), image_url=None) for n in range(3))
        store_report(session, rows[source.name], FetchReport(source=source.name, items=items, status=200), now=now)


def _send(db, edition_id: int) -> None:
    with db.session() as session:
        session.get(EditionRow, edition_id).status = EditionStatus.SENT


def test_two_editions_built_and_sent_the_same_day_have_different_subjects(db, tmp_path):
    config = desk_data.example_config(tmp_path)
    first = desk_data.seed_edition(db, config, now=NOW)
    _send(db, first)  # sent early, by hand
    _more_items(db, config, now=NOW + timedelta(hours=2), tag="b")
    with db.session() as session:
        second = build_next_edition(session, config, now=NOW + timedelta(hours=2)).edition_id
    assert second is not None
    with db.session() as session:
        subjects = [session.get(EditionRow, ident).subject for ident in (first, second)]
    assert subjects == ["In Our View #1 · 3 December 2026", "In Our View #2 · 3 December 2026"]


def test_an_edit_keeps_the_issue_number(db, tmp_path):
    config = desk_data.example_config(tmp_path)
    first = desk_data.seed_edition(db, config, now=NOW)
    _send(db, first)
    _more_items(db, config, now=NOW + timedelta(hours=2), tag="c")
    with db.session() as session:
        second = build_next_edition(session, config, now=NOW + timedelta(hours=2)).edition_id
        assert issue_number(session, second) == 2 and issue_number(session) == 2
    desk_data.seed_staff(db, "ed@example.org", "editor", now=NOW)
    with db.session() as session:
        edit_edition(session, config, second, by="ed@example.org", now=NOW + timedelta(hours=3),
                     link_warnings=edition_link_warnings,
                     intro_markdown="A new intro.")
    with db.session() as session:
        assert session.get(EditionRow, second).subject.startswith("In Our View #2 · ")


def test_number_is_an_allowed_field_and_a_misspelt_one_is_refused(tmp_path):
    text = desk_data.EXAMPLE_CONFIG.read_text("utf-8")
    assert parse_config(text.replace('subject = "{title} #{number} · {date}"', 'subject = "No. {number}"'))
    with pytest.raises(ConfigError, match="numbr"):
        parse_config(text.replace('subject = "{title} #{number} · {date}"', 'subject = "No. {numbr}"'))


def test_when_every_new_item_is_left_out_the_build_names_them_and_says_what_to_fix(db, tmp_path):
    config = desk_data.example_config(tmp_path)
    source = config.sources[0]
    bad = {"Ftp story": "ftp://files.socitm.net/report.pdf",
           "Spaced story": "https://www.socitm.net/a report.pdf"}
    with db.session() as session:
        rows = sync_sources(session, config.sources)
        items = tuple(Item(url=url, title=title, section=source.section, source=source.name, summary_text="x",
                           summary_html="<p>x</p>", published=NOW - timedelta(hours=1), image_url=None)
                      for title, url in bad.items())
        store_report(session, rows[source.name], FetchReport(source=source.name, items=items, status=200), now=NOW,
                     include_backlog=True)
    with db.session() as session:
        result = build_next_edition(session, config, now=NOW)
    assert result.edition_id is None and not result.built
    assert "none of the 2 new items can go in an email" in result.reason and "fix the links" in result.reason
    assert "no new items" not in result.reason
    assert sorted(w.split(":")[0] for w in result.warnings) == ["left out 'Ftp story'", "left out 'Spaced story'"]
    assert any("is not an http(s) link" in w for w in result.warnings)
    assert any("holds spaces" in w for w in result.warnings)


def test_with_nothing_new_the_build_says_so(db, tmp_path):
    config = desk_data.example_config(tmp_path)
    with db.session() as session:
        result = build_next_edition(session, config, now=NOW)
    assert result.reason == "no new items since the last edition: nothing to send" and result.warnings == ()
