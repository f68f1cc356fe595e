"""The desk's pause switch: pause everything or one channel with a reason (approvers and admins),
resume (admins); the pauses in force and the latest ones. The rules are the ledger's (`state.pauses`).
Every desk page shows the pauses in force in a banner (`web.render.page`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import RedirectResponse, Response

from state import pauses
from state.errors import LedgerError, NotAllowed, NotStaff
from state.staff import Staff
from web.render import app_of, page
from web.security import Posted, need, posted

router = APIRouter()

_DONE = {"paused": "Paused: nothing goes out on it until an admin resumes it.",
         "already": "It was already paused: nothing changed.",
         "resumed": "Resumed: what was due goes out at the next run, going on where it stopped.",
         "nothing": "Nothing was paused: nothing changed."}


def _context(request: Request, **extra: Any) -> dict[str, Any]:
    app = app_of(request)
    with app.db.session() as session:
        history = [{"channel": pauses.label(row.channel), "reason": row.reason, "by": row.paused_by,
                    "at": row.paused_at, "resumed_by": row.resumed_by, "resumed_at": row.resumed_at}
                   for row in pauses.recent(session)]
    done = request.query_params.get("done", "")
    return {"channels": [(c, pauses.label(c)) for c in pauses.known_channels()], "history": history,
            "notice": _DONE.get(done), "max_reason": pauses.MAX_REASON, **extra}


@router.get("/desk/pause")
def pause_page(request: Request, staff: Staff = Depends(need("view"))) -> Response:
    return page(request, "pause.html", _context(request))


def _status(exc: LedgerError) -> int:
    return 403 if isinstance(exc, NotAllowed | NotStaff) else 400


def _channels(value: object) -> list[str]:
    channel = str(value or "").strip()
    return [] if channel in ("", pauses.ALL) else [channel]


@router.post("/desk/pause")
def pause(request: Request, post: Posted = Depends(posted("view"))) -> Response:
    """Pause everything or one channel (`syndicate pause`): approvers and admins (the ledger says who may)."""
    app = app_of(request)
    form = post.form
    try:
        with app.db.session() as session:
            result = pauses.pause(session, channels=_channels(form.get("channel")), reason=str(form.get("reason") or ""),
                                  by=post.staff.email, now=app.now())
    except LedgerError as exc:
        return page(request, "pause.html", _context(request, error=str(exc), reason=str(form.get("reason") or "")),
                    status=_status(exc))
    return RedirectResponse(f"/desk/pause?done={'paused' if result.started else 'already'}", status_code=303)


@router.post("/desk/resume")
def resume(request: Request, post: Posted = Depends(posted("view"))) -> Response:
    """Resume everything or one channel (`syndicate resume`): admins (the ledger says who may)."""
    app = app_of(request)
    try:
        with app.db.session() as session:
            result = pauses.resume(session, channels=_channels(post.form.get("channel")), by=post.staff.email,
                                   now=app.now())
    except LedgerError as exc:
        return page(request, "pause.html", _context(request, error=str(exc)), status=_status(exc))
    return RedirectResponse(f"/desk/pause?done={'resumed' if result.ended else 'nothing'}", status_code=303)
