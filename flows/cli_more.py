"""The remaining `syndicate` commands: demo, subscribers, sources, backlog, posts, web, serve, staff."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any

import typer

from flows import output
from flows.cli import (
    Abort,
    app,
    as_json,
    backlog_app,
    config,
    database,
    now,
    posts_app,
    sources_app,
    staff_app,
    subscribers_app,
)


@app.command()
def demo() -> None:
    """Run the whole pipeline on the bundled example site; its config, ledger and outbox live in var/demo/."""
    from flows.demo import demo_commands, run_demo

    result = run_demo()
    result["commands"] = demo_commands(result)
    if as_json():
        output.emit_json(result)
        return
    _print_demo(result)


def _print_demo(result: dict[str, Any]) -> None:
    gathered, built = result["gathered"], result["built"]
    output.say("")
    output.heading(f"syndicate demo finished in {result['elapsed_s']} s")
    output.say(f"Gathered {len(gathered['sources'])} sources: {gathered['new']} new items, {gathered['updated']} updated, "
               f"{gathered['failed']} failing")
    if built["id"] is None or not result["delivered"]:
        output.heading(f"{built['reason']}. Nothing new was sent: the ledger remembers what went out.")
    else:
        for delivered in result["delivered"]:
            output.say(delivered["message"])
        published = result["published"]
        output.say(f"Published {published.get('posted', 0)} post(s) to the outbox")
        _print_outbox(result)
    output.say(f"\nThe demo keeps its config, ledger, secret key and outbox in {Path(result['config_path']).parent}/. "
               "Look at them with:")
    *look, again = result["commands"]
    for command in look:
        output.command(command)
    output.say("Run the demo again (or `make demo`): nothing new is sent.")
    output.command(again)


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
    output.say(f"\nEdition {result['built']['id']} \"{subject}\"")
    output.say(f"  open the email:     {html.as_posix()}")
    output.say(f"  the messages sent:  {email_dir.as_posix()}/*.eml")
    for thread in sorted(outbox.glob(f"*/edition-{slug}.json")):
        output.say(f"  the thread:         {thread.as_posix()}")


# --- who does it: a person at the terminal, never "cli" or "system" ------------------------------

BY = typer.Option("--by", metavar="EMAIL", help="Your email as on the staff list, for the audit log (without it the "
                  "log records your login on this machine).")


def person(session: Any, by: str | None, *, roles: tuple[str, ...] = (), doing: str = "") -> str:
    """Who the audit log names for a change made at the terminal: the member of staff `--by` names
    (refused when they are not staff, or lack one of `roles`), else the machine's login account."""
    import getpass

    from state.roles import require_role, staff_member

    if by is None:
        try:
            login = getpass.getuser()
        except (KeyError, OSError):
            login = "unknown"
        return f"{login} (terminal login)"
    return require_role(session, by, roles, doing) if roles else staff_member(session, by).email


# --- subscribers ---------------------------------------------------------------------------------


@subscribers_app.command("import")
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
    output.emit_json(dataclasses.asdict(report)) if as_json() else output.say(report.message)


@subscribers_app.command("list")
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
        output.emit_json({"subscribers": rows})
        return
    output.table(f"Subscribers ({len(rows)})", ["email", "name", "status", "consent"],
                 [(r["email"], r["name"], r["status"], r["consent_source"]) for r in rows])


@subscribers_app.command("unsubscribe")
def subscribers_unsubscribe(
    email: Annotated[str, typer.Argument(metavar="EMAIL")],
    by: Annotated[str | None, BY] = None,
) -> None:
    """Unsubscribe an address now; no later send reaches it."""
    from state.subscribers import unsubscribe

    with database().session() as session:
        who = person(session, by)
        unsubscribe(session, email, reason="staff: syndicate subscribers unsubscribe", now=now(), by=who)
    output.emit_json({"email": email, "status": "unsubscribed"}) if as_json() else output.say(f"{email} unsubscribed")


# --- sources -------------------------------------------------------------------------------------


@sources_app.command("discover")
def sources_discover(url: Annotated[str, typer.Argument(metavar="URL")]) -> None:
    """Look at a page: does it advertise a feed? Proposes the [[sources]] config."""
    from connectors.sources.discovery import discover

    found = discover(url)
    if as_json():
        output.emit_json({"url": url, "feeds": found})
        return
    if not found:
        output.say(f"{url} advertises no feed: configure it as kind = \"html\" with CSS selectors "
                   "(see the commented example syndicate.toml)")
        return
    for feed in found:
        title = f" \"{feed['title']}\"" if feed.get("title") else ""
        output.say(f"{feed['url']} is a feed{title}. Add it to syndicate.toml (set the section to one of yours):"
                   if feed["url"] == url or feed.get("type") == "feed" else
                   f"{url} advertises a feed{title}: {feed['url']} ({feed['type']}). Add it to syndicate.toml "
                   "(set the section to one of yours):")
        output.toml(feed["toml"])


@sources_app.command("list")
def sources_list() -> None:
    """Configured sources and their health."""
    from state.items import sync_sources
    from state.status_report import sources_health

    cfg = config()
    with database().session() as session:
        sync_sources(session, cfg.sources)
        rows = sources_health(session, cfg)
    if as_json():
        output.emit_json({"sources": rows})
        return
    from flows.render_status import source_health

    output.table("Sources", ["source (section, kind)", "url", ("last success", "time"), "health"],
                 [(f"{r['name']}\n({r['section']}, {r['kind']})", r["url"],
                   output.when(r["last_success"], cfg.zone, now=now()), source_health(r)) for r in rows])
    if any(r["retired"] for r in rows):
        output.say("retired: gathered before, no longer in syndicate.toml; nothing to do")


# --- backlog and per-item posts --------------------------------------------------------------


@backlog_app.command("release")
def backlog_release(
    source: Annotated[str | None, typer.Option("--source", help="Only this source (its name in syndicate.toml).")] = None,
    since: Annotated[str | None, typer.Option("--since", metavar="DATE",
                                              help="Only items published on or after this date (YYYY-MM-DD, in the config's time zone).")] = None,
    by: Annotated[str | None, BY] = None,
) -> None:
    """Let items held back as backlog (a source's first gather) into the next edition."""
    from sqlalchemy import select

    from state.items import backlog_counts, release_backlog
    from state.ledger import audit
    from state.models import SourceRow

    cfg = config()
    since_at = _parse_since(since, cfg.zone) if since else None
    with database().session() as session:
        source_id = None
        if source is not None:
            source_id = session.scalar(select(SourceRow.id).where(SourceRow.name == source))
            if source_id is None:
                known = ", ".join(s.name for s in cfg.sources) or "none configured"
                raise Abort(f"no source named {source!r} has been gathered: use one of {known}")
        released = release_backlog(session, source_id, since=since_at)
        left = sum(backlog_counts(session).values())
        audit(session, actor=person(session, by), action="release-backlog",
              kind="items", ident=None,
              now=now(), released=released, source=source, since=since)
    if as_json():
        output.emit_json({"released": released, "backlog_left": left})
        return
    output.say(f"released {released} backlog item(s) into the next edition ({left} still held back)"
               + ("; `syndicate edition build` composes it" if released else ""))


def _parse_since(value: str, zone: Any) -> Any:
    from datetime import date, datetime

    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise Abort(f"--since {value!r} is not a date: write it as YYYY-MM-DD, e.g. 2026-11-01") from None
    return datetime(day.year, day.month, day.day, tzinfo=zone)


@posts_app.command("draft")
def posts_draft() -> None:
    """Draft a post per new item for each enabled network, for approval (what the social-drafts flow does)."""
    from state.threads import draft_item_posts

    cfg = config()
    with database().session() as session:
        drafted = draft_item_posts(session, cfg, now=now())
    if as_json():
        output.emit_json({"threads": drafted})
        return
    output.say(f"{len(drafted)} post(s) drafted for approval" + (": `syndicate status` lists them" if drafted else
                                                                 " (every item already has its post)"))


# --- the web app, serving, staff -----------------------------------------------------------------


@app.command()
def web(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8000,
    https: Annotated[bool, typer.Option("--https", help="Served behind https: mark cookies Secure.")] = False,
) -> None:
    """Serve the review desk for staff and the public endpoints (unsubscribe, archive, webhooks)."""
    from flows.settings import signing_key
    from web.app import serve_web

    cfg, db = config(), database()
    key = signing_key(db, now=now())
    output.say(f"review desk on http://{host}:{port}/desk (staff accounts: `syndicate staff add EMAIL --role ...`)")
    serve_web(cfg, db, key, host=host, port=port, https=https)


@app.command()
def serve(
    host: Annotated[str, typer.Option("--host", help="Address of the web app.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port of the web app.")] = 8000,
) -> None:
    """Run everything on this machine: Prefect server and deployments, event relay, web app. Ctrl-C stops."""
    from flows.cli import _STATE
    from flows.serve import run_serve

    code = run_serve(str(_STATE["config"]) if _STATE["config"] else None, host=host, port=port)
    if code:
        raise typer.Exit(code)


@staff_app.command("add")
def staff_add(
    email: Annotated[str, typer.Argument(metavar="EMAIL")],
    role: Annotated[str, typer.Option("--role", help="editor, approver or admin")],
    by: Annotated[str | None, typer.Option("--by", metavar="EMAIL", help="Your email as on the staff list: an admin "
                                           "(without it the audit log records your login on this machine).")] = None,
) -> None:
    """Add a member of staff; prints a one-time link to set their password."""
    from state.staff import add_staff, setup_link_text

    cfg = config()
    with database().session() as session:
        who = person(session, by, roles=("admin",), doing="add staff")
        row, token = add_staff(session, email, role, now=now(), by=who)
        text = setup_link_text(str(cfg.edition.public_url), row.email, row.role, token)
    output.emit_json({"email": email, "role": role, "setup_link": text.rsplit(" ", 1)[-1]}) if as_json() else output.say(text)


@staff_app.command("disable")
def staff_disable(
    email: Annotated[str, typer.Argument(metavar="EMAIL")],
    by: Annotated[str | None, typer.Option("--by", metavar="EMAIL", help="Your email as on the staff list: an admin "
                                           "(without it the audit log records your login on this machine).")] = None,
) -> None:
    """Disable a member of staff: every session of theirs ends; `staff add` enables them again."""
    from state.staff import disable_staff

    with database().session() as session:  # an unknown address: StaffError, shown by main with exit code 1
        who = person(session, by, roles=("admin",), doing="disable staff")
        address = disable_staff(session, email, now=now(), by=who).email
    said = f"{address} is disabled: every session has ended. `syndicate staff add {address} --role ROLE` enables it again."
    output.emit_json({"email": address, "disabled": True}) if as_json() else output.say(said)
