"""The desk: what goes out next, what waits for approval, what was sent and what is broken; staff accounts."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Request
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from starlette.responses import RedirectResponse, Response

from state.deliveries import ambiguous_batches
from state.figures import many_figures
from state.items import release_backlog
from state.ledger import audit
from state.models import EditionRow, EditionStatus, ThreadRow, ThreadStatus
from state.staff import ROLES, Staff, StaffError, add_staff, list_staff, setup_link
from state.status_report import status_report
from web.render import app_of, page
from web.security import Posted, need, posted

router = APIRouter()


class DeskLimits:
    recent_sends = 5
    scheduled = 10


def _parsed(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@router.get("/desk")
def desk(request: Request, staff: Staff = Depends(need("view"))) -> Response:
    app = app_of(request)
    now = app.now()
    with app.db.session() as session:
        report = status_report(session, app.config, now=now)
        scheduled = session.scalars(
            select(EditionRow).where(EditionRow.status.in_([EditionStatus.DRAFT, EditionStatus.APPROVED,
                                                            EditionStatus.HELD, EditionStatus.SENDING]))
            .order_by(EditionRow.scheduled_for).limit(DeskLimits.scheduled)).all()
        # the page shows each thread's posts: read with them (one query for all), not one query a thread
        threads_waiting = session.scalars(select(ThreadRow).where(ThreadRow.status == ThreadStatus.DRAFT)
                                          .order_by(ThreadRow.id).options(selectinload(ThreadRow.posts))).all()
        threads_due = session.scalars(select(ThreadRow).where(ThreadRow.status == ThreadStatus.APPROVED)
                                      .order_by(ThreadRow.scheduled_for).limit(DeskLimits.scheduled)
                                      .options(selectinload(ThreadRow.posts))).all()
        sent = session.scalars(select(EditionRow).where(EditionRow.status == EditionStatus.SENT)
                               .order_by(EditionRow.sent_at.desc()).limit(DeskLimits.recent_sends)).all()
        figures = many_figures(session, [row.id for row in sent])  # two queries for them all, not two each
        recent = [(row, figures[row.id].as_dict()) for row in sent]
        ambiguous = ambiguous_batches(session)
        waiting_editions = [row for row in scheduled if row.status in (EditionStatus.DRAFT, EditionStatus.HELD)]
        context = {
            "scheduled": scheduled, "waiting_editions": waiting_editions,
            "threads_waiting": threads_waiting, "threads_due": threads_due, "recent": recent,
            "ambiguous": ambiguous, "failing_sources": [s for s in report["sources"] if s["consecutive_failures"]
                                and not s["retired"]],  # a retired source needs no attention
            "post_failures": [f for f in report["failures"] if str(f["kind"]).startswith("post-")],
            "next_edition": report["next_edition"], "subscribers": report["subscribers"],
            "next_build": _parsed(report["schedule"]["next_build"]),
            "now": now, "backlog": report["backlog"], "notice": _released_notice(request),
        }
        return page(request, "desk.html", context)


def _released_notice(request: Request) -> str | None:
    released = request.query_params.get("released", "")
    return f"{released} backlog item(s) released: the next edition may include them." if released.isdigit() else None


@router.post("/desk/backlog/release")
def backlog_release(request: Request, post: Posted = Depends(posted("approve"))) -> Response:
    """Let what sources' first gathers held back into the next edition (`syndicate backlog release`)."""
    app = app_of(request)
    with app.db.session() as session:
        released = release_backlog(session)
        audit(session, actor=post.staff.email, action="release-backlog", kind="items", ident=None, now=app.now(),
              released=released)
    return RedirectResponse(f"/desk?released={released}", status_code=303)


@router.get("/desk/staff")
def staff_page(request: Request, staff: Staff = Depends(need("admin"))) -> Response:
    app = app_of(request)
    with app.db.session() as session:
        return page(request, "staff.html", {"members": list_staff(session), "roles": ROLES, "link": None,
                                            "error": None})


@router.post("/desk/staff")
def staff_add(request: Request, post: Posted = Depends(posted("admin"))) -> Response:
    app = app_of(request)
    email, role = str(post.form.get("email") or ""), str(post.form.get("role") or "")
    link, error = None, None
    with app.db.session() as session:
        try:
            _, token = add_staff(session, email, role, now=app.now(), by=post.staff.email)
            link = setup_link(app.public_url, token)
        except StaffError as exc:
            error = str(exc)
    with app.db.session() as session:
        return page(request, "staff.html", {"members": list_staff(session), "roles": ROLES, "link": link,
                                            "new_email": email, "error": error}, status=400 if error else 200)
