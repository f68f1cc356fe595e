"""Subscribers changed from the desk: import a CSV (preview first, then confirm), add one person,
unsubscribe one person. Admin actions, like the export; each is in the audit log with who did it.

The import checks rows exactly as `syndicate subscribers import` does (`compose.subscribers`), shows
what would change (new, updated, unchanged, refused, with line numbers) and imports nothing until
an admin confirms. The confirm step posts the file's text back and checks it all again.
"""

from __future__ import annotations

from email_validator import EmailNotValidError
from fastapi import APIRouter, Depends, Request
from starlette.datastructures import UploadFile
from starlette.responses import RedirectResponse, Response

from compose.subscribers import NameRefused, SubscriberCsvRow, check_name, normalise_email
from state import erasure, ledger
from state.errors import LedgerError
from state.models import SubscriberStatus
from state.staff import Staff
from state.subscribers import (
    LEFT,
    find,
    import_subscribers,
    lift_suppression,
    preview_import,
    suppression_of,
    unsubscribe,
)
from web.render import app_of, page
from web.security import Posted, need, posted
from web.subscribers import subscribers_page

router = APIRouter()


class ImportLimits:
    max_bytes = 1_000_000  # the confirm step posts the text back as a form field (1 MB per field)


def _form(request: Request, *, error: str | None = None, status: int = 200) -> Response:
    return page(request, "subscribers_import.html", {"preview": None, "error": error,
                                                    "max_bytes": ImportLimits.max_bytes}, status=status)


@router.get("/desk/subscribers/import")
def import_form(request: Request, staff: Staff = Depends(need("admin"))) -> Response:
    return _form(request)


async def _text_of(upload: object) -> str:
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise ValueError("choose a CSV file to import")
    raw = await upload.read(ImportLimits.max_bytes + 1)
    if len(raw) > ImportLimits.max_bytes:
        raise ValueError(f"the file is over {ImportLimits.max_bytes:,} bytes: split it, or use "
                         "`syndicate subscribers import FILE.csv`")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError("the file is not UTF-8 text: save it as “CSV UTF-8” and upload it again") from None


@router.post("/desk/subscribers/import")
async def import_preview_or_confirm(request: Request, post: Posted = Depends(posted("admin"))) -> Response:
    """Without `confirm`: check the uploaded file and show what would change. With it: import."""
    app = app_of(request)
    confirm = post.form.get("confirm") == "yes"
    filename = str(post.form.get("filename") or "desk upload")[:200]
    try:
        if confirm:
            text = str(post.form.get("csv") or "")
            if len(text.encode("utf-8")) > ImportLimits.max_bytes:
                raise ValueError(f"the file is over {ImportLimits.max_bytes:,} bytes")
        else:
            upload = post.form.get("file")
            text = await _text_of(upload)
            filename = (upload.filename if isinstance(upload, UploadFile) and upload.filename else filename)[:200]
    except ValueError as exc:
        return _form(request, error=str(exc), status=400)
    with app.db.session() as session:
        preview = preview_import(session, text)
        if not confirm or not preview.importable:
            return page(request, "subscribers_import.html", {
                "preview": preview, "csv": text, "filename": filename, "error": None,
                "max_bytes": ImportLimits.max_bytes}, status=200 if not preview.problems else 400)
        report = import_subscribers(session, preview.rows, source=filename, now=app.now(), by=post.staff.email)
    return RedirectResponse(f"/desk/subscribers?done=imported&added={report.added}"
                            f"&activated={report.activated}&unchanged={report.unchanged}", status_code=303)


def _back(done: str, who: str) -> RedirectResponse:
    from urllib.parse import urlencode

    return RedirectResponse(f"/desk/subscribers?{urlencode({'done': done, 'who': who})}", status_code=303)


def _refused(request: Request, why: str) -> Response:
    return subscribers_page(request, error=why, code=400)


@router.post("/desk/subscribers/add")
def add_one(request: Request, post: Posted = Depends(posted("admin"))) -> Response:
    """One person, active at once: the admin vouches for their consent (recorded as theirs)."""
    app = app_of(request)
    raw, name = str(post.form.get("email") or "").strip(), str(post.form.get("name") or "")[:1000]
    try:
        email = normalise_email(raw)
    except EmailNotValidError as exc:
        return _refused(request, f"{raw or 'the address'} is not a valid email address: {exc}")
    try:  # the same rule as the public form and a CSV file: printable, one line, no < or >
        name = " ".join(check_name(name).split())
    except NameRefused as exc:
        return _refused(request, f"That name cannot be used: {exc}.")
    with app.db.session() as session:
        current = find(session, email)
        suppression = suppression_of(session, email)
        if suppression is not None and (current is None or current.status != SubscriberStatus.ACTIVE):
            return _refused(request, suppression.refusal(email))
        if current is not None and current.status in LEFT:
            return _refused(request, f"{current.email} is {current.status}: only they can subscribe again, "
                                     "through the sign-up form")
        if current is None and erasure.is_erased(session, email):
            return _refused(request, erasure.refusal(email))
        report = import_subscribers(session, [SubscriberCsvRow(line=1, email=email, name=name)],
                                    source=f"desk:{post.staff.email}", now=app.now(), by=post.staff.email)
    return _back("added" if report.added or report.activated else "known", who=email)


@router.post("/desk/subscribers/unsubscribe")
def unsubscribe_one(request: Request, post: Posted = Depends(posted("admin"))) -> Response:
    app = app_of(request)
    raw = str(post.form.get("email") or "").strip()
    now = app.now()
    with app.db.session() as session:
        row = find(session, raw) if raw and not raw.isdigit() else None
        if row is None:
            return _refused(request, f"there is no subscriber {raw or '(empty)'}: check the address")
        if row.status in LEFT:
            return _back("known", who=row.email)
        unsubscribe(session, row.id, reason=f"unsubscribed by staff ({post.staff.email})", now=now)
        ledger.audit(session, actor=post.staff.email, action="subscriber.unsubscribe", kind="subscriber",
                     ident=row.id, now=now)
        email = row.email
    return _back("unsubscribed", who=email)


@router.post("/desk/subscribers/reinstate")
def reinstate_one(request: Request, post: Posted = Depends(posted("admin"))) -> Response:
    """Lift the suppression of an address that bounced or complained, because the person asked to
    come back (admins, with a reason: audited). They are unsubscribed until they confirm a new sign-up."""
    app = app_of(request)
    raw, reason = str(post.form.get("email") or "").strip(), str(post.form.get("reason") or "")[:500]
    with app.db.session() as session:
        try:
            done = lift_suppression(session, raw, by=post.staff.email, reason=reason, now=app.now())
        except LedgerError as exc:
            session.rollback()
            return _refused(request, str(exc))
    return _back("reinstated", who=done.email)
