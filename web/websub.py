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
400 for a body the parser rejects (both recorded); 503 with Retry-After when this process's writer
is more than `PushLimits.shed_after_s` behind (the push is not read: the hub sends it again later;
counted and logged, see `Pushes`).

A push is checked and parsed in its request (on the event loop when small, else in the thread
pool), against what the process knows of its token (`Pushes.known`: the subscription's id,
source, topic and secret, none of which ever changes for a token, since a new hub, topic or
secret gets a new token). The writer thread (`GroupCommit`) only stores: in its transaction it
reads each token's subscription once a batch, refuses (410) what is no longer wanted, stores the
taken pushes' items in turn (`state.items.store_in_turn`) and adds the counts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from fastapi import APIRouter, Request
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from compose.config import Source
from compose.models import FetchReport
from connectors.sources.base import EntryLimits
from connectors.sources.registry import parse_body
from connectors.sources.websub import SIGNATURE_HEADER, check_signature
from state import websub
from state.items import store_in_turn
from state.models import WebSubSubscriptionRow
from web.group_commit import GroupCommit
from web.render import WebApp, app_of
from web.security import security_headers

router = APIRouter()
_log = logging.getLogger("syndicate.websub")


class PushLimits:
    """What a pushed body may be."""

    max_body_bytes = EntryLimits.max_body_bytes  # the same 10 MB as a polled response
    content_types: dict[str, frozenset[str]] = {
        "feed": frozenset({"application/atom+xml", "application/rss+xml", "application/rdf+xml", "application/xml",
                           "text/xml", "application/feed+json", "application/json"}),
        "html": frozenset({"text/html", "application/xhtml+xml"}),
    }
    store_attempts = 2  # a concurrent gather may insert the same item first: try once more
    parse_inline_bytes = 16_384  # parsed on the event loop up to this (a one-entry feed: about 0.1 ms), else in a thread
    shed_after_s = 1.0  # the writer this far behind: a push is answered 503 (the hub retries), not queued
    retry_after_s = 10  # what a shed push's 503 asks the hub to wait
    log_shed_every_s = 10.0  # shed pushes are logged at most this often, with their count


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
    A token we do not know gets its 410 before a byte of the body is read; so does one we no longer
    want, once this process has seen that (the writer's transaction finds it and forgets the token)."""
    pushes: Pushes = request.app.state.websub_pushes
    known = pushes.known.get(token) or await run_in_threadpool(pushes.look_up, token)
    if known is None:
        return _text("no such subscription", 410)
    if (behind := pushes.writer.behind()) > PushLimits.shed_after_s:
        return pushes.shed(behind)
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
    return await pushes.take(push, known)


class FastPath:
    """Plain ASGI between the body limit and the session middleware: a push (POST /websub/<token>)
    is answered here by `content_distribution`, with the headers every answer carries, without the
    session cookie, the BaseHTTPMiddleware's task per body chunk and the router: they cost about
    as much CPU as the push itself. Everything else goes on to the app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        token = path[len("/websub/"):] if path.startswith("/websub/") and scope["method"] == "POST" else ""
        if not token or "/" in token:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        answer = await content_distribution(request, token)
        security_headers(answer, https=app_of(request).https)
        await answer(scope, receive, send)


@dataclass(frozen=True, slots=True)
class _Push:
    token: str
    body: bytes
    signature: str | None
    content_type: str


@dataclass(frozen=True, slots=True)
class _Known:
    """What never changes for a callback token: its subscription, source, topic and secret."""

    id: int
    source: Source
    topic_url: str
    secret: str


@dataclass(frozen=True, slots=True)
class _Verdict:
    """A push checked against a subscription: its answer, its items if taken (`report`), or why it
    was ignored (`ignored`, "" when taken)."""

    known: _Known
    status: int
    text: str
    report: FetchReport | None = None
    ignored: str = ""


class Pushes:
    """The pushes one web process takes: checked and parsed in their requests, stored many to a
    transaction by one writer (`GroupCommit`: each push is answered once stored, and its
    subscription's counters are updated once a transaction; the row every push updates, locked
    until the commit, serialised the pushes), and shed (503) when the writer falls behind."""

    def __init__(self, app: WebApp) -> None:
        self.app = app
        self.known: dict[str, _Known] = {}  # tokens found wanted; dropped when the writer finds one no longer is
        self.writer: GroupCommit[tuple[_Push, _Verdict], Response] = GroupCommit(app.db, self._write,
                                                                                  name="websub-pushes")
        self.shed_count = 0  # pushes answered 503 since this process started
        self._shed_logged, self._shed_at_log = time.monotonic(), 0

    def look_up(self, token: str) -> _Known | None:
        """What the ledger says of `token` (kept when it takes pushes), or None: a session of its own."""
        with self.app.db.session() as session:
            row = websub.by_token(session, token)
            known = self._wanted(row)
        if known is not None:
            self.known[token] = known
        return known

    def _wanted(self, row: WebSubSubscriptionRow | None) -> _Known | None:
        """A subscription exists, its source is still configured, and it takes pushes."""
        source = _configured(self.app, row.source.name) if row is not None else None
        if row is None or source is None or not websub.accepts_pushes(row):
            return None
        return _Known(id=row.id, source=source, topic_url=row.topic_url, secret=row.secret)

    async def take(self, push: _Push, known: _Known) -> Response:
        """Check `push` against `known` and have it stored (or counted as ignored); its answer."""
        if len(push.body) <= PushLimits.parse_inline_bytes:
            verdict = _judge(known, push)
        else:
            verdict = await run_in_threadpool(_judge, known, push)
        for attempt in range(PushLimits.store_attempts):
            try:
                return await self.writer.run((push, verdict))
            except IntegrityError:
                if attempt + 1 == PushLimits.store_attempts:
                    raise
        raise AssertionError("unreachable")

    def shed(self, behind: float) -> Response:
        """The 503 for a push not taken because the writer is `behind` s behind; counted, and logged
        at most every `PushLimits.log_shed_every_s` with how many were shed since the last line."""
        self.shed_count += 1
        now = time.monotonic()
        if now - self._shed_logged >= PushLimits.log_shed_every_s or self._shed_at_log == 0:
            _log.warning("websub: %d pushes shed (503, Retry-After %d s) in the last %.0f s, %d since start: "
                         "storing is %.1f s behind", self.shed_count - self._shed_at_log, PushLimits.retry_after_s,
                         now - self._shed_logged, self.shed_count, behind)
            self._shed_logged, self._shed_at_log = now, self.shed_count
        return PlainTextResponse("busy: send it again later", status_code=503, headers={
            "Cache-Control": "no-store", "Retry-After": str(PushLimits.retry_after_s)})

    def _write(self, session: Session, batch: Sequence[tuple[_Push, _Verdict]]) -> list[Response]:
        """Each push refused, counted as ignored or stored as if alone; the subscriptions' counts last."""
        now = self.app.now()
        rows: dict[str, WebSubSubscriptionRow | None] = {}
        judged: list[tuple[WebSubSubscriptionRow, _Verdict] | None] = []  # None: refused (410)
        for push, checked in batch:
            if push.token not in rows:
                rows[push.token] = websub.by_token(session, push.token)
            row = rows[push.token]
            known = self._wanted(row)
            if row is None or known is None:
                self.known.pop(push.token, None)
                judged.append(None)
            else:  # checked against what the ledger says now (a token's secret never changes: this is a guard)
                judged.append((row, checked if checked.known == known else _judge(known, push)))
        with session.no_autoflush:  # the source's health is written with the counts at the commit: one flush, not two
            store_in_turn(session, [(row.source, verdict.report) for row, verdict in filter(None, judged)
                                    if verdict.report is not None], now=now)
        counted: dict[int, tuple[WebSubSubscriptionRow, _Counted]] = {}
        answers: list[Response] = []
        for entry in judged:
            if entry is None:
                answers.append(_text("no such subscription", 410))
                continue
            row, verdict = entry
            counts = counted.setdefault(row.id, (row, _Counted()))[1]
            if verdict.report is not None:
                counts.taken, counts.taken_at = counts.taken + 1, now
            else:
                counts.ignored, counts.ignored_at, counts.reason = counts.ignored + 1, now, verdict.ignored
            answers.append(_text(verdict.text, verdict.status))
        for row, counts in counted.values():
            if counts.taken_at is not None:
                websub.record_push(row, now=counts.taken_at, count=counts.taken)
            if counts.ignored_at is not None:
                websub.record_rejected_push(row, counts.reason, now=counts.ignored_at, count=counts.ignored)
        return answers


def pushes(app: WebApp) -> Pushes:
    """The pushes one web process takes (`Pushes`)."""
    return Pushes(app)


@dataclass
class _Counted:
    """A subscription's pushes taken and ignored in one transaction, recorded once at its end."""

    taken: int = 0
    taken_at: datetime | None = None
    ignored: int = 0
    ignored_at: datetime | None = None
    reason: str = ""


def _judge(known: _Known, push: _Push) -> _Verdict:
    """The signature first (nothing of an unsigned body is read), then the content type and the parse."""
    check = check_signature(known.secret, push.body, push.signature)
    if not check.ok:
        return _Verdict(known, 202, "received", ignored=f"ignored: {check.reason}")
    source = known.source
    media_type = push.content_type.split(";")[0].strip().lower()
    if media_type not in PushLimits.content_types.get(source.kind, frozenset()):
        return _Verdict(known, 415, f"a {source.kind} source cannot read {media_type or 'a body without a type'}",
                        ignored=f"unsupported content type {media_type or '(none)'!r}")
    parsed = parse_body(source, push.body, known.topic_url, {"content-type": push.content_type})
    if parsed.error:
        return _Verdict(known, 400, parsed.error, ignored=f"unreadable: {parsed.error}")
    return _Verdict(known, 202, "received",
                    report=FetchReport(source=source.name, items=parsed.items, status=200, bytes=len(push.body)))


def _configured(app: WebApp, name: str) -> Source | None:
    return next((source for source in app.config.sources if source.name == name), None)
