"""`syndicate doctor`: the pre-flight check before the first real send.

The checks are `connectors.preflight` (DNS, public_url, SendGrid) and `state.doctor` (the ledger),
joined by `flows.stages.preflight`, which also holds the gate `send` passes through; the desk's
doctor page shows the same report.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from compose.doctor import DoctorReport
from flows.cli import terminal
from flows.cli.context import Abort, as_json, config, database, now

if TYPE_CHECKING:
    pass

_MARK = {"blocker": "BLOCKER", "warning": "warning", "ok": "ok"}
_STYLE = {"blocker": "bold red", "warning": "bold yellow", "ok": "green"}


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
    from flows.stages.preflight import doctor_report

    report = doctor_report(config(), database(), now=now())
    if as_json():
        terminal.emit_json(report.as_dict())
    else:
        show(report)
    if report.blockers:
        raise Abort(report.summary())
