"""`webhooks add|list|remove|deliveries|send`: outgoing webhooks (subscribed, unsubscribed, edition
sent), signed the Standard Webhooks way; endpoints changed by admins, audited."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from flows.cli import terminal
from flows.cli.context import Abort, as_json, config, database, display_zone, now, person

ADMIN_BY = typer.Option("--by", metavar="EMAIL", help="Your email as on the staff list: an admin.")


def _key() -> str:
    from flows.settings import signing_key

    return signing_key(database(), now=now())


def webhooks_add(
    url: Annotated[str, typer.Argument(metavar="URL", help="The receiver, e.g. https://crm.example.org/hooks/syndicate")],
    events: Annotated[str, typer.Option("--events", help="Comma-separated: subscriber.subscribed, "
                                        "subscriber.unsubscribed, edition.sent.")],
    by: Annotated[str, ADMIN_BY],
) -> None:
    """Send events to URL from now on; prints the signing secret once."""
    from state.webhooks import add_endpoint

    key = _key()
    with database().session() as session:
        who = person(session, by, roles=("admin",), doing="add webhooks")
        row, secret = add_endpoint(session, url, [events], by=who, server_key=key, now=now())
        ident, address, names = row.id, row.url, list(row.events)
    if as_json():
        terminal.emit_json({"id": ident, "url": address, "events": names, "secret": secret})
        return
    terminal.say(f"Webhook {ident} sends {', '.join(names)} to {address}. Its signing secret (Standard Webhooks; "
                 "give it to the receiver, it is shown only once):")
    print(secret)


def webhooks_list() -> None:
    """List the webhooks in use and how their deliveries stand."""
    from sqlalchemy import func, select

    from state.models import WebhookDeliveryRow
    from state.webhooks import endpoints

    with database().session() as session:
        rows: list[dict[str, Any]] = []
        for endpoint in endpoints(session):
            d = WebhookDeliveryRow
            counts = session.execute(select(
                func.count(d.delivered_at), func.count(d.gave_up_at),
                func.count().filter(d.delivered_at.is_(None), d.gave_up_at.is_(None)))
                .where(d.endpoint_id == endpoint.id)).one()
            rows.append({"id": endpoint.id, "url": endpoint.url, "events": list(endpoint.events),
                         "created_by": endpoint.created_by, "created_at": endpoint.created_at,
                         "delivered": counts[0], "failed": counts[1], "waiting": counts[2]})
    if as_json():
        terminal.emit_json({"webhooks": rows})
        return
    terminal.table(f"Webhooks ({len(rows)})", ["id", "url", "events", "ok", "failed", "waiting"],
                   [(r["id"], r["url"], "\n".join(r["events"]), r["delivered"], r["failed"], r["waiting"])
                    for r in rows])


def webhooks_remove(
    webhook_id: Annotated[int, typer.Argument(metavar="ID")],
    by: Annotated[str, ADMIN_BY],
) -> None:
    """Stop sending to a webhook (its deliveries stay listed)."""
    from state.webhooks import remove_endpoint

    with database().session() as session:
        who = person(session, by, roles=("admin",), doing="remove webhooks")
        row = remove_endpoint(session, webhook_id, by=who, now=now())
        address = row.url
    terminal.emit_json({"id": webhook_id, "removed": True}) if as_json() else terminal.say(
        f"Webhook {webhook_id} ({address}) is removed: nothing more is sent to it.")


def webhooks_deliveries(
    webhook_id: Annotated[int | None, typer.Option("--webhook", metavar="ID", help="Only this webhook's.")] = None,
    failing: Annotated[bool, typer.Option("--failing", help="Only those not delivered (retrying or given up).")] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="How many, newest first.")] = 50,
) -> None:
    """Every delivery: event, attempts, last answer or error, and whether it got there."""
    from state.webhooks import deliveries, delivery_state

    zone = display_zone()
    with database().session() as session:
        rows: list[dict[str, Any]] = [{"id": r.id, "webhook": r.endpoint_id, "message_id": r.message_id, "event": r.event,
                 "state": delivery_state(r), "attempts": r.attempts, "last_status": r.last_status,
                 "last_error": r.last_error, "last_attempt_at": r.last_attempt_at,
                 "next_attempt_at": r.next_attempt_at, "delivered_at": r.delivered_at}
                for r in deliveries(session, endpoint_id=webhook_id, failing=failing, limit=limit)]
    if as_json():
        terminal.emit_json({"deliveries": rows})
        return
    terminal.table(f"Webhook deliveries ({len(rows)})", ["id", "hook", "event", "state", "tries", "last", "next try"],
                   [(r["id"], r["webhook"], r["event"], r["state"], r["attempts"], _short(r),
                     terminal.when(r["next_attempt_at"], zone, never="-")) for r in rows])
    if any(r["last_error"] and len(r["last_error"]) > _SHORT for r in rows):
        terminal.say("Errors are cut short here: --json shows each in full.")


_SHORT = 60


def _short(row: dict[str, Any]) -> str:
    """The last answer or error, cut to fit a table cell."""
    text = str(row["last_error"] or row["last_status"] or "-")
    return text if len(text) <= _SHORT else text[: _SHORT - 1] + "\u2026"


def webhooks_send() -> None:
    """Send the webhook deliveries that are due now (`syndicate serve` does this every few seconds)."""
    from connectors.outbound import OutboundGuard
    from flows.webhooks import deliver_webhooks

    cfg = config()
    try:
        guard = OutboundGuard.trusting(allow_hosts=cfg.fetch.allow_hosts)
    except ValueError as exc:
        raise Abort(str(exc)) from None
    report = deliver_webhooks(database(), server_key=_key(), guard=guard, now=now())
    if as_json():
        terminal.emit_json(report.as_dict())
        return
    terminal.say(f"{report.queued} queued, {report.delivered} delivered, {report.retrying} to retry, "
                 f"{report.failed} given up")
    for message_id, error in report.errors.items():
        terminal.say(f"  {message_id}: {error}")
