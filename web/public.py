"""Public endpoints (no sign-in): unsubscribe (RFC 8058 one-click), subscribe and confirm (double
opt-in), the archive of sent editions with its RSS feed, the SendGrid Event Webhook, the brand stylesheet."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from email.utils import format_datetime
from xml.sax.saxutils import escape

from email_validator import EmailNotValidError
from fastapi import APIRouter, BackgroundTasks, Depends, HTTPException, Request
from sqlalchemy import Select, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from compose.email import postal_line
from compose.signing import (
    TokenError,
    confirm_token,
    confirm_url,
    verify_confirm,
    verify_confirm_name,
    verify_unsubscribe,
)
from compose.subscribers import NameRefused, check_name, normalise_email
from connectors.channels import email_channel
from connectors.channels.base import OutboundEmail, Recipient
from connectors.channels.sendgrid import WebhookRejected, verify_event_webhook
from connectors.errors import DeliveryError
from state import clicks, ledger, reputation
from state.db import Database
from state.erasure import ErasedAddress, ErasureError
from state.models import EditionRow, EditionStatus
from state.provider_events import apply_provider_events
from state.subscribers import (
    SuppressedAddress,
    UnsubscribeAsk,
    confirm,
    may_confirm,
    subscribe_pending,
    unsubscribe_many,
)
from web.group_commit import GroupCommit
from web.render import WebApp, app_of, message, neutral_tokens, page
from web.security import EMAIL_CSP, BodyLimits, RateLimit, csrf_form, security_headers

router = APIRouter()


class ArchiveLimits:
    index = 100
    feed = 20


# --- unsubscribe ---------------------------------------------------------------------------------------


def _unsubscribe_error(request: Request, exc: Exception) -> Response:
    return message(request, "This unsubscribe link does not work",
                   f"{exc}. To stop receiving the newsletter, reply to any edition and the editors will remove you.",
                   status=400)


@router.get("/unsubscribe/{token}")
async def unsubscribe_page(request: Request, token: str) -> Response:
    app = app_of(request)
    try:
        verify_unsubscribe(app.secret_key, token, now=app.now())
    except TokenError as exc:
        return _unsubscribe_error(request, exc)
    return page(request, "unsubscribe.html", {"token": token, "done": False})


@router.post("/unsubscribe/{token}")
async def unsubscribe_now(request: Request, token: str) -> Response:
    """RFC 8058 one-click (body `List-Unsubscribe=One-Click`, from a mail client) or the page's button:
    no sign-in, no CSRF token (the signed link is the proof), no second step. Answered once the
    unsubscribe is committed (`unsubscribes`: many to a transaction when they arrive together)."""
    app = app_of(request)
    now = app.now()
    try:
        subscriber_id, edition_id = verify_unsubscribe(app.secret_key, token, now=now)
    except TokenError as exc:
        return _unsubscribe_error(request, exc)
    reason = f"unsubscribe link (edition {edition_id})" if edition_id else "unsubscribe link"
    writer: GroupCommit[UnsubscribeAsk, bool] = request.app.state.unsubscribes
    if not await writer.run(UnsubscribeAsk(subscriber_id, reason=reason, now=now, edition_id=edition_id or None)):
        return message(request, "This unsubscribe link does not work",
                       "We have no subscriber for this link any more: you will not get the newsletter.", status=400)
    return page(request, "unsubscribe.html", {"token": token, "done": True})


class UnsubscribeFastPath:
    """Plain ASGI between the body limit and the session middleware: the unsubscribe page and its
    one-click POST (`/unsubscribe/<token>`) are answered here by the handlers above, with the headers
    every answer carries (and `no-store`), without the session cookie, the BaseHTTPMiddleware's task
    and the router: the signed link is all they need, and at 1,000 one-click unsubscribes a second
    those cost more CPU than the unsubscribe. Everything else goes on to the app."""

    _PREFIX = "/unsubscribe/"

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        token = path[len(self._PREFIX):] if path.startswith(self._PREFIX) else ""
        method = scope.get("method")
        if not token or "/" in token or method not in ("GET", "POST"):
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        answer = await (unsubscribe_now if method == "POST" else unsubscribe_page)(request, token)
        security_headers(answer, https=app_of(request).https, staff_page=True)  # a private link: never cached
        await answer(scope, receive, send)


def unsubscribes(db: Database) -> GroupCommit[UnsubscribeAsk, bool]:
    """The one-click unsubscribes of one web process, written many to a transaction (`GroupCommit`):
    the edition's counter row is locked once a transaction, not once a request. True for each
    subscriber found."""

    def write(session: Session, asks: Sequence[UnsubscribeAsk]) -> list[bool]:
        return [row is not None for row in unsubscribe_many(session, asks)]

    return GroupCommit(db, write, name="unsubscribes")


# --- subscribe and confirm ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SubscribeLimits:
    """How often the public sign-up form sends a confirmation (in memory, per process): per client
    address, and per email address (so nobody floods someone's inbox through the form)."""

    per_client: RateLimit
    per_address: RateLimit

    @classmethod
    def fresh(cls) -> SubscribeLimits:
        return cls(per_client=RateLimit(limit=10, window=timedelta(hours=1)),
                   per_address=RateLimit(limit=3, window=timedelta(hours=24)))


@router.get("/subscribe")
def subscribe_page(request: Request) -> Response:
    return page(request, "subscribe.html", {"error": None, "email": "", "name": ""})


@router.post("/subscribe")
def subscribe(request: Request, background: BackgroundTasks, form: FormData = Depends(csrf_form)) -> Response:
    """Double opt-in. A known address is never changed here: what the form carries (a name) travels
    in the confirmation link and is applied when its owner confirms. The email is sent after the
    answer (a background task), and the answer is the same whether or not the address was known."""
    app = app_of(request)
    now = app.now()
    email, name = str(form.get("email") or "").strip()[:320], str(form.get("name") or "")[:1000]
    limits: SubscribeLimits = request.app.state.subscribe_limits
    client = request.client.host if request.client else "unknown"
    if not limits.per_client.allow(client, now):
        return page(request, "subscribe.html", {"error": "Too many sign-ups from your connection: try again in an hour.",
                                                "email": email, "name": name}, status=429)
    try:
        address = normalise_email(email)
    except EmailNotValidError as exc:
        return page(request, "subscribe.html", {"error": f"That email address does not look right: {exc}",
                                                "email": email, "name": name}, status=400)
    try:
        name = check_name(name)
    except NameRefused as exc:
        return page(request, "subscribe.html", {"error": f"That name cannot be used: {exc}.",
                                                "email": email, "name": ""}, status=400)
    if limits.per_address.allow(address.lower(), now):
        with app.db.session() as session:
            send, subscriber_id, stored = False, 0, ""
            try:  # a suppressed address (a hard bounce, a spam report) is never written to again
                row = subscribe_pending(session, address, name=name, source="web:/subscribe", now=now)
            except (SuppressedAddress, ErasedAddress, ErasureError):
                pass
            else:
                send, subscriber_id, stored = may_confirm(session, row), row.id, row.email
        if send:
            background.add_task(_send_confirmation, app, subscriber_id, stored, name)
    # the same answer whether or not the address was known (or asked for too often): no way to probe who subscribes
    return message(request, "Check your inbox",
                   f"If {address} can receive {app.config.edition.title}, we have sent it a link to confirm. "
                   "The link works for 7 days. No link comes to an address whose messages bounced for good or "
                   "were reported as spam, or that was erased at its owner's request: to come back from there, "
                   f"write to {app.config.edition.reply_to}.")


def _send_confirmation(app: WebApp, subscriber_id: int, email: str, name: str) -> None:
    config = app.config
    link = confirm_url(app.public_url, confirm_token(app.secret_key, subscriber_id=subscriber_id, email=email,
                                                     now=app.now(), name=name))
    title = config.edition.title
    text = (f"Please confirm that you want {title} from {config.organisation.name}:\n\n{link}\n\n"
            "If you did not ask for it, ignore this email and nothing will be sent.\n\n"
            f"{postal_line(config.organisation.name, config.organisation.postal_address)}\n")
    html = (f"<p>Please confirm that you want <strong>{escape(title)}</strong> from {escape(config.organisation.name)}:"
            f"</p><p><a href=\"{escape(link)}\">Confirm my subscription</a></p>"
            "<p>If you did not ask for it, ignore this email and nothing will be sent.</p>"
            f"<p style=\"color:#555\">{escape(postal_line(config.organisation.name, config.organisation.postal_address))}</p>")
    outbound = OutboundEmail(edition_id=0, edition_slug="confirmations", subject=f"Confirm your subscription to {title}",
                             html=html, text=text, from_email=config.edition.from_email,
                             from_name=config.edition.from_name, reply_to=config.edition.reply_to,
                             categories=("confirmation",))
    channel = email_channel(config, app.env)
    try:  # the name is not yet confirmed: it goes nowhere in this email, not even the To header
        channel.send_batch(outbound, [Recipient(subscriber_id=subscriber_id, email=email)])
    except DeliveryError:
        pass  # the person can ask again; the failure must not reveal whether the address is known
    finally:
        channel.close()


def _confirm_error(request: Request, exc: Exception) -> Response:
    return message(request, "This confirmation link does not work", f"{exc}.", status=400,
                   link=("/subscribe", "Sign up again"))


@router.get("/confirm/{token}")
def confirm_page(request: Request, token: str) -> Response:
    """A button that confirms: a GET changes nothing, so mail scanners that follow links confirm nobody."""
    app = app_of(request)
    try:
        verify_confirm(app.secret_key, token, now=app.now())
    except TokenError as exc:
        return _confirm_error(request, exc)
    return page(request, "message.html", {
        "title": f"Confirm your subscription to {app.config.edition.title}",
        "text": "Press the button to start receiving it. If you did not ask for it, close this page: nothing will be sent.",
        "link": None, "button": (f"/confirm/{token}", "Confirm my subscription")})


@router.post("/confirm/{token}")
def confirm_subscription(request: Request, token: str, form: FormData = Depends(csrf_form)) -> Response:
    app = app_of(request)
    now = app.now()
    try:
        subscriber_id, email = verify_confirm(app.secret_key, token, now=now)
        name = verify_confirm_name(app.secret_key, token, now=now)
        with app.db.session() as session:
            confirm(session, subscriber_id, email, now=now, name=name)
            ledger.audit(session, actor="subscriber", action="confirm", kind="subscriber", ident=subscriber_id, now=now)
    except (TokenError, ledger.LedgerError) as exc:
        return _confirm_error(request, exc)
    return message(request, "You are subscribed",
                   f"Thank you: {app.config.edition.title} will arrive in your inbox from {app.config.edition.from_email}.",
                   link=("/editions", "Read past editions"))


# --- the archive -------------------------------------------------------------------------------------------


def _sent() -> Select[EditionRow]:
    return select(EditionRow).where(EditionRow.status == EditionStatus.SENT).order_by(EditionRow.sent_at.desc())


@router.get("/editions")
def archive(request: Request) -> Response:
    app = app_of(request)
    with app.db.session() as session:
        rows = session.scalars(_sent().limit(ArchiveLimits.index)).all()
        return page(request, "archive.html", {"editions": rows})


@router.get("/editions/feed.xml")
def feed(request: Request) -> Response:
    """RSS 2.0 of the sent editions, newest first."""
    app = app_of(request)
    config = app.config
    base = app.public_url
    with app.db.session() as session:
        rows = session.scalars(_sent().limit(ArchiveLimits.feed)).all()
        items = "".join(
            f"<item><title>{escape(row.subject)}</title><link>{escape(base)}/editions/{escape(row.slug)}</link>"
            f"<guid isPermaLink=\"true\">{escape(base)}/editions/{escape(row.slug)}</guid>"
            f"<pubDate>{format_datetime(row.sent_at or row.built_at)}</pubDate>"
            f"<description>{escape(row.preheader)}</description></item>"
            for row in rows)
        latest = format_datetime(rows[0].sent_at or rows[0].built_at) if rows else None
    body = ("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<rss version=\"2.0\"><channel>"
            f"<title>{escape(config.edition.title)} ({escape(config.organisation.name)})</title>"
            f"<link>{escape(base)}/editions</link>"
            f"<description>Past editions of {escape(config.edition.title)}</description>"
            + (f"<lastBuildDate>{latest}</lastBuildDate>" if latest else "") + items + "</channel></rss>\n")
    return Response(body, media_type="application/rss+xml; charset=utf-8")


@router.get("/editions/{slug}")
def archived_edition(request: Request, slug: str) -> Response:
    """The "view in browser" page: the edition as sent, with no one's name or unsubscribe link in it."""
    app = app_of(request)
    with app.db.session() as session:
        row = session.scalars(select(EditionRow).where(EditionRow.slug == slug,
                                                       EditionRow.status == EditionStatus.SENT)).first()
        if row is None:
            raise HTTPException(404, "There is no sent edition at this address.")
        html = neutral_tokens(clicks.as_shown(session, row, app.config)[0], unsubscribe_url=f"{app.public_url}/subscribe",
                              preferences_url=f"{app.public_url}/preferences")
    return HTMLResponse(html, headers={"Content-Security-Policy": EMAIL_CSP + "; frame-ancestors 'none'"})


# --- SendGrid Event Webhook -------------------------------------------------------------------------------

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"


@router.post("/webhooks/sendgrid")
async def sendgrid_events(request: Request) -> Response:
    """Delivery, bounce, complaint, open and click events, applied once each; 403 unless signed by SendGrid.

    The signature headers (present, timestamp fresh) are checked before a byte of the body is read,
    and the body is read up to `BodyLimits` (2 MB, 413 beyond: SendGrid posts at most about 768 KB)."""
    app = app_of(request)
    key = app.env.get("SENDGRID_WEBHOOK_PUBLIC_KEY", "")
    if not key:
        return PlainTextResponse("the webhook is not configured: set SENDGRID_WEBHOOK_PUBLIC_KEY", status_code=403)
    signature, timestamp = request.headers.get(SIGNATURE_HEADER, ""), request.headers.get(TIMESTAMP_HEADER, "")
    try:  # the headers first: an unsigned or stale request is refused without reading its body
        verify_event_webhook(key, b"", signature, timestamp, now=app.now().timestamp(), headers_only=True)
    except WebhookRejected as exc:
        return PlainTextResponse(str(exc), status_code=403)
    cap = BodyLimits.cap(request.url.path)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            return PlainTextResponse(f"the body is larger than {cap:,} bytes", status_code=413)
        chunks.append(chunk)
    raw = b"".join(chunks)
    try:
        verify_event_webhook(key, raw, signature, timestamp, now=app.now().timestamp())
    except WebhookRejected as exc:
        return PlainTextResponse(str(exc), status_code=403)
    # parsing and the ledger's work in a thread: the event loop keeps answering other requests meanwhile
    return await run_in_threadpool(_apply_events, app, raw)


def _apply_events(app: WebApp, raw: bytes) -> Response:
    """Apply a verified webhook body: 400 unless a JSON array of events."""
    try:
        events = json.loads(raw)
    except ValueError:
        return PlainTextResponse("the body is not JSON", status_code=400)
    if not isinstance(events, list):
        return PlainTextResponse("the body is not a JSON array of events", status_code=400)
    with app.db.session() as session:
        report = apply_provider_events(session, events, now=app.now())
        # the sender's reputation, judged as the events arrive: a stop pauses email in this transaction
        guarded = reputation.guard(session, app.config.reputation, now=app.now(), edition_ids=report.editions)
    return Response(json.dumps({"applied": report.applied, "duplicates": report.duplicates,
                                "unmatched": report.unmatched, "reputation": guarded.level.name.lower()}),
                    media_type="application/json")


# --- look ---------------------------------------------------------------------------------------------------


@router.get("/brand.css")
def brand_css(request: Request) -> Response:
    """The organisation's colours as CSS variables (a file, so the pages need no inline style)."""
    b = app_of(request).config.branding
    css = (f":root{{--brand:{b.primary_colour};--accent:{b.accent_colour};--ink:{b.text_colour};"
           f"--paper:{b.background_colour};}}\n")
    return Response(css, media_type="text/css", headers={"Cache-Control": "max-age=300"})


@router.get("/")
def home(request: Request) -> Response:
    return RedirectResponse("/editions", status_code=303)

