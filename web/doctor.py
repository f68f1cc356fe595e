"""The desk's doctor page: the pre-flight check `syndicate doctor` runs, for any member of staff.

The checks are `connectors.preflight` (DNS, public_url, SendGrid) and `state.doctor` (the ledger),
the same ones the CLI runs. Every member of staff sees each finding and what to change; admins also
see the details that name keys and credentials (where the secret key comes from, the API key's scopes).
The overrides of the check (`syndicate send --override-doctor REASON`, `syndicate doctor --override REASON`) are listed from the audit log.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from sqlalchemy import select
from starlette.responses import Response

from compose.doctor import GMAIL_CLIP_BYTES, DoctorReport
from connectors.preflight import outside_findings, real_sending
from state.doctor import OVERRIDE_ACTION, first_real_send, ledger_findings
from state.models import AuditRow
from state.secret_key import SecretKey
from state.staff import Staff
from web.render import app_of, page
from web.security import need

router = APIRouter()


class DoctorLimits:
    overrides = 10


@router.get("/desk/doctor")
def doctor_page(request: Request, staff: Staff = Depends(need("view"))) -> Response:
    app = app_of(request)
    now, env = app.now(), app.env
    url = app.db.engine.url.render_as_string(hide_password=False)
    outside = outside_findings(app.config, env, secret_key=app.secret_key, now=now)
    with app.db.session() as session:
        key = SecretKey(app.secret_key, "the key the web app runs with")
        report = DoctorReport.of([*outside, *ledger_findings(session, env, now=now, database_url=url, key=key)])
        first = first_real_send(session, "sendgrid")
        overrides = session.scalars(select(AuditRow).where(AuditRow.action == OVERRIDE_ACTION)
                                    .order_by(AuditRow.at.desc()).limit(DoctorLimits.overrides)).all()
        overridden = [{"at": row.at, "by": row.actor, "edition": row.subject_id,
                       "reason": row.detail.get("reason", ""), "blockers": row.detail.get("blockers", [])}
                      for row in overrides]
    return page(request, "doctor.html", {
        "report": report, "counts": report.counts(), "admin": staff.can("admin"), "overrides": overridden,
        "real": real_sending(app.config, env), "first_send": first, "clip_bytes": GMAIL_CLIP_BYTES,
        "provider": app.config.email.provider, "checked_at": now})
