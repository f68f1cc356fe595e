"""The CLI starts without paying for what its command does not need (issue 20).

`syndicate --help` and `syndicate GROUP --help` import no command module, nor SQLAlchemy, the
config models (pydantic), Prefect, aiohttp or twitter-text; `syndicate status` imports no
twitter-text, Prefect, aiohttp, Jinja, MJML, Alembic, holidays nor the ledger's write functions
(`state.ledger`). Checked on the modules a real process imported (`sys.modules` at exit), not on time: bench/bench_startup.py measures the time.

The command table in flows/cli/__init__.py cannot drift from the functions: each command's
summary is its docstring's first paragraph, and every command function is in the table.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main
from typer import _click

from flows.cli import COMMANDS, app, main
from flows.cli import _Command as Command
from flows.cli import _Group as Group

REPO = Path(__file__).resolve().parents[1]
CLI_MODULES = sorted(p.stem for p in (REPO / "flows" / "cli").glob("*.py")
                     if p.stem not in {"__init__", "__main__", "context", "terminal"})
HEAVY = ("sqlalchemy", "pydantic", "prefect", "aiohttp", "twitter_text", "compose.config", "alembic", "jinja2",
         "mjml", "rich", "requests", *(f"flows.cli.{name}" for name in CLI_MODULES))
NOT_FOR_STATUS = ("twitter_text", "prefect", "aiohttp", "jinja2", "mjml", "markdown_it", "alembic", "requests",
                  "holidays", "state.ledger", "state.slots", "compose.threads")

# Runs `syndicate ARGS` in this process and prints the top-level modules it imported, as JSON.
_PROBE = """
import contextlib, io, json, sys
from flows.cli import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    code = main(sys.argv[1:])
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def imported(args: list[str], env: dict[str, str] | None = None) -> tuple[int, set[str]]:
    """The exit status of `syndicate ARGS` in a fresh process, and every module it imported."""
    run = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    done = subprocess.run([sys.executable, "-c", _PROBE, *args], env=run, capture_output=True, text=True,
                          timeout=120, cwd=REPO, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    return result["code"], set(result["modules"])


def heavy(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == name or m.startswith(name + ".") for name in names))


@pytest.mark.parametrize("args", [["--help"], ["edition", "--help"], ["webhooks", "--help"], ["statu"]],
                         ids=["help", "edition-help", "webhooks-help", "typo"])
def test_help_imports_no_command_module(args: list[str]) -> None:
    code, modules = imported(args)
    assert code in (0, 2)
    assert not heavy(modules, HEAVY), f"`syndicate {' '.join(args)}` imported {heavy(modules, HEAVY)}"


def test_a_command_help_imports_only_its_own_module() -> None:
    code, modules = imported(["edition", "show", "--help"])
    assert code == 0
    commands = {m for m in modules if m.startswith("flows.cli.") and m.split(".")[2] in CLI_MODULES}
    assert commands == {"flows.cli.edition"}


def test_status_imports_only_what_it_needs(tmp_path: Path) -> None:
    config = tmp_path / "syndicate.toml"
    config.write_text((REPO / "examples" / "syndicate.toml").read_text("utf-8"), "utf-8")
    env = {"SYNDICATE_DATABASE_URL": f"sqlite:///{tmp_path / 'ledger.db'}", "SYNDICATE_CONFIG": str(config)}
    assert imported(["status"], env)[0] == 0  # the first run migrates the new ledger (Alembic)
    code, modules = imported(["status", "--json"], {**env, "MASTODON_ACCESS_TOKEN": ""})
    assert code == 0
    assert not heavy(modules, NOT_FOR_STATUS), f"`syndicate status` imported {heavy(modules, NOT_FOR_STATUS)}"


def _leaves(table: dict[str, Command | Group], prefix: str = "syndicate") -> list[tuple[str, Command]]:
    leaves = []
    for name, entry in table.items():
        if isinstance(entry, Group):
            leaves += _leaves(dict(entry.commands), f"{prefix} {name}")
        else:
            leaves.append((f"{prefix} {name}", entry))
    return leaves


def _first_paragraph(text: str) -> str:
    return " ".join(text.split("\n\n")[0].split())


@pytest.mark.parametrize(("path", "entry"), _leaves(COMMANDS), ids=[p for p, _ in _leaves(COMMANDS)])
def test_the_table_says_what_each_function_says(path: str, entry: Command) -> None:
    module, function = entry.target.split(":")
    callback = getattr(__import__(module, fromlist=[function]), function)
    assert entry.summary == _first_paragraph(inspect.getdoc(callback) or ""), (
        f"{path}: copy the first paragraph of {entry.target}'s docstring into flows.cli.COMMANDS")


def test_every_documented_command_is_in_the_table() -> None:
    """Each row of docs/cli.md's command table names a command of the table (tests/test_cli_docs.py
    checks the other way: every command of the tree is documented)."""
    leaves = {path for path, _ in _leaves(COMMANDS)}
    rows = [line for line in (REPO / "docs" / "cli.md").read_text("utf-8").splitlines()
            if line.startswith("| `syndicate ")]
    assert len(rows) >= len(leaves) - 5, "docs/cli.md's command table is not where this test looks"
    for row in rows:
        words = ["syndicate"]
        for word in row.removeprefix("| `syndicate ").split("`")[0].split():
            if not re.fullmatch(r"[a-z][a-z-]*", word):
                break
            words.append(word)
        path = next((" ".join(words[:n]) for n in range(len(words), 1, -1) if " ".join(words[:n]) in leaves), None)
        assert path is not None, f"docs/cli.md documents `{' '.join(words)}`, which flows.cli.COMMANDS lacks"


def test_the_listing_is_what_typer_would_print() -> None:
    """The listing from the table, at several widths, is what typer prints from the loaded commands."""
    root = typer.main.get_command(app)
    for width in (40, 80, 200):
        for group in [root, *(root.commands[name] for name, e in COMMANDS.items() if isinstance(e, Group))]:
            names = list(group.commands)
            limit = width - 6 - max(len(n) for n in names)
            for name in names:
                command = group.commands[name]
                expected = command.get_short_help_str(limit)
                formatter = _click.HelpFormatter(width=width)
                group.format_commands(_click.Context(group), formatter)
                assert f"{name}  " in formatter.getvalue()
                assert " ".join(expected.split()) in " ".join(formatter.getvalue().split())


def test_usage_errors_and_failures_keep_their_exit_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["no-such-command"]) == 2
    assert "No such command" in capsys.readouterr().err
    assert main(["--config", str(tmp_path / "missing.toml"), "status"]) == 1
    assert "no config file at" in capsys.readouterr().err


def test_the_schema_check_reads_the_heads_alembic_reads() -> None:
    """`connect` compares the stored revision with heads parsed from the migration files, loading
    Alembic only when they differ: the parse must agree with Alembic's own script directory."""
    from alembic.script import ScriptDirectory

    from state.db import _alembic_config, schema_heads

    assert schema_heads() == frozenset(ScriptDirectory.from_config(_alembic_config("sqlite://")).get_heads())

