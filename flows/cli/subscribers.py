"""`subscribers import`, `list`, `unsubscribe` and `reinstate`: who receives the newsletter; `export`,
`erase` and `readd`: a person's data on request (UK GDPR access and erasure)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer

from flows.cli import terminal
from flows.cli.context import BY, Abort, as_json, config, database, now, person


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


BY_STAFF = typer.Option("--by", metavar="EMAIL", help="Your email as on the staff list (an admin): checked, and kept "
                        "in the audit log.")


def subscribers_export(
    email: Annotated[str, typer.Argument(metavar="EMAIL")],
    by: Annotated[str, BY_STAFF],
    output: Annotated[Path | None, typer.Option("--output", "-o", metavar="FILE",
                                                help="Write the JSON to FILE (mode 0600) instead of printing it.")] = None,
) -> None:
    """Print everything held about one address as JSON (a subject access request): the subscriber,
    their consent, changes, deliveries, provider events, clicks and opens if kept, suppressions.
    Admins only; audited."""
    import json
    import os

    from state.subscriber_export import audit_export, export_address

    with database().session() as session:
        data = export_address(session, email, now=now())
        audit_export(session, email, by=by, now=now(), door="cli",
                     subscriber_id=data["subscriber"]["id"] if data["subscriber"] else None)
    text = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    if output is None:
        terminal.emit_json(data)
        return
    try:
        descriptor = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        raise Abort(f"cannot write {output}: {exc.strerror}") from None
    terminal.emit_json({"email": data["email"], "file": str(output)}) if as_json() else terminal.say(
        f"Everything held about {data['email']} is in {output} (readable by you only).")


def subscribers_erase(
    email: Annotated[str, typer.Argument(metavar="EMAIL")],
    by: Annotated[str, BY_STAFF],
) -> None:
    """Erase everything held about an address at its owner's request (the ledger, and their copies in
    the outbox), keeping only a salted hash so that no import, sign-up or API call adds it again
    silently. Admins only; audited."""
    from state.erasure import erase

    with database().session() as session:
        done = erase(session, email, by=by, now=now())
    removed = {name: count for name, count in done.removed.items() if count}
    if done.subscriber_id is not None:
        removed["outbox_copies"] = _remove_outbox_copies(done.subscriber_id)
    if as_json():
        terminal.emit_json({"erased": True, "removed": removed})
        return
    what = ", ".join(f"{count} {name.replace('_', ' ')}" for name, count in removed.items()) or "nothing was held"
    terminal.say(f"{email} is erased ({what}). Only a salted hash is kept: an import, the sign-up form and the API "
                 "refuse the address until an admin re-adds it (`syndicate subscribers readd`).")


def subscribers_readd(
    email: Annotated[str, typer.Argument(metavar="EMAIL")],
    consent: Annotated[str, typer.Option("--consent", metavar="TEXT",
                                         help="How the person asked to come back (becomes their consent record).")],
    by: Annotated[str, BY_STAFF],
    name: Annotated[str, typer.Option("--name", help="Their name, if they gave it.")] = "",
) -> None:
    """Re-add an erased address because its owner asked to come back, with their fresh consent.
    Admins only; audited."""
    from state.erasure import readd

    with database().session() as session:
        row = readd(session, email, consent=consent, by=by, now=now(), name=name)
        address, status = row.email, str(row.status)
    if as_json():
        terminal.emit_json({"email": address, "status": status})
        return
    terminal.say(f"{address} is {status} again, with the consent you gave; the re-add is in the audit log.")


def _remove_outbox_copies(subscriber_id: int) -> int:
    """Delete the outbox's copies of emails to this subscriber (`outbox/email/<edition>/<id>-e<n>.eml`,
    `OutboxEmailChannel.path_for`); how many."""
    folder = Path(config().email.outbox_dir) / "email"
    count = 0
    for copy in folder.glob(f"*/{subscriber_id:05d}-e*.eml") if folder.is_dir() else ():
        copy.unlink(missing_ok=True)
        count += 1
    return count


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
