"""`approve` and `reject`: a named member of staff decides on the exact content of an edition, thread
or post.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from flows.cli import terminal
from flows.cli.context import as_json, config, database, now


def approve(
    kind: Annotated[str, typer.Argument(metavar="KIND", help="edition, thread or post")],
    ident: Annotated[int, typer.Argument(metavar="ID")],
    by: Annotated[str, typer.Option("--by", metavar="EMAIL", help="Your email as on the staff list: an approver or admin.")],
    note: Annotated[str | None, typer.Option("--note", metavar="TEXT", help="Why, for the audit log.")] = None,
) -> None:
    """Approve the exact content of an edition, thread or post (as an approver or admin who did not change it)."""
    from connectors.channels.reach import loopback_warning
    from state import ledger
    from state.slots import slot_of

    cfg, db = config(), database()
    try:
        with db.session() as session:
            approval = ledger.approve(session, kind, ident, by=by, now=now(), note=note,
                                      two_person_rule=cfg.review.two_person_rule, config=cfg)
            data: dict[str, Any] = {"kind": approval.subject_kind, "id": approval.subject_id, "by": approval.by,
                                    "content_hash": approval.content_hash}
            held = slot_of(session, approval.subject_id) if approval.subject_kind == "thread" else None
            if held is not None:  # a posting slot (or a time staff set): say when it goes
                data["scheduled_for"] = ledger.get_thread(session, approval.subject_id).scheduled_for
    except ledger.LedgerError as exc:
        with db.session() as session:
            ledger.record_refusal(session, exc, now=now())
        raise
    warning = loopback_warning(cfg)
    if as_json():
        terminal.emit_json({**data, "warning": warning})
        return
    goes = f": goes out {terminal.when(data['scheduled_for'], cfg.zone, now=now())}" if "scheduled_for" in data else ""
    terminal.say(f"{kind} {ident} approved by {data['by']}{goes}")
    if warning:
        terminal.warn(warning)


def reject(
    kind: Annotated[str, typer.Argument(metavar="KIND", help="edition, thread or post")],
    ident: Annotated[int, typer.Argument(metavar="ID")],
    by: Annotated[str, typer.Option("--by", metavar="EMAIL", help="Your email as on the staff list: an approver or admin.")],
    note: Annotated[str, typer.Option("--note", metavar="TEXT", help="What must change.")],
) -> None:
    """Reject an edition, thread or post, saying what must change."""
    from state import ledger

    with database().session() as session:
        ledger.reject(session, kind, ident, by=by, note=note, now=now())
    terminal.emit_json({"kind": kind, "id": ident, "rejected": True}) if as_json() else terminal.say(f"{kind} {ident} rejected")
