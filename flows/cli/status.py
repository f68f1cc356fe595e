"""`syndicate status`: sources, pending approvals, schedule and failures; with `--json` one object,
else tables for a person, each fitting 80 columns, times in the organisation's zone."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from flows.cli import terminal
from flows.cli.context import Abort, as_json, config, database, now

if TYPE_CHECKING:
    from state.db import Database

FIGURES = ("accepted", "delivered", "opened", "clicked", "bounced", "complained", "failed", "ambiguous")


def source_health(row: dict[str, Any]) -> str:
    """One short word or phrase; the error itself is under "Needs attention", where it has room."""
    if row.get("retired"):
        return "retired"
    if row["consecutive_failures"]:
        status = f", HTTP {row['http_status']}" if row["http_status"] else ""
        return f"failing {row['consecutive_failures']}x{status}"
    if row["last_attempt"] is None:
        return "not gathered yet"
    push = f", push {row['push']['state']}" if row["push"] else ""
    return f"ok{push}"


def delivery(figures: dict[str, int]) -> str:
    """"6 recipients: 6 accepted, 2 opened": the figures that are not zero."""
    shown = ", ".join(f"{figures[k]} {k}" for k in FIGURES if figures.get(k))
    return f"{figures.get('recipients', 0)} recipients" + (f": {shown}" if shown else "")


def status() -> None:
    """Sources, pending approvals, schedule and failures."""
    from state.status_report import status_report

    cfg, db = config(), database()
    with db.session() as session:
        report = status_report(session, cfg, now=now())
        key_problem = secret_key_problem(session, db, now=now())
    report["secret_key_problem"] = key_problem
    if as_json():
        terminal.emit_json(report)
    else:
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


def print_status(report: dict[str, Any]) -> None:
    zone: tzinfo = ZoneInfo(report["schedule"]["timezone"])
    now = datetime.fromisoformat(report["now"])

    def when(value: str | None, never: str = "never") -> str:
        return terminal.when(value, zone, now=now, never=never)

    for pause in report.get("paused") or ():
        terminal.labelled("PAUSED: ", f"{pause['said']}. Nothing goes out on it until an admin runs "
                          f"`syndicate resume --by EMAIL{'' if pause['channel'] == 'all' else ' --channel ' + pause['channel']}`.",
                          "bold red")

    terminal.table("Sources", ["source", "section", ("last success", "time"), "health",
                               ("new", "number"), ("upd", "number")], [
        (s["name"], s["section"], when(s["last_success"]), source_health(s), s["items_new"], s["items_updated"])
        for s in report["sources"]])
    if any(s.get("retired") for s in report["sources"]):
        terminal.say("retired: gathered before, no longer in syndicate.toml; nothing to do")
    held = report["backlog"]
    if held["items"]:
        sources = ", ".join(f"{name} {count}" for name, count in held["by_source"].items())
        terminal.say(f"Backlog: {held['items']} item(s) the first gather held back ({sources}), so adding a source "
                     f"never floods subscribers. To include them: {held['release']}")
    terminal.say(f"Next edition: {report['next_edition']}")
    schedule = report["schedule"]
    terminal.say(f"Next build {when(schedule['next_build'])}, next send {when(schedule['next_send'])}")
    if report["pending"]:
        terminal.table("Waiting for approval", ["kind", ("id", "number"), "what", "status", ("send", "time")], [
            (p["kind"], p["id"], p.get("slug") or f"{p.get('network')} {p.get('key')}", p["status"],
             when(p.get("scheduled_for"), never="")) for p in report["pending"]])
    else:
        terminal.say("Nothing waiting for approval.")
    if report.get("quiet"):
        terminal.table("Quiet time", ["kind", ("id", "number"), "channel", ("goes", "time"), "what and why"], [
            (q["kind"], q["id"], q["channel"], when(q["goes_at"], never=""), q["said"]) for q in report["quiet"]])
    if report["editions"]:
        terminal.table("Editions", [("id", "number"), "edition", "status", ("items", "number"), ("sent or due", "time"),
                                    "delivery"], [
            (e["id"], e["slug"], e["status"], e["items"], when(e["sent_at"] or e["scheduled_for"], never=""),
             delivery(e["figures"])) for e in report["editions"]])
    else:
        terminal.say("No edition built yet.")
    if report.get("secret_key_problem"):
        terminal.labelled("Secret key: ", report["secret_key_problem"], "bold red")
    if report["failures"]:
        terminal.table("Needs attention", ["kind", "what", "error"], [
            (f["kind"], f.get("name") or f.get("id"),
             (f.get("error") or "") + (f" (hint: {f['hint']})" if f.get("hint") else ""))
            for f in report["failures"]])
    subscribers = ", ".join(f"{k} {v}" for k, v in sorted(report["subscribers"].items())) or "none"
    terminal.say(f"Subscribers: {subscribers}. Events waiting for relay to Prefect: {report['events_waiting_for_relay']}")
