"""The `syndicate` command. Each command calls a stage function directly (no Prefect server),
so it starts in about a second; `demo` and `serve` run the real Prefect flows.

Global options `--config FILE` and `--json` may come before or after the subcommand.

The command tree is drawn here, in the order `syndicate --help` lists it; each command lives in
the module of its group, and no module of this package imports this one:

    context      global options, clock, config, database, who is acting, Abort
    terminal     what the commands print: one JSON object, or tables that fit the terminal
    sources      gather, sources discover|list, backlog release
    edition      edition build|show|preview|acknowledge|segment, send
    approval     approve, reject
    quiet        override-quiet
    posts        posts draft, posts slots, posts move, publish
    pause        pause, resume
    status       status (and its tables)
    report       report, weekly-note show|send
    doctor       doctor (the pre-flight check) and the gate on a first real send
    subscribers  subscribers import|list|unsubscribe|reinstate|export|erase|readd|tag|untag
    staff        staff add|disable
    api_tokens   api-tokens create|list|revoke
    webhooks     webhooks add|list|remove|deliveries|send
    web          web, serve
    demo         demo
"""

from __future__ import annotations

import os
import sys

import typer

from flows.cli import (
    api_tokens,
    approval,
    demo,
    edition,
    posts,
    report,
    sources,
    staff,
    status,
    subscribers,
    terminal,
    web,
    webhooks,
)
from flows.cli import pause as pausing
from flows.cli.context import Abort, global_options
from flows.cli.doctor import doctor
from flows.cli.quiet import override_quiet
from flows.settings import ConfigError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None,
                  help="syndicate: gather what your organisation publishes, compose the newsletter and posts, "
                       "get them approved, send them once.")
app.callback()(global_options)


def _group(name: str, help_text: str) -> typer.Typer:
    """A command group: `syndicate NAME ...`."""
    group = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help=help_text)
    app.add_typer(group, name=name)
    return group


app.command("gather")(sources.gather)
app.command("approve")(approval.approve)
app.command("reject")(approval.reject)
app.command("override-quiet")(override_quiet)
app.command("send")(edition.send)
app.command("publish")(posts.publish)
app.command("pause")(pausing.pause)
app.command("resume")(pausing.resume)
app.command("status")(status.status)
app.command("report")(report.report)
app.command("doctor")(doctor)
app.command("demo")(demo.demo)
app.command("web")(web.web)
app.command("serve")(web.serve)

edition_app = _group("edition", "Build, inspect and preview editions of the newsletter.")
edition_app.command("build")(edition.edition_build)
edition_app.command("show")(edition.edition_show)
edition_app.command("preview")(edition.edition_preview)
edition_app.command("acknowledge")(edition.edition_acknowledge)
edition_app.command("segment")(edition.edition_segment)

subscribers_app = _group("subscribers", "Import, list and unsubscribe subscribers; export or erase one person's data.")
subscribers_app.command("import")(subscribers.subscribers_import)
subscribers_app.command("list")(subscribers.subscribers_list)
subscribers_app.command("unsubscribe")(subscribers.subscribers_unsubscribe)
subscribers_app.command("reinstate")(subscribers.subscribers_reinstate)
subscribers_app.command("export")(subscribers.subscribers_export)
subscribers_app.command("erase")(subscribers.subscribers_erase)
subscribers_app.command("readd")(subscribers.subscribers_readd)
subscribers_app.command("tag")(subscribers.subscribers_tag)
subscribers_app.command("untag")(subscribers.subscribers_untag)

sources_app = _group("sources", "Inspect sources and discover feeds.")
sources_app.command("discover")(sources.sources_discover)
sources_app.command("list")(sources.sources_list)

staff_app = _group("staff", "Accounts for the review desk.")
staff_app.command("add")(staff.staff_add)
staff_app.command("disable")(staff.staff_disable)

backlog_app = _group("backlog", "What the first gather of a source held back, and releasing it.")
backlog_app.command("release")(sources.backlog_release)

posts_app = _group("posts", "Per-item social posts.")
posts_app.command("draft")(posts.posts_draft)
posts_app.command("slots")(posts.posts_slots)
posts_app.command("move")(posts.posts_move)

weekly_note_app = _group("weekly-note", "The note to staff each week: what went out, how it did, what waits.")
weekly_note_app.command("show")(report.weekly_note_show)
weekly_note_app.command("send")(report.weekly_note_send)

api_tokens_app = _group("api-tokens", "Bearer tokens of the JSON API (/api/v1), made and revoked by admins.")
api_tokens_app.command("create")(api_tokens.api_tokens_create)
api_tokens_app.command("list")(api_tokens.api_tokens_list)
api_tokens_app.command("revoke")(api_tokens.api_tokens_revoke)

webhooks_app = _group("webhooks", "Outgoing webhooks: subscribed, unsubscribed, edition sent; signed and retried.")
webhooks_app.command("add")(webhooks.webhooks_add)
webhooks_app.command("list")(webhooks.webhooks_list)
webhooks_app.command("remove")(webhooks.webhooks_remove)
webhooks_app.command("deliveries")(webhooks.webhooks_deliveries)
webhooks_app.command("send")(webhooks.webhooks_send)


def _hoist_global_options(argv: list[str]) -> list[str]:
    """Accept `--json` and `--config FILE` after the subcommand too, by moving them to the front."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--json":
            front.append(arg)
        elif arg == "--config" and i + 1 < len(argv):
            front += [arg, argv[i + 1]]
            i += 1
        elif arg.startswith("--config="):
            front.append(arg)
        else:
            rest.append(arg)
        i += 1
    return front + rest


def main(argv: list[str] | None = None) -> int:
    """Run `syndicate` on `argv` (default: the process's arguments) and return its exit status: 0 done,
    1 a failure printed as one clear message, 2 a usage error, 130 aborted."""
    from connectors.errors import ConnectorError
    from state.ledger import LedgerError
    from state.secret_key import SecretKeyError

    args = _hoist_global_options(list(sys.argv[1:] if argv is None else argv))
    try:
        result = app(args=args, prog_name="syndicate", standalone_mode=False)
        if isinstance(result, int) and result:
            return result  # typer.Exit(code) comes back as the return value in this mode
    except (ConfigError, LedgerError, Abort, ConnectorError, SecretKeyError) as exc:
        terminal.fail(str(exc))
        return 1
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        terminal.fail("aborted")
        return 130
    except Exception as exc:
        show, exit_code = getattr(exc, "show", None), getattr(exc, "exit_code", None)
        if callable(show) and isinstance(exit_code, int):
            show()  # a usage error from the command-line parser: it prints the usage and the fix
            return int(exit_code)
        if os.environ.get("SYNDICATE_DEBUG"):
            raise
        terminal.fail(f"unexpected {exc.__class__.__name__}: {exc} (set SYNDICATE_DEBUG=1 to see the traceback, "
                      "and please report it)")
        return 1
    return 0
