"""The edition page: the email exactly as sent, edits (through `edit_edition`, which voids approval),
warnings, a test send to oneself, approve / reject, schedule and cancel."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import HTMLResponse, RedirectResponse, Response

from compose.calendar import QuietCalendar
from compose.segments import Segment, SegmentError
from compose.signing import preferences_token, preferences_url, unsubscribe_token, unsubscribe_url
from connectors.channels import email_channel
from connectors.channels.base import OutboundEmail, Recipient, header_text, personalise
from connectors.channels.outbox_email import OutboxEmailChannel
from connectors.channels.reach import loopback_warning
from connectors.errors import DeliveryError
from connectors.link_check import edition_link_warnings
from state import clicks, ledger, quiet, segments
from state.deliveries import edition_figures
from state.edition_edits import edit_edition
from state.editions import FEATURED, acknowledge_warnings
from state.models import ApprovalRow, EditionRow, EditionStatus, SubscriberRow, SubscriberStatus
from state.staff import Staff
from web.render import WebApp, app_of, page
from web.security import EMAIL_CSP, Posted, need, posted

router = APIRouter()

EDITABLE = (EditionStatus.DRAFT, EditionStatus.APPROVED, EditionStatus.REJECTED, EditionStatus.HELD)
NOTICES = {
    "edited": "Saved. The edition waits for approval by an approver who did not edit it.",
    "voided": "Saved. The edition changed, which voided its approval: it must be approved again "
              "(by an approver who did not edit it).",
    "unchanged": "Saved: nothing a subscriber sees changed.",
    "acknowledged": "Warnings acknowledged.",
    "approved": "Approved. It will be sent at its scheduled time.",
    "rejected": "Rejected, with your note.",
    "scheduled": "Schedule changed.",
    "scheduled-quiet": "Schedule changed, but the time you chose is in quiet time: it moved to the next allowed "
                       "moment (see Quiet time).",
    "quiet-overridden": "Quiet time overridden, with your reason: it goes out at the time it was due.",
    "cancelled": "Cancelled: it will not be sent, and its roundup threads will not be posted.",
    "segmented": "Saved: the edition goes to the segment below.",
    "segment-voided": "Saved. The segment changed, which voided its approval: it must be approved again "
                      "(by an approver who did not change it).",
    "tested": "A test was sent to your address through {provider}; it should arrive in a minute or two.",
    "tested-outbox": "No email was sent: no email provider is set up, so the test was written to the outbox "
                     "as a file, in {folder}/ (open the newest .eml file there).",
}


def _notice(request: Request, app: WebApp, row: EditionRow) -> str | None:
    """The banner after an action, saying what is now true (for a test send: where it went)."""
    template = NOTICES.get(request.query_params.get("done", ""))
    if template is None or "{" not in template:
        return template
    channel = email_channel(app.config, app.env)
    try:
        folder = channel.folder(_test_message(row, app.config)) if isinstance(channel, OutboxEmailChannel) else None
        provider = {"sendgrid": "SendGrid"}.get(channel.name, channel.name)
    finally:
        channel.close()
    return template.format(folder=folder.as_posix() if folder else "the outbox", provider=provider)


def _test_message(row: EditionRow, config: Any, secret_key: str = "") -> OutboundEmail:
    html_part, text_part = clicks.as_sent(row, config, secret_key=secret_key) if secret_key else (row.html, row.text)
    return OutboundEmail(edition_id=row.id, edition_slug=f"{row.slug}-test", subject=f"[Test] {row.subject}",
                         html=html_part, text=text_part, from_email=config.edition.from_email,
                         from_name=config.edition.from_name, reply_to=config.edition.reply_to,
                         categories=("test",))


def two_person_rule(config: Any) -> bool:
    """`[review] two_person_rule` (on unless turned off): nobody who changed an edition or thread
    since its last approval may approve it."""
    return bool(config.review.two_person_rule)


def _sections(row: EditionRow, config: Any) -> list[tuple[str, list[Any]]]:
    titles = {section.key: section.title for section in config.sections} | {FEATURED: "Pinned at the top"}
    grouped: dict[str, list[Any]] = {}
    for link in row.items:
        grouped.setdefault(link.section, []).append(link)
    return [(titles.get(key, key), links) for key, links in grouped.items()]


def _context(session: Session, app: WebApp, row: EditionRow, staff: Staff) -> dict[str, Any]:
    approval = ledger.latest_approval(session, "edition", row.id)
    decisions = session.scalars(select(ApprovalRow).where(ApprovalRow.subject_kind == "edition",
                                                          ApprovalRow.subject_id == row.id)
                                .order_by(ApprovalRow.id.desc())).all()
    current = (approval is not None and approval.decision == "approved" and approval.content_hash == row.content_hash
               and ledger.same_segment(approval, row))
    return {"edition": row, "sections": _sections(row, app.config), "approval": approval,
            "approval_current": current, "decisions": decisions,
            "editors": ledger.editors_since_approval(session, "edition", row.id),
            "ever_approved": ledger.ever_approved(session, "edition", row.id),
            "why_not": ledger.why_not_approve(session, "edition", row.id, by=staff.email, now=app.now(),
                                              two_person_rule=two_person_rule(app.config), config=app.config)
            if row.status in EDITABLE else None,
            "threads": ledger.edition_threads(session, row.id),
            "editable": row.status in EDITABLE, "two_person": two_person_rule(app.config),
            "figures": edition_figures(session, row.id) if row.status in (EditionStatus.SENDING, EditionStatus.SENT)
            else None, "preheader_editable": True,
            "quiet": quiet.quiet_note(session, QuietCalendar.from_config(app.config), row)
            if row.status in quiet.OPEN_EDITIONS else None,
            "segment": segments.segment_of(row),
            "segment_size": segments.segment_size(session, row, now=app.now()) if row.status in EDITABLE else None}


def _show(request: Request, edition_id: int, *, error: str | None = None, status: int = 200) -> Response:
    app = app_of(request)
    with app.db.session() as session:
        row = _get(session, edition_id)
        notice = _notice(request, app, row)
        caution = loopback_warning(app.config, app.env) if request.query_params.get("done") == "approved" else None
        preview = _preview(session, app, row, request.query_params.get("as"))
        return page(request, "edition.html", {**_context(session, app, row, request.state.staff), **preview, "notice": notice,
                                              "error": error, "caution": caution}, status=status)


def _preview(session: Session, app: WebApp, row: EditionRow, chosen: str | None) -> dict[str, Any]:
    """Both parts and the subject as a sample subscriber gets them, tokens filled as the channels fill
    them: the first active subscriber, or (`?as=noname`, or when there is none) someone with no name."""
    sample = None
    if chosen != "noname":
        sample = session.scalars(select(SubscriberRow).where(SubscriberRow.status == SubscriberStatus.ACTIVE)
                                 .order_by(SubscriberRow.id).limit(1)).first()
    link = (unsubscribe_url(app.public_url, unsubscribe_token(app.secret_key, subscriber_id=sample.id,
                                                              edition_id=row.id, now=app.now()))
            if sample else f"{app.public_url}/subscribe")
    settings = (preferences_url(app.public_url, preferences_token(app.secret_key, subscriber_id=sample.id,
                                                                  email=sample.email, now=app.now()))
                if sample else f"{app.public_url}/preferences")
    recipient = Recipient(subscriber_id=sample.id if sample else 0, email=sample.email if sample else "",
                          name=sample.name if sample else "", unsubscribe_url=link, preferences_url=settings)
    shown = clicks.as_shown(session, row, app.config)  # article links straight to the article: where readers land
    return {"preview_as": "noname" if sample is None else "", "sample": sample,
            "preview_html": personalise(shown[0], recipient, "html"),
            "preview_text": personalise(shown[1], recipient, "text"),
            "preview_subject": header_text(personalise(row.subject, recipient, "header"))}


def _get(session: Session, edition_id: int) -> EditionRow:
    from fastapi import HTTPException

    row = session.get(EditionRow, edition_id)
    if row is None:
        raise HTTPException(404, f"There is no edition {edition_id}.")
    return row


def _done(edition_id: int, what: str) -> RedirectResponse:
    return RedirectResponse(f"/desk/editions/{edition_id}?done={what}", status_code=303)


@router.get("/desk/editions/{edition_id}")
def edition_page(request: Request, edition_id: int, staff: Staff = Depends(need("view"))) -> Response:
    return _show(request, edition_id)


@router.get("/desk/editions/{edition_id}/email.html")
def edition_email(request: Request, edition_id: int, staff: Staff = Depends(need("view"))) -> Response:
    """The HTML part as a sample subscriber receives it, for the preview frame (only this route may be
    framed, by this site)."""
    app = app_of(request)
    with app.db.session() as session:
        row = _get(session, edition_id)
        html = _preview(session, app, row, request.query_params.get("as"))["preview_html"]
    return HTMLResponse(html, headers={"Content-Security-Policy": EMAIL_CSP + "; frame-ancestors 'self'",
                                       "X-Frame-Options": "SAMEORIGIN", "Cache-Control": "no-store"})


def _featured(row: EditionRow, form: Any) -> str | None:
    """The pinned item's URL from the form: None keeps the current pin, "" unpins."""
    chosen = form.get("featured")
    if chosen is None:
        return None
    urls = {str(link.item_id): link.item.url for link in row.items}
    return urls.get(str(chosen), "")


def _order(row: EditionRow, form: Any) -> tuple[dict[str, list[str]], list[str]]:
    """Staff order per section (position fields) and the removed items (checkboxes), as URLs."""
    order: dict[str, list[tuple[float, int, str]]] = {}
    removed: list[str] = []
    for index, link in enumerate(row.items):
        url = link.item.url
        if form.get(f"remove-{link.item_id}"):
            removed.append(url)
            continue
        try:
            position = float(str(form.get(f"pos-{link.item_id}") or index + 1))
        except ValueError:
            position = float(index + 1)
        order.setdefault(link.section, []).append((position, index, url))
    return {key: [url for _, _, url in sorted(values)] for key, values in order.items()}, removed


@router.post("/desk/editions/{edition_id}/edit")
def edition_edit(request: Request, edition_id: int, post: Posted = Depends(posted("edit"))) -> Response:
    app = app_of(request)
    form = post.form
    try:
        with app.db.session() as session:
            row = _get(session, edition_id)
            if row.status not in EDITABLE:
                return _show_error(request, edition_id, f"edition {row.id} is {row.status}: it can no longer change")
            order, removed = _order(row, form)
            subject = str(form.get("subject") or "").strip()
            preheader = str(form.get("preheader") or "").strip()
            before, was_approved = row.content_hash, row.status == EditionStatus.APPROVED
            edit_edition(session, app.config, edition_id, by=post.staff.email, now=app.now(),
                         link_warnings=edition_link_warnings,
                         intro_markdown=str(form.get("intro") or "").replace("\r\n", "\n"),
                         subject=subject if subject and subject != row.subject else None,
                         preheader=preheader if preheader and preheader != row.preheader else None,
                         removed_urls=removed, order=order, featured_url=_featured(row, form))
            changed = row.content_hash != before
    except (ledger.LedgerError, ValueError) as exc:
        return _show_error(request, edition_id, str(exc))
    return _done(edition_id, ("voided" if was_approved else "edited") if changed else "unchanged")


def _show_error(request: Request, edition_id: int, error: str) -> Response:
    return _show(request, edition_id, error=_sentence(error), status=409)


@router.post("/desk/editions/{edition_id}/acknowledge")
def edition_acknowledge(request: Request, edition_id: int, post: Posted = Depends(posted("edit"))) -> Response:
    app = app_of(request)
    try:
        with app.db.session() as session:
            acknowledge_warnings(session, edition_id, by=post.staff.email, now=app.now())
    except ledger.LedgerError as exc:
        return _show_error(request, edition_id, str(exc))
    return _done(edition_id, "acknowledged")


@router.post("/desk/editions/{edition_id}/approve")
def edition_approve(request: Request, edition_id: int, post: Posted = Depends(posted("approve"))) -> Response:
    app = app_of(request)
    note = str(post.form.get("note") or "").strip() or None
    try:
        with app.db.session() as session:
            _get(session, edition_id)
            ledger.approve(session, "edition", edition_id, by=post.staff.email, now=app.now(), note=note,
                           two_person_rule=two_person_rule(app.config), config=app.config)
    except ledger.LedgerError as exc:
        with app.db.session() as session:
            ledger.record_refusal(session, exc, now=app.now())
        return _show(request, edition_id, status=403 if isinstance(exc, ledger.NotAllowed) else 409,
                     error=_sentence(str(exc)))
    return _done(edition_id, "approved")


def _sentence(message: str) -> str:
    """A ledger message as a sentence on the page."""
    message = message.strip()
    return (message[:1].upper() + message[1:]).rstrip(".") + "." if message else message


@router.post("/desk/editions/{edition_id}/reject")
def edition_reject(request: Request, edition_id: int, post: Posted = Depends(posted("approve"))) -> Response:
    app = app_of(request)
    try:
        with app.db.session() as session:
            _get(session, edition_id)
            ledger.reject(session, "edition", edition_id, by=post.staff.email,
                          note=str(post.form.get("note") or ""), now=app.now())
    except ledger.LedgerError as exc:
        return _show_error(request, edition_id, str(exc))
    return _done(edition_id, "rejected")


def parse_local(value: str, app: WebApp) -> datetime:
    """A `datetime-local` value, meant in the organisation's zone, as UTC."""
    try:
        naive = datetime.strptime(value.strip(), "%Y-%m-%dT%H:%M")
    except ValueError:
        raise ValueError(f"{value!r} is not a date and time: use the picker (YYYY-MM-DD HH:MM)") from None
    return naive.replace(tzinfo=app.zone).astimezone(UTC)


@router.post("/desk/editions/{edition_id}/schedule")
def edition_schedule(request: Request, edition_id: int, post: Posted = Depends(posted("approve"))) -> Response:
    app = app_of(request)
    now = app.now()
    try:
        when = parse_local(str(post.form.get("when") or ""), app)
    except ValueError as exc:
        return _show_error(request, edition_id, str(exc))
    if when <= now:
        return _show_error(request, edition_id, "choose a time in the future")
    with app.db.session() as session:
        row = _get(session, edition_id)
        if row.status not in EDITABLE:
            return _show_error(request, edition_id, f"edition {row.id} is {row.status}: its schedule cannot change")
        before = row.scheduled_for
        row.scheduled_for = when
        ledger.audit(session, actor=post.staff.email, action="schedule", kind="edition", ident=row.id, now=now,
                     previous=before.isoformat() if before else None, scheduled_for=when.isoformat())
        calendar = QuietCalendar.from_config(app.config)
        moved = quiet.place(session, calendar, row, now=now)  # a time in quiet time moves, and says why
        quiet.follow_edition_time(session, calendar, row, before, now=now)  # its roundups go out with it
    return _done(edition_id, "scheduled-quiet" if moved else "scheduled")



@router.post("/desk/editions/{edition_id}/cancel")
def edition_cancel(request: Request, edition_id: int, post: Posted = Depends(posted("approve"))) -> Response:
    app = app_of(request)
    now = app.now()
    with app.db.session() as session:
        row = _get(session, edition_id)
        if row.status not in EDITABLE:
            return _show_error(request, edition_id, f"edition {row.id} is {row.status}: it cannot be cancelled")
        ledger.cancel_edition(session, row, by=post.staff.email, now=now)
    return _done(edition_id, "cancelled")


@router.post("/desk/editions/{edition_id}/test")
def edition_test_send(request: Request, edition_id: int, post: Posted = Depends(posted("edit"))) -> Response:
    """Send the edition to the signed-in member of staff only, through the configured email channel."""
    app = app_of(request)
    config = app.config
    with app.db.session() as session:
        row = _get(session, edition_id)
        message = _test_message(row, config, app.secret_key)
    channel = email_channel(config, app.env)
    try:
        channel.send_batch(message, [Recipient(subscriber_id=0, email=post.staff.email,
                                               unsubscribe_url=f"{app.public_url}/subscribe",
                                               preferences_url=f"{app.public_url}/preferences")])
    except DeliveryError as exc:
        return _show_error(request, edition_id, f"the test was not sent: {exc}")
    finally:
        channel.close()
    with app.db.session() as session:
        ledger.audit(session, actor=post.staff.email, action="test-send", kind="edition", ident=edition_id,
                     now=app.now(), channel=channel.name, to=post.staff.email)
    return _done(edition_id, "tested-outbox" if isinstance(channel, OutboxEmailChannel) else "tested")


@router.post("/desk/editions/{edition_id}/segment")
def edition_segment(request: Request, edition_id: int, post: Posted = Depends(posted("edit"))) -> Response:
    """Who the edition goes to: readers with any or all of some tags, and only some sections
    (`compose.segments`); nothing chosen is everyone. A new segment voids an approval."""
    app = app_of(request)
    known = [section.key for section in app.config.sections]
    try:
        tags = [tag for part in str(post.form.get("tags") or "").replace(",", ";").split(";") if (tag := part.strip())]
        chosen = Segment.build(tags=tags, match=str(post.form.get("match") or "any"),
                               sections=[key for key in known if post.form.get(f"section-{key}")],
                               known_sections=known)
    except SegmentError as exc:
        return _show_error(request, edition_id, str(exc))
    try:
        with app.db.session() as session:
            _get(session, edition_id)
            voided = segments.set_segment(session, edition_id, chosen, by=post.staff.email, now=app.now())
    except ledger.LedgerError as exc:
        return _show_error(request, edition_id, str(exc))
    return _done(edition_id, "segment-voided" if voided else "segmented")
