"""Commands about social posts and threads: `posts draft` (a post per new item) and `publish` (post
what is approved and due).
"""

from __future__ import annotations

from flows.cli import terminal
from flows.cli.context import as_json, config, database, now


def posts_draft() -> None:
    """Draft a post per new item for each enabled network, for approval (what the social-drafts flow does)."""
    from state.threads import draft_item_posts

    cfg = config()
    with database().session() as session:
        drafted = draft_item_posts(session, cfg, now=now())
    if as_json():
        terminal.emit_json({"threads": drafted})
        return
    terminal.say(f"{len(drafted)} post(s) drafted for approval" + (": `syndicate status` lists them" if drafted else
                                                                   " (every item already has its post)"))


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
