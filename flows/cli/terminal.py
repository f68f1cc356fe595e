"""What the CLI prints: one JSON object with --json, readable tables otherwise.

Everything a person reads fits the terminal: `COLUMNS` when set (piped too), else the terminal's
width, else 80. Text built from data or config is never read as Rich markup (an error saying "add a
[sections.x] table" keeps its brackets): `say`, `table`, `warn` and `fail` print it as it is, and
only the labels this module adds are styled. Times are shown in the organisation's zone, the way a
person says them ("Thu 3 Dec, 10:00 GMT"); `--json` keeps ISO 8601.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from datetime import date, datetime, tzinfo
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

DEFAULT_WIDTH = 80


def width() -> int:
    """The width to print to: `COLUMNS` when it is a number, the terminal's when there is one, else 80."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if sys.stdout.isatty():
        try:
            return os.get_terminal_size(sys.stdout.fileno()).columns
        except OSError:
            pass
    return DEFAULT_WIDTH


def _console(*, stderr: bool = False) -> Console:
    # built per call, so that COLUMNS and the streams are read when printing (tests capture both)
    return Console(highlight=False, width=width(), stderr=stderr, soft_wrap=False)


def _default(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def emit_json(payload: Mapping[str, Any]) -> None:
    sys.stdout.write(json.dumps(payload, default=_default, ensure_ascii=False, indent=2) + "\n")


def when(value: datetime | str | None, zone: tzinfo, *, now: datetime | None = None, never: str = "never") -> str:
    """A time as a person reads it, in `zone`: "Thu 3 Dec, 10:00 GMT" (with the year when it is not
    the year of `now`). Accepts the ISO 8601 strings of the status report."""
    if value is None or value == "":
        return never
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    local = moment.astimezone(zone)
    year = "" if now is not None and now.astimezone(zone).year == local.year else f" {local.year}"
    return f"{local:%a} {local.day} {local:%b}{year}, {local:%H:%M} {local.tzname() or ''}".rstrip()


# A column may be a name, or (name, spec): spec "time" never wraps (a date is never cut), "number"
# is right-aligned and never wraps, "wrap" wraps at spaces and breaks long words (URLs, addresses).
Column = str | tuple[str, str]


def table(title: str, columns: Sequence[Column], rows: Sequence[Sequence[object]]) -> None:
    out = Table(title=Text(title, style="bold"), title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
                show_edge=False, collapse_padding=True)
    for column in columns:
        name, kind = (column, "wrap") if isinstance(column, str) else column
        if kind == "time":
            out.add_column(Text(name), no_wrap=True, overflow="ignore")
        elif kind == "number":
            out.add_column(Text(name), no_wrap=True, justify="right", overflow="ignore")
        else:
            out.add_column(Text(name), overflow="fold")
    for row in rows:
        out.add_row(*(Text("" if cell is None else str(cell)) for cell in row))
    _console().print(out)


def say(message: str) -> None:
    """Text as it is, wrapped at spaces to the width: never read as markup."""
    _console().print(Text(message))


def heading(message: str) -> None:
    _console().print(Text(message, style="bold"))


def warn(message: str) -> None:
    _console().print(Text.assemble(("warning: ", "yellow"), message))


def labelled(label: str, message: str, style: str = "bold") -> None:
    """`label` styled, then `message` as it is."""
    _console().print(Text.assemble((label, style), message))


def command(line: str) -> None:
    """A command to paste: on one line however narrow the terminal (never wrapped), no markup."""
    _console().print(Text(f"    {line}"), soft_wrap=True)


def toml(block: str) -> None:
    """A block of config to paste into syndicate.toml: as it is, never wrapped, no markup."""
    _console().print(Text(block.rstrip("\n")), soft_wrap=True)


def fail(message: str) -> None:
    _console(stderr=True).print(Text.assemble(("error: ", "bold red"), message))
