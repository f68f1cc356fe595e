"""The `syndicate` command. Each command calls a stage function directly (no Prefect server),
so it starts in about a second; `demo` and `serve` run the real Prefect flows.

Global options `--config FILE` and `--json` may come before or after the subcommand.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from compose.errors import SyndicateError
from flows import output
from flows.settings import ConfigError, load_config

if TYPE_CHECKING:
    from compose.config import Config
    from state.db import Database

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None,
                  help="syndicate: gather what your organisation publishes, compose the newsletter and posts, "
                       "get them approved, send them once.")
edition_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Build, inspect and preview editions of the newsletter.")
subscribers_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Import, list and unsubscribe subscribers.")
sources_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Inspect sources and discover feeds.")
staff_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Accounts for the review desk.")
backlog_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="What the first gather of a source held back, and releasing it.")
posts_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Per-item social posts.")
app.add_typer(edition_app, name="edition")
app.add_typer(subscribers_app, name="subscribers")
app.add_typer(sources_app, name="sources")
app.add_typer(staff_app, name="staff")
app.add_typer(backlog_app, name="backlog")
app.add_typer(posts_app, name="posts")

_STATE: dict[str, Any] = {"config": None, "json": False}


class Abort(SyndicateError):
    """A user-facing failure: printed as one clear message, exit status 1."""


def now() -> datetime:
    """The clock. `SYNDICATE_NOW` (ISO 8601) pins it, for rehearsals and tests."""
    pinned = os.environ.get("SYNDICATE_NOW")
    if pinned:
        try:
            value = datetime.fromisoformat(pinned)
        except ValueError:
            raise Abort(f"SYNDICATE_NOW={pinned!r} is not an ISO 8601 time, e.g. 2026-11-26T14:00:00+00:00") from None
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.now(UTC)


def config() -> Config:
    return load_config(_STATE["config"])


def display_zone() -> tzinfo:
    """The organisation's time zone for showing times; UTC when the config cannot be read (the times
    still say which zone they are in)."""
    try:
        return config().zone
    except ConfigError:
        return UTC


def database() -> Database:
    from state.db import connect

    return connect()


def as_json() -> bool:
    return bool(_STATE["json"])


@app.callback()
def _main(
    config_file: Annotated[Path | None, typer.Option("--config", help="Config file (default ./syndicate.toml or $SYNDICATE_CONFIG).")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout instead of tables.")] = False,
) -> None:
    _STATE["config"] = config_file
    _STATE["json"] = json_output


BACKLOG_RELEASE = "syndicate backlog release [--source NAME] [--since DATE]"


# --- gather --------------------------------------------------------------------------------------


@app.command()
def gather(include_backlog: Annotated[bool, typer.Option("--include-backlog", help="Treat what a new source already has as new (may flood subscribers).")] = False) -> None:
    """Fetch every source once and report per source."""
    from flows.stages.gather import gather_sources

    cfg, db = config(), database()
    with db.session() as session:
        summary = gather_sources(session, cfg, now=now(), include_backlog=include_backlog)
    every_source_failed = bool(summary.sources) and summary.failed == len(summary.sources)
    refusal = f"every source failed ({summary.failed}): nothing was gathered; see the errors and hints"
    if as_json():
        output.emit_json(summary.as_dict())
        if every_source_failed:
            raise Abort(refusal)
        return
    output.table("Sources", ["source", "section", "result", ("new", "number"), ("upd", "number"),
                             ("HTTP", "number"), ("bytes", "number"), ("ms", "number")], [
        (s.name, s.section, ("ok" + (" (not modified)" if s.not_modified else "")) if s.ok else "FAILED",
         s.new, s.updated, s.status, f"{s.bytes:,}", round(s.elapsed_ms)) for s in summary.sources])
    for s in summary.sources:  # the full text where it has the width to read, not one word a line in a cell
        if s.moved_to:
            output.say(f"{s.name}: moved permanently to {s.moved_to}")
        if not s.ok:
            output.labelled(f"{s.name}: ", f"{s.skipped or s.error}" + (f" (hint: {s.hint})" if s.hint else ""),
                            "bold red")
    output.say(f"{summary.new} new, {summary.updated} updated, {summary.failed} source(s) failing")
    if summary.released:
        output.say(f"released {summary.released} item(s) earlier gathers held back as backlog: the next edition may include them")
    if summary.backlog:
        output.say(f"{summary.backlog} of the new items were held back as backlog: a source's first gather never floods "
                   f"subscribers. To include them: {BACKLOG_RELEASE}")
    if every_source_failed:
        raise Abort(f"{refusal} above")


# --- editions ------------------------------------------------------------------------------------


@edition_app.command("build")
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
        output.emit_json(built)
        return
    output.say(built["reason"])
    for warning in built["warnings"]:
        output.warn(warning)
    if built["threads"]:
        output.say(f"{len(built['threads'])} roundup thread(s) drafted for approval: `syndicate status` lists them")


@edition_app.command("show")
def edition_show(edition_id: int) -> None:
    """Summary of an edition: sections, items, size, warnings, approval."""
    from state.ledger import get_edition, latest_approval

    db = database()
    with db.session() as session:
        row = get_edition(session, edition_id)
        approval = latest_approval(session, "edition", row.id)
        sections: dict[str, list[str]] = {}
        warnings = list(row.warnings)
        current = approval is not None and approval.content_hash == row.content_hash
        scheduled_for, sent_at = row.scheduled_for, row.sent_at
        for link in row.items:
            sections.setdefault(link.section, []).append(link.item.title)
        data = {"id": row.id, "slug": row.slug, "status": row.status, "subject": row.subject,
                "preheader": row.preheader, "html_bytes": row.html_bytes, "warnings": row.warnings,
                "scheduled_for": row.scheduled_for, "sent_at": row.sent_at, "content_hash": row.content_hash,
                "sections": sections,
                "approval": None if approval is None else {"decision": approval.decision, "by": approval.by,
                                                           "at": approval.at, "current": current}}
    if as_json():
        output.emit_json(data)
        return
    zone = display_zone()
    output.heading(f"Edition {data['id']} {data['slug']}: {data['status']}, {data['html_bytes']:,} bytes of HTML")
    output.say(f"Subject: {data['subject']}\nPreheader: {data['preheader']}")
    output.say(f"Scheduled for: {output.when(scheduled_for, zone, now=now(), never='not scheduled')}"
               + (f"\nSent: {output.when(sent_at, zone, now=now())}" if sent_at else ""))
    for section, titles in sections.items():
        output.say("")
        output.heading(f"{section} ({len(titles)})")
        for title in titles:
            output.say(f"  - {title}")
    for warning in warnings:
        output.warn(warning)
    if approval:
        output.say(f"\n{approval.decision} by {approval.by} on {output.when(approval.at, zone, now=now())}"
                   + ("" if current else " (for earlier content: approve again)"))


@edition_app.command("preview")
def edition_preview(
    edition_id: int,
    html: Annotated[Path | None, typer.Option("--html", help="Write the HTML part here.")] = None,
    text: Annotated[Path | None, typer.Option("--text", help="Write the plain-text part here.")] = None,
) -> None:
    """Write the edition exactly as subscribers will see it."""
    from state.ledger import get_edition

    if html is None and text is None:
        raise Abort("say where to write the preview: --html FILE and/or --text FILE")
    with database().session() as session:
        row = get_edition(session, edition_id)
        if html:
            html.write_text(row.html, "utf-8")
        if text:
            text.write_text(row.text, "utf-8")
    written = [str(p) for p in (html, text) if p]
    output.emit_json({"id": edition_id, "written": written}) if as_json() else output.say("wrote " + ", ".join(written))


@edition_app.command("acknowledge")
def edition_acknowledge(edition_id: int, by: Annotated[str, typer.Option("--by", metavar="EMAIL", help="Your email.")]) -> None:
    """Acknowledge an edition's warnings (e.g. trimmed for size) so it can be approved."""
    from state.editions import acknowledge_warnings

    with database().session() as session:
        acknowledge_warnings(session, edition_id, by=by, now=now())
    output.say(f"warnings of edition {edition_id} acknowledged by {by}")


# --- approval ------------------------------------------------------------------------------------


@app.command()
def approve(
    kind: Annotated[str, typer.Argument(metavar="KIND", help="edition, thread or post")],
    ident: Annotated[int, typer.Argument(metavar="ID")],
    by: Annotated[str, typer.Option("--by", metavar="EMAIL", help="Your email as on the staff list: an approver or admin.")],
    note: Annotated[str | None, typer.Option("--note", metavar="TEXT", help="Why, for the audit log.")] = None,
) -> None:
    """Approve the exact content of an edition, thread or post (as an approver or admin who did not change it)."""
    from connectors.channels.reach import loopback_warning
    from state import ledger

    cfg, db = config(), database()
    try:
        with db.session() as session:
            approval = ledger.approve(session, kind, ident, by=by, now=now(), note=note,
                                      two_person_rule=cfg.review.two_person_rule, config=cfg)
            data = {"kind": approval.subject_kind, "id": approval.subject_id, "by": approval.by,
                    "content_hash": approval.content_hash}
    except ledger.LedgerError as exc:
        with db.session() as session:
            ledger.record_refusal(session, exc, now=now())
        raise
    warning = loopback_warning(cfg)
    if as_json():
        output.emit_json({**data, "warning": warning})
        return
    output.say(f"{kind} {ident} approved by {data['by']}")
    if warning:
        output.warn(warning)


@app.command()
def reject(
    kind: Annotated[str, typer.Argument(metavar="KIND", help="edition, thread or post")],
    ident: Annotated[int, typer.Argument(metavar="ID")],
    by: Annotated[str, typer.Option("--by", metavar="EMAIL", help="Your email as on the staff list: an approver or admin.")],
    note: Annotated[str, typer.Option("--note", metavar="TEXT", help="What must change.")],
) -> None:
    """Reject an edition, thread or post, saying what must change."""
    from state import ledger

    with database().session() as session:
        ledger.reject(session, kind, ident, by=by, note=note, now=now())
    output.emit_json({"kind": kind, "id": ident, "rejected": True}) if as_json() else output.say(f"{kind} {ident} rejected")


# --- sending -------------------------------------------------------------------------------------


@app.command()
def send(edition_id: Annotated[int | None, typer.Argument(metavar="[EDITION_ID]")] = None) -> None:
    """Deliver approved editions that are due (or this edition, now)."""
    from flows.settings import signing_key
    from flows.stages.deliver import deliver_edition

    cfg, db = config(), database()
    key = signing_key(db, now=now())
    summaries = [deliver_edition(db, cfg, now=now(), edition_id=edition_id, secret_key=key)]
    if as_json():
        output.emit_json({"editions": [s.as_dict() for s in summaries]})
    else:
        for summary in summaries:
            output.say(summary.message)
    if edition_id is not None:
        from state.ledger import get_edition
        from state.models import EditionStatus

        with db.session() as session:
            if get_edition(session, edition_id).status != EditionStatus.SENT:
                raise typer.Exit(1)


@app.command()
def publish() -> None:
    """Post approved threads and posts that are due."""
    from flows.stages.publish import publish_due_posts

    cfg, db = config(), database()
    summary = publish_due_posts(db.sessions, cfg, now=now())
    if as_json():
        output.emit_json(summary.as_dict())
        return
    output.say(summary.message)
    for line in summary.waiting + summary.failed:
        output.say(f"  {line}")


@app.command()
def status() -> None:
    """Sources, pending approvals, schedule and failures."""
    from state.status_report import status_report

    cfg, db = config(), database()
    with db.session() as session:
        report = status_report(session, cfg, now=now())
        key_problem = secret_key_problem(session, db, now=now())
    report["secret_key_problem"] = key_problem
    if as_json():
        output.emit_json(report)
    else:
        from flows.render_status import print_status

        print_status(report)
    if key_problem:
        raise Abort(key_problem)


def secret_key_problem(session: Any, db: Database, *, now: datetime) -> str | None:
    """Why the key the next send or `web` would use breaks links already sent; None when it does not.
    Status never creates a key."""
    from state.secret_key import SecretKeyError, editions_signed_otherwise, load_secret_key, mismatch_message

    url = db.engine.url.render_as_string(hide_password=False)
    try:
        key = load_secret_key(database_url=url, create=False)
    except SecretKeyError as exc:
        return str(exc)
    mismatched = editions_signed_otherwise(session, key, now=now)
    return mismatch_message(key, mismatched, database_url=url) if mismatched else None


from flows import cli_more as _more  # noqa: E402,F401  (registers the remaining commands)


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
    from connectors.errors import ConnectorError
    from state.ledger import LedgerError
    from state.secret_key import SecretKeyError

    args = _hoist_global_options(list(sys.argv[1:] if argv is None else argv))
    try:
        result = app(args=args, prog_name="syndicate", standalone_mode=False)
        if isinstance(result, int) and result:
            return result  # typer.Exit(code) comes back as the return value in this mode
    except (ConfigError, LedgerError, Abort, ConnectorError, SecretKeyError) as exc:
        output.fail(str(exc))
        return 1
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        output.fail("aborted")
        return 130
    except Exception as exc:
        show, exit_code = getattr(exc, "show", None), getattr(exc, "exit_code", None)
        if callable(show) and isinstance(exit_code, int):
            show()  # a usage error from the command-line parser: it prints the usage and the fix
            return int(exit_code)
        if os.environ.get("SYNDICATE_DEBUG"):
            raise
        output.fail(f"unexpected {exc.__class__.__name__}: {exc} (set SYNDICATE_DEBUG=1 to see the traceback, "
                    "and please report it)")
        return 1
    return 0


if __name__ == "__main__":  # `python -m flows.cli`: run the imported module's app, where every command is registered
    from flows.cli import main as _registered_main

    raise SystemExit(_registered_main())
