"""`pause` and `resume`: the switch that stops every outbound call (or one channel's) until an admin
lets it go again (`state.pauses`). Approvers and admins may pause; only admins resume.
"""

from __future__ import annotations

from typing import Annotated

import typer

from flows.cli import terminal
from flows.cli.context import as_json, database, display_zone, now

CHANNEL = typer.Option("--channel", metavar="CHANNEL",
                       help="Only this channel: email, or a network (x, mastodon, bluesky, linkedin); repeat it for several. "
                            "Without it: everything.")


def pause(
    reason: Annotated[str, typer.Option("--reason", metavar="TEXT", help="Why, in a sentence staff will read on "
                                        "every desk page and in `syndicate status`.")],
    by: Annotated[str, typer.Option("--by", metavar="EMAIL", help="Your email as on the staff list: an approver or "
                                    "admin.")],
    channel: Annotated[list[str] | None, CHANNEL] = None,
) -> None:
    """Stop every outbound call (or one channel's) now: sends in progress stop at their next batch or post."""
    from state import pauses

    zone = display_zone()  # the brake works without a readable config (times then in UTC)
    with database().session() as session:
        result = pauses.pause(session, channels=channel, reason=reason, by=by, now=now())
    if as_json():
        terminal.emit_json({"paused": [p.as_dict() for p in result.started],
                            "already": [p.as_dict() for p in result.already]})
        return
    for started in result.started:
        terminal.labelled("Paused: ", started.describe(zone), "bold red")
    for already in result.already:
        terminal.say(f"Already paused, left as it was: {already.describe(zone)}")
    if result.started:
        terminal.say("Nothing goes out on it until an admin resumes it:")
        terminal.command("syndicate resume --by EMAIL" + "".join(f" --channel {p.channel}" for p in result.started
                                                                 if not p.everything))


def resume(
    by: Annotated[str, typer.Option("--by", metavar="EMAIL", help="Your email as on the staff list: an admin.")],
    channel: Annotated[list[str] | None, CHANNEL] = None,
) -> None:
    """Let everything (or one channel) go again: the next run goes on where the pause stopped it."""
    from state import pauses

    zone = display_zone()
    with database().session() as session:
        result = pauses.resume(session, channels=channel, by=by, now=now())
        still = pauses.active(session)
    if as_json():
        terminal.emit_json({"resumed": [p.as_dict() for p in result.ended], "kept": [p.as_dict() for p in result.kept],
                            "still_paused": [p.as_dict() for p in still]})
        return
    if not result.ended:
        terminal.say("Nothing was paused" + (f" on {', '.join(pauses.label(c) for c in channel or ())}" if channel
                                             else "") + ": nothing changed.")
    for ended in result.ended:
        terminal.say(f"Resumed {ended.what} (paused by {ended.by}: {ended.reason}).")
    if result.ended:
        terminal.say("What was due goes out at the next run (`syndicate send`, `syndicate publish`, or the schedule), "
                     "going on where it stopped.")
    for kept in still:
        terminal.labelled("Still paused: ", kept.describe(zone), "bold red")
