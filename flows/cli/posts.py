"""Commands about social posts and threads: `posts draft` (a post per new item), `publish` (post
what is approved and due), `posts slots` (the posting slots ahead) and `posts move` (to another slot).
"""

from __future__ import annotations

from typing import Annotated

import typer

from flows.cli import terminal
from flows.cli.context import Abort, as_json, config, database, now


def posts_draft() -> None:
    """Draft a post per new item for each enabled network, for approval (what the social-drafts flow does)."""
    from flows.settings import network_limits
    from flows.stages.cards import check_cards
    from state.threads import draft_item_posts

    cfg = network_limits(config())
    with database().session() as session:
        drafted = draft_item_posts(session, cfg, now=now())
        session.commit()
        warnings = check_cards(session, cfg, drafted)  # each post's link card, from its page's Open Graph tags
        session.commit()
    if as_json():
        terminal.emit_json({"threads": drafted, "warnings": warnings})
        return
    terminal.say(f"{len(drafted)} post(s) drafted for approval" + (": `syndicate status` lists them" if drafted else
                                                                   " (every item already has its post)"))
    for warning in warnings:
        terminal.say(f"  {warning}")


def publish() -> None:
    """Post approved threads and posts that are due."""
    from flows.stages.publish import publish_due_posts

    cfg, db = config(), database()
    summary = publish_due_posts(db.sessions, cfg, now=now())
    if as_json():
        terminal.emit_json(summary.as_dict())
        return
    terminal.say(summary.message)
    for line in summary.held + summary.waiting + summary.failed:
        terminal.say(f"  {line}")


def posts_move(
    ident: Annotated[int, typer.Argument(metavar="THREAD_ID")],
    by: Annotated[str, typer.Option("--by", metavar="EMAIL", help="Your email as on the staff list, for the audit log.")],
    to: Annotated[str | None, typer.Option("--to", metavar="TIME", help="When, in the organisation's zone: "
                                           "\"YYYY-MM-DD HH:MM\". A slot of the network must be free; any other "
                                           "time is kept as you set it.")] = None,
    slot: Annotated[str | None, typer.Option("--slot", metavar="next",
                                             help="next: the network's next free slot.")] = None,
) -> None:
    """Move a post (an item's thread) to another posting slot or time; its approval stands (time is not content)."""
    from compose.slots import parse_local
    from state import ledger
    from state.slots import move_thread

    if (to is None) == (slot is None):
        raise Abort("say where to: --to \"YYYY-MM-DD HH:MM\" or --slot next")
    if slot is not None and slot != "next":
        raise Abort(f"--slot {slot!r}: the only slot by name is \"next\" (the next free one); give a time with --to")
    cfg = config()
    try:
        moment = parse_local(to, cfg.zone) if to is not None else None
    except ValueError as exc:
        raise Abort(f"--to {exc}") from None
    with database().session() as session:
        thread = ledger.get_thread(session, ident)
        was = thread.scheduled_for
        when = move_thread(session, cfg, thread, to=moment, by=by, now=now())
        network = thread.network
        session.commit()
    if as_json():
        terminal.emit_json({"thread": ident, "network": network, "scheduled_for": when, "was": was})
        return
    terminal.say(f"thread {ident} ({network}) moved to {terminal.when(when, cfg.zone, now=now())}"
                 f" (was {terminal.when(was, cfg.zone, now=now(), never='not scheduled')}); its approval stands")


def posts_slots(
    days: Annotated[int, typer.Option("--days", min=1, max=62, help="How many days ahead.")] = 7,
    network: Annotated[str | None, typer.Option("--network", metavar="NAME",
                                                help="One network (x, mastodon, bluesky, linkedin).")] = None,
) -> None:
    """The posting slots of the days ahead on each network with slots: which post holds each, which are free."""
    from sqlalchemy import select

    from state.models import ItemRow, ThreadRow
    from state.slots import board

    cfg = config()
    with database().session() as session:
        slots = board(session, cfg, now=now(), days=days, networks=[network] if network else None)
        held = [s.thread_id for s in slots if s.thread_id]
        titles = dict(session.execute(select(ThreadRow.id, ItemRow.title).join(ItemRow, ItemRow.id == ThreadRow.item_id)
                                      .where(ThreadRow.id.in_(held))).tuples().all()) if held else {}
    if as_json():
        terminal.emit_json({"slots": [{"at": s.at, "network": s.network, "thread": s.thread_id, "quiet": s.quiet}
                                      for s in slots]})
        return
    if not slots:
        terminal.say("no posting slots: add them to the config, e.g. [social.x] slots = [\"weekdays 09:00\"]"
                     if network is None else f"{network} has no posting slots in the next {days} days")
        return
    terminal.table(f"Posting slots, the next {days} days", [("when", "time"), "network", "post"],
                   [(terminal.when(s.at, cfg.zone, now=now()), s.network,
                     f"thread {s.thread_id}: {titles.get(s.thread_id, '')}".rstrip(": ") if s.thread_id
                     else f"quiet: {s.quiet}" if s.quiet else "free")
                    for s in slots])
    terminal.say("Move a post: syndicate posts move THREAD_ID --to \"YYYY-MM-DD HH:MM\" --by EMAIL")
