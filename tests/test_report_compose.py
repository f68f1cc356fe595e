"""The pure parts of the reports and the weekly note: rates, clicks per section, the most clicked
items, and the note's text and HTML (titles from feeds are escaped, times in the zone)."""

from __future__ import annotations

import html
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from compose.figures import EditionFigures
from compose.reports import ItemClicksLine, edition_report, list_weeks, per, percent
from compose.weekly_note import (
    PostsSent,
    SourceTrouble,
    Waiting,
    WeeklyNoteData,
    compose_weekly_note,
    week_label,
)

LONDON = ZoneInfo("Europe/London")
SENT = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
TITLES = {"news": "News", "blogs": "Blogs", "publications": "Publications"}


def _report(items: list[ItemClicksLine], **figures: int):  # type: ignore[no-untyped-def]
    return edition_report(edition_id=7, subject="In Our View #7", slug="2026-12-03", status="sent", sent_at=SENT,
                          figures=EditionFigures(7, **figures), items=items, section_titles=TITLES,
                          section_order=["news", "blogs", "publications"])


ITEMS = [ItemClicksLine("Councils join the compact", "https://s.example/1", "news", 12),
         ItemClicksLine("AI in public services", "https://s.example/2", "news", 3),
         ItemClicksLine("Designing with residents", "https://s.example/3", "blogs", 12),
         ItemClicksLine("Digital inclusion briefing", "https://s.example/4", "publications", 0),
         ItemClicksLine("Read it on the web", "https://s.example/archive", None, 2)]


def test_rates_follow_the_figures_definitions_and_say_nothing_when_there_is_nothing_to_divide() -> None:
    report = _report(ITEMS, recipients=2000, accepted=1990, delivered=1980, bounced=10, complaints=3, unsubscribes=8)
    f = report.figures
    assert f.bounce_rate == 10 / 1990 and f.complaint_rate == 3 / 1980 and f.unsubscribe_rate == 8 / 1980
    assert report.clicks == 29 and report.click_rate == 29 / 1980
    nothing_delivered = EditionFigures(7, recipients=5, accepted=5, complaints=1)
    assert nothing_delivered.complaint_rate == 1 / 5  # over accepted while no delivery is reported yet
    assert EditionFigures(7).complaint_rate == 0.0 and per(0, 0) is None  # no messages: no rate to show
    assert percent(None) == "–" and percent(3 / 1980, digits=2) == "0.15%" and percent(1 / 100_000) == "0.001%"


def test_clicks_add_up_per_section_in_the_edition_order_with_other_links_last() -> None:
    sections = _report(ITEMS, delivered=100).sections
    assert [(s.key, s.title, s.items, s.clicks) for s in sections] == [
        ("news", "News", 2, 15), ("blogs", "Blogs", 1, 12), ("publications", "Publications", 1, 0),
        ("", "Other links", 0, 2)]


def test_the_most_clicked_items_ties_keep_the_edition_order_and_unclicked_ones_are_left_out() -> None:
    top = _report(ITEMS, delivered=100).top_items(5)
    assert [line.title for line in top] == ["Councils join the compact", "Designing with residents",
                                            "AI in public services", "Read it on the web"]


def test_list_weeks_give_each_week_its_growth() -> None:
    weeks = list_weeks([(date(2026, 11, 15), 100), (date(2026, 11, 22), 104), (date(2026, 11, 29), 101)])
    assert [(w.size, w.growth) for w in weeks] == [(100, None), (104, 4), (101, -3)]


def _data(**extra: object) -> WeeklyNoteData:
    values: dict[str, object] = {"week_start": date(2026, 11, 30), "start": datetime(2026, 11, 30, tzinfo=UTC),
                                 "end": datetime(2026, 12, 7, tzinfo=UTC)}
    values.update(extra)
    return WeeklyNoteData(**values)  # type: ignore[arg-type]


def test_the_note_says_what_went_out_how_it_did_what_failed_and_what_waits() -> None:
    report = _report(ITEMS, recipients=2000, accepted=1990, delivered=1980, bounced=10, complaints=3, unsubscribes=8)
    data = _data(editions=(report,), posts=(PostsSent("x", 4, 6),),
                 sources=(SourceTrouble("Socitm blogs", 3, "HTTP 503", "the site is down: try later", None),),
                 waiting=(Waiting("Edition 8 (In Our View #8) waits for approval", "/desk/editions/8"),))
    note = compose_weekly_note(data, zone=LONDON, desk_url="https://desk.example", title="In Our View",
                               organisation="Socitm")
    assert note.subject == "In Our View: the week of 30 Nov – 6 Dec 2026"
    text = note.text
    assert "In Our View #7 (sent Thu 3 Dec, 10:00 GMT)" in text
    assert "2000 recipients, 1980 delivered, 10 bounced (0.5%), 3 complaints (0.15%), 8 unsubscribed, 29 clicks" in text
    assert "Most clicked: Councils join the compact (12); Designing with residents (12); AI in public services (3)" in text
    assert "x: 4 thread(s), 6 post(s) published" in text
    assert "Socitm blogs: failed 3 time(s) in a row: HTTP 503 (hint: the site is down: try later)" in text
    assert "- Edition 8 (In Our View #8) waits for approval: https://desk.example/desk/editions/8" in text
    assert '<a href="https://desk.example/desk/editions/8">Edition 8 (In Our View #8) waits for approval</a>' in note.html
    assert "<td" in note.html and "Councils join the compact (12)" in note.html
    assert all(len(line) <= 200 for line in text.splitlines())


def test_a_quiet_week_says_so_rather_than_showing_empty_sections() -> None:
    note = compose_weekly_note(_data(), zone=LONDON, desk_url="https://desk.example", title="In Our View",
                               organisation="Socitm")
    for said in ("Nothing went out this week.", "Every source was gathered without a failure.", "Nothing is waiting."):
        assert said in note.text and said in note.html


def test_week_labels_across_a_year_end() -> None:
    assert week_label(date(2026, 12, 28)) == "28 Dec 2026 – 3 Jan 2027"


@given(st.text(min_size=1, max_size=60))
def test_titles_from_feeds_are_escaped_in_the_html(title: str) -> None:
    report = _report([ItemClicksLine(title, "https://s.example/x", "news", 5)], delivered=10)
    note = compose_weekly_note(_data(editions=(report,), waiting=(Waiting(title, "/desk"),)), zone=LONDON,
                               desk_url="https://desk.example", title="In Our View", organisation="Socitm")
    assert "<script" not in note.html.lower().replace("&lt;script", "")
    assert html.escape(title, quote=False) in note.html.replace("&#39;", "'").replace("&#34;", '"')
