"""`syndicate doctor`: the pre-flight check before the first real send, and the gate `send` asks.

The checks are `connectors.preflight` (DNS, public_url, SendGrid) and `state.doctor` (the ledger);
the desk's doctor page shows the same report.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from compose.doctor import DoctorReport
from flows.cli import terminal
from flows.cli.context import Abort, as_json, config, database, now

if TYPE_CHECKING:
    from compose.config import Config
    from state.db import Database

_MARK = {"blocker": "BLOCKER", "warning": "warning", "ok": "ok"}
_STYLE = {"blocker": "bold red", "warning": "bold yellow", "ok": "green"}


def doctor_report(cfg: Config, db: Database, *, now: datetime, env: Mapping[str, str] | None = None) -> DoctorReport:
    """Every check, the outside world's and the ledger's, as one report."""
    from connectors.preflight import outside_findings
    from state.doctor import current_key, ledger_findings

    env = os.environ if env is None else env
    url = db.engine.url.render_as_string(hide_password=False)
    key, _ = current_key(env, database_url=url)
    with db.session() as session:
        ledger = ledger_findings(session, env, now=now, database_url=url)
    return DoctorReport.of([*outside_findings(cfg, env, secret_key=key.value if key else None, now=now), *ledger])


def show(report: DoctorReport) -> None:
    """The report as a person reads it: a column of verdicts, and beside each what was found, why it
    matters and what to change, wrapped inside its column (text from DNS or config is never markup)."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True, width=7)
    grid.add_column(overflow="fold")
    for finding in report.findings:
        body = Text(finding.title, style="bold" if finding.level != "ok" else "")
        if finding.detail and finding.level != "ok":
            body.append("\n" + finding.detail, style="dim")
        if finding.fix:
            body.append("\nfix: ", style="bold")
            body.append(finding.fix)
        grid.add_row(Text(_MARK[finding.level], style=_STYLE[finding.level]), body)
    console = Console(highlight=False, width=terminal.width(), soft_wrap=False,
                      force_terminal=sys.stdout.isatty(), no_color=not sys.stdout.isatty())
    with console.capture() as captured:
        console.print(grid)
    sys.stdout.write("\n".join(line.rstrip() for line in captured.get().splitlines()) + "\n")
    if not report.blockers:  # with blockers, the summary is the command's error line
        terminal.say("")
        terminal.heading(report.summary())


def doctor() -> None:
    """Check the set-up before the first real send: SPF, DKIM, DMARC, one-click unsubscribe, the
    secret key, SendGrid's key scopes and webhook key, Gmail's clip. Exit status 1 while a blocker stands."""
    report = doctor_report(config(), database(), now=now())
    if as_json():
        terminal.emit_json(report.as_dict())
    else:
        show(report)
    if report.blockers:
        raise Abort(report.summary())


def gate_first_send(cfg: Config, db: Database, *, edition_id: int | None, override: str | None, by: str,
                    when: datetime, env: Mapping[str, str] | None = None) -> None:
    """Before `send`: a first real send (SendGrid, nothing sent through it yet) waits while the doctor
    reports a blocker, unless `override` gives the reason, which the audit log keeps. The outbox never waits."""
    from connectors.preflight import real_sending
    from state.doctor import check_override_reason, first_real_send, record_override

    env = os.environ if env is None else env
    if not real_sending(cfg, env):
        return
    with db.session() as session:
        if not first_real_send(session, "sendgrid"):
            return
    if override is not None:
        check_override_reason(override)
    report = doctor_report(cfg, db, now=when, env=env)
    if not report.blockers:
        return
    if override is None:
        listed = "; ".join(f.title for f in report.blockers)
        raise Abort(f"this would be the first real send through SendGrid, and the pre-flight check reports "
                    f"{len(report.blockers)} blocker(s): {listed}. Run `syndicate doctor` to see what to change, "
                    "or send anyway with --override-doctor \"REASON\" (the reason is kept in the audit log)")
    with db.session() as session:
        record_override(session, reason=override, by=by, edition_id=edition_id, report=report, now=when)
    terminal.warn(f"sending despite {len(report.blockers)} pre-flight blocker(s); the override is in the audit log")
