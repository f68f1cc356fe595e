"""The `syndicate` command. Each command calls a stage function directly (no Prefect server);
`demo` and `serve` run the real Prefect flows.

Global options `--config FILE` and `--json` may come before or after the subcommand.

The command tree is the table `COMMANDS` below, in the order `syndicate --help` lists it: each
command names the function that runs it ("module:function") and the first paragraph of its
docstring, which the listings show. A command's module is imported only when that command (or its
own `--help`) runs, so `syndicate --help` and `syndicate GROUP --help` import none of them, nor
what they import (SQLAlchemy, the config models, Prefect); tests/test_cli_startup.py checks that
the table matches the functions. Each command lives in the module of its group, and no module of
this package imports this one:

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

import gc
import importlib
import os
import sys
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import typer
import typer.main
from typer import _click
from typer._coercion import RuntimeParam
from typer.core import TyperGroup, TyperOption
from typer.models import CommandInfo

from flows.cli.context import global_options


@dataclass(frozen=True)
class _Command:
    """A command: the function that runs it, "module:function", and its docstring's first paragraph."""

    target: str
    summary: str


@dataclass(frozen=True)
class _Group:
    """A group of commands, `syndicate NAME ...`: its help and its commands."""

    help: str
    commands: Mapping[str, _Command]


COMMANDS: dict[str, _Command | _Group] = {
    "gather": _Command("flows.cli.sources:gather", 'Fetch every source once and report per source.'),
    "approve": _Command("flows.cli.approval:approve",
        'Approve the exact content of an edition, thread or post (as an approver or admin who did not '
        'change it).'),
    "reject": _Command("flows.cli.approval:reject",
        'Reject an edition, thread or post, saying what must change.'),
    "override-quiet": _Command("flows.cli.quiet:override_quiet",
        'Send an edition or post a thread inside quiet time anyway, at the time it was due (an admin, with '
        'a reason).'),
    "send": _Command("flows.cli.edition:send",
        'Deliver approved editions that are due (or this edition, now). The first real send waits while '
        '`syndicate doctor` reports a blocker.'),
    "publish": _Command("flows.cli.posts:publish", 'Post approved threads and posts that are due.'),
    "pause": _Command("flows.cli.pause:pause",
        "Stop every outbound call (or one channel's) now: sends in progress stop at their next batch or "
        'post.'),
    "resume": _Command("flows.cli.pause:resume",
        'Let everything (or one channel) go again: the next run goes on where the pause stopped it.'),
    "status": _Command("flows.cli.status:status", 'Sources, pending approvals, schedule and failures.'),
    "report": _Command("flows.cli.report:report",
        'How an edition did (delivered, bounced, complaints, unsubscribes, clicks per item and section), or'
        ' the trend.'),
    "doctor": _Command("flows.cli.doctor:doctor",
        'Check the set-up before the first real send: SPF, DKIM, DMARC, one-click unsubscribe, the secret '
        "key, SendGrid's key scopes and webhook key, Gmail's clip. Exit status 1 while a blocker stands."),
    "demo": _Command("flows.cli.demo:demo",
        'Run the whole pipeline on the bundled example site; its config, ledger and outbox live in '
        'var/demo/.'),
    "web": _Command("flows.cli.web:web",
        'Serve the review desk for staff and the public endpoints (unsubscribe, archive, webhooks).'),
    "serve": _Command("flows.cli.web:serve",
        'Run everything on this machine: Prefect server and deployments, event relay, web app. Ctrl-C '
        'stops.'),
    "edition": _Group('Build, inspect and preview editions of the newsletter.', {
        "build": _Command("flows.cli.edition:edition_build",
            'Compose the next edition from what was gathered, and its roundup threads, for approval.'),
        "show": _Command("flows.cli.edition:edition_show",
            'Summary of an edition: sections, items, size, warnings, approval.'),
        "preview": _Command("flows.cli.edition:edition_preview",
            'Write the edition exactly as subscribers will see it.'),
        "acknowledge": _Command("flows.cli.edition:edition_acknowledge",
            "Acknowledge an edition's warnings (e.g. trimmed for size) so it can be approved."),
        "segment": _Command("flows.cli.edition:edition_segment",
            'Who an edition goes to (tags and sections) and how many would get it; with options, set it. A '
            'new segment voids an approval given for another.'),
    }),
    "subscribers": _Group("Import, list and unsubscribe subscribers; export or erase one person's data.", {
        "import": _Command("flows.cli.subscribers:subscribers_import",
            'Import subscribers from a CSV file (columns: email, name). All rows or none.'),
        "list": _Command("flows.cli.subscribers:subscribers_list", 'List subscribers and their status.'),
        "unsubscribe": _Command("flows.cli.subscribers:subscribers_unsubscribe",
            'Unsubscribe an address now; no later send reaches it.'),
        "reinstate": _Command("flows.cli.subscribers:subscribers_reinstate",
            'Lift the suppression of an address that bounced or complained, when the person asks to come '
            'back (admins only, audited); they then sign up again and confirm from their inbox.'),
        "export": _Command("flows.cli.subscribers:subscribers_export",
            'Print everything held about one address as JSON (a subject access request): the subscriber, '
            'their consent, changes, deliveries, provider events, clicks and opens if kept, suppressions. '
            'Admins only; audited.'),
        "erase": _Command("flows.cli.subscribers:subscribers_erase",
            "Erase everything held about an address at its owner's request (the ledger, and their copies in"
            ' the outbox), keeping only a salted hash so that no import, sign-up or API call adds it again '
            'silently. Admins only; audited.'),
        "readd": _Command("flows.cli.subscribers:subscribers_readd",
            'Re-add an erased address because its owner asked to come back, with their fresh consent. '
            'Admins only; audited.'),
        "tag": _Command("flows.cli.subscribers:subscribers_tag",
            'Give a subscriber a tag (staff send editions to segments by tag); recorded as a change.'),
        "untag": _Command("flows.cli.subscribers:subscribers_untag",
            'Take a tag off a subscriber; recorded as a change.'),
    }),
    "sources": _Group('Inspect sources and discover feeds.', {
        "discover": _Command("flows.cli.sources:sources_discover",
            'Look at a page: does it advertise a feed? Proposes the [[sources]] config.'),
        "list": _Command("flows.cli.sources:sources_list", 'Configured sources and their health.'),
    }),
    "staff": _Group('Accounts for the review desk.', {
        "add": _Command("flows.cli.staff:staff_add",
            'Add a member of staff; prints a one-time link to set their password.'),
        "disable": _Command("flows.cli.staff:staff_disable",
            'Disable a member of staff: every session of theirs ends; `staff add` enables them again.'),
    }),
    "backlog": _Group('What the first gather of a source held back, and releasing it.', {
        "release": _Command("flows.cli.sources:backlog_release",
            "Let items held back as backlog (a source's first gather) into the next edition."),
    }),
    "posts": _Group('Per-item social posts.', {
        "draft": _Command("flows.cli.posts:posts_draft",
            'Draft a post per new item for each enabled network, for approval (what the social-drafts flow '
            'does).'),
        "slots": _Command("flows.cli.posts:posts_slots",
            'The posting slots of the days ahead on each network with slots: which post holds each, which '
            'are free.'),
        "move": _Command("flows.cli.posts:posts_move",
            "Move a post (an item's thread) to another posting slot or time; its approval stands (time is "
            'not content).'),
    }),
    "weekly-note": _Group('The note to staff each week: what went out, how it did, what waits.', {
        "show": _Command("flows.cli.report:weekly_note_show",
            'The note to staff for this week as it would go now (nothing is sent).'),
        "send": _Command("flows.cli.report:weekly_note_send",
            "Send this week's note to staff now through the email channel: once per week, never twice."),
    }),
    "api-tokens": _Group('Bearer tokens of the JSON API (/api/v1), made and revoked by admins.', {
        "create": _Command("flows.cli.api_tokens:api_tokens_create",
            'Make a token for the JSON API; it is printed once, never again.'),
        "list": _Command("flows.cli.api_tokens:api_tokens_list",
            'List the API tokens: scope, who made them, when last used, revoked or not (never the tokens).'),
        "revoke": _Command("flows.cli.api_tokens:api_tokens_revoke",
            'Revoke a token: every request with it is refused from now on.'),
    }),
    "webhooks": _Group('Outgoing webhooks: subscribed, unsubscribed, edition sent; signed and retried.', {
        "add": _Command("flows.cli.webhooks:webhooks_add",
            'Send events to URL from now on; prints the signing secret once.'),
        "list": _Command("flows.cli.webhooks:webhooks_list",
            'List the webhooks in use and how their deliveries stand.'),
        "remove": _Command("flows.cli.webhooks:webhooks_remove",
            'Stop sending to a webhook (its deliveries stay listed).'),
        "deliveries": _Command("flows.cli.webhooks:webhooks_deliveries",
            'Every delivery: event, attempts, last answer or error, and whether it got there.'),
        "send": _Command("flows.cli.webhooks:webhooks_send",
            'Send the webhook deliveries that are due now (`syndicate serve` does this every few seconds).'),
    }),
}


def _load(entry: _Command, name: str) -> _click.Command:
    """The command `entry` names, built by typer from its function (importing its module)."""
    module, function = entry.target.split(":")
    callback = getattr(importlib.import_module(module), function)
    return typer.main.get_command_from_info(CommandInfo(name=name, callback=callback),
                                            pretty_exceptions_short=True, rich_markup_mode=None)


class _Commands(MutableMapping[str, _click.Command]):
    """A group's commands by name, in the table's order; each is built the first time it is looked up."""

    def __init__(self, table: Mapping[str, _Command | _Group]) -> None:
        self.table = table
        self.built: dict[str, _click.Command] = {}

    def __getitem__(self, name: str) -> _click.Command:
        if name not in self.built:
            entry = self.table[name]
            self.built[name] = (LazyGroup(name=name, help=entry.help, table=entry.commands)
                                if isinstance(entry, _Group) else _load(entry, name))
        return self.built[name]

    def __setitem__(self, name: str, command: _click.Command) -> None:
        raise TypeError(f"add `{name}` to flows.cli.COMMANDS instead")

    def __delitem__(self, name: str) -> None:
        raise TypeError(f"remove `{name}` from flows.cli.COMMANDS instead")

    def __iter__(self) -> Iterator[str]:
        return iter(self.table)

    def __len__(self) -> int:
        return len(self.table)


@dataclass(frozen=True)
class _PlainOption(RuntimeParam):
    """A path or flag option of a group (`--config FILE`, `--json`, `--help`) read without typer's
    own coercion, which imports pydantic (about 0.2 s): `syndicate GROUP --help` need not pay for it."""

    def _coerce_value(self, value: Any, param: Any, ctx: _click.Context) -> Any:
        return self.annotation(value)


class LazyGroup(TyperGroup):
    """A typer group whose commands come from a table and are imported only when one runs; its
    listing (`--help`) shows each command's summary from the table without importing it."""

    table: ClassVar[Mapping[str, _Command | _Group]] = COMMANDS

    def __init__(self, *, table: Mapping[str, _Command | _Group] | None = None, **attrs: Any) -> None:
        attrs.setdefault("no_args_is_help", True)
        attrs.setdefault("rich_markup_mode", None)
        super().__init__(**attrs)
        self.entries = self.table if table is None else table
        self.commands = _Commands(self.entries)

    def list_commands(self, ctx: _click.Context) -> list[str]:
        return list(self.commands)

    def get_params(self, ctx: _click.Context) -> list[_click.Parameter]:
        params = super().get_params(ctx)
        for param in params:
            if not isinstance(param, TyperOption) or param._runtime_param is not None:
                continue
            described = param.type_descriptor
            if described.annotation in (Path, bool):
                param._runtime_param = _PlainOption(annotation=described.annotation,
                                                    parameter_info=described.parameter_info)
        return params

    def format_commands(self, ctx: _click.Context, formatter: _click.HelpFormatter) -> None:
        """What `TyperGroup.format_commands` writes, from the table: no command module is imported."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            entry = self.entries[name]
            text = entry.help if isinstance(entry, _Group) else entry.summary
            rows.append((name, _click.utils.make_default_short_help(text, limit).strip()))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


app = typer.Typer(cls=LazyGroup, add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  rich_markup_mode=None,
                  help="syndicate: gather what your organisation publishes, compose the newsletter and posts, "
                       "get them approved, send them once.")
app.callback()(global_options)


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


# The failures printed as one clear message, by the module that defines each. A run that never
# imported a module cannot have raised its exception, so `main` looks them up in `sys.modules`
# instead of importing them all (state.ledger alone costs about a second).
_USER_ERRORS = (("flows.settings", "ConfigError"), ("state.errors", "LedgerError"), ("flows.cli.context", "Abort"),
                ("connectors.errors", "ConnectorError"), ("state.secret_key", "SecretKeyError"))


def _is_user_error(exc: Exception) -> bool:
    return any(module in sys.modules and isinstance(exc, getattr(sys.modules[module], name))
               for module, name in _USER_ERRORS)


def _fail(message: str) -> None:
    from flows.cli import terminal

    terminal.fail(message)


# A command imports for a few hundred ms and builds much that lives to its end: with Python's default
# thresholds (700, 10, 10) the cyclic collector runs hundreds of times over objects that are never
# garbage (`syndicate status` spent 0.05-0.08 s of its ~0.5 s of imports collecting). Put back when
# the command returns, so a caller in the same process (the tests) keeps its own.
CLI_GC_THRESHOLD = (50_000, 20, 1000)


def main(argv: list[str] | None = None) -> int:
    """Run `syndicate` on `argv` (default: the process's arguments) and return its exit status: 0 done,
    1 a failure printed as one clear message, 2 a usage error, 130 aborted."""
    threshold = gc.get_threshold()
    gc.set_threshold(*CLI_GC_THRESHOLD)
    try:
        return _main(argv)
    finally:
        gc.set_threshold(*threshold)


def _main(argv: list[str] | None) -> int:
    args = _hoist_global_options(list(sys.argv[1:] if argv is None else argv))
    try:
        result = app(args=args, prog_name="syndicate", standalone_mode=False)
        if isinstance(result, int) and result:
            return result  # typer.Exit(code) comes back as the return value in this mode
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        _fail("aborted")
        return 130
    except Exception as exc:
        if _is_user_error(exc):
            _fail(str(exc))
            return 1
        show, exit_code = getattr(exc, "show", None), getattr(exc, "exit_code", None)
        if callable(show) and isinstance(exit_code, int):
            show()  # a usage error from the command-line parser: it prints the usage and the fix
            return int(exit_code)
        if os.environ.get("SYNDICATE_DEBUG"):
            raise
        _fail(f"unexpected {exc.__class__.__name__}: {exc} (set SYNDICATE_DEBUG=1 to see the traceback, "
              "and please report it)")
        return 1
    return 0
