"""`syndicate demo`: the whole pipeline on the bundled example site, and what it prints: where to look
and how to run it again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flows.cli import terminal
from flows.cli.context import Abort, as_json


def demo() -> None:
    """Run the whole pipeline on the bundled example site; its config, ledger and outbox live in var/demo/."""
    from flows.demo import demo_commands, run_demo

    result = run_demo()
    result["commands"] = demo_commands(result)
    if as_json():
        terminal.emit_json(result)
        return
    _print_demo(result)


def _print_demo(result: dict[str, Any]) -> None:
    gathered, built = result["gathered"], result["built"]
    terminal.say("")
    terminal.heading(f"syndicate demo finished in {result['elapsed_s']} s")
    terminal.say(f"Gathered {len(gathered['sources'])} sources: {gathered['new']} new items, {gathered['updated']} updated, "
                 f"{gathered['failed']} failing")
    if built["id"] is None or not result["delivered"]:
        terminal.heading(f"{built['reason']}. Nothing new was sent: the ledger remembers what went out.")
    else:
        for delivered in result["delivered"]:
            terminal.say(delivered["message"])
        published = result["published"]
        terminal.say(f"Published {published.get('posted', 0)} post(s) to the outbox")
        _print_outbox(result)
    terminal.say(f"\nThe demo keeps its config, ledger, secret key and outbox in {Path(result['config_path']).parent}/. "
                 "Look at them with:")
    *look, again = result["commands"]
    for command in look:
        terminal.command(command)
    terminal.say("Run the demo again (or `make demo`): nothing new is sent.")
    terminal.command(again)


def _print_outbox(result: dict[str, Any]) -> None:
    slug, subject = result["built"]["slug"], result["built"]["subject"]
    outbox = Path(result["outbox"])
    email_dir = outbox / "email" / slug
    messages = sorted(email_dir.glob("*.eml"))
    html = outbox / "email" / f"{slug}.html"
    if messages:  # the HTML part exactly as the first subscriber received it
        import email
        import email.policy

        received = email.message_from_bytes(messages[0].read_bytes(), policy=email.policy.default)
        part = received.get_body(("html",))
        if part is None:
            raise Abort(f"{messages[0]} has no HTML part")
        html.write_text(part.get_content(), "utf-8")
    terminal.say(f"\nEdition {result['built']['id']} \"{subject}\"")
    terminal.say(f"  open the email:     {html.as_posix()}")
    terminal.say(f"  the messages sent:  {email_dir.as_posix()}/*.eml")
    for thread in sorted(outbox.glob(f"*/edition-{slug}.json")):
        terminal.say(f"  the thread:         {thread.as_posix()}")
