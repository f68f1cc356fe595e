"""The record: history of editions and threads (who got what, what failed), subscribers, the audit log."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from email_validator import EmailNotValidError
from fastapi import APIRouter, Depends, Request
from sqlalchemy import Select, func, select
from starlette.responses import RedirectResponse, Response, StreamingResponse

from compose.config import retired
from compose.subscribers import normalise_email
from state import ledger
from state.deliveries import ambiguous_batches, batch_counts, edition_figures, resolve_ambiguous
from state.models import (
    AuditRow,
    DeliveryBatchRow,
    DeliveryRow,
    EditionRow,
    SourceRow,
    SubscriberRow,
    SubscriberStatus,
    ThreadRow,
)
from state.staff import Staff
from state.subscribers import counts_by_status, unsubscribe
from web.render import app_of, page
from web.security import Posted, need, posted

router = APIRouter()


class PageSize:
    editions = 20
    deliveries = 50
    subscribers = 50
    audit = 50
    threads = 30


MAX_PAGE = 1_000_000  # page numbers from the URL beyond this are refused (400), never passed to the database


def _page_number(request: Request, name: str = "page") -> int:
    raw = request.query_params.get(name, "1").strip()
    if len(raw) > 9 or (raw.isascii() and raw.isdigit() and int(raw) > MAX_PAGE):
        from fastapi import HTTPException

        raise HTTPException(400, f"the page number {raw[:20]!r} is out of range: use 1 to {MAX_PAGE:,}")
    return max(1, int(raw)) if raw.isascii() and raw.isdigit() else 1


@router.get("/desk/history")
def history(request: Request, staff: Staff = Depends(need("view"))) -> Response:
    app = app_of(request)
    number = _page_number(request)
    with app.db.session() as session:
        editions = session.scalars(select(EditionRow).order_by(EditionRow.id.desc())
                                   .limit(PageSize.editions).offset((number - 1) * PageSize.editions)).all()
        total = session.scalar(select(func.count()).select_from(EditionRow)) or 0
        rows = [(row, edition_figures(session, row.id)) for row in editions]
        threads = session.scalars(select(ThreadRow).order_by(ThreadRow.id.desc()).limit(PageSize.threads)).all()
        return page(request, "history.html", {
            "editions": rows, "page": number, "pages": max(1, -(-total // PageSize.editions)), "threads": threads,
            "ambiguous": ambiguous_batches(session), "notice": request.query_params.get("done")})


@router.get("/desk/history/editions/{edition_id}")
def edition_deliveries(request: Request, edition_id: int, staff: Staff = Depends(need("view"))) -> Response:
    """What went to whom for one edition, page by page, with each failure and its reason."""
    app = app_of(request)
    number = _page_number(request)
    status = request.query_params.get("status") or None
    with app.db.session() as session:
        edition = session.get(EditionRow, edition_id)
        if edition is None:
            from fastapi import HTTPException

            raise HTTPException(404, f"There is no edition {edition_id}.")
        query = (select(DeliveryRow, SubscriberRow.email).join(SubscriberRow, SubscriberRow.id == DeliveryRow.subscriber_id)
                 .where(DeliveryRow.edition_id == edition_id))
        counted = select(func.count()).select_from(DeliveryRow).where(DeliveryRow.edition_id == edition_id)
        if status:
            query, counted = query.where(DeliveryRow.status == status), counted.where(DeliveryRow.status == status)
        total = session.scalar(counted) or 0
        deliveries = session.execute(query.order_by(DeliveryRow.id).limit(PageSize.deliveries)
                                     .offset((number - 1) * PageSize.deliveries)).all()
        batches = session.scalars(select(DeliveryBatchRow).where(DeliveryBatchRow.edition_id == edition_id)
                                  .order_by(DeliveryBatchRow.id)).all()
        return page(request, "deliveries.html", {
            "edition": edition, "deliveries": deliveries, "batches": batches, "status": status or "",
            "figures": edition_figures(session, edition_id), "batch_counts": batch_counts(session, edition_id),
            "page": number, "pages": max(1, -(-total // PageSize.deliveries))})


@router.post("/desk/batches/{batch_id}/resolve")
def resolve_batch(request: Request, batch_id: int, post: Posted = Depends(posted("approve"))) -> Response:
    """Staff decision on an ambiguous batch after checking the provider: resend it, or mark it sent."""
    app = app_of(request)
    action = str(post.form.get("action") or "")
    try:
        with app.db.session() as session:
            resolve_ambiguous(session, batch_id, action=action, by=post.staff.email, now=app.now())
    except ledger.LedgerError as exc:
        from web.render import message

        return message(request, "Could not resolve the batch", str(exc), status=409, link=("/desk/history", "History"))
    return RedirectResponse(f"/desk/history?done={'resent' if action == 'resend' else 'marked-sent'}", status_code=303)


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
    number = _page_number(request)
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


@router.get("/desk/subscribers.csv")
def export_subscribers(request: Request, staff: Staff = Depends(need("admin"))) -> Response:
    """Every subscriber matching the search, as CSV (email, name, status, consent, dates)."""
    app = app_of(request)
    query, _, _ = _subscriber_query(request)
    with app.db.session() as session:
        rows = session.scalars(query.order_by(SubscriberRow.id)).all()
        ledger.audit(session, actor=staff.email, action="subscribers.export", kind="subscribers", ident=None,
                     now=app.now(), rows=len(rows))

    def lines() -> Iterator[str]:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["email", "name", "status", "consent_source", "consent_at", "confirmed_at", "status_reason"])
        for row in rows:
            writer.writerow([_cell(row.email), _cell(row.name), row.status, _cell(row.consent_source),
                             row.consent_at.isoformat() if row.consent_at else "",
                             row.confirmed_at.isoformat() if row.confirmed_at else "", _cell(row.status_reason or "")])
        yield out.getvalue()

    return StreamingResponse(lines(), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": 'attachment; filename="subscribers.csv"'})


def _cell(value: str) -> str:
    """No spreadsheet formula injection: a cell starting with = + - @ is quoted with an apostrophe."""
    return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


@router.get("/desk/audit")
def audit_log(request: Request, staff: Staff = Depends(need("view"))) -> Response:
    app = app_of(request)
    number = _page_number(request)
    kind = request.query_params.get("kind") or ""
    query = select(AuditRow)
    if kind:
        query = query.where(AuditRow.subject_kind == kind)
    with app.db.session() as session:
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = session.scalars(query.order_by(AuditRow.id.desc()).limit(PageSize.audit)
                               .offset((number - 1) * PageSize.audit)).all()
        kinds = session.scalars(select(AuditRow.subject_kind).distinct().order_by(AuditRow.subject_kind)).all()
        return page(request, "audit.html", {"rows": rows, "kind": kind, "kinds": kinds, "page": number,
                                            "pages": max(1, -(-total // PageSize.audit))})


@router.get("/desk/sources")
def sources(request: Request, staff: Staff = Depends(need("view"))) -> Response:
    """Every source with its health; a source no longer in syndicate.toml is shown as retired."""
    app = app_of(request)
    configured = {source.name for source in app.config.sources}
    with app.db.session() as session:
        rows = session.scalars(select(SourceRow).order_by(SourceRow.name)).all()
        health = [{"row": row, "retired": retired(row.name, app.config), "name": row.name,
                   "last_error": row.last_error, "hint": row.last_error_hint,
                   "consecutive_failures": row.consecutive_failures} for row in rows]
        never = sorted(configured - {row.name for row in rows})
        health.sort(key=lambda s: (s["retired"], not s["consecutive_failures"], s["name"]))
        return page(request, "sources.html", {"sources": health, "never": never})
