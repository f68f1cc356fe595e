"""`syndicate status` as tables for a person."""

from __future__ import annotations

from typing import Any

from flows import output


def print_status(report: dict[str, Any]) -> None:
    output.table("Sources", ["source", "section", "last success", "failures", "last error", "HTTP", "new", "upd", "push"], [
        (s["name"], s["section"], s["last_success"] or "never", s["consecutive_failures"],
         (s["last_error"] or "") + (f"\nhint: {s['hint']}" if s["hint"] else ""), s["http_status"],
         s["items_new"], s["items_updated"], s["push"]["state"] if s["push"] else "") for s in report["sources"]])
    held = report["backlog"]
    if held["items"]:
        sources = ", ".join(f"{name} {count}" for name, count in held["by_source"].items())
        output.say(f"Backlog: {held['items']} item(s) the first gather held back ({sources}), so adding a source "
                   f"never floods subscribers. To include them: {held['release']}")
    output.say(f"Next edition: {report['next_edition']}")
    schedule = report["schedule"]
    output.say(f"Next build {schedule['next_build']}, next send {schedule['next_send']} ({schedule['timezone']})")
    if report["pending"]:
        output.table("Waiting for approval", ["kind", "id", "what", "status"], [
            (p["kind"], p["id"], p.get("slug") or f"{p.get('network')} {p.get('key')}", p["status"])
            for p in report["pending"]])
    else:
        output.say("Nothing waiting for approval.")
    if report["editions"]:
        figures = ("recipients", "accepted", "delivered", "bounced", "complained", "opened", "clicked", "failed", "ambiguous")
        output.table("Editions", ["id", "slug", "status", "items", *figures], [
            (e["id"], e["slug"], e["status"], e["items"], *(e["figures"].get(k, 0) for k in figures))
            for e in report["editions"]])
    else:
        output.say("No edition built yet.")
    if report.get("secret_key_problem"):
        output.say(f"[bold red]Secret key:[/] {report['secret_key_problem']}")
    if report["failures"]:
        output.table("Needs attention", ["kind", "what", "error"], [
            (f["kind"], f.get("name") or f.get("id"), f.get("error") or "") for f in report["failures"]])
    subscribers = ", ".join(f"{k} {v}" for k, v in sorted(report["subscribers"].items())) or "none"
    output.say(f"Subscribers: {subscribers}. Events waiting for relay to Prefect: {report['events_waiting_for_relay']}")
