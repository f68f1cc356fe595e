"""The desk's reports: how an edition did, the trend across editions, and this week's note to staff.

`/desk/reports` is the trend (list size, growth, click-through, complaint rate) with every sent
edition linked to its report; `/desk/reports/editions/{id}` one edition's delivery and clicks per
item and per section. Each chart is an SVG image (`web.charts`) at
`.../charts/{name}.svg?size=wide|narrow`, with a table of the same figures beside it.
`/desk/weekly-note` shows the note for the week as it stands, who gets it and whether it went
(it is sent by the `weekly-note` deployment or `syndicate weekly-note send`, once per week).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from starlette.responses import Response

from compose.config import Config
from compose.reports import EditionReport, Trend, percent
from compose.weekly_note import compose_weekly_note
from state.errors import NotFound
from state.reports import report_for, trend_for
from state.staff import Staff
from state.weekly_note import gather_week, recipients, record_of
from web import charts
from web.render import app_of, page
from web.security import need

router = APIRouter()

EDITION_CHARTS: dict[str, tuple[str, Callable[..., str]]] = {
    "delivery": ("What happened to the messages", charts.delivery_chart),
    "items": ("Clicks per item", charts.item_clicks_chart),
    "sections": ("Clicks per section", charts.section_clicks_chart),
}
TREND_CHARTS = ("list-size", "growth", "click-rate", "complaint-rate")


def _size(request: Request) -> charts.Size:
    asked = request.query_params.get("size") or "wide"
    for size in charts.SIZES:
        if asked == size:
            return size
    raise HTTPException(400, "size must be wide or narrow")


def _svg(body: str) -> Response:
    return Response(body, media_type="image/svg+xml", headers={"Content-Security-Policy": charts.SVG_CSP})


def _edition_report(request: Request, edition_id: int) -> EditionReport:
    app = app_of(request)
    with app.db.session() as session:
        try:
            return report_for(session, edition_id, app.config)
        except NotFound:
            raise HTTPException(404, f"There is no edition {edition_id}.") from None


def _trend(request: Request) -> Trend:
    app = app_of(request)
    with app.db.session() as session:
        return trend_for(session, now=app.now())


def edition_alt(report: EditionReport) -> dict[str, str]:
    """What each chart of the edition shows, in words (its `alt` text)."""
    f = report.figures
    top = report.top_items(1)
    return {
        "delivery": (f"Bar chart of {f.recipients} messages: {f.delivered} delivered, {f.bounced} bounced, "
                     f"{f.dropped} dropped, {f.deferred} deferred, {f.complaints} complaints, "
                     f"{f.unsubscribes} unsubscribed, {f.failed} failed. The table below has the same figures."),
        "items": (f"Bar chart of clicks on each of {len([i for i in report.items if i.section])} items, "
                  f"{report.clicks} clicks in all" + (f"; most clicked: {top[0].title} ({top[0].clicks})" if top else "")
                  + ". The table below lists every item."),
        "sections": ("Bar chart of clicks per section: " + ", ".join(f"{s.title} {s.clicks}" for s in report.sections)
                     + ". The table below has the same figures."),
    }


def trend_alt(trend: Trend, config: Config) -> dict[str, str]:
    weeks, editions, guard = trend.weeks, trend.editions, config.reputation
    first, last = (weeks[0], weeks[-1]) if weeks else (None, None)
    sizes = (f"from {first.size} in the week to {first.week:%-d %b} to {last.size} in the week to {last.week:%-d %b}"
             if first and last else "no weeks yet")
    growth = sum(w.growth or 0 for w in weeks)
    return {
        "list-size": f"Line chart of active subscribers week by week, {sizes}. The table below has every week.",
        "growth": f"Bar chart of subscribers gained or lost each week: {growth:+d} over the weeks shown. "
                  "The table below has every week.",
        "click-rate": f"Bar chart of clicks per 100 delivered messages for the last {len(editions)} editions. "
                      "The table below has every edition.",
        "complaint-rate": (f"Line chart of the complaint rate of the last {len(editions)} editions, against the "
                           f"{guard.complaint_rate_warn * 100:g}% at which staff are warned and the "
                           f"{guard.complaint_rate_stop * 100:g}% at which email is paused ([reputation]). "
                           "The table below has every edition."),
    }


@router.get("/desk/reports")
def trend_page(request: Request, staff: Staff = Depends(need("view"))) -> Response:
    trend = _trend(request)
    return page(request, "reports.html", {"trend": trend, "alt": trend_alt(trend, app_of(request).config), "percent": percent,
                                          "charts": TREND_CHARTS, "zone": app_of(request).zone})


@router.get("/desk/reports/charts/{name}.svg")
def trend_chart(request: Request, name: str, staff: Staff = Depends(need("view"))) -> Response:
    size, trend, app = _size(request), _trend(request), app_of(request)
    config, zone = app.config, app.zone
    draw: dict[str, Callable[[], str]] = {
        "list-size": lambda: charts.list_size_chart(trend, config, size),
        "growth": lambda: charts.growth_chart(trend, config, size),
        "click-rate": lambda: charts.click_rate_chart(trend, config, zone, size),
        "complaint-rate": lambda: charts.complaint_rate_chart(trend, config, zone, size),
    }
    if name not in draw:
        raise HTTPException(404, f"There is no chart {name!r}.")
    return _svg(draw[name]())


@router.get("/desk/reports/editions/{edition_id}")
def edition_page(request: Request, edition_id: int, staff: Staff = Depends(need("view"))) -> Response:
    report = _edition_report(request, edition_id)
    return page(request, "report_edition.html", {"report": report, "alt": edition_alt(report), "percent": percent,
                                                 "charts": EDITION_CHARTS})


@router.get("/desk/reports/editions/{edition_id}/charts/{name}.svg")
def edition_chart(request: Request, edition_id: int, name: str, staff: Staff = Depends(need("view"))) -> Response:
    size = _size(request)
    if name not in EDITION_CHARTS:
        raise HTTPException(404, f"There is no chart {name!r}.")
    report = _edition_report(request, edition_id)
    return _svg(EDITION_CHARTS[name][1](report, app_of(request).config, size))


@router.get("/desk/weekly-note")
def weekly_note_page(request: Request, staff: Staff = Depends(need("view"))) -> Response:
    app = app_of(request)
    config = app.config
    with app.db.session() as session:
        data = gather_week(session, config, now=app.now())
        record = record_of(session, data.week_start)
        to = [r.email for r in recipients(session, config)]
        sent: dict[str, Any] | None = None
        if record is not None:
            sent = {"sent_at": record.sent_at, "error": record.error, "claimed_at": record.claimed_at,
                    "by": record.claimed_by, "recipients": list(record.recipients)}
    note = compose_weekly_note(data, zone=config.zone, desk_url=app.public_url, title=config.edition.title,
                               organisation=config.organisation.name)
    return page(request, "report_note.html", {"data": data, "note": note, "record": sent, "to": to,
                                              "settings": config.weekly_note, "percent": percent})
