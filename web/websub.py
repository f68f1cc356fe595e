"""The WebSub callback (public, no sign-in, no CSRF: the hub proves itself by the secret).

    GET  /websub/{token}   verification of intent: echo `hub.challenge` (200 text/plain) when we asked
                           for exactly this mode and topic, else 404; `hub.mode=denied` is recorded
    POST /websub/{token}   content distribution: the raw body is checked against X-Hub-Signature with
                           the subscription's secret, then parsed and stored exactly as a poll would be

Answers to a push: 410 Gone for a token we do not know or no longer want (the hub then drops the
subscription, as the spec allows); 413 over the size limit; 202 once the signature has been
checked, whether it matched or not: a missing or forged signature is ignored and recorded on the
subscription (the spec lets a subscriber acknowledge such a push, and a uniform answer tells a
forger nothing); after a good signature, 415 for a content type the source kind cannot read and
400 for a body the parser rejects (both recorded).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from fastapi import APIRouter, Request
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.responses import PlainTextResponse, Response

from compose.config import Source
from compose.models import FetchReport
from connectors.sources.base import EntryLimits
from connectors.sources.registry import parse_body
from connectors.sources.websub import SIGNATURE_HEADER, check_signature
from state import websub
from state.items import store_reports
from state.models import WebSubSubscriptionRow
from web.group_commit import GroupCommit
from web.render import WebApp, app_of

router = APIRouter()


class PushLimits:
    """What a pushed body may be."""

    max_body_bytes = EntryLimits.max_body_bytes  # the same 10 MB as a polled response
    content_types: dict[str, frozenset[str]] = {
        "feed": frozenset({"application/atom+xml", "application/rss+xml", "application/rdf+xml", "application/xml",
                           "text/xml", "application/feed+json", "application/json"}),
        "html": frozenset({"text/html", "application/xhtml+xml"}),
    }
    store_attempts = 2  # a concurrent gather may insert the same item first: try once more


def _text(body: str, status: int) -> Response:
    return PlainTextResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


@router.get("/websub/{token}")
def verify_intent(request: Request, token: str) -> Response:
    """The hub asks whether we want this (un)subscription; 200 with the challenge, or 404."""
    app = app_of(request)
    params = request.query_params
    mode, topic = params.get("hub.mode", ""), params.get("hub.topic", "")
    with app.db.session() as session:
        if mode == "denied":
            known = websub.record_denial(session, token, topic=topic, reason=params.get("hub.reason", "")[:500],
                                         now=app.now())
            return _text("noted", 200) if known else _text("no such subscription", 404)
        challenge = params.get("hub.challenge", "")
        if mode not in ("subscribe", "unsubscribe") or not challenge:
            return _text("no such subscription", 404)
        lease = params.get("hub.lease_seconds", "")
        agreed = websub.confirm_intent(session, token, mode=mode, topic=topic,
                                       lease_seconds=int(lease) if lease.isdigit() else None, now=app.now())
    if not agreed:
        return _text("no such subscription", 404)
    return _text(challenge, 200)


@router.post("/websub/{token}")
async def content_distribution(request: Request, token: str) -> Response:
    """New content from the hub: verified, parsed and stored like a poll (events for new items).
    A token we do not know (or no longer want) gets its 410 before a byte of the body is read."""
    if not await run_in_threadpool(_wanted, app_of(request), token):
        return _text("no such subscription", 410)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > PushLimits.max_body_bytes:
        return _text("too large", 413)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > PushLimits.max_body_bytes:
            return _text("too large", 413)
        chunks.append(chunk)
    push = _Push(token=token, body=b"".join(chunks), signature=request.headers.get(SIGNATURE_HEADER),
                 content_type=request.headers.get("content-type", ""))
    writer: GroupCommit[_Push, Response] = request.app.state.websub_pushes
    for attempt in range(PushLimits.store_attempts):
        try:
            return await writer.run(push)
        except IntegrityError:
            if attempt + 1 == PushLimits.store_attempts:
                raise
    raise AssertionError("unreachable")


@dataclass(frozen=True, slots=True)
class _Push:
    token: str
    body: bytes
    signature: str | None
    content_type: str


def pushes(app: WebApp) -> GroupCommit[_Push, Response]:
    """The pushes one web process takes, stored many to a transaction (`GroupCommit`): each push
    is answered once stored, and its subscription's counters are updated once a transaction (the
    row every push updates: locked until the commit, it serialised the pushes)."""

    def write(session: Session, batch: Sequence[_Push]) -> list[Response]:
        return _store(app, session, batch)

    return GroupCommit(app.db, write, name="websub-pushes")


def _wanted(app: WebApp, token: str) -> bool:
    """A subscription with this token exists, its source is still configured, and it takes pushes."""
    with app.db.session() as session:
        row = websub.by_token(session, token)
        return row is not None and _configured(app, row.source.name) is not None and websub.accepts_pushes(row)


@dataclass
class _Counted:
    """A subscription's pushes taken and ignored in one transaction, recorded once at its end."""

    taken: int = 0
    taken_at: datetime | None = None
    ignored: int = 0
    ignored_at: datetime | None = None
    reason: str = ""


def _store(app: WebApp, session: Session, batch: Sequence[_Push]) -> list[Response]:
    """Each push checked, parsed and stored in turn, as if alone; the subscriptions' counts last."""
    rows: dict[str, WebSubSubscriptionRow | None] = {}
    counted: dict[int, tuple[WebSubSubscriptionRow, _Counted]] = {}
    answers = []
    for push in batch:
        if push.token not in rows:
            rows[push.token] = websub.by_token(session, push.token)
        row = rows[push.token]
        answer, taken, ignored = _store_one(app, session, row, push)
        if row is not None and (taken or ignored):
            now = app.now()
            counts = counted.setdefault(row.id, (row, _Counted()))[1]
            if taken:
                counts.taken, counts.taken_at = counts.taken + 1, now
            else:
                counts.ignored, counts.ignored_at, counts.reason = counts.ignored + 1, now, ignored
        answers.append(answer)
    for row, counts in counted.values():
        if counts.taken_at is not None:
            websub.record_push(row, now=counts.taken_at, count=counts.taken)
        if counts.ignored_at is not None:
            websub.record_rejected_push(row, counts.reason, now=counts.ignored_at, count=counts.ignored)
    return answers


def _store_one(app: WebApp, session: Session, row: WebSubSubscriptionRow | None,
               push: _Push) -> tuple[Response, bool, str]:
    """The answer to one push, whether it was taken, and why it was ignored ("" if it was not)."""
    now = app.now()
    source = _configured(app, row.source.name) if row is not None else None
    if row is None or source is None or not websub.accepts_pushes(row):
        return _text("no such subscription", 410), False, ""
    check = check_signature(row.secret, push.body, push.signature)
    if not check.ok:
        return _text("received", 202), False, f"ignored: {check.reason}"
    media_type = push.content_type.split(";")[0].strip().lower()
    if media_type not in PushLimits.content_types.get(source.kind, frozenset()):
        return (_text(f"a {source.kind} source cannot read {media_type or 'a body without a type'}", 415), False,
                f"unsupported content type {media_type or '(none)'!r}")
    parsed = parse_body(source, push.body, row.topic_url, {"content-type": push.content_type})
    if parsed.error:
        return _text(parsed.error, 400), False, f"unreadable: {parsed.error}"
    report = FetchReport(source=source.name, items=parsed.items, status=200, bytes=len(push.body))
    store_reports(session, [(row.source, report)], now=now)
    return _text("received", 202), True, ""


def _configured(app: WebApp, name: str) -> Source | None:
    return next((source for source in app.config.sources if source.name == name), None)
