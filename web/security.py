"""Sessions, CSRF tokens, staff sign-in checks and security headers for the web app.

The session is one signed cookie (itsdangerous) holding a CSRF token and, once signed in, the
staff id and a fingerprint of their password hash (changing the password ends old sessions).
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

from state.staff import Staff, current_staff, lock_delay

SESSION_COOKIE = "syndicate_session"
CSRF_FIELD = "csrf_token"


class SessionPolicy:
    lifetime = timedelta(hours=12)
    cookie_max_age_s = 12 * 3600


class NotSignedIn(Exception):
    """An anonymous request to a staff page."""


class Forbidden(Exception):
    """A signed-in member of staff whose role may not do this, or a form without a valid CSRF token."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class WebSession:
    csrf: str
    staff_id: int | None = None
    fingerprint: str | None = None
    issued: int = 0
    changed: bool = False

    def as_payload(self) -> dict[str, Any]:
        return {"c": self.csrf, "s": self.staff_id, "f": self.fingerprint, "t": self.issued}


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
            session = WebSession(csrf=data["c"], staff_id=data.get("s"), fingerprint=data.get("f"),
                                 issued=int(data.get("t") or 0))
            if session.staff_id is not None and now.timestamp() - session.issued > SessionPolicy.lifetime.total_seconds():
                session.staff_id = session.fingerprint = None
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
    session.staff_id, session.fingerprint, session.issued = staff.id, staff.fingerprint, int(now.timestamp())
    session.changed = True


def sign_out(request: Request) -> None:
    session = web_session(request)
    session.csrf = secrets.token_urlsafe(32)
    session.staff_id = session.fingerprint = None
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


def _staff(request: Request) -> Staff | None:
    session = web_session(request)
    if session.staff_id is None or not session.fingerprint:
        return None
    app = request.app.state.syndicate
    with app.db.session() as db_session:
        return current_staff(db_session, session.staff_id, session.fingerprint)


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
    """Failed sign-ins per client address, in memory: the same growing lock as per account."""

    failures: dict[str, int] = field(default_factory=dict)
    locked: dict[str, datetime] = field(default_factory=dict)
    max_addresses: int = 50_000  # beyond this, addresses whose lock has ended are forgotten

    def locked_until(self, ip: str, now: datetime) -> datetime | None:
        until = self.locked.get(ip)
        return until if until is not None and until > now else None

    def failed(self, ip: str, now: datetime) -> None:
        if len(self.failures) >= self.max_addresses:
            self._forget_expired(now)
        count = self.failures.get(ip, 0) + 1
        self.failures[ip] = count
        delay = lock_delay(count)
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


def security_headers(response: Response) -> None:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", APP_CSP)
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
