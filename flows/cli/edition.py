"""Commands about editions of the newsletter: `edition build`, `show`, `preview`, `acknowledge`, and
`send` (deliver what is approved and due).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from flows.cli import terminal
from flows.cli.context import BY, Abort, as_json, config, database, display_zone, now, person


def edition_build(by: Annotated[str | None, typer.Option(
        "--by", metavar="EMAIL", help="Your email as on the staff list; without it the build is recorded as "
                                      "the pipeline's own (`syndicate`), as a scheduled build is.")] = None) -> None:
    """Compose the next edition from what was gathered, and its roundup threads, for approval."""
    from flows.stages.edition import build_edition_and_threads
    from state.roles import SYSTEM

    cfg, db = config(), database()
    with db.session() as session:
        built = build_edition_and_threads(session, cfg, now=now(), by=by or SYSTEM)
    if as_json():
        terminal.emit_json(built)
        return
    terminal.say(built["reason"])
    for warning in built["warnings"]:
        terminal.warn(warning)
    if built["threads"]:
        terminal.say(f"{len(built['threads'])} roundup thread(s) drafted for approval: `syndicate status` lists them")


def edition_show(edition_id: int) -> None:
    """Summary of an edition: sections, items, size, warnings, approval."""
    from compose.calendar import QuietCalendar
    from state.ledger import get_edition, latest_approval, same_segment
    from state.quiet import quiet_note
    from state.segments import segment_size

    db = database()
    with db.session() as session:
        row = get_edition(session, edition_id)
        note = quiet_note(session, QuietCalendar.from_config(config()), row) if row.sent_at is None else None
        approval = latest_approval(session, "edition", row.id)
        sections: dict[str, list[str]] = {}
        warnings = list(row.warnings)
        current = approval is not None and approval.content_hash == row.content_hash and same_segment(approval, row)
        size = segment_size(session, row, now=now()) if row.sent_at is None else None
        scheduled_for, sent_at = row.scheduled_for, row.sent_at
        for link in row.items:
            sections.setdefault(link.section, []).append(link.item.title)
        data = {"id": row.id, "slug": row.slug, "status": row.status, "subject": row.subject,
                "preheader": row.preheader, "html_bytes": row.html_bytes, "warnings": row.warnings,
                "scheduled_for": row.scheduled_for, "sent_at": row.sent_at, "content_hash": row.content_hash,
                "sections": sections, "quiet": note.as_dict() if note else None,
                "segment": size.as_dict() if size else {"segment": row.segment},
                "approval": None if approval is None else {"decision": approval.decision, "by": approval.by,
                                                           "at": approval.at, "current": current}}
    if as_json():
        terminal.emit_json(data)
        return
    zone = display_zone()
    terminal.heading(f"Edition {data['id']} {data['slug']}: {data['status']}, {data['html_bytes']:,} bytes of HTML")
    terminal.say(f"Subject: {data['subject']}\nPreheader: {data['preheader']}")
    terminal.say(f"Scheduled for: {terminal.when(scheduled_for, zone, now=now(), never='not scheduled')}"
                 + (f"\nSent: {terminal.when(sent_at, zone, now=now())}" if sent_at else ""))
    if note:
        terminal.labelled("Quiet time: ", note.sentence(zone), "bold yellow")
    if size is not None:
        terminal.say(f"Goes to: {size.describe()}")
    for section, titles in sections.items():
        terminal.say("")
        terminal.heading(f"{section} ({len(titles)})")
        for title in titles:
            terminal.say(f"  - {title}")
    for warning in warnings:
        terminal.warn(warning)
    if approval:
        terminal.say(f"\n{approval.decision} by {approval.by} on {terminal.when(approval.at, zone, now=now())}"
                     + ("" if current else " (for earlier content or another segment: approve again)"))


def edition_preview(
    edition_id: int,
    html: Annotated[Path | None, typer.Option("--html", help="Write the HTML part here.")] = None,
    text: Annotated[Path | None, typer.Option("--text", help="Write the plain-text part here.")] = None,
) -> None:
    """Write the edition exactly as subscribers will see it."""
    from state.clicks import as_shown
    from state.ledger import get_edition

    if html is None and text is None:
        raise Abort("say where to write the preview: --html FILE and/or --text FILE")
    with database().session() as session:
        row = get_edition(session, edition_id)
        html_part, text_part = as_shown(session, row, config())  # article links straight to the article
        if html:
            html.write_text(html_part, "utf-8")
        if text:
            text.write_text(text_part, "utf-8")
    written = [str(p) for p in (html, text) if p]
    terminal.emit_json({"id": edition_id, "written": written}) if as_json() else terminal.say("wrote " + ", ".join(written))


def edition_acknowledge(edition_id: int, by: Annotated[str, typer.Option("--by", metavar="EMAIL", help="Your email.")]) -> None:
    """Acknowledge an edition's warnings (e.g. trimmed for size) so it can be approved."""
    from state.editions import acknowledge_warnings

    with database().session() as session:
        acknowledge_warnings(session, edition_id, by=by, now=now())
    terminal.say(f"warnings of edition {edition_id} acknowledged by {by}")


def send(edition_id: Annotated[int | None, typer.Argument(metavar="[EDITION_ID]")] = None,
         override_doctor: Annotated[str | None, typer.Option(
             "--override-doctor", metavar="REASON", help="Send the first real edition even though `syndicate "
             "doctor` reports a blocker; the reason is kept in the audit log.")] = None,
         by: Annotated[str | None, BY] = None) -> None:
    """Deliver approved editions that are due (or this edition, now). The first real send waits while
    `syndicate doctor` reports a blocker."""
    from flows.settings import signing_key
    from flows.stages.deliver import deliver_edition
    from flows.stages.preflight import FirstSendRefused, gate_first_send

    cfg, db = config(), database()
    with db.session() as session:
        actor = person(session, by)
    try:
        overridden = gate_first_send(cfg, db, edition_id=edition_id, override=override_doctor, by=actor, when=now())
    except FirstSendRefused as exc:
        raise Abort(str(exc)) from None
    if overridden is not None:
        terminal.warn(f"sending despite {len(overridden.blockers)} pre-flight blocker(s); the override is in the "
                      "audit log")
    key = signing_key(db, now=now())
    summaries = [deliver_edition(db, cfg, now=now(), edition_id=edition_id, secret_key=key)]
    if as_json():
        terminal.emit_json({"editions": [s.as_dict() for s in summaries]})
    else:
        for summary in summaries:
            terminal.say(summary.message)
    if edition_id is not None:
        from state.ledger import get_edition
        from state.models import EditionStatus

        with db.session() as session:
            if get_edition(session, edition_id).status != EditionStatus.SENT:
                raise typer.Exit(1)


def edition_segment(
    edition_id: int,
    tag: Annotated[list[str] | None, typer.Option(
        "--tag", metavar="TAG", help="Send to readers with this tag (repeat for more; see --match).")] = None,
    match: Annotated[str, typer.Option(
        "--match", metavar="any|all", help="Readers with any of the tags (default), or all of them.")] = "any",
    section: Annotated[list[str] | None, typer.Option(
        "--section", metavar="KEY", help="Only this section (repeat for more), to readers who chose it.")] = None,
    everyone: Annotated[bool, typer.Option(
        "--everyone", help="Send to every subscriber again (clears the segment).")] = False,
    by: Annotated[str | None, typer.Option("--by", metavar="EMAIL", help="Your email as on the staff list "
                                                                         "(needed to change the segment).")] = None,
) -> None:
    """Who an edition goes to (tags and sections) and how many would get it; with options, set it.
    A new segment voids an approval given for another."""
    from compose.segments import Segment, SegmentError
    from state.ledger import get_edition
    from state.segments import segment_size, set_segment

    cfg = config()
    changing = everyone or bool(tag) or bool(section)
    if changing and everyone and (tag or section):
        raise Abort("--everyone clears the segment: give it alone, or --tag/--section without it")
    if changing and not by:
        raise Abort("say who changes the segment: --by EMAIL (a member of staff)")
    try:
        wanted = Segment() if everyone else Segment.build(
            tags=tag or (), match=match, sections=section or (), known_sections=[s.key for s in cfg.sections])
    except SegmentError as exc:
        raise Abort(str(exc)) from None
    voided = False
    with database().session() as session:
        if changing:
            assert by is not None
            voided = set_segment(session, edition_id, wanted, by=by, now=now())
            session.flush()
        size = segment_size(session, get_edition(session, edition_id), now=now())
    data = {"id": edition_id, **size.as_dict(), "voided_approval": voided}
    if as_json():
        terminal.emit_json(data)
        return
    terminal.say(f"Edition {edition_id}: {size.describe()}.")
    if voided:
        terminal.warn(f"the approval was for another segment and no longer applies: approve edition {edition_id} "
                      "again")
