"""The click redirect `/r/<token>` and the open pixel `/o/<token>`: count, then answer at once.

`GET /r/<token>` checks the token's signature (`compose.signing.verify_click`), takes the
article's URL from the ledger (the edition's items, `state.clicks.link_targets`; never from the
token) and answers 302 to it: no page, no cookie, `Cache-Control: no-store` so no proxy keeps
it, `Referrer-Policy: no-referrer` so the article's site never sees the token. A forged or altered
token, or an item the edition does not carry, goes to the organisation's site
(`organisation.site_url`): never an open redirect.

What counts (`counts`): a GET, from something that says it is a browser, for an edition that is
sending or sent. HEAD requests, requests with no User-Agent or a known scanner's, bot's or link
preview's (`BOT_AGENTS`: mail security scanners follow every link of a message before the reader
sees it), and the links of a test send (its edition is not sent yet) redirect the same and count
nothing. The reader is counted only when the link names one: `[tracking] per_reader_clicks` on
and the approved email carrying the privacy notice.

Clicks are counted in memory (`ClickCounter`) and written in one upsert per table every
`[tracking] flush_seconds` (0: one write per click, in the request) and when the app stops, so
the redirect never waits for the ledger; each web worker adds its own counts (`state.clicks`),
so several workers never overwrite each other.
"""

from __future__ import annotations

import asyncio
import base64
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import unquote

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from compose.signing import ForgedToken, verify_click, verify_open
from state import clicks
from state.db import Database
from state.models import EditionRow, EditionStatus
from web.render import WebApp

router = APIRouter()
PATHS = ("/r/", "/o/")  # answered without a session (web.app): no cookie is ever read or set


def is_click_path(path: str) -> bool:
    """Whether `path` is answered by the redirect or the pixel (one segment after /r/ or /o/)."""
    return path.startswith(PATHS) and len(path) > 3 and "/" not in path[3:]

COUNTED_STATUSES = frozenset({EditionStatus.SENDING, EditionStatus.SENT})
# Substrings (lower case) of the User-Agent of programs that follow or fetch links on their own:
# mail security scanners, link previews, crawlers, HTTP libraries. A click from one of them is not a reader's.
BOT_AGENTS = ("bot", "spider", "crawl", "slurp", "preview", "scanner", "scan", "headless", "phantom",
              "python", "curl", "wget", "httpie", "go-http-client", "java/", "okhttp", "libwww", "axios",
              "node-fetch", "barracuda", "mimecast", "proofpoint", "safelinks", "symantec", "trend micro",
              "forcepoint", "sophos", "fortiguard", "cisco", "ironport", "facebookexternalhit", "whatsapp",
              "skypeuripreview", "discord", "microsoft office", "ms-office", "outlook-ios-link", "validator")
_BOT = re.compile("|".join(re.escape(agent) for agent in BOT_AGENTS))
_HEADERS = {"Cache-Control": "no-store, private, max-age=0", "Pragma": "no-cache", "Expires": "0",
            "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff", "X-Robots-Tag": "noindex"}
_PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")  # 1x1 transparent GIF


def counts(method: str, agent: str) -> bool:
    """Whether a request to a click link or the pixel is a reader's: a GET from a browser."""
    if method != "GET":
        return False
    agent = agent.lower()
    return bool(agent) and _BOT.search(agent) is None


@dataclass(frozen=True)
class _Edition:
    counted: bool  # sending or sent: its clicks count
    targets: dict[int, str]
    until: float  # monotonic time the entry is good until


class Targets:
    """Each edition's status and link targets, read from the ledger once and kept: for a sent
    edition until the process ends (its items no longer change), for any other a few seconds."""

    keep_sent = 512  # editions kept
    keep_other_s = 5.0

    def __init__(self) -> None:
        self._held: OrderedDict[int, _Edition] = OrderedDict()
        self._lock = threading.Lock()

    def cached(self, edition_id: int) -> _Edition | None:
        held = self._held.get(edition_id)
        return held if held is not None and held.until > time.monotonic() else None

    def load(self, app: WebApp, edition_id: int) -> _Edition | None:
        with app.db.session() as session:
            status = session.scalar(EditionRow.__table__.select().with_only_columns(EditionRow.status)
                                    .where(EditionRow.id == edition_id))
            if status is None:
                return None
            targets = clicks.link_targets(session, edition_id, app.config)
        counted = status in COUNTED_STATUSES
        entry = _Edition(counted, targets, float("inf") if status == EditionStatus.SENT
                         else time.monotonic() + self.keep_other_s)
        with self._lock:
            self._held[edition_id] = entry
            self._held.move_to_end(edition_id)
            while len(self._held) > self.keep_sent:
                self._held.popitem(last=False)
        return entry


@dataclass
class _Tally:
    first: datetime
    last: datetime
    n: int = 0

    def add(self, first: datetime, last: datetime, n: int) -> None:
        self.first, self.last, self.n = min(self.first, first), max(self.last, last), self.n + n


class ClickCounter:
    """Clicks and opens counted in memory, written to the ledger in batches (`flush`)."""

    def __init__(self, db: Database, *, flush_seconds: float) -> None:
        self.db = db
        self.flush_seconds = flush_seconds
        self._clicks: dict[tuple[int, int, str, int | None], _Tally] = {}
        self._opens: dict[tuple[int, int], _Tally] = {}
        self._lock = threading.Lock()
        self._flushing = threading.Lock()
        self._timer: asyncio.TimerHandle | None = None
        self.written = 0

    def add_click(self, edition_id: int, item_id: int, url: str, subscriber_id: int | None, now: datetime) -> None:
        with self._lock:
            self._clicks.setdefault((edition_id, item_id, url, subscriber_id), _Tally(now, now)).add(now, now, 1)

    def add_open(self, edition_id: int, subscriber_id: int, now: datetime) -> None:
        with self._lock:
            self._opens.setdefault((edition_id, subscriber_id), _Tally(now, now)).add(now, now, 1)

    @property
    def pending(self) -> int:
        """Clicks counted and not written yet."""
        with self._lock:
            return sum(tally.n for tally in self._clicks.values())

    def flush(self) -> int:
        """Write every click and open counted so far; returns how many clicks. On a failed write
        the counts are put back for the next flush (nothing is lost while the process lives)."""
        with self._flushing:
            with self._lock:
                taken, self._clicks = self._clicks, {}
                opened, self._opens = self._opens, {}
            if not taken and not opened:
                return 0
            batch = [clicks.Click(edition_id, item_id, url, subscriber_id, tally.n, tally.first, tally.last)
                     for (edition_id, item_id, url, subscriber_id), tally in taken.items()]
            try:
                with self.db.session() as session:
                    written = clicks.record_clicks(session, batch)
                    for (edition_id, subscriber_id), tally in sorted(opened.items()):
                        clicks.record_open(session, edition_id=edition_id, subscriber_id=subscriber_id,
                                           now=tally.last, count=tally.n)
            except BaseException:
                with self._lock:
                    for key, tally in taken.items():
                        self._clicks.setdefault(key, _Tally(tally.first, tally.last)).add(tally.first, tally.last,
                                                                                         tally.n)
                    for open_key, tally in opened.items():
                        self._opens.setdefault(open_key, _Tally(tally.first, tally.last)).add(tally.first, tally.last,
                                                                                             tally.n)
                raise
            self.written += written
            return written

    async def counted(self) -> None:
        """After a click or open is added: write now (`flush_seconds` 0), else make sure a flush is due."""
        if self.flush_seconds <= 0:
            await run_in_threadpool(self.flush)
            return
        if self._timer is None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self.flush_seconds, self._due)

    def _due(self) -> None:
        self._timer = None
        task = asyncio.get_running_loop().run_in_executor(None, self.flush)
        task.add_done_callback(lambda done: done.exception())  # a failed write is retried at the next flush

    def close(self) -> None:
        """The app stops: cancel the timer and write what is left."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.flush()


_Answer = tuple[int, dict[str, str], bytes, str | None]  # status, headers, body, media type


async def _click(owner: Any, method: str, token: str, agent: str) -> _Answer:
    """Count a click on an article link of an edition and send the reader to the article."""
    app: WebApp = owner.state.syndicate
    site = str(app.config.organisation.site_url)
    try:
        edition_id, item_id, subscriber_id = verify_click(app.secret_key, token)
    except ForgedToken:
        return 302, {**_HEADERS, "Location": site}, b"", None
    targets: Targets = owner.state.click_targets
    edition = targets.cached(edition_id) or await run_in_threadpool(targets.load, app, edition_id)
    url = edition.targets.get(item_id) if edition is not None else None
    if edition is None or url is None:
        return 302, {**_HEADERS, "Location": site}, b"", None
    if edition.counted and counts(method, agent):
        counter: ClickCounter = owner.state.click_counter
        reader = subscriber_id if app.config.tracking.per_reader_clicks else None
        counter.add_click(edition_id, item_id, url, reader, app.now())
        await counter.counted()
    return 302, {**_HEADERS, "Location": url}, b"", None


async def _open(owner: Any, method: str, token: str, agent: str) -> _Answer:
    """The open pixel: a 1x1 GIF, counted against its reader only while `[tracking] open_pixel` is on."""
    app: WebApp = owner.state.syndicate
    if app.config.tracking.open_pixel and counts(method, agent):
        try:
            edition_id, subscriber_id = verify_open(app.secret_key, token.removesuffix(".gif"))
        except ForgedToken:
            edition_id = subscriber_id = 0
        if edition_id:
            targets: Targets = owner.state.click_targets
            edition = targets.cached(edition_id) or await run_in_threadpool(targets.load, app, edition_id)
            if edition is not None and edition.counted:
                counter: ClickCounter = owner.state.click_counter
                counter.add_open(edition_id, subscriber_id, app.now())
                await counter.counted()
    return 200, dict(_HEADERS), _PIXEL, "image/gif"


def _response(answer: _Answer) -> Response:
    status, headers, body, media_type = answer
    return Response(body, status_code=status, headers=headers, media_type=media_type)


@router.get("/r/{token}")
@router.head("/r/{token}")
async def click(request: Request, token: str) -> Response:
    """Count a click on an article link and redirect to the article (`FastPath` answers first in the app)."""
    return _response(await _click(request.app, request.method, token, request.headers.get("user-agent", "")))


@router.get("/o/{token}")
@router.head("/o/{token}")
async def open_pixel(request: Request, token: str) -> Response:
    """The open pixel (`FastPath` answers first in the app)."""
    return _response(await _open(request.app, request.method, token, request.headers.get("user-agent", "")))


class FastPath:
    """Plain ASGI in front of the whole app: `/r/<token>` and `/o/<token>` are answered here,
    before the session, security-header and body-limit middleware and the router, so a click
    costs a signature check and a dictionary update. Everything else goes on to the app."""

    def __init__(self, app: ASGIApp, owner: Any) -> None:
        self.app, self.owner = app, owner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not (is_click_path(path) and scope["method"] in ("GET", "HEAD")):
            await self.app(scope, receive, send)
            return
        agent = ""
        for name, value in scope["headers"]:
            if name == b"user-agent":
                agent = value.decode("latin-1")
                break
        handler = _click if path.startswith("/r/") else _open
        status, headers, body, media_type = await handler(self.owner, scope["method"], unquote(path[3:]), agent)
        raw = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]
        if media_type:
            raw.append((b"content-type", media_type.encode("latin-1")))
        raw.append((b"content-length", str(len(body)).encode("latin-1")))
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})


def install(app: Any, db: Database, *, flush_seconds: float) -> ClickCounter:
    """Give the app its counter and target cache, and write the counts when it stops. The caller
    adds `FastPath` as the outermost middleware (`app.add_middleware(FastPath, owner=app)`)."""
    counter = ClickCounter(db, flush_seconds=flush_seconds)
    app.state.click_counter = counter
    app.state.click_targets = Targets()
    app.router.add_event_handler("shutdown", counter.close)
    return counter
