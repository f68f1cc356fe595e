"""`override-quiet`: an admin lets one edition or thread go out inside quiet time (`[calendar]`) at
the time it was due, with a reason that goes in the audit log and beside it on the desk."""

from __future__ import annotations

from typing import Annotated

import typer

from flows.cli import terminal
from flows.cli.context import as_json, config, database, display_zone, now


def override_quiet(
    kind: Annotated[str, typer.Argument(metavar="KIND", help="edition or thread")],
    ident: Annotated[int, typer.Argument(metavar="ID")],
    by: Annotated[str, typer.Option("--by", metavar="EMAIL", help="Your email as on the staff list: an admin.")],
    reason: Annotated[str, typer.Option("--reason", metavar="TEXT", help="Why it must go out inside quiet time.")],
) -> None:
    """Send an edition or post a thread inside quiet time anyway, at the time it was due (an admin, with a reason)."""
    from compose.calendar import QuietCalendar
    from state import quiet

    cfg = config()
    calendar = QuietCalendar.from_config(cfg)
    with database().session() as session:
        quiet.override(session, calendar, kind, ident, by=by, reason=reason, now=now())
        row = quiet.subject(session, kind, ident)
        note = quiet.quiet_note(session, calendar, row)
        scheduled = row.scheduled_for
    if as_json():
        terminal.emit_json({"kind": kind, "id": ident, "overridden": True, "scheduled_for": scheduled,
                            "quiet": note.as_dict() if note else None})
        return
    terminal.say(f"{kind} {ident}: {note.sentence(display_zone()) if note else 'quiet time overridden'}")
