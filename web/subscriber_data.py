"""The desk's "Their data" download: everything held about one subscriber as JSON (a subject access
request, `state.subscriber_export`), for admins, audited."""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from state.models import SubscriberRow
from state.staff import Staff
from state.subscriber_export import audit_export, export_address
from web.render import app_of, message
from web.security import need

router = APIRouter()


@router.get("/desk/subscribers/{subscriber_id}/data.json")
def subscriber_data(request: Request, subscriber_id: int, staff: Staff = Depends(need("admin"))) -> Response:
    app = app_of(request)
    now = app.now()
    with app.db.session() as session:
        row = session.get(SubscriberRow, subscriber_id)
        if row is None:
            return message(request, "No such subscriber", f"there is no subscriber {subscriber_id}: it may have been "
                           "erased", status=404)
        data = export_address(session, row.email, now=now)
        audit_export(session, row.email, by=staff.email, now=now, subscriber_id=row.id, door="desk")
    name = f"subscriber-{subscriber_id}-{now.strftime('%Y%m%d')}.json"
    return Response(json.dumps(data, ensure_ascii=False, indent=2) + "\n", media_type="application/json; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})
