"""The desk's record of what happened: editions sent and who got them, ambiguous batches to resolve,
the audit log of every change, and the health of every source."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload
from starlette.responses import RedirectResponse, Response

from compose.config import retired
from state import ledger
from state.deliveries import ambiguous_batches, batch_counts, edition_figures, resolve_ambiguous
from state.figures import many_figures
from state.models import (
    AuditRow,
    DeliveryBatchRow,
    DeliveryRow,
    EditionRow,
    SourceRow,
    SubscriberRow,
    ThreadRow,
)
from state.staff import Staff
from web.paging import PageSize, page_number
from web.render import app_of, page
from web.security import Posted, need, posted

router = APIRouter()


@router.get("/desk/history")
def history(request: Request, staff: Staff = Depends(need("view"))) -> Response:
    app = app_of(request)
    number = page_number(request)
    with app.db.session() as session:
        editions = session.scalars(select(EditionRow).order_by(EditionRow.id.desc())
                                   .limit(PageSize.editions).offset((number - 1) * PageSize.editions)).all()
        total = session.scalar(select(func.count()).select_from(EditionRow)) or 0
        figures = many_figures(session, [row.id for row in editions])  # two queries for the page, not two an edition
        rows = [(row, figures[row.id].as_dict()) for row in editions]
        threads = session.scalars(select(ThreadRow).order_by(ThreadRow.id.desc()).limit(PageSize.threads)
                                  .options(selectinload(ThreadRow.posts))).all()  # their posts in one query
        return page(request, "history.html", {
            "editions": rows, "page": number, "pages": max(1, -(-total // PageSize.editions)), "threads": threads,
            "ambiguous": ambiguous_batches(session), "notice": request.query_params.get("done")})


@router.get("/desk/history/editions/{edition_id}")
def edition_deliveries(request: Request, edition_id: int, staff: Staff = Depends(need("view"))) -> Response:
    """What went to whom for one edition, page by page, with each failure and its reason."""
    app = app_of(request)
    number = page_number(request)
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


@router.get("/desk/audit")
def audit_log(request: Request, staff: Staff = Depends(need("view"))) -> Response:
    app = app_of(request)
    number = page_number(request)
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
