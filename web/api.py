"""The JSON API for a membership system's sync: `/api/v1/...`, with bearer tokens.

    GET  /api/v1/openapi.json                      the OpenAPI 3.1 document (no token)
    GET  /api/v1/subscribers                       a page of subscribers        (read)
    POST /api/v1/subscribers                       upsert, email in the body     (write)
    GET  /api/v1/subscribers/{email}               one subscriber               (read)
    PUT  /api/v1/subscribers/{email}               upsert                        (write)
    POST /api/v1/subscribers/{email}/unsubscribe   unsubscribe, at once          (write)
    GET  /api/v1/editions                          a page of editions            (read)
    GET  /api/v1/editions/{id}                     one edition and its items     (read)
    GET  /api/v1/editions/{id}/figures             what became of its messages   (read)

Tokens (`syndicate api-tokens create`) are `Authorization: Bearer synd_...`; a read token may only
GET. Every error is an RFC 9457 problem (`application/problem+json`) saying what to fix; a bad
request changes nothing. Lists are paged by cursor (`after`, `limit` up to 100, and a `next`
link). What an upsert does, and why unsubscribe always wins: `state.api_subscribers`. The document
in `web/openapi/api-v1.json` describes all of it, and the tests hold every answer to it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from email_validator import EmailNotValidError
from fastapi import APIRouter, BackgroundTasks, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from compose.errors import SyndicateError
from compose.subscribers import NameRefused, check_name, normalise_email
from state import figures
from state.api_subscribers import (
    AddressLeft,
    Upsert,
    UpsertResult,
    sections_refused,
    subscriber_document,
    unsubscribe_subscriber,
    upsert_subscriber,
)
from state.api_tokens import ApiCaller, Scope, authenticate
from state.errors import NotFound
from state.models import EditionItemRow, EditionRow, EditionStatus, ItemRow, SubscriberRow, SubscriberStatus
from state.subscribers import find
from web.public import _send_confirmation
from web.render import app_of
from web.security import RateLimit

router = APIRouter(prefix="/api/v1")
DOCUMENT = Path(__file__).resolve().parent / "openapi" / "api-v1.json"
PROBLEM = "application/problem+json"


class ApiLimits:
    page = 50  # items on a page unless `limit` says otherwise
    largest_page = 100
    tags = 50
    tag_chars = 64
    consent_chars = 200
    calls_per_minute = 1200  # per token, in memory per process: a sync of 100,000 members takes under 1.5 hours


# --- answers -----------------------------------------------------------------------------------------


class Problem(SyndicateError):
    """An RFC 9457 problem: the status, a short title, what to fix, and the fields at fault."""

    def __init__(self, status: int, title: str, detail: str, *, kind: str = "about:blank",
                 errors: list[dict[str, str]] | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.kind = status, title, detail, kind
        self.errors, self.headers = errors or [], headers or {}

    def response(self, request: Request) -> Response:
        body: dict[str, Any] = {"type": self.kind, "title": self.title, "status": self.status, "detail": self.detail,
                                "instance": request.url.path}
        if self.errors:
            body["errors"] = self.errors
        return JSONResponse(body, status_code=self.status, media_type=PROBLEM,
                            headers={"Cache-Control": "no-store", **self.headers})


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store", **(headers or {})})


def _caller(request: Request, scope: Scope) -> ApiCaller:
    header = request.headers.get("authorization", "")
    kind, _, token = header.partition(" ")
    if kind.lower() != "bearer" or not token.strip():
        raise Problem(401, "Token needed", "send `Authorization: Bearer TOKEN` with a token an admin made with "
                      "`syndicate api-tokens create NAME --scope read|write --by ADMIN`",
                      headers={"WWW-Authenticate": 'Bearer realm="syndicate"'})
    app = app_of(request)
    with app.db.session() as session:
        caller = authenticate(session, token.strip(), now=app.now())
    if caller is None:
        raise Problem(401, "Token refused", "this token is unknown or was revoked: ask an admin for a new one "
                      "(`syndicate api-tokens list` shows the tokens in use)",
                      headers={"WWW-Authenticate": 'Bearer realm="syndicate", error="invalid_token"'})
    limiter = getattr(request.app.state, "api_calls", None)
    if limiter is None:
        limiter = request.app.state.api_calls = RateLimit(limit=ApiLimits.calls_per_minute, window=timedelta(minutes=1))
    if not limiter.allow(caller.name, app.now()):
        raise Problem(429, "Too many calls", f"the token {caller.name!r} made more than {ApiLimits.calls_per_minute} "
                      "calls in the last minute: wait a minute, then go on more slowly",
                      headers={"Retry-After": "60"})
    if not caller.may(scope):
        raise Problem(403, "Token may only read", f"the token {caller.name!r} has the read scope: changing "
                      "subscribers needs a token made with --scope write",
                      headers={"WWW-Authenticate": 'Bearer realm="syndicate", error="insufficient_scope", scope="write"'})
    return caller


def _page_args(limit: str | None, after: str | None) -> tuple[int, int]:
    errors = []
    size, cursor = ApiLimits.page, 0
    if limit is not None:
        if not limit.isdigit() or not 1 <= int(limit) <= ApiLimits.largest_page:
            errors.append({"pointer": "#/query/limit", "detail": f"give a whole number from 1 to {ApiLimits.largest_page}"})
        else:
            size = int(limit)
    if after is not None:
        if not after.isdigit() or len(after) > 10:
            errors.append({"pointer": "#/query/after", "detail": "give the `next` cursor of the previous page"})
        else:
            cursor = int(after)
    if errors:
        raise Problem(400, "Bad paging", "fix the query: " + "; ".join(e["detail"] for e in errors), errors=errors)
    return size, cursor


def _page(request: Request, data: list[dict[str, Any]], last_id: int | None, size: int,
          extra: dict[str, str]) -> Response:
    next_url = None
    headers = {}
    if last_id is not None and len(data) == size:
        next_url = f"{request.url.path}?{urlencode({**extra, 'limit': size, 'after': last_id})}"
        headers["Link"] = f'<{next_url}>; rel="next"'
    return _json({"data": data, "next": next_url}, headers=headers)


# --- the document -------------------------------------------------------------------------------------


@router.get("/openapi.json")
def openapi_document(request: Request) -> Response:
    return Response(DOCUMENT.read_bytes(), media_type="application/json",
                    headers={"Cache-Control": "public, max-age=300"})


# --- subscribers -----------------------------------------------------------------------------------------


Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=ApiLimits.tag_chars)]


class Consent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=ApiLimits.consent_chars)]
    at: datetime

    @field_validator("at")
    @classmethod
    def _zoned(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("give the time zone, e.g. 2026-11-20T09:30:00Z")
        return value.astimezone(UTC)


class SubscriberIn(BaseModel):
    """An upsert's body: what is left out stays as it is; `sections: null` means every section."""

    model_config = ConfigDict(extra="forbid")

    email: str | None = Field(default=None, max_length=320)
    name: str | None = Field(default=None, max_length=1000)
    sections: list[str] | None = Field(default=None, max_length=100)
    tags: list[Tag] | None = Field(default=None, max_length=ApiLimits.tags)
    consent: Consent | None = None


def _pointer(location: tuple[Any, ...]) -> str:
    return "/" + "/".join(str(part) for part in location)


def _body(request: Request, raw: bytes) -> SubscriberIn:
    if not raw.strip():
        raise Problem(400, "Body needed", "send a JSON object, e.g. {\"name\": \"Ada\", \"consent\": {\"source\": "
                      "\"membership form\", \"at\": \"2026-11-20T09:30:00Z\"}}")
    if "json" not in request.headers.get("content-type", ""):
        raise Problem(415, "Send JSON", "set `Content-Type: application/json` and send a JSON object")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Problem(400, "Not JSON", f"the body is not valid JSON ({exc}): send a JSON object") from None
    if not isinstance(data, dict):
        raise Problem(400, "Not an object", "send a JSON object with the fields to set, not a list or a value")
    try:
        return SubscriberIn.model_validate(data)
    except ValidationError as exc:
        errors = [{"pointer": _pointer(e["loc"]), "detail": e["msg"]} for e in exc.errors()]
        raise Problem(422, "Fix these fields", "; ".join(f"{e['pointer']}: {e['detail']}" for e in errors),
                      errors=errors) from None


def _upsert_of(request: Request, body: SubscriberIn, email: str) -> Upsert:
    app = app_of(request)
    errors: list[dict[str, str]] = []
    try:
        address = normalise_email(email)
    except EmailNotValidError as exc:
        errors.append({"pointer": "/email", "detail": f"not an email address: {exc}"})
        address = email
    name = None
    if body.name is not None:
        try:
            name = check_name(body.name)
        except NameRefused as exc:
            errors.append({"pointer": "/name", "detail": str(exc)})
    every = "sections" in body.model_fields_set and body.sections is None
    if body.sections is not None:
        known = [section.key for section in app.config.sections]
        wrong = sections_refused(body.sections, known)
        if wrong:
            errors.append({"pointer": "/sections", "detail": wrong})
    if body.consent is not None and body.consent.at > app.now():
        errors.append({"pointer": "/consent/at", "detail": "consent cannot be given in the future: give when the "
                       "person agreed"})
    if errors:
        raise Problem(422, "Fix these fields", "; ".join(f"{e['pointer']}: {e['detail']}" for e in errors),
                      errors=errors)
    tags = list(dict.fromkeys(body.tags)) if body.tags is not None else None
    return Upsert(email=address, name=name, sections=list(dict.fromkeys(body.sections)) if body.sections else None,
                  every_section=every, tags=tags, consent_source=body.consent.source if body.consent else None,
                  consent_at=body.consent.at if body.consent else None)


def _store(app: Any, wanted: Upsert, caller: ApiCaller) -> tuple[UpsertResult, dict[str, Any]]:
    """Upsert in its own transaction; two calls adding the same new address at once: the second is
    tried again and finds the first's row."""
    try:
        with app.db.session() as session:
            done = upsert_subscriber(session, wanted, by=caller.name, now=app.now())
            return done, subscriber_document(done.subscriber)
    except IntegrityError:
        with app.db.session() as session:
            done = upsert_subscriber(session, wanted, by=caller.name, now=app.now())
            return done, subscriber_document(done.subscriber)


def _upsert(request: Request, background: BackgroundTasks, caller: ApiCaller, email: str,
            body: SubscriberIn) -> Response:
    wanted = _upsert_of(request, body, email)
    app = app_of(request)
    try:
        done, document = _store(app, wanted, caller)
    except AddressLeft as exc:
        raise Problem(409, "This address left", str(exc), kind="urn:syndicate:problem:address-left") from None
    subscriber_id, stored = done.subscriber.id, done.subscriber.email
    if done.confirm:
        background.add_task(_send_confirmation, app, subscriber_id, stored, wanted.name or "")
    result = ("pending_confirmation" if done.confirm else "created" if done.created else
              "activated" if done.activated else "updated" if done.changed else "unchanged")
    status = 202 if done.confirm else 201 if done.created else 200
    location = {"Location": f"/api/v1/subscribers/{quote(stored, safe='@+')}"} if done.created else {}
    return _json({"result": result, "changed": list(done.changed), "subscriber": document}, status, location)


@router.post("/subscribers")
async def create_or_update_subscriber(request: Request, background: BackgroundTasks) -> Response:
    caller = await run_in_threadpool(_caller, request, "write")  # who asks, before what they ask
    body = _body(request, await request.body())
    if body.email is None:
        raise Problem(422, "Fix these fields", "/email: give the subscriber's email address",
                      errors=[{"pointer": "/email", "detail": "give the subscriber's email address"}])
    return await run_in_threadpool(_upsert, request, background, caller, body.email, body)


@router.put("/subscribers/{email}")
async def put_subscriber(request: Request, background: BackgroundTasks, email: str) -> Response:
    caller = await run_in_threadpool(_caller, request, "write")
    body = _body(request, await request.body())
    if body.email is not None and body.email.strip().lower() != email.strip().lower():
        raise Problem(422, "Fix these fields", "/email: the body names another address than the URL: leave it out",
                      errors=[{"pointer": "/email", "detail": "differs from the address in the URL"}])
    return await run_in_threadpool(_upsert, request, background, caller, email, body)


@router.get("/subscribers")
def list_subscribers(request: Request, status: str | None = None, limit: str | None = None,
                     after: str | None = None) -> Response:
    _caller(request, "read")
    size, cursor = _page_args(limit, after)
    query = select(SubscriberRow).where(SubscriberRow.id > cursor).order_by(SubscriberRow.id).limit(size)
    extra = {}
    if status is not None:
        if status not in {str(s) for s in SubscriberStatus}:
            raise Problem(400, "Unknown status", f"status {status!r} is not one of "
                          f"{', '.join(str(s) for s in SubscriberStatus)}",
                          errors=[{"pointer": "#/query/status", "detail": "unknown status"}])
        query, extra = query.where(SubscriberRow.status == status), {"status": status}
    app = app_of(request)
    with app.db.session() as session:
        rows = session.scalars(query).all()
        data = [subscriber_document(row) for row in rows]
    return _page(request, data, rows[-1].id if rows else None, size, extra)


@router.get("/subscribers/{email}")
def get_subscriber(request: Request, email: str) -> Response:
    _caller(request, "read")
    app = app_of(request)
    with app.db.session() as session:
        row = find(session, email) if "@" in email else None
        if row is None:
            raise Problem(404, "No such subscriber", f"there is no subscriber {email}: add one with PUT")
        return _json(subscriber_document(row))


class UnsubscribeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=200)


@router.post("/subscribers/{email}/unsubscribe")
async def unsubscribe_subscriber_now(request: Request, email: str) -> Response:
    caller = await run_in_threadpool(_caller, request, "write")
    raw = await request.body()
    reason = None
    if raw.strip():
        try:
            reason = UnsubscribeIn.model_validate_json(raw).reason
        except ValidationError as exc:
            errors = [{"pointer": _pointer(e["loc"]) if e["loc"] else "/", "detail": e["msg"]} for e in exc.errors()]
            raise Problem(422, "Fix these fields", "; ".join(f"{e['pointer']}: {e['detail']}" for e in errors),
                          errors=errors) from None
    return await run_in_threadpool(_unsubscribe, request, caller, email, reason)


def _unsubscribe(request: Request, caller: ApiCaller, email: str, reason: str | None) -> Response:
    app = app_of(request)
    try:
        with app.db.session() as session:
            row = unsubscribe_subscriber(session, email, by=caller.name, reason=reason or "", now=app.now())
            return _json(subscriber_document(row))
    except NotFound as exc:
        raise _not_found(exc) from None


# --- editions ---------------------------------------------------------------------------------------------


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC).isoformat().replace("+00:00", "Z")


def _edition_summary(request: Request, row: EditionRow) -> dict[str, Any]:
    public = app_of(request).public_url
    return {"id": row.id, "slug": row.slug, "subject": row.subject, "status": str(row.status),
            "built_at": _iso(row.built_at), "scheduled_for": _iso(row.scheduled_for), "sent_at": _iso(row.sent_at),
            "web_url": f"{public}/editions/{row.slug}" if row.status == EditionStatus.SENT else None,
            "figures_url": f"/api/v1/editions/{row.id}/figures"}


@router.get("/editions")
def list_editions(request: Request, status: str | None = None, limit: str | None = None,
                  after: str | None = None) -> Response:
    _caller(request, "read")
    size, cursor = _page_args(limit, after)
    query = select(EditionRow)
    if cursor:
        query = query.where(EditionRow.id < cursor)
    query = query.order_by(EditionRow.id.desc()).limit(size)
    extra = {}
    if status is not None:
        if status not in {str(s) for s in EditionStatus}:
            raise Problem(400, "Unknown status", f"status {status!r} is not one of "
                          f"{', '.join(str(s) for s in EditionStatus)}",
                          errors=[{"pointer": "#/query/status", "detail": "unknown status"}])
        query, extra = query.where(EditionRow.status == status), {"status": status}
    with app_of(request).db.session() as session:
        rows = session.scalars(query).all()
        data = [_edition_summary(request, row) for row in rows]
    return _page(request, data, rows[-1].id if rows else None, size, extra)


def _edition(session: Any, edition_id: str) -> EditionRow:
    row = session.get(EditionRow, int(edition_id)) if edition_id.isdigit() and len(edition_id) < 10 else None
    if row is None:
        raise Problem(404, "No such edition", f"there is no edition {edition_id}: GET /api/v1/editions lists them")
    return row


@router.get("/editions/{edition_id}")
def get_edition(request: Request, edition_id: str) -> Response:
    _caller(request, "read")
    with app_of(request).db.session() as session:
        row = _edition(session, edition_id)
        items = session.execute(select(EditionItemRow.section, ItemRow.title, ItemRow.url, ItemRow.published_at)
                                .join(ItemRow, ItemRow.id == EditionItemRow.item_id)
                                .where(EditionItemRow.edition_id == row.id)
                                .order_by(EditionItemRow.section_position, EditionItemRow.position)).all()
        body = {**_edition_summary(request, row), "preheader": row.preheader,
                "items": [{"section": section, "title": title, "url": url, "published_at": _iso(published)}
                          for section, title, url, published in items]}
    return _json(body)


@router.get("/editions/{edition_id}/figures")
def get_edition_figures(request: Request, edition_id: str) -> Response:
    _caller(request, "read")
    with app_of(request).db.session() as session:
        row = _edition(session, edition_id)
        counts = figures.edition_figures(session, row.id).as_dict()
    counts.pop("complained", None)
    counts.pop("editions", None)
    counts["sent"] = row.status == EditionStatus.SENT
    return _json(counts)


def _not_found(exc: NotFound) -> Problem:
    return Problem(404, "No such subscriber", f"{exc}: add them with PUT /api/v1/subscribers/EMAIL")


def problem_response(request: Request, exc: Exception) -> Response:
    """The app's handler for `Problem` (registered in `web.app`)."""
    assert isinstance(exc, Problem)
    return exc.response(request)


def http_problem(request: Request, status: int, detail: str) -> Response:
    """An HTTP error under /api/ (no such address, a method not allowed) as a problem."""
    text = "there is nothing at this address: GET /api/v1/openapi.json lists the endpoints" if status == 404 else detail
    return Problem(status, {404: "Not found", 405: "Method not allowed"}.get(status, "Error"), text).response(request)
