"""Overriding quiet time from the desk: an admin lets one edition or thread go out inside quiet
time at the time it was due, with a reason (CSRF-checked form; audited by `state.quiet.override`).
What quiet time did is shown on the edition page and the threads page (`quiet_note.html`)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import RedirectResponse, Response

from compose.calendar import QuietCalendar
from state import ledger, quiet
from web.edition_pages import _get as get_edition
from web.edition_pages import _show_error as edition_error
from web.render import app_of
from web.security import Posted, posted
from web.threads import _error as threads_error
from web.threads import _thread as get_thread

router = APIRouter()


@router.post("/desk/editions/{edition_id}/override-quiet")
def edition_override_quiet(request: Request, edition_id: int, post: Posted = Depends(posted("admin"))) -> Response:
    """Let the edition go out inside quiet time at the time it was due."""
    app = app_of(request)
    try:
        with app.db.session() as session:
            get_edition(session, edition_id)
            quiet.override(session, QuietCalendar.from_config(app.config), "edition", edition_id,
                           by=post.staff.email, reason=str(post.form.get("reason") or ""), now=app.now())
    except ledger.LedgerError as exc:
        return edition_error(request, edition_id, str(exc))
    return RedirectResponse(f"/desk/editions/{edition_id}?done=quiet-overridden", status_code=303)


@router.post("/desk/threads/{thread_id}/override-quiet")
def thread_override_quiet(request: Request, thread_id: int, post: Posted = Depends(posted("admin"))) -> Response:
    """Let the thread go out inside its network's quiet time at the time it was due."""
    app = app_of(request)
    try:
        with app.db.session() as session:
            get_thread(session, thread_id)
            quiet.override(session, QuietCalendar.from_config(app.config), "thread", thread_id,
                           by=post.staff.email, reason=str(post.form.get("reason") or ""), now=app.now())
    except ledger.LedgerError as exc:
        return threads_error(request, str(exc))
    return RedirectResponse(f"/desk/threads?done=quiet-overridden#thread-{thread_id}", status_code=303)
