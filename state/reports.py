"""The figures the reports show, read from the ledger: one edition's, and the trend across editions.

Figures are read only through `state.figures` (the per-edition rollup of deliveries and provider
events) and clicks only through `state.clicks`; this module adds nothing to either, it puts them
together for `compose.reports` (the desk's pages, `syndicate report` and the weekly note).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from compose.config import Config
from compose.reports import (
    EditionReport,
    EditionTrend,
    ItemClicksLine,
    Trend,
    edition_report,
    list_weeks,
)
from state.clicks import click_counts
from state.errors import NotFound
from state.figures import edition_figures, list_size_history, many_figures
from state.models import ClickRow, EditionRow, EditionStatus


class TrendSpan:
    """How far back the trend looks."""

    weeks = 12  # list size, week by week
    editions = 12  # the last editions sent


def report_for(session: Session, edition_id: int, config: Config) -> EditionReport:
    """One edition's report: its delivery figures and its clicks per item and per section."""
    row = session.get(EditionRow, edition_id)
    if row is None:
        raise NotFound(f"there is no edition {edition_id}: `syndicate status` lists the editions")
    return _report(session, row, config)


def _report(session: Session, row: EditionRow, config: Config) -> EditionReport:
    items = [ItemClicksLine(title=c.title, url=c.url, section=c.section, clicks=c.clicks, readers=c.readers)
             for c in click_counts(session, row.id)]
    order = list(dict.fromkeys(entry.section for entry in row.items))
    titles = {section.key: section.title for section in config.sections}
    return edition_report(edition_id=row.id, subject=row.subject, slug=row.slug, status=str(row.status),
                          sent_at=row.sent_at, figures=edition_figures(session, row.id), items=items,
                          section_titles=titles, section_order=order)


def sent_between(session: Session, start: datetime, end: datetime, config: Config) -> list[EditionReport]:
    """Reports of the editions sent in [start, end), in the order they were sent."""
    rows = session.scalars(select(EditionRow).where(EditionRow.sent_at >= start, EditionRow.sent_at < end)
                           .order_by(EditionRow.sent_at, EditionRow.id)).all()
    return [_report(session, row, config) for row in rows]


def trend_for(session: Session, *, now: datetime, weeks: int = TrendSpan.weeks,
              editions: int = TrendSpan.editions) -> Trend:
    """The list week by week up to `now`, and the last `editions` sent editions (oldest first)."""
    history = list_size_history(session, until=now, weeks=weeks)
    rows = list(session.scalars(select(EditionRow).where(
        EditionRow.status.in_((EditionStatus.SENT, EditionStatus.SENDING)), EditionRow.sent_at.is_not(None),
        EditionRow.sent_at <= now + timedelta(seconds=1))
        .order_by(EditionRow.sent_at.desc(), EditionRow.id.desc()).limit(editions)).all())
    ids = [row.id for row in rows]
    figures = many_figures(session, ids)  # two queries for all the editions, and one for their clicks
    clicks = {edition: int(total) for edition, total in session.execute(
        select(ClickRow.edition_id, func.sum(ClickRow.clicks)).where(ClickRow.edition_id.in_(ids))
        .group_by(ClickRow.edition_id))}
    points = []
    for row in reversed(rows):
        points.append(EditionTrend(edition_id=row.id, slug=row.slug, subject=row.subject, sent_at=row.sent_at,
                                   figures=figures[row.id], clicks=clicks.get(row.id, 0)))
    return Trend(weeks=list_weeks(history), editions=tuple(points))
