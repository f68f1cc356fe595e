"""`staff add` and `staff disable`: accounts for the review desk, changed by an admin.
"""

from __future__ import annotations

from typing import Annotated

import typer

from flows.cli import terminal
from flows.cli.context import as_json, config, database, now, person


def staff_add(
    email: Annotated[str, typer.Argument(metavar="EMAIL")],
    role: Annotated[str, typer.Option("--role", help="editor, approver or admin")],
    by: Annotated[str | None, typer.Option("--by", metavar="EMAIL", help="Your email as on the staff list: an admin "
                                           "(without it the audit log records your login on this machine).")] = None,
) -> None:
    """Add a member of staff; prints a one-time link to set their password."""
    from state.staff import add_staff, setup_link_text

    cfg = config()
    with database().session() as session:
        who = person(session, by, roles=("admin",), doing="add staff")
        row, token = add_staff(session, email, role, now=now(), by=who)
        text = setup_link_text(str(cfg.edition.public_url), row.email, row.role, token)
    terminal.emit_json({"email": email, "role": role, "setup_link": text.rsplit(" ", 1)[-1]}) if as_json() else terminal.say(text)


def staff_disable(
    email: Annotated[str, typer.Argument(metavar="EMAIL")],
    by: Annotated[str | None, typer.Option("--by", metavar="EMAIL", help="Your email as on the staff list: an admin "
                                           "(without it the audit log records your login on this machine).")] = None,
) -> None:
    """Disable a member of staff: every session of theirs ends; `staff add` enables them again."""
    from state.staff import disable_staff

    with database().session() as session:  # an unknown address: StaffError, shown by main with exit code 1
        who = person(session, by, roles=("admin",), doing="disable staff")
        address = disable_staff(session, email, now=now(), by=who).email
    said = f"{address} is disabled: every session has ended. `syndicate staff add {address} --role ROLE` enables it again."
    terminal.emit_json({"email": address, "disabled": True}) if as_json() else terminal.say(said)
