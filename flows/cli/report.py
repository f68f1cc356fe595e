"""`syndicate report [EDITION_ID] [--trend]` and `syndicate weekly-note show|send`: the figures the
desk's reports show, at the terminal (tables that fit 80 columns; `--json` one object)."""

from __future__ import annotations

from typing import Annotated

import typer

from flows.cli import terminal
from flows.cli.context import BY, Abort, as_json, config, database, now, person


def report(
    edition_id: Annotated[int | None, typer.Argument(metavar="EDITION_ID", help="The edition (its id, as "
                                                     "`syndicate status` lists). Without it: the trend.")] = None,
    trend: Annotated[bool, typer.Option("--trend", help="The trend across editions: list size, growth, "
                                        "click-through and complaint rate.")] = False,
) -> None:
    """How an edition did (delivered, bounced, complaints, unsubscribes, clicks per item and section), or the trend."""
    from compose.reports import percent
    from state.reports import report_for, trend_for

    cfg = config()
    if edition_id is None or trend:
        with database().session() as session:
            result = trend_for(session, now=now())
        if as_json():
            terminal.emit_json(result.as_dict())
            return
        zone = cfg.zone
        terminal.table("The list, week by week", ["week to", ("subscribers", "number"), ("growth", "number")], [
            (w.week.strftime("%-d %b %Y"), w.size, "–" if w.growth is None else f"{w.growth:+d}") for w in result.weeks])
        if not result.editions:
            terminal.say("No edition sent yet.")
            return
        terminal.table("Editions", [("id", "number"), ("sent", "time"), ("delivered", "number"), ("clicks", "number"),
                                    ("click-through", "number"), ("complaints", "number"), ("rate", "number")], [
            (e.edition_id, terminal.when(e.sent_at, zone, now=now()), e.figures.delivered, e.clicks,
             percent(e.click_rate), e.figures.complaints, percent(e.complaint_rate, digits=2))
            for e in reversed(result.editions)])
        terminal.say("Click-through is clicks per delivered message (clicks are counted per link, never per reader). "
                     "Keep the complaint rate under 0.1%. One edition: syndicate report EDITION_ID")
        return
    with database().session() as session:
        try:
            result_one = report_for(session, edition_id, cfg)
        except Exception as exc:
            from state.errors import NotFound

            if isinstance(exc, NotFound):
                raise Abort(str(exc)) from None
            raise
    if as_json():
        terminal.emit_json(result_one.as_dict())
        return
    f = result_one.figures
    terminal.heading(f"Edition {result_one.edition_id}: {result_one.subject}")
    terminal.say(f"Sent {terminal.when(result_one.sent_at, cfg.zone, now=now(), never='not yet')} "
                 f"({result_one.status}).")
    terminal.table("Delivery", ["what", ("messages", "number"), ("rate", "number")], [
        ("recipients", f.recipients, ""), ("accepted by the provider", f.accepted, ""), ("delivered", f.delivered, ""),
        ("bounced", f.bounced, percent(f.bounce_rate)), ("dropped", f.dropped, ""), ("deferred", f.deferred, ""),
        ("complaints", f.complaints, percent(f.complaint_rate, digits=2)),
        ("unsubscribed", f.unsubscribes, percent(f.unsubscribe_rate)), ("failed", f.failed, ""),
        ("clicks", result_one.clicks, percent(result_one.click_rate))])
    terminal.table("Clicks per item", ["item", "section", ("clicks", "number")], [
        (line.title, line.section or "other link", line.clicks) for line in result_one.items])
    terminal.table("Clicks per section", ["section", ("items", "number"), ("clicks", "number")], [
        (s.title, s.items, s.clicks) for s in result_one.sections])
    terminal.say("Bounces are over the messages accepted, complaints and unsubscribes over those delivered. "
                 "On the desk, with charts: "
                 f"{str(cfg.edition.public_url).rstrip('/')}/desk/reports/editions/{result_one.edition_id}")


def weekly_note_show() -> None:
    """The note to staff for this week as it would go now (nothing is sent)."""
    from flows.weekly_note import build_weekly_note

    cfg = config()
    data, note = build_weekly_note(database(), cfg, now=now())
    if as_json():
        terminal.emit_json({"week_start": data.week_start.isoformat(), "subject": note.subject, "text": note.text})
        return
    for line in note.text.rstrip("\n").split("\n"):
        terminal.say(line)


def weekly_note_send(by: Annotated[str | None, BY] = None) -> None:
    """Send this week's note to staff now through the email channel: once per week, never twice."""
    from flows.weekly_note import send_weekly_note

    cfg, db = config(), database()
    with db.session() as session:
        who = person(session, by)
    outcome = send_weekly_note(db, cfg, now=now(), by=who)
    if as_json():
        terminal.emit_json(outcome.as_dict())
    elif outcome.sent:
        terminal.say(f"Sent \u201c{outcome.subject}\u201d to {', '.join(outcome.recipients)}.")
    if not outcome.sent:
        raise Abort(f"not sent: {outcome.said}")
