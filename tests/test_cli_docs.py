"""Every command has help text and an entry in docs/cli.md (a test fails when one is missing)."""

from __future__ import annotations

from pathlib import Path

import typer.main

from flows.cli import app

DOCS = (Path(__file__).resolve().parents[1] / "docs" / "cli.md").read_text("utf-8")


def _commands(group, prefix: str = "syndicate"):  # type: ignore[no-untyped-def]
    for name, command in group.commands.items():
        path = f"{prefix} {name}"
        if hasattr(command, "commands"):
            yield from _commands(command, path)
        else:
            yield path, command


def test_every_command_has_help_and_docs() -> None:
    commands = dict(_commands(typer.main.get_command(app)))
    assert {"syndicate demo", "syndicate gather", "syndicate edition build", "syndicate status",
            "syndicate send", "syndicate publish", "syndicate approve", "syndicate reject"} <= set(commands)
    for path, command in commands.items():
        assert (command.help or "").strip(), f"{path} has no help text"
        assert f"`{path}" in DOCS, f"{path} is missing from docs/cli.md"
