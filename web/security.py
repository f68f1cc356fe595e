"""Sessions, CSRF tokens, staff sign-in checks and security headers for the web app.

The session is one signed cookie (itsdangerous) holding a CSRF token and, once signed in, the
staff id and their session generation, checked against the ledger on every request: sign-out, a
password change, a role change, re-adding and `syndicate staff disable` end every session at once.
Every form carries the CSRF token; a POST without it, or with another, is refused with 403.
Staff pages refuse anonymous requests: a GET is redirected to the sign-in page, anything else
gets 401. A capability the role lacks gets 403.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from fastapi import Depends, Request
from itsdangerous import BadSignature, URLSafeSerializer
from starlette.datastructures import FormData
from starlette.responses import Response

from compose.errors import SyndicateError
from state.staff import LoginPolicy, Staff, current_staff, lock_delay

SESSION_COOKIE = "syndicate_session"
CSRF_FIELD = "csrf_token"


class SessionPolicy:
    lifetime = timedelta(hours=12)
    cookie_max_age_s = 12 * 3600


class NotSignedIn(SyndicateError):
    """An anonymous request to a staff page."""


class Forbidden(SyndicateError):
    """A signed-in member of staff whose role may not do this, or a form without a valid CSRF token."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class WebSession:
    csrf: str
    staff_id: int | None = None
    generation: int | None = None
    issued: int = 0
    changed: bool = False

    def as_payload(self) -> dict[str, Any]:
        return {"c": self.csrf, "s": self.staff_id, "g": self.generation, "t": self.issued}


def _serializer(secret_key: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret_key, salt="syndicate.web.session")


def load_session(request: Request, secret_key: str, now: datetime) -> WebSession:
    raw = request.cookies.get(SESSION_COOKIE)
    if raw:
        try:
            data = _serializer(secret_key).loads(raw)
        except BadSignature:
            data = None
        if isinstance(data, dict) and isinstance(data.get("c"), str):
            staff_id, generation = data.get("s"), data.get("g")
            session = WebSession(csrf=data["c"], staff_id=staff_id if isinstance(staff_id, int) else None,
                                 generation=generation if isinstance(generation, int) else None,
                                 issued=int(data.get("t") or 0) if isinstance(data.get("t"), int) else 0)
            if session.staff_id is not None and now.timestamp() - session.issued > SessionPolicy.lifetime.total_seconds():
                session.staff_id = session.generation = None
                session.changed = True
            return session
    return WebSession(csrf=secrets.token_urlsafe(32), issued=int(now.timestamp()), changed=True)


def save_session(response: Response, session: WebSession, secret_key: str, *, https: bool) -> None:
    response.set_cookie(SESSION_COOKIE, _serializer(secret_key).dumps(session.as_payload()),
                        max_age=SessionPolicy.cookie_max_age_s, httponly=True, secure=https, samesite="lax", path="/")


def web_session(request: Request) -> WebSession:
    return request.state.web_session


def sign_in(request: Request, staff: Staff, now: datetime) -> None:
    """A new session for this member of staff (a fresh CSRF token too: no session fixation)."""
    session = web_session(request)
    session.csrf = secrets.token_urlsafe(32)
    session.staff_id, session.generation, session.issued = staff.id, staff.generation, int(now.timestamp())
    session.changed = True


def sign_out(request: Request) -> None:
    """Forget the member of staff in this cookie (the caller ends their sessions in the ledger too)."""
    session = web_session(request)
    session.csrf = secrets.token_urlsafe(32)
    session.staff_id = session.generation = None
    session.changed = True


def check_csrf(request: Request, form: FormData) -> None:
    sent = form.get(CSRF_FIELD)
    expected = web_session(request).csrf
    if not isinstance(sent, str) or not sent or not hmac.compare_digest(sent, expected):
        raise Forbidden("this form has expired or did not come from this site: reload the page and try again")


async def csrf_form(request: Request) -> FormData:
    """The posted form, once its CSRF token is checked (public forms: sign-in, subscribe)."""
    form = await request.form()
    check_csrf(request, form)
    return form


def signed_in(request: Request) -> Staff | None:
    """The member of staff this request's session belongs to, if it is still current."""
    return _staff(request)


def _staff(request: Request) -> Staff | None:
    session = web_session(request)
    if session.staff_id is None or session.generation is None:
        return None
    app = request.app.state.syndicate
    with app.db.session() as db_session:
        return current_staff(db_session, session.staff_id, session.generation)


def need(capability: str) -> Callable[[Request], Staff]:
    """A dependency: the signed-in member of staff, who must have `capability`."""

    def dependency(request: Request) -> Staff:
        staff = _staff(request)
        if staff is None:
            raise NotSignedIn()
        if not staff.can(capability):
            raise Forbidden(f"your role ({staff.role}) may not {capability}: ask an admin")
        request.state.staff = staff
        return staff

    return dependency


@dataclass(frozen=True)
class Posted:
    """A checked staff form: who sent it and what it holds."""

    staff: Staff
    form: FormData


def posted(capability: str) -> Callable[..., Awaitable[Posted]]:
    """A dependency for staff POSTs: signed in (else 401), allowed (else 403), CSRF checked (else 403)."""
    auth = need(capability)

    async def dependency(request: Request, staff: Staff = Depends(auth)) -> Posted:
        form = await request.form()
        check_csrf(request, form)
        return Posted(staff, form)

    return dependency


def login_redirect_target(request: Request) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"/login?next={quote(target, safe='')}"


def safe_next(value: str | None) -> str:
    """Only a path on this site (never //evil or https://evil) may follow a sign-in."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/desk"


@dataclass
class IpThrottle:
    """Failed sign-ins, in memory, by key: a client address, or an account and an address together
    (`pair_key`). A key waits a growing delay after `free` failures; an account alone is never a
    key, so nobody can lock out a member of staff by naming their address from elsewhere."""

    failures: dict[str, int] = field(default_factory=dict)
    locked: dict[str, datetime] = field(default_factory=dict)
    max_addresses: int = 50_000  # beyond this, keys whose lock has ended are forgotten
    free: int = LoginPolicy.free_failures

    @staticmethod
    def pair_key(email: str, ip: str) -> str:
        return f"{email.strip().lower()}|{ip}"

    def locked_until(self, ip: str, now: datetime) -> datetime | None:
        until = self.locked.get(ip)
        return until if until is not None and until > now else None

    def failed(self, ip: str, now: datetime) -> None:
        if len(self.failures) >= self.max_addresses:
            self._forget_expired(now)
        count = self.failures.get(ip, 0) + 1
        self.failures[ip] = count
        delay = lock_delay(count, self.free)
        if delay:
            self.locked[ip] = now + delay

    def _forget_expired(self, now: datetime) -> None:
        for ip in [ip for ip in self.failures if self.locked_until(ip, now) is None]:
            self.failures.pop(ip, None)
            self.locked.pop(ip, None)

    def succeeded(self, ip: str) -> None:
        self.failures.pop(ip, None)
        self.locked.pop(ip, None)


# --- security headers ------------------------------------------------------------------------------

APP_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-src 'self'; "
           "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
# an email as sent: its own inline styles and remote images, never scripts
EMAIL_CSP = ("default-src 'none'; img-src https: http: data:; style-src 'unsafe-inline'; font-src https: data:; "
             "form-action 'none'; base-uri 'none'")


HSTS = "max-age=31536000; includeSubDomains"


def security_headers(response: Response, *, https: bool = False, staff_page: bool = False) -> None:
    """The headers every answer carries; HSTS when the public URL is https; `no-store` on desk pages
    (Back after sign-out must not show one from the cache)."""
    headers = response.headers
    if https:
        headers.setdefault("Strict-Transport-Security", HSTS)
    if staff_page:
        headers["Cache-Control"] = "no-store"
    headers.setdefault("Content-Security-Policy", APP_CSP)
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")


# --- bounds and rates --------------------------------------------------------------------------------


@dataclass
class RateLimit:
    """At most `limit` events per key within `window`, in memory (per process), for public forms."""

    limit: int
    window: timedelta
    max_keys: int = 50_000
    events: dict[str, list[datetime]] = field(default_factory=dict)

    def allow(self, key: str, now: datetime) -> bool:
        """Count one event for `key` if it is within the limit; False (and nothing counted) if not."""
        if len(self.events) >= self.max_keys:
            self.events = {k: v for k, v in self.events.items() if v and v[-1] > now - self.window}
        recent = [at for at in self.events.get(key, ()) if at > now - self.window]
        if len(recent) >= self.limit:
            self.events[key] = recent
            return False
        recent.append(now)
        self.events[key] = recent
        return True


class BodyLimits:
    """The largest request body each part of the app reads, in bytes (413 beyond it).

    Public forms are small; the desk takes subscriber CSV files; the SendGrid Event Webhook
    posts batches of events (SendGrid sends at most about 768 KB at once); WebSub pushes may be
    as large as a polled feed (`web.websub.PushLimits`, checked there too)."""

    default = 64 * 1024
    by_prefix: tuple[tuple[str, int], ...] = (
        ("/desk/", 16 * 1024 * 1024),
        ("/webhooks/sendgrid", 2 * 1024 * 1024),
        ("/websub/", 10 * 1024 * 1024 + 1),
    )

    @classmethod
    def cap(cls, path: str) -> int:
        for prefix, size in cls.by_prefix:
            if path.startswith(prefix):
                return size
        return cls.default


class _BodyTooLarge(Exception):
    pass


@dataclass
class BodyMeter:
    """How many body bytes the app has taken in, in total (what an oversize request cost)."""

    bytes_read: int = 0


class BodyLimit:
    """ASGI middleware: every request body is counted as it streams in and cut off past its cap
    (`BodyLimits`), with 413, before any handler holds it whole. A declared Content-Length over the
    cap is refused before a byte of the body is read. `meter` counts what was taken in."""

    def __init__(self, app: Any, limits: type[BodyLimits] = BodyLimits, meter: BodyMeter | None = None) -> None:
        self.app = app
        self.limits = limits
        self.meter = meter or BodyMeter()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap = self.limits.cap(scope.get("path", ""))
        declared = dict(scope.get("headers") or ()).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > cap:
            await _too_large(send, cap)
            return
        received = 0
        started = False

        async def counted() -> Any:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                size = len(message.get("body", b""))
                received += size
                self.meter.bytes_read += size
                if received > cap:
                    raise _BodyTooLarge()
            return message

        async def watched(message: Any) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        too_large = False
        try:
            await self.app(scope, counted, watched)
        except* _BodyTooLarge:  # raised from a task group too (Starlette's BaseHTTPMiddleware reads in one)
            too_large = True
        if too_large and not started:
            await _too_large(send, cap)


async def _too_large(send: Any, cap: int) -> None:
    body = f"the request body is larger than this address takes ({cap:,} bytes)\n".encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
