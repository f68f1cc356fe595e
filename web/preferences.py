"""The reader's preference page, reached by the signed link in every email's footer (no password):
their sections, their name, a pause of a few weeks, or leaving (one click, and final until they
sign up again). Each change is confirmed on the page and recorded with its time and door
("preferences", `state.subscriber_changes`).

The signed token in the address is the proof, as on the one-click unsubscribe page: no sign-in and
no session CSRF token, so a forwarded or old email still works in any browser. A cross-site form
(the browser's `Sec-Fetch-Site: cross-site`, or an `Origin` that is not this site) is refused, so
another site cannot post to a link it learnt. An expired or altered link changes nothing and says
how to get a fresh one (every email carries one).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.responses import Response

from compose.signing import TokenError, preferences_subscriber, verify_preferences
from compose.subscribers import NameRefused
from state import reader_preferences as prefs
from state.errors import LedgerError
from state.models import SubscriberRow
from state.subscribers import LEFT
from web.render import WebApp, app_of, page

router = APIRouter()


class PreferenceLimits:
    max_form_fields = 40  # sections are checkboxes: a config has a handful


@dataclass(frozen=True)
class _View:
    """What the page shows about the reader, read inside the session."""

    name: str
    email: str
    chosen: tuple[str, ...]
    paused_until: datetime | None
    left: bool


def _view(row: SubscriberRow, app: WebApp) -> _View:
    known = [section.key for section in app.config.sections]
    return _View(name=row.name, email=row.email, chosen=tuple(prefs.chosen_sections(row, known)),
                 paused_until=row.paused_until if prefs.paused(row, app.now()) else None, left=row.status in LEFT)


def _no_link(request: Request, why: str, status: int = 400) -> Response:
    app = app_of(request)
    return page(request, "preferences_link.html", {"why": why, "reply_to": app.config.edition.reply_to},
                status=status)


_GONE = "We hold nothing for this link any more: you will not get the newsletter."


def _reader(request: Request, session: Session, token: str) -> SubscriberRow | Response:
    """The subscriber a genuine, current link names; else the page that says why and changes nothing."""
    app = app_of(request)
    try:
        row = session.get(SubscriberRow, preferences_subscriber(token))
        if row is None:
            return _no_link(request, _GONE)
        verify_preferences(app.secret_key, token, email=row.email, now=app.now())
    except TokenError as exc:
        said = str(exc)
        return _no_link(request, f"{said[:1].upper()}{said[1:]}.")
    return row


def _render(request: Request, token: str, view: _View, *, saved: str | None = None, error: str | None = None,
            status: int = 200) -> Response:
    app = app_of(request)
    response = page(request, "preferences.html", {
        "token": token, "reader": view, "sections": app.config.sections, "weeks": prefs.PAUSE_WEEKS,
        "saved": saved, "error": error}, status=status)
    response.headers["Cache-Control"] = "no-store"  # the page names the reader
    return response


@router.get("/preferences")
def where_is_my_link(request: Request) -> Response:
    """Without a token (the archive's footer, a mistyped link): where each reader's own link is."""
    return _no_link(request, "", status=200)


@router.get("/preferences/{token}")
def preferences_page(request: Request, token: str) -> Response:
    app = app_of(request)
    with app.db.session() as session:
        row = _reader(request, session, token)
        if isinstance(row, Response):
            return row
        view = _view(row, app)
    return _render(request, token, view)


def _cross_site(request: Request) -> bool:
    """True for a form another site made the browser post: SameSite in spirit, for a page with no cookie.
    (Our pages send `Referrer-Policy: no-referrer`, so the browser's own forms say `Origin: null`:
    `Sec-Fetch-Site` tells them apart.)"""
    if request.headers.get("sec-fetch-site", "").lower() == "cross-site":
        return True
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return False
    ours = {urlsplit(app_of(request).public_url).netloc.lower(), (request.headers.get("host") or "").lower()}
    return urlsplit(origin).netloc.lower() not in ours


@router.post("/preferences/{token}")
async def change_preferences(request: Request, token: str) -> Response:
    """One change per form: `action` is sections, name, pause, resume or leave."""
    app = app_of(request)
    if _cross_site(request):
        return _no_link(request, "This form came from another website.", status=403)
    form = await request.form(max_fields=PreferenceLimits.max_form_fields)
    now = app.now()
    with app.db.session() as session:
        row = _reader(request, session, token)
        if isinstance(row, Response):
            return row
        subscriber_id = row.id
        try:
            saved = _apply(session, row, form, app, now)
        except (LedgerError, NameRefused) as exc:
            session.rollback()
            fresh = session.get(SubscriberRow, subscriber_id)
            assert fresh is not None
            return _render(request, token, _view(fresh, app), error=f"Nothing was changed: {exc}.", status=400)
        view = _view(row, app)
    return _render(request, token, view, saved=saved)


def _apply(session: Session, row: SubscriberRow, form: FormData, app: WebApp, now: datetime) -> str:
    """Make the change the form asks for; the sentence that confirms it."""
    action = str(form.get("action") or "")
    title = app.config.edition.title
    if action == "leave":
        prefs.leave(session, row, now=now)
        return f"Saved: you have left, and will not get {title} any more."
    if action == "sections":
        keys = [str(value) for value in form.getlist("section")]
        known = [section.key for section in app.config.sections]
        prefs.set_sections(session, row, keys, known=known, now=now)
        titles = [section.title for section in app.config.sections if section.key in prefs.chosen_sections(row, known)]
        return f"Saved: you will get {_and(titles)}."
    if action == "name":
        name = prefs.set_name(session, row, str(form.get("name") or ""), now=now)
        return f"Saved: we will greet you as {name.split()[0]}." if name.split() else "Saved: we will not use a name."
    if action == "pause":
        try:
            weeks = int(str(form.get("weeks") or ""))
        except ValueError:
            raise prefs.PreferenceRefused("choose how many weeks to pause for") from None
        until = prefs.pause(session, row, weeks, now=now)
        return f"Saved: no email until {until.astimezone(app.zone).strftime('%A %-d %B %Y')}."
    if action == "resume":
        prefs.resume(session, row, now=now)
        return f"Saved: {title} comes again from the next edition."
    raise prefs.PreferenceRefused("the form did not say what to change: reload the page and try again")


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"
