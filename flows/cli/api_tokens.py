"""`api-tokens create|list|revoke`: bearer tokens of the JSON API (`/api/v1`), by admins, audited."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from flows.cli import terminal
from flows.cli.context import as_json, database, display_zone, now, person

ADMIN_BY = typer.Option("--by", metavar="EMAIL", help="Your email as on the staff list: an admin.")


def api_tokens_create(
    name: Annotated[str, typer.Argument(metavar="NAME", help="What uses it, e.g. membership-crm.")],
    scope: Annotated[str, typer.Option("--scope", help="read (GET only) or write (also changes subscribers).")],
    by: Annotated[str, ADMIN_BY],
) -> None:
    """Make a token for the JSON API; it is printed once, never again."""
    from state.api_tokens import create_token

    with database().session() as session:
        who = person(session, by, roles=("admin",), doing="make API tokens")
        row, token = create_token(session, name, scope=scope, by=who, now=now())
        name, scope = row.name, row.scope
    if as_json():
        terminal.emit_json({"name": name, "scope": scope, "token": token})
        return
    terminal.say(f"API token {name!r} ({scope}) made by {who}. Copy it now: it is shown only once.")
    print(token)  # alone on its line, never wrapped, so it can be copied whole


def api_tokens_list() -> None:
    """List the API tokens: scope, who made them, when last used, revoked or not (never the tokens)."""
    from state.api_tokens import list_tokens

    zone = display_zone()
    with database().session() as session:
        rows: list[dict[str, Any]] = [{"name": r.name, "scope": r.scope, "prefix": r.prefix, "created_by": r.created_by,
                 "created_at": r.created_at, "last_used_at": r.last_used_at, "revoked_at": r.revoked_at}
                for r in list_tokens(session)]
    if as_json():
        terminal.emit_json({"tokens": rows})
        return
    terminal.table(f"API tokens ({len(rows)})", ["name", "scope", "starts", "made by", "last used", "revoked"],
                   [(r["name"], r["scope"], r["prefix"] + "…", r["created_by"],
                     terminal.when(r["last_used_at"], zone), terminal.when(r["revoked_at"], zone, never="-"))
                    for r in rows])


def api_tokens_revoke(
    name: Annotated[str, typer.Argument(metavar="NAME")],
    by: Annotated[str, ADMIN_BY],
) -> None:
    """Revoke a token: every request with it is refused from now on."""
    from state.api_tokens import revoke_token

    with database().session() as session:
        who = person(session, by, roles=("admin",), doing="revoke API tokens")
        row = revoke_token(session, name, by=who, now=now())
        name = row.name
    terminal.emit_json({"name": name, "revoked": True}) if as_json() else terminal.say(
        f"API token {name!r} is revoked: it is refused from now on.")
