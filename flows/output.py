"""What the CLI prints: one JSON object with --json, readable tables otherwise."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from rich.console import Console
from rich.table import Table

console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
errors = Console(stderr=True, highlight=False)


def _default(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def emit_json(payload: Mapping[str, Any]) -> None:
    sys.stdout.write(json.dumps(payload, default=_default, ensure_ascii=False, indent=2) + "\n")


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    out = Table(title=title, title_justify="left", show_lines=False)
    for column in columns:
        out.add_column(column)
    for row in rows:
        out.add_row(*("" if cell is None else str(cell) for cell in row))
    console.print(out)


def say(message: str) -> None:
    console.print(message)


def command(line: str) -> None:
    """A command to paste: on one line however narrow the terminal (never wrapped), no markup."""
    console.print(f"    {line}", markup=False, soft_wrap=True, highlight=False)


def fail(message: str) -> None:
    errors.print(f"[bold red]error:[/] {message}")
