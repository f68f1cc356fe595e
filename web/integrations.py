"""The desk's Integrations page (admins): the JSON API's tokens (make one, shown once; revoke one)
and the outgoing webhooks with their latest deliveries, failures and what they said.

The same ledger functions as `syndicate api-tokens ...` and `syndicate webhooks ...`, audited the same way.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy import func, select
from starlette.responses import RedirectResponse, Response

from state import api_tokens, webhooks
from state.errors import LedgerError
from state.models import WebhookDeliveryRow
from state.staff import Staff
from web.render import app_of, page
from web.security import Posted, need, posted

router = APIRouter()


class IntegrationLimits:
    deliveries = 25


def _context(request: Request) -> dict[str, Any]:
    app = app_of(request)
    with app.db.session() as session:
        tokens = list(api_tokens.list_tokens(session))
        hooks = []
        for endpoint in webhooks.endpoints(session):
            d = WebhookDeliveryRow
            delivered, failed, waiting = session.execute(select(
                func.count(d.delivered_at), func.count(d.gave_up_at),
                func.count().filter(d.delivered_at.is_(None), d.gave_up_at.is_(None)))
                .where(d.endpoint_id == endpoint.id)).one()
            hooks.append({"row": endpoint, "delivered": delivered, "failed": failed, "waiting": waiting})
        latest = [{"row": row, "state": webhooks.delivery_state(row)}
                  for row in webhooks.deliveries(session, limit=IntegrationLimits.deliveries)]
    return {"tokens": tokens, "hooks": hooks, "deliveries": latest, "scopes": api_tokens.SCOPES,
            "new_token": None, "error": None, "done": request.query_params.get("done")}


@router.get("/desk/integrations")
def integrations_page(request: Request, staff: Staff = Depends(need("admin"))) -> Response:
    return page(request, "integrations.html", _context(request))


@router.post("/desk/integrations/tokens")
def make_token(request: Request, post: Posted = Depends(posted("admin"))) -> Response:
    """Make a token; the page shows it this once."""
    app = app_of(request)
    name, scope = str(post.form.get("name") or "")[:200], str(post.form.get("scope") or "")
    try:
        with app.db.session() as session:
            row, token = api_tokens.create_token(session, name, scope=scope, by=post.staff.email, now=app.now())
            made = {"name": row.name, "scope": row.scope, "token": token}
    except LedgerError as exc:
        return page(request, "integrations.html", {**_context(request), "error": str(exc)}, status=400)
    return page(request, "integrations.html", {**_context(request), "new_token": made})


@router.post("/desk/integrations/tokens/revoke")
def revoke_token(request: Request, post: Posted = Depends(posted("admin"))) -> Response:
    app = app_of(request)
    try:
        with app.db.session() as session:
            api_tokens.revoke_token(session, str(post.form.get("name") or ""), by=post.staff.email, now=app.now())
    except LedgerError as exc:
        return page(request, "integrations.html", {**_context(request), "error": str(exc)}, status=400)
    return RedirectResponse("/desk/integrations?done=revoked", status_code=303)
