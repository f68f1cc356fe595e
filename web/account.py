"""Signing in and out, and choosing a password through a one-time set-up link.

Failed sign-ins are throttled per account and client address together, and per address over all
accounts (`web.security.IpThrottle`); never per account alone, so naming a member of staff's
address from elsewhere cannot lock them out. Every refusal is worded the same and answers with
the same status whether or not the account exists.
"""

from __future__ import annotations

import math
from datetime import datetime

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from state.staff import (
    ROLES,
    LoginPolicy,
    StaffError,
    as_staff,
    authenticate,
    disable_staff,
    list_staff,
    set_password,
    sign_out_everywhere,
    staff_for_setup,
)
from web.render import app_of, message, page
from web.security import IpThrottle, Posted, csrf_form, posted, safe_next, sign_in, sign_out, signed_in

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
    pair = IpThrottle.pair_key(email, ip)
    pairs, addresses = _throttles(request)
    waits = [until for until in (pairs.locked_until(pair, now), addresses.locked_until(ip, now)) if until]
    if waits:
        return _refused(request, target, email, f"Too many failed sign-ins: try again in {_wait_text(max(waits), now)}.",
                        status=429)
    with app.db.session() as session:
        result = authenticate(session, email, password, now=now)
    if result.staff is None:
        pairs.failed(pair, now)
        addresses.failed(ip, now)
        return _refused(request, target, email, "That email address and password do not match.", status=401)
    pairs.succeeded(pair)
    sign_in(request, result.staff, now)
    return RedirectResponse(target, status_code=303)


def _throttles(request: Request) -> tuple[IpThrottle, IpThrottle]:
    """Failures per account-and-address pair, and per address over all accounts (kept on the app)."""
    return request.app.state.sign_in_pairs, app_of(request).throttle


def _refused(request: Request, target: str, email: str, error: str, *, status: int) -> Response:
    return page(request, "login.html", {"next": target, "email": email, "error": error}, status=status)


@router.post("/logout")
def logout(request: Request, form: FormData = Depends(csrf_form)) -> Response:
    """Sign out: every session of this member of staff ends, on this device and any other."""
    staff = signed_in(request)
    if staff is not None:
        app = app_of(request)
        with app.db.session() as session:
            sign_out_everywhere(session, staff.id, now=app.now())
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


@router.post("/desk/staff/disable")
def staff_disable(request: Request, post: Posted = Depends(posted("admin"))) -> Response:
    """An admin disables a member of staff: every session of theirs ends at once (`syndicate staff disable`)."""
    app = app_of(request)
    email = str(post.form.get("email") or "").strip()
    error = None
    if email.lower() == post.staff.email.lower():
        error = "You cannot disable your own account here: ask another admin, or use `syndicate staff disable`."
    else:
        with app.db.session() as session:
            try:
                disable_staff(session, email, now=app.now(), by=post.staff.email)
            except StaffError as exc:
                error = str(exc)
    if error is None:
        return RedirectResponse("/desk/staff", status_code=303)
    with app.db.session() as session:
        return page(request, "staff.html", {"members": list_staff(session), "roles": ROLES, "link": None,
                                            "error": error}, status=400)
