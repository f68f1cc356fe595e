"""Posts and threads: each post with its length as its network counts it and, on X, what it costs;
edits (refused over the limit; they void the approval), a roundup's edition and whether it still
follows it, one-click rebuilds (and the cheaper link placement), approve / reject; each post as
its network will show it (web/post_previews.py), and the alt text of its image, without which the
thread is not approved."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from starlette.responses import JSONResponse, RedirectResponse, Response

from compose.calendar import QuietCalendar
from compose.post_length import RULES_BY_NETWORK, NetworkRules, rules_for, weighted_length
from compose.posts import x_post_cost
from compose.slots import parse_local
from connectors.channels.reach import loopback_warning
from state import ledger, quiet, slots
from state.models import EditionRow, ItemRow, ThreadRow, ThreadStatus
from state.post_media import content_hash_of, missing_alt, missing_alt_reason, set_image_alt
from state.staff import Staff
from state.threads import can_change, derived_texts, hand_edited, rebuild_roundup, write_posts
from web.edition_pages import two_person_rule
from web.post_previews import alt_limit, card_items, network_name, previews
from web.render import app_of, page
from web.security import APP_CSP, Posted, need, posted

router = APIRouter()

SHOWN = (ThreadStatus.DRAFT, ThreadStatus.REJECTED, ThreadStatus.APPROVED, ThreadStatus.FAILED,
         ThreadStatus.PUBLISHING)
NOTICES = {
    "edited": "Saved. The thread waits for approval by an approver who did not edit it.",
    "voided": "Saved. The posts changed, which voided the approval: it must be approved again "
              "(by an approver who did not edit it).",
    "unchanged": "Saved: the posts did not change.",
    "approved": "Approved: it goes out at its scheduled time.",
    "rejected": "Rejected, with your note.",
    "rebuilt": "Rebuilt from the edition. It needs approval again.",
    "rebuilt-unchanged": "Rebuilt from the edition: the posts were already up to date.",
    "moved": "Moved. It goes out at its new time; its approval stands (the time is not part of what was approved).",
    "quiet-overridden": "Quiet time overridden, with your reason: the thread goes out at the time it was due.",
    "alt-saved": "Alt text saved. The thread waits for approval by an approver who did not write it.",
    "alt-voided": "Alt text saved. It is part of what is approved, so the approval was voided: it must be "
                  "approved again (by an approver who did not write it).",
    "alt-unchanged": "Saved: the alt text did not change.",
}
# the desk shows each post's image and card as the network will: pictures come from the items' sites
THREADS_CSP = APP_CSP.replace("img-src 'self' data:", "img-src 'self' data: https: http:")
PLACEMENT_WORDS = {"every": "a link in every post", "first": "the link in the first post only",
                   "last": "the links in the last post only"}


class CountLimits:
    max_text = 10_000  # the live counter refuses longer texts


def measure(text: str, rules: NetworkRules) -> dict[str, Any]:
    """A post against every limit its network states: its length, and its UTF-8 size where the
    network has a byte limit (Bluesky: 3,000 bytes, which 300 emoji can pass); `why` says by how much."""
    length = weighted_length(text, rules)
    size = len(text.encode("utf-8", "surrogatepass"))
    problems = []
    if length > rules.max_length:
        problems.append(f"{length - rules.max_length:,} over")
    if rules.max_bytes is not None and size > rules.max_bytes:
        problems.append(f"{size:,} bytes, {size - rules.max_bytes:,} over the network's {rules.max_bytes:,}-byte limit")
    return {"length": length, "max": rules.max_length, "bytes": size, "max_bytes": rules.max_bytes,
            "over": bool(problems), "why": "; ".join(problems)}


def _cost(texts: list[str], pricing: Any) -> Decimal:
    return sum((x_post_cost(text, pricing) for text in texts), Decimal("0"))


class _PageReads:
    """What every thread of the page needs from the ledger, read for them all at once (a query or two
    each, however many threads the page shows): `_view` would otherwise ask for each thread."""

    def __init__(self, session: Any, rows: Sequence[ThreadRow], items: Mapping[int, ItemRow], *, staff: Staff,
                 now: Any, config: Any, calendar: QuietCalendar) -> None:
        ids = [row.id for row in rows]
        self.approvals = ledger.latest_approvals(session, "thread", ids)
        self.history = ledger.ApprovalHistory.of(session, "thread", ids)
        self.why_not = ledger.why_not_approve_many(session, "thread", [row for row in rows if can_change(row)],
                                                   by=staff.email, now=now, config=config, history=self.history,
                                                   two_person_rule=two_person_rule(config))
        self.quiet = quiet.quiet_notes(session, calendar, [row for row in rows if row.status in quiet.OPEN_THREADS])
        self.cards = card_items(session, rows, items)


def _view(thread: ThreadRow, config: Any, session: Any, reads: _PageReads) -> dict[str, Any]:
    rules = rules_for(thread.network, config) if thread.network in RULES_BY_NETWORK else None
    pricing = config.social.x_pricing
    posts = []
    for post in thread.posts:
        measured = measure(post.text, rules) if rules else {"length": len(post.text), "max": None, "over": False,
                                                             "why": ""}
        posts.append({"row": post, **measured,
                      "cost": x_post_cost(post.text, pricing) if thread.network == "x" else None})
    texts = [p.text for p in thread.posts]
    editable = can_change(thread)
    view: dict[str, Any] = {
        "thread": thread, "posts": posts, "editable": editable,
        "cost": _cost(texts, pricing) if thread.network == "x" else None, "pricing": pricing,
        "edition": session.get(EditionRow, thread.edition_id) if thread.edition_id else None,
        "item": session.get(ItemRow, thread.item_id) if thread.item_id else None,
        "network_name": network_name(thread.network), "alt_max": alt_limit(thread.network),
        "no_alt": missing_alt_reason(thread), "no_alt_posts": missing_alt(session, thread),
        "hand_edited": hand_edited(thread), "stale": False, "cheaper": None,
        "placement": PLACEMENT_WORDS.get(str(thread.link_placement or getattr(
            getattr(config.social, thread.network, None), "link_placement", ""))),
    }
    view["previews"] = previews(session, thread, view["item"], reads.cards)
    approval = reads.approvals.get(thread.id)
    view["approval"] = approval
    view["quiet"] = reads.quiet.get(thread.id)
    view["approval_current"] = (approval is not None and approval.decision == "approved"
                                and approval.content_hash == thread.content_hash)
    view["editors"] = reads.history.editors[thread.id]
    view["ever_approved"] = thread.id in reads.history.marks
    view["why_not"] = reads.why_not.get(thread.id) if editable else None
    if editable and thread.kind == "roundup":
        derived = derived_texts(session, config, thread)
        view["stale"] = derived is not None and content_hash_of(derived, list(thread.posts)) != thread.derived_hash
        if thread.network == "x" and derived is not None:
            cheaper = derived_texts(session, config, thread, link_placement="first")
            if cheaper is not None and _cost(cheaper, pricing) < view["cost"]:
                view["cheaper"] = {"cost": _cost(cheaper, pricing), "saving": view["cost"] - _cost(cheaper, pricing)}
    return view


def _views(request: Request, session: Any) -> list[dict[str, Any]]:
    app = app_of(request)
    staff = request.state.staff
    rows = session.scalars(select(ThreadRow).where(ThreadRow.status.in_(SHOWN)).options(selectinload(ThreadRow.posts))
                           .order_by(ThreadRow.scheduled_for, ThreadRow.id)).all()
    # their editions and items in one query each, not one per thread: `_view` finds them in the session
    # (whose identity map holds them only while something else does: `loaded`, until the views are made)
    loaded: list[Any] = []
    for model, ids in ((EditionRow, {row.edition_id for row in rows}), (ItemRow, {row.item_id for row in rows})):
        ids.discard(None)
        if ids:
            loaded += session.scalars(select(model).where(model.id.in_(ids))).all()
    items = {row.id: row for row in loaded if isinstance(row, ItemRow)}
    reads = _PageReads(session, rows, items, staff=staff, now=app.now(), config=app.config,
                       calendar=QuietCalendar.from_config(app.config))  # once a page, not once a thread
    views = [_view(row, app.config, session, reads) for row in rows]
    del loaded, items
    free: dict[str, list[Any]] = {}
    held = slots.slots_of(session, [row.id for row in rows])
    for view in views:
        _timing(view, session, app.config, app.now(), free, held)
    return views


def _timing(view: dict[str, Any], session: Any, config: Any, now: Any, free: dict[str, list[Any]],
            held: dict[int, Any]) -> None:
    """When the thread goes out and why (its slot, a time staff fixed, its edition), and the free
    slots it may move to (`free` caches them per network)."""
    thread = view["thread"]
    view["slot"] = held.get(thread.id)
    view["slotted"] = slots.slotted(config, thread.network)
    view["movable"] = (thread.kind == "item" and thread.status in slots.MOVABLE
                       and all(p.status == "pending" for p in thread.posts))
    if view["movable"] and view["slotted"] and thread.network not in free:
        free[thread.network] = slots.free_slots(session, config, thread.network, now=now, count=10)
    view["free"] = free.get(thread.network, []) if view["movable"] else []


def _board(session: Any, config: Any, now: Any, views: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The posting slots of the week ahead per network, with the thread in each (for the board the
    posts are dragged across), and the movable posts of a slotted network that hold no slot yet."""
    by_id = {v["thread"].id: v for v in views}
    networks = []
    for network in [n for n in RULES_BY_NETWORK if slots.slotted(config, n)]:
        grid = [s for s in slots.board(session, config, now=now, days=7, networks=[network])]
        waiting = [v for v in views if v["thread"].network == network and v["movable"]
                   and (v["slot"] is None or (v["slot"].slot_at is not None and v["slot"].slot_at < now))]
        networks.append({"network": network, "slots": grid, "threads": by_id, "waiting": waiting,
                         "grid": getattr(config.social, network).slots})
    return networks


@router.get("/desk/threads")
def threads_page(request: Request, staff: Staff = Depends(need("view"))) -> Response:
    app = app_of(request)
    notice = NOTICES.get(request.query_params.get("done", ""))
    caution = loopback_warning(app.config, app.env) if request.query_params.get("done") == "approved" else None
    with app.db.session() as session:
        views = _views(request, session)
        response = page(request, "threads.html", {"threads": views, "notice": notice, "error": None, "caution": caution,
                                                  "board": _board(session, app.config, app.now(), views)})
    response.headers["Content-Security-Policy"] = THREADS_CSP
    return response


@router.get("/desk/api/count")
def count(request: Request, network: str, text: str = "", staff: Staff = Depends(need("view"))) -> Response:
    """The length of `text` as `network` counts it (the live counter under each post), and on X its cost."""
    if network not in RULES_BY_NETWORK:
        return JSONResponse({"error": f"unknown network {network!r}"}, status_code=400)
    if len(text) > CountLimits.max_text:
        return JSONResponse({"error": "text too long to count"}, status_code=400)
    config = app_of(request).config
    answer: dict[str, Any] = {"network": network, **measure(text, rules_for(network, config))}
    if network == "x":
        answer["cost"] = f"{x_post_cost(text, config.social.x_pricing):.3f}"
    return JSONResponse(answer)


def _thread(session: Any, thread_id: int) -> ThreadRow:
    row = session.get(ThreadRow, thread_id)
    if row is None:
        raise HTTPException(404, f"There is no thread {thread_id}.")
    return row


def _error(request: Request, message: str, status: int = 409) -> Response:
    app = app_of(request)
    with app.db.session() as session:
        views = _views(request, session)
        response = page(request, "threads.html", {"threads": views, "notice": None, "error": message,
                                                  "board": _board(session, app.config, app.now(), views)}, status=status)
    response.headers["Content-Security-Policy"] = THREADS_CSP
    return response


def _too_long(row: ThreadRow, texts: list[str], config: Any) -> str | None:
    """Why these texts cannot be saved: each post over its network's limit, and by how much."""
    if row.network not in RULES_BY_NETWORK:
        return None
    rules = rules_for(row.network, config)
    over = []
    for number, text in enumerate(texts, start=1):
        measured = measure(text, rules)
        if measured["over"]:
            over.append(f"post {number} is {measured['length']} / {rules.max_length}: {measured['why']}")
    if not over:
        return None
    return (f"Not saved: on {row.network.upper()} " + "; ".join(over)
            + ". Shorten it and save again (the counter under each post shows the length as you type).")


@router.post("/desk/threads/{thread_id}/edit")
def thread_edit(request: Request, thread_id: int, post: Posted = Depends(posted("edit"))) -> Response:
    """Replace the texts of the posts; the thread's content hash changes and its approval is voided.
    A post over its network's limit is refused, saying by how much; nothing is saved."""
    app = app_of(request)
    try:
        with app.db.session() as session:
            row = _thread(session, thread_id)
            if not can_change(row):
                return _error(request, f"thread {row.id} is {row.status}: its posts can no longer change")
            texts = []
            for p in row.posts:
                text = str(post.form.get(f"post-{p.id}", p.text)).replace("\r\n", "\n").strip()
                if not text:
                    return _error(request, "a post cannot be empty: reject the thread instead", 400)
                texts.append(text)
            too_long = _too_long(row, texts, app.config)
            if too_long:
                return _error(request, too_long, 400)
            was_approved = row.status == ThreadStatus.APPROVED
            changed = write_posts(session, row, texts, by=post.staff.email, now=app.now())
    except ledger.LedgerError as exc:
        return _error(request, str(exc))
    done = ("voided" if was_approved else "edited") if changed else "unchanged"
    return RedirectResponse(f"/desk/threads?done={done}#thread-{thread_id}", status_code=303)


@router.post("/desk/threads/{thread_id}/rebuild")
def thread_rebuild(request: Request, thread_id: int, post: Posted = Depends(posted("edit"))) -> Response:
    """Write a roundup from its edition again; `placement` (every, first, last) moves its links."""
    app = app_of(request)
    placement = str(post.form.get("placement") or "") or None
    try:
        with app.db.session() as session:
            changed = rebuild_roundup(session, app.config, _thread(session, thread_id), by=post.staff.email,
                                      now=app.now(), link_placement=placement)
    except ledger.LedgerError as exc:
        return _error(request, str(exc))
    return RedirectResponse(f"/desk/threads?done={'rebuilt' if changed else 'rebuilt-unchanged'}#thread-{thread_id}",
                            status_code=303)


@router.post("/desk/threads/{thread_id}/approve")
def thread_approve(request: Request, thread_id: int, post: Posted = Depends(posted("approve"))) -> Response:
    app = app_of(request)
    try:
        with app.db.session() as session:
            _thread(session, thread_id)
            note = str(post.form.get("note") or "").strip() or None
            ledger.approve(session, "thread", thread_id, by=post.staff.email, now=app.now(), note=note,
                           two_person_rule=two_person_rule(app.config), config=app.config)
    except ledger.LedgerError as exc:
        with app.db.session() as session:
            ledger.record_refusal(session, exc, now=app.now())
        return _error(request, str(exc), 403 if isinstance(exc, ledger.NotAllowed) else 409)
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


@router.post("/desk/threads/{thread_id}/move")
def thread_move(request: Request, thread_id: int, post: Posted = Depends(posted("edit"))) -> Response:
    """Move an item's post to another slot (`to`: a slot as the form lists it, or "next"), or to a
    time of day staff choose (`at`, a datetime-local in the organisation's zone). Audited; the
    approval stands, since the time is not part of what was approved."""
    app = app_of(request)
    at = str(post.form.get("at") or "").strip()
    to = at or str(post.form.get("to") or "").strip()
    try:
        moment = None if to in ("", "next") else parse_local(to, app.zone)
    except ValueError as exc:
        return _error(request, str(exc), 400)
    try:
        with app.db.session() as session:
            slots.move_thread(session, app.config, _thread(session, thread_id), to=moment, by=post.staff.email,
                              now=app.now())
            session.commit()
    except ledger.LedgerError as exc:
        return _error(request, str(exc))
    return RedirectResponse(f"/desk/threads?done=moved#thread-{thread_id}", status_code=303)


@router.post("/desk/threads/{thread_id}/posts/{post_id}/alt")
def post_alt(request: Request, thread_id: int, post_id: int, post: Posted = Depends(posted("edit"))) -> Response:
    """Write the alt text of a post's image (`alt`): part of what is approved, so a change voids
    the thread's approval. Refused, saying what to fix, when empty or too long; nothing is saved."""
    app = app_of(request)
    alt = str(post.form.get("alt") or "")
    try:
        with app.db.session() as session:
            row = _thread(session, thread_id)
            if post_id not in {p.id for p in row.posts}:
                raise HTTPException(404, f"Thread {thread_id} has no post {post_id}.")
            was_approved = row.status == ThreadStatus.APPROVED
            changed = set_image_alt(session, post_id, alt, by=post.staff.email, now=app.now(),
                                    max_chars=alt_limit(row.network))
    except ledger.LedgerError as exc:
        return _error(request, f"Alt text not saved: {exc}.", 400)
    done = ("alt-voided" if was_approved else "alt-saved") if changed else "alt-unchanged"
    return RedirectResponse(f"/desk/threads?done={done}#post-preview-{post_id}", status_code=303)
