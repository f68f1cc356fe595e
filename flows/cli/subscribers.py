"""`subscribers import`, `list`, `unsubscribe` and `reinstate`: who receives the newsletter."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer

from flows.cli import terminal
from flows.cli.context import BY, Abort, as_json, database, now, person


def subscribers_import(
    path: Annotated[Path, typer.Argument(metavar="FILE.csv")],
    by: Annotated[str | None, BY] = None,
) -> None:
    """Import subscribers from a CSV file (columns: email, name). All rows or none."""
    from compose.subscribers import parse_subscriber_csv
    from state.subscribers import import_subscribers

    try:
        text = path.read_text("utf-8-sig")
    except OSError as exc:
        raise Abort(f"cannot read {path}: {exc.strerror}") from None
    rows, errors = parse_subscriber_csv(text)
    if errors:
        lines = "\n".join(f"  line {e.line}: {e.reason}" for e in errors)
        raise Abort(f"{path} has {len(errors)} bad row(s); nothing was imported. Fix these and import again:\n{lines}")
    with database().session() as session:
        who = person(session, by)
        report = import_subscribers(session, rows, source=f"import:{path.name}", now=now(), by=who)
    terminal.emit_json(dataclasses.asdict(report)) if as_json() else terminal.say(report.message)


def subscribers_list(status: Annotated[str | None, typer.Option("--status", help="Only this status.")] = None) -> None:
    """List subscribers and their status."""
    from state.models import SubscriberStatus
    from state.subscribers import list_subscribers

    wanted = None
    if status is not None:
        try:
            wanted = SubscriberStatus(status)
        except ValueError:
            raise Abort(f"unknown status {status!r}: use one of {', '.join(SubscriberStatus)}") from None
    with database().session() as session:
        rows = [{"email": s.email, "name": s.name, "status": s.status, "consent_source": s.consent_source,
                 "confirmed_at": s.confirmed_at} for s in list_subscribers(session, status=wanted)]
    if as_json():
        terminal.emit_json({"subscribers": rows})
        return
    terminal.table(f"Subscribers ({len(rows)})", ["email", "name", "status", "consent"],
                   [(r["email"], r["name"], r["status"], r["consent_source"]) for r in rows])


def subscribers_unsubscribe(
    email: Annotated[str, typer.Argument(metavar="EMAIL")],
    by: Annotated[str | None, BY] = None,
) -> None:
    """Unsubscribe an address now; no later send reaches it."""
    from state.subscribers import unsubscribe

    with database().session() as session:
        who = person(session, by)
        unsubscribe(session, email, reason="staff: syndicate subscribers unsubscribe", now=now(), by=who)
    terminal.emit_json({"email": email, "status": "unsubscribed"}) if as_json() else terminal.say(f"{email} unsubscribed")


def subscribers_reinstate(
    email: Annotated[str, typer.Argument(metavar="EMAIL")],
    reason: Annotated[str | None, typer.Option("--reason", help="Why: the person asked to come back (kept in the audit log).")] = None,
    by: Annotated[str | None, BY] = None,
) -> None:
    """Lift the suppression of an address that bounced or complained, when the person asks to come
    back (admins only, audited); they then sign up again and confirm from their inbox."""
    from state.subscribers import lift_suppression

    with database().session() as session:
        who = person(session, by)
        done = lift_suppression(session, email, by=who, reason=reason, now=now())
    if as_json():
        terminal.emit_json(dataclasses.asdict(done))
        return
    terminal.say(f"{done.email}: the {' and '.join(done.lifted)} suppression is lifted (by {who}); the address is "
                 f"{done.status}. Nothing is sent to it until the person signs up again and confirms from their inbox.")


def subscribers_tag(
    email: Annotated[str, typer.Argument(metavar="EMAIL")],
    tag: Annotated[str, typer.Argument(metavar="TAG", help="e.g. member, cio (editions can go to a segment by tag)")],
    by: Annotated[str | None, BY] = None,
) -> None:
    """Give a subscriber a tag (staff send editions to segments by tag); recorded as a change."""
    _change_tags(email, by=by, add=[tag])


def subscribers_untag(
    email: Annotated[str, typer.Argument(metavar="EMAIL")],
    tag: Annotated[str, typer.Argument(metavar="TAG")],
    by: Annotated[str | None, BY] = None,
) -> None:
    """Take a tag off a subscriber; recorded as a change."""
    _change_tags(email, by=by, remove=[tag])


def _change_tags(email: str, *, by: str | None, add: list[str] | None = None, remove: list[str] | None = None) -> None:
    from compose.segments import SegmentError
    from state.segments import change_tags

    try:
        with database().session() as session:
            who = person(session, by)
            tags = change_tags(session, email, add=add or (), remove=remove or (), door="cli", by=who, now=now())
    except SegmentError as exc:
        raise Abort(str(exc)) from None
    if as_json():
        terminal.emit_json({"email": email, "tags": tags})
    else:
        terminal.say(f"{email}: tags {', '.join(tags) if tags else '(none)'}")
