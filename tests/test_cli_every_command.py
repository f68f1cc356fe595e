"""Every command works on every state: the command tree is walked (so a new command is covered
without touching this file), and each command runs with the arguments it needs on an empty ledger
with the example config, and again after the demo. Each either succeeds (exit 0) or refuses with a
clear message and exit 1; none prints "unexpected" or a traceback. And the demo's advice works
verbatim: every command it prints is pasted, as printed, into a shell in the folder where it ran.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import typing
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer.main

from flows.cli import app, main
from flows.demo import EXAMPLES, serve_site
from flows.serve import free_port
from tests.prefect_fixtures import prefect_api  # noqa: F401  (the demo's flows run against it)

REPO = Path(__file__).resolve().parents[1]
SYNDICATE = [sys.executable, "-m", "flows.cli"]
SERVING = {"syndicate web": r"review desk on http://", "syndicate serve": r"Serving \d+ deployments"}
RUN_ELSEWHERE = {"syndicate demo"}  # the module's demo fixture runs it, and pastes its advice to run it again
CLEAN_ENV_PREFIXES = ("SYNDICATE_", "SENDGRID_", "X_API", "X_ACCESS", "MASTODON_", "BLUESKY_", "LINKEDIN_")

# The value to pass for a required parameter, by its name: a new command with a parameter not named
# here fails `test_every_command_has_arguments_this_walk_knows` (add a value, do not skip it).
VALUES: dict[str, str] = {
    "kind": "edition",
    "ident": "1",
    "edition_id": "1",
    "email": "someone@example.org",
    "by": "approver@example.org",
    "note": "the intro needs another sentence",
    "reason": "a story is wrong: hold everything until it is corrected",
    "role": "editor",
    "tag": "member",
    "path": str(EXAMPLES / "subscribers.csv"),
    "url": "{site}/",
    "consent": "asked by email on 7 Dec to be re-added",
    "name": "membership-crm",
    "scope": "read",
    "events": "subscriber.subscribed,edition.sent",
    "webhook_id": "1",
}


# typer vendors its own copy of click: its commands and parameters are told apart by duck typing
Command = Any


def _leaves(group: Command, prefix: str = "syndicate") -> Iterator[tuple[str, Command]]:
    for name, command in sorted(group.commands.items()):
        path = f"{prefix} {name}"
        if hasattr(command, "commands"):
            yield from _leaves(command, path)
        else:
            yield path, command


COMMANDS = dict(_leaves(typer.main.get_command(app)))


def arguments(path: str, command: Command, *, site: str, out: Path) -> list[str]:
    """The words after `syndicate`: the command's path, a value for each required parameter, and a
    file to write for each optional path option (so `edition preview` really writes)."""
    words = path.split()[1:]
    for param in command.params:
        value = VALUES.get(param.name or "", "").format(site=site)
        if param.param_type_name == "argument":
            if param.required or param.name in VALUES:
                assert value, f"{path}: no value for argument {param.name!r}: add one to VALUES"
                words.append(value)
        elif param.param_type_name == "option":
            if param.required:
                assert value, f"{path}: no value for option {param.opts[0]!r}: add one to VALUES"
                words += [param.opts[0], value]
            elif _is_path(param):
                words += [param.opts[0], str(out / f"{param.name}.out")]
    return words


def _is_path(param: Any) -> bool:
    annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
    if annotation is not None:
        return annotation is Path or Path in typing.get_args(annotation)
    return getattr(getattr(param, "type", None), "name", "") == "path"


def test_every_command_has_arguments_this_walk_knows(tmp_path: Path) -> None:
    assert {"syndicate status", "syndicate backlog release", "syndicate posts draft", "syndicate web"} <= set(COMMANDS)
    for path, command in COMMANDS.items():
        arguments(path, command, site="http://127.0.0.1:1", out=tmp_path)


@dataclass
class Outcome:
    code: int
    out: str
    err: str


def judge(path: str, outcome: Outcome) -> None:
    """Success, or a refusal that says what is wrong in its first line; never a crash."""
    both = outcome.out + outcome.err
    assert "unexpected" not in both and "Traceback" not in both, f"{path} crashed:\n{both}"
    assert outcome.code in (0, 1), f"{path} exited {outcome.code}:\n{both}"
    if outcome.code == 1:
        first = outcome.err.strip().splitlines()[0] if outcome.err.strip() else ""
        assert first.startswith("error: ") and len(first) > 25, f"{path} refused without a clear message:\n{both}"


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(CLEAN_ENV_PREFIXES)}
    env.update(COLUMNS="80", PYTHONUNBUFFERED="1", PYTHONPATH=str(REPO), **(extra or {}))
    return env


def run_in_process(words: list[str], workdir: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
                   capsys: pytest.CaptureFixture[str]) -> Outcome:
    with monkeypatch.context() as patch:
        patch.chdir(workdir)
        for key in list(os.environ):
            if key.startswith(CLEAN_ENV_PREFIXES):
                patch.delenv(key)
        for key, value in env.items():
            patch.setenv(key, value)
        capsys.readouterr()
        code = main(words)
        out, err = capsys.readouterr()
    return Outcome(code, out, err)


def run_serving(path: str, words: list[str], workdir: Path, env: dict[str, str]) -> Outcome:
    """A command that serves until Ctrl-C: it must get to serving, then stop cleanly on SIGINT."""
    port = free_port()
    own = {k: v for k, v in clean_env(env).items() if not k.startswith("PREFECT_")}  # serve starts its own server
    process = subprocess.Popen([*SYNDICATE, *words, "--port", str(port)], cwd=workdir, env=own,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    lines: dict[str, list[str]] = {"out": [], "err": []}

    def read(stream: object, into: list[str]) -> None:
        for line in stream:  # type: ignore[attr-defined]
            into.append(line)

    readers = [threading.Thread(target=read, args=(process.stdout, lines["out"]), daemon=True),
               threading.Thread(target=read, args=(process.stderr, lines["err"]), daemon=True)]
    for reader in readers:
        reader.start()
    deadline = time.monotonic() + 150
    ready = False
    while time.monotonic() < deadline and process.poll() is None:
        if re.search(SERVING[path], "".join(lines["out"] + lines["err"])):
            ready = _answers(f"http://127.0.0.1:{port}/login")
            if ready:
                break
        time.sleep(0.3)
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for reader in readers:
        reader.join(10)
    outcome = Outcome(process.returncode, "".join(lines["out"]), "".join(lines["err"]))
    if outcome.code == 0 or outcome.code == -signal.SIGINT:
        assert ready, f"{path} never served:\n{outcome.out}{outcome.err}"
        outcome.code = 0
    return outcome


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (loopback)
            return bool(response.status == 200)
    except OSError:
        return False


# --- the two states ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    with serve_site() as origin:
        yield origin


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory, prefect_api: str) -> tuple[Path, str]:  # noqa: F811
    """A folder where `syndicate demo` ran (as `make demo` runs it), and what it printed."""
    folder = tmp_path_factory.mktemp("demo")
    done = subprocess.run([*SYNDICATE, "demo"], cwd=folder, env=clean_env({"PREFECT_API_URL": prefect_api}),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    judge("syndicate demo", Outcome(done.returncode, done.stdout, done.stderr))
    return folder, done.stdout


def _copy(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(".prefect", "prefect"))
    return target


@pytest.fixture(scope="module")
def empty_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("empty")
    shutil.copy(EXAMPLES / "syndicate.toml", folder / "syndicate.toml")
    return folder


STATES = ("empty ledger, example config", "after the demo")


@pytest.mark.prefect
@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("path", sorted(set(COMMANDS) - RUN_ELSEWHERE))
def test_command_works_on_state(path: str, state: str, request: pytest.FixtureRequest, tmp_path: Path, site: str,
                                monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    if state == STATES[0]:
        workdir = _copy(request.getfixturevalue("empty_template"), tmp_path / "work")
        env: dict[str, str] = {}
        words: list[str] = []
    else:
        demo_folder, _ = request.getfixturevalue("demo_dir")
        workdir = _copy(demo_folder, tmp_path / "work")
        env = {"SYNDICATE_DATABASE_URL": "sqlite:///var/demo/syndicate.db"}
        words = ["--config", "var/demo/syndicate.toml"]
    words += arguments(path, COMMANDS[path], site=site, out=tmp_path)
    if path in SERVING:
        outcome = run_serving(path, words, workdir, env)
    else:
        outcome = run_in_process(words, workdir, env, monkeypatch, capsys)
    judge(path, outcome)


# --- the demo's advice, pasted ------------------------------------------------------------------


def printed_commands(output: str) -> list[str]:
    """The commands the demo printed for the reader to paste: its lines indented by four spaces."""
    return [line.strip() for line in output.splitlines() if re.match(r"^ {4}\S", line)]


@pytest.mark.prefect
def test_the_demo_keeps_to_its_own_folder(demo_dir: tuple[Path, str]) -> None:
    folder, output = demo_dir
    demo = folder / "var" / "demo"
    assert {p.name for p in demo.iterdir()} >= {"syndicate.toml", "syndicate.db", "secret-key", "outbox"}
    assert oct((demo / "secret-key").stat().st_mode & 0o777) == "0o600"
    assert list((demo / "outbox" / "email").rglob("*.eml")), "the demo delivered to its own outbox"
    assert not (folder / "outbox").exists() and not (folder / "var" / "syndicate.db").exists()
    assert (demo / "secret-key").read_text().strip() not in output


@pytest.mark.prefect
def test_every_command_the_demo_prints_works_pasted(demo_dir: tuple[Path, str], tmp_path: Path) -> None:
    folder, output = demo_dir
    commands = printed_commands(output)
    assert any(c.endswith(" status") for c in commands) and any(c.endswith(" demo") for c in commands), output
    sent_before = sorted((folder / "var" / "demo" / "outbox").rglob("*.eml"))
    for command in commands:
        done = subprocess.run(["bash", "-c", command], cwd=folder, env=clean_env({"PREFECT_API_URL": os.environ.get(
            "PREFECT_API_URL", "")}), capture_output=True, text=True, timeout=600)
        judge(command, Outcome(done.returncode, done.stdout, done.stderr))
        assert done.returncode == 0, f"`{command}` failed when pasted:\n{done.stdout}{done.stderr}"
        if command.endswith(" demo"):
            assert "Nothing new was sent" in done.stdout, done.stdout
            again = printed_commands(done.stdout)
            assert again and all(c in commands for c in again), "the rerun's advice is the same kind of advice"
    assert sorted((folder / "var" / "demo" / "outbox").rglob("*.eml")) == sent_before, "a second demo sent nothing"
