"""Signing in and out, and choosing a password through a one-time set-up link."""

from __future__ import annotations

import math
from datetime import datetime

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from state.staff import LoginPolicy, StaffError, as_staff, authenticate, set_password, staff_for_setup
from web.render import app_of, message, page
from web.security import csrf_form, safe_next, sign_in, sign_out

router = APIRouter()


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _wait_text(until: datetime, now: datetime) -> str:
    minutes = max(1, math.ceil((until - now).total_seconds() / 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


@router.get("/login")
def login_page(request: Request, next: str = "/desk") -> Response:  # noqa: A002 - the query parameter's name
    return page(request, "login.html", {"next": safe_next(next), "error": None, "email": ""})


@router.post("/login")
def login(request: Request, form: FormData = Depends(csrf_form)) -> Response:
    app = app_of(request)
    now = app.now()
    email, password = str(form.get("email") or ""), str(form.get("password") or "")
    target = safe_next(str(form.get("next") or "/desk"))
    ip = _client_ip(request)
    ip_lock = app.throttle.locked_until(ip, now)
    if ip_lock is not None:
        return page(request, "login.html", {"next": target, "email": email, "error":
                    f"Too many failed sign-ins from this address: try again in {_wait_text(ip_lock, now)}."},
                    status=429)
    with app.db.session() as session:
        result = authenticate(session, email, password, now=now)
    if result.staff is None:
        app.throttle.failed(ip, now)
        if result.locked_until is not None and result.locked_until > now:
            error = (f"Too many failed sign-ins for this account: try again in "
                     f"{_wait_text(result.locked_until, now)}.")
            return page(request, "login.html", {"next": target, "email": email, "error": error}, status=429)
        return page(request, "login.html", {"next": target, "email": email,
                                            "error": "That email address and password do not match."}, status=401)
    app.throttle.succeeded(ip)
    sign_in(request, result.staff, now)
    return RedirectResponse(target, status_code=303)


@router.post("/logout")
def logout(request: Request, form: FormData = Depends(csrf_form)) -> Response:
    sign_out(request)
    return RedirectResponse("/login", status_code=303)


@router.get("/setup/{token}")
def setup_page(request: Request, token: str) -> Response:
    app = app_of(request)
    with app.db.session() as session:
        try:
            row = staff_for_setup(session, token, now=app.now())
        except StaffError as exc:
            return message(request, "This link does not work", str(exc), status=400)
        email = row.email
    return page(request, "setup.html", {"email": email, "error": None, "token": token,
                                        "min_length": LoginPolicy.min_password_length})


@router.post("/setup/{token}")
def setup(request: Request, token: str, form: FormData = Depends(csrf_form)) -> Response:
    app = app_of(request)
    now = app.now()
    password, again = str(form.get("password") or ""), str(form.get("password_again") or "")
    with app.db.session() as session:
        try:
            row = staff_for_setup(session, token, now=now)
        except StaffError as exc:
            return message(request, "This link does not work", str(exc), status=400)
        email = row.email
        error, staff = None, None
        if password != again:
            error = "The two passwords are not the same."
        else:
            try:
                staff = as_staff(set_password(session, token, password, now=now))
            except StaffError as exc:
                error = str(exc)
    if error or staff is None:
        return page(request, "setup.html", {"email": email, "error": error, "token": token,
                                            "min_length": LoginPolicy.min_password_length}, status=400)
    sign_in(request, staff, now)
    return RedirectResponse("/desk", status_code=303)
