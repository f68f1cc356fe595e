"""The desk's subscriber pages: the list with its counts and search, suppressing an address, and the
CSV export (cells that a spreadsheet would run as formulas are quoted)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from email_validator import EmailNotValidError
from fastapi import APIRouter, Depends, Request
from sqlalchemy import Select, func, select
from starlette.responses import RedirectResponse, Response, StreamingResponse

from compose.subscribers import normalise_email
from state import ledger
from state.models import (
    SubscriberRow,
    SubscriberStatus,
)
from state.staff import Staff
from state.subscribers import counts_by_status, unsubscribe
from web.paging import PageSize, page_number
from web.render import app_of, page
from web.security import Posted, need, posted

router = APIRouter()


def _subscriber_query(request: Request) -> tuple[Select[SubscriberRow], str, str]:
    query = select(SubscriberRow)
    search = (request.query_params.get("q") or "").strip()
    status = request.query_params.get("status") or ""
    if search:
        like = f"%{search.lower()}%"
        query = query.where(func.lower(SubscriberRow.email).like(like) | func.lower(SubscriberRow.name).like(like))
    if status in {str(s) for s in SubscriberStatus}:
        query = query.where(SubscriberRow.status == status)
    return query, search, status


SUBSCRIBER_NOTICES = {
    "suppressed": "Suppressed: nothing more will be sent to that address.",
    "imported": "Imported: {added} added, {activated} activated, {unchanged} already subscribed.",
    "added": "{who} is subscribed.",
    "known": "{who} was already in the list: nothing changed.",
    "unsubscribed": "{who} is unsubscribed: nothing more will be sent to that address.",
    "reinstated": "{who}: the suppression is lifted. Nothing is sent until they sign up again and confirm from "
                  "their inbox.",
}


def _subscriber_notice(request: Request) -> str | None:
    template = SUBSCRIBER_NOTICES.get(request.query_params.get("done") or "")
    if template is None:
        return None
    values = {key: request.query_params.get(key, "") for key in ("who", "added", "activated", "unchanged")}
    # a link can put anything in the query: only numbers and an email address are shown
    numbers_ok = all(values[key].isdigit() for key in ("added", "activated", "unchanged") if f"{{{key}}}" in template)
    try:
        who_ok = "{who}" not in template or bool(normalise_email(values["who"]))
    except EmailNotValidError:
        who_ok = False
    return template.format(**values) if numbers_ok and who_ok else None


@router.get("/desk/subscribers")
def subscribers(request: Request, staff: Staff = Depends(need("admin"))) -> Response:
    """Every subscriber's address: the same role as the CSV export (admin)."""
    return subscribers_page(request)


def subscribers_page(request: Request, *, error: str | None = None, code: int = 200) -> Response:
    """The subscribers page (also shown, with `error`, when a desk change was refused)."""
    app = app_of(request)
    number = page_number(request)
    query, search, status = _subscriber_query(request)
    with app.db.session() as session:
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = session.scalars(query.order_by(SubscriberRow.id).limit(PageSize.subscribers)
                               .offset((number - 1) * PageSize.subscribers)).all()
        return page(request, "subscribers.html", {
            "counts": counts_by_status(session), "rows": rows, "q": search, "status": status, "total": total,
            "statuses": [str(s) for s in SubscriberStatus], "page": number,
            "pages": max(1, -(-total // PageSize.subscribers)), "done": _subscriber_notice(request),
            "error": error}, status=code)


@router.post("/desk/subscribers/{subscriber_id}/suppress")
def suppress_subscriber(request: Request, subscriber_id: int, post: Posted = Depends(posted("admin"))) -> Response:
    """Stop all sends to this subscriber at once (as if they had unsubscribed), with who did it."""
    app = app_of(request)
    now = app.now()
    try:
        with app.db.session() as session:
            row = unsubscribe(session, subscriber_id, reason=f"suppressed by staff ({post.staff.email})", now=now)
            ledger.audit(session, actor=post.staff.email, action="subscriber.suppress", kind="subscriber",
                         ident=row.id, now=now)
    except ledger.NotFound as exc:
        from web.render import message

        return message(request, "No such subscriber", str(exc), status=404)
    return RedirectResponse("/desk/subscribers?done=suppressed", status_code=303)


class ExportLimits:
    batch = 5_000  # subscribers read (and sent) at a time: memory stays flat whatever the list's size


@router.get("/desk/subscribers.csv")
def export_subscribers(request: Request, staff: Staff = Depends(need("admin"))) -> Response:
    """Every subscriber matching the search, as CSV (email, name, status, consent, dates), streamed in
    batches read by id (no whole list in memory, the first rows out at once)."""
    app = app_of(request)
    query, _, _ = _subscriber_query(request)
    with app.db.session() as session:
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        ledger.audit(session, actor=staff.email, action="subscribers.export", kind="subscribers", ident=None,
                     now=app.now(), rows=total)
    s = SubscriberRow
    columns = query.with_only_columns(s.id, s.email, s.name, s.status, s.consent_source, s.consent_at,
                                      s.confirmed_at, s.status_reason).order_by(s.id).limit(ExportLimits.batch)

    def lines() -> Iterator[str]:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["email", "name", "status", "consent_source", "consent_at", "confirmed_at", "status_reason"])
        last = 0
        while True:
            with app.db.session() as session:
                rows = session.connection().execute(columns.where(s.id > last)).all()
            for _, email, name, status, consent_source, consent_at, confirmed_at, status_reason in rows:
                writer.writerow([_cell(email), _cell(name), status, _cell(consent_source),
                                 consent_at.isoformat() if consent_at else "",
                                 confirmed_at.isoformat() if confirmed_at else "", _cell(status_reason or "")])
            yield out.getvalue()
            out.seek(0)
            out.truncate()
            if len(rows) < ExportLimits.batch:
                return
            last = rows[-1][0]

    return StreamingResponse(lines(), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": 'attachment; filename="subscribers.csv"'})


def _cell(value: str) -> str:
    """No spreadsheet formula injection: a cell starting with = + - @ is quoted with an apostrophe."""
    return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
