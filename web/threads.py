"""Posts and threads: each post with its length as its network counts it, edits (which void the
approval), approve / reject, and what a thread costs on X."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from sqlalchemy import select
from starlette.responses import JSONResponse, RedirectResponse, Response

from compose.models import Post, Thread
from compose.posts import RULES_BY_NETWORK, estimate_x_cost, rules_for, weighted_length
from flows.stages.publish import thread_hash
from state import ledger
from state.models import PostStatus, ThreadRow, ThreadStatus
from state.staff import Staff
from web.edition_pages import two_person_rule
from web.render import app_of, page
from web.security import Posted, need, posted

router = APIRouter()

EDITABLE = (ThreadStatus.DRAFT, ThreadStatus.REJECTED, ThreadStatus.APPROVED)
SHOWN = (ThreadStatus.DRAFT, ThreadStatus.REJECTED, ThreadStatus.APPROVED, ThreadStatus.FAILED,
         ThreadStatus.PUBLISHING)
NOTICES = {"edited": "Saved. The posts changed, so any earlier approval no longer applies.",
           "unchanged": "Saved: the posts did not change.", "approved": "Approved.", "rejected": "Rejected."}


class CountLimits:
    max_text = 10_000  # the live counter refuses longer texts


def _view(thread: ThreadRow, config: Any, session: Any) -> dict[str, Any]:
    rules = rules_for(thread.network, config) if thread.network in RULES_BY_NETWORK else None
    posts = []
    for post in thread.posts:
        length = weighted_length(post.text, rules) if rules else len(post.text)
        posts.append({"row": post, "length": length, "max": rules.max_length if rules else None,
                      "over": bool(rules and length > rules.max_length)})
    cost = None
    if thread.network == "x":
        cost = estimate_x_cost(Thread(network="x", key=thread.key,
                                      posts=tuple(Post(text=p.text, position=p.position) for p in thread.posts)))
    approval = ledger.latest_approval(session, "thread", thread.id)
    current = approval is not None and approval.decision == "approved" and approval.content_hash == thread.content_hash
    return {"thread": thread, "posts": posts, "cost": cost, "approval": approval, "approval_current": current,
            "editable": thread.status in EDITABLE and all(p.status == PostStatus.PENDING for p in thread.posts)}


@router.get("/desk/threads")
def threads_page(request: Request, staff: Staff = Depends(need("view"))) -> Response:
    app = app_of(request)
    notice = NOTICES.get(request.query_params.get("done", ""))
    with app.db.session() as session:
        rows = session.scalars(select(ThreadRow).where(ThreadRow.status.in_(SHOWN))
                               .order_by(ThreadRow.scheduled_for, ThreadRow.id)).all()
        views = [_view(row, app.config, session) for row in rows]
        return page(request, "threads.html", {"threads": views, "notice": notice,
                                              "error": request.query_params.get("error_id")})


@router.get("/desk/api/count")
def count(request: Request, network: str, text: str = "", staff: Staff = Depends(need("view"))) -> Response:
    """The length of `text` as `network` counts it (the live counter under each post)."""
    if network not in RULES_BY_NETWORK:
        return JSONResponse({"error": f"unknown network {network!r}"}, status_code=400)
    if len(text) > CountLimits.max_text:
        return JSONResponse({"error": "text too long to count"}, status_code=400)
    rules = rules_for(network, app_of(request).config)
    length = weighted_length(text, rules)
    return JSONResponse({"network": network, "length": length, "max": rules.max_length,
                         "over": length > rules.max_length})


def _thread(session: Any, thread_id: int) -> ThreadRow:
    row = session.get(ThreadRow, thread_id)
    if row is None:
        raise HTTPException(404, f"There is no thread {thread_id}.")
    return row


def _error(request: Request, message: str, status: int = 409) -> Response:
    app = app_of(request)
    with app.db.session() as session:
        rows = session.scalars(select(ThreadRow).where(ThreadRow.status.in_(SHOWN))
                               .order_by(ThreadRow.scheduled_for, ThreadRow.id)).all()
        views = [_view(row, app.config, session) for row in rows]
        return page(request, "threads.html", {"threads": views, "notice": None, "error": message}, status=status)


@router.post("/desk/threads/{thread_id}/edit")
def thread_edit(request: Request, thread_id: int, post: Posted = Depends(posted("edit"))) -> Response:
    """Replace the texts of the posts; the thread's content hash changes and its approval is voided."""
    app = app_of(request)
    try:
        with app.db.session() as session:
            row = _thread(session, thread_id)
            if row.status not in EDITABLE or any(p.status != PostStatus.PENDING for p in row.posts):
                return _error(request, f"thread {row.id} is {row.status}: its posts can no longer change")
            texts = []
            for p in row.posts:
                text = str(post.form.get(f"post-{p.id}", p.text)).replace("\r\n", "\n").strip()
                if not text:
                    return _error(request, "a post cannot be empty: reject the thread instead", 400)
                texts.append(text)
            new_hash = thread_hash(texts)
            changed = new_hash != row.content_hash
            if changed:
                ledger.change_content(session, row, content_hash=new_hash, by=post.staff.email, now=app.now())
                for p, text in zip(row.posts, texts, strict=True):
                    p.text = text
    except ledger.LedgerError as exc:
        return _error(request, str(exc))
    return RedirectResponse(f"/desk/threads?done={'edited' if changed else 'unchanged'}#thread-{thread_id}",
                            status_code=303)


@router.post("/desk/threads/{thread_id}/approve")
def thread_approve(request: Request, thread_id: int, post: Posted = Depends(posted("approve"))) -> Response:
    app = app_of(request)
    try:
        with app.db.session() as session:
            _thread(session, thread_id)
            note = str(post.form.get("note") or "").strip() or None
            ledger.approve(session, "thread", thread_id, by=post.staff.email, now=app.now(), note=note,
                           two_person_rule=two_person_rule(app.config))
    except ledger.TwoPersonRule as exc:
        return _error(request, str(exc), 403)
    except ledger.LedgerError as exc:
        return _error(request, str(exc))
    return RedirectResponse(f"/desk/threads?done=approved#thread-{thread_id}", status_code=303)


@router.post("/desk/threads/{thread_id}/reject")
def thread_reject(request: Request, thread_id: int, post: Posted = Depends(posted("approve"))) -> Response:
    app = app_of(request)
    try:
        with app.db.session() as session:
            _thread(session, thread_id)
            ledger.reject(session, "thread", thread_id, by=post.staff.email, note=str(post.form.get("note") or ""),
                          now=app.now())
    except ledger.LedgerError as exc:
        return _error(request, str(exc))
    return RedirectResponse(f"/desk/threads?done=rejected#thread-{thread_id}", status_code=303)
