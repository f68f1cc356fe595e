"""`syndicate demo`: the whole pipeline on the bundled example site, delivered to the outbox.

Serves `examples/site/` on 127.0.0.1, points the example config at it, imports the sample
subscribers, and runs the real Prefect flows (one parent flow, so one temporary API server).
"""

from __future__ import annotations

import asyncio
import functools
import os
import shlex
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

PLACEHOLDER_ORIGIN = "http://127.0.0.1:8642"
CHANNEL_CREDENTIALS = (
    "SENDGRID_API_KEY", "X_API_KEY", "X_API_SECRET", "X_ACCESS_TOKEN", "X_ACCESS_TOKEN_SECRET",
    "MASTODON_ACCESS_TOKEN", "BLUESKY_HANDLE", "BLUESKY_APP_PASSWORD", "LINKEDIN_ACCESS_TOKEN",
)
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        return None


@contextmanager
def serve_site(root: Path = EXAMPLES / "site") -> Iterator[str]:
    """Serve a folder on 127.0.0.1 at a free port; yields the origin."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


DEMO_HOME = Path("var/demo")  # the demo's own config, ledger, secret key and outbox, never a real run's


def demo_config(origin: str, workdir: Path = DEMO_HOME) -> Path:
    """The example config with its sources pointed at the running demo site and its outbox in `workdir`."""
    text = (EXAMPLES / "syndicate.toml").read_text("utf-8").replace(PLACEHOLDER_ORIGIN, origin)
    default_outbox = 'outbox_dir = "outbox"'
    if text.count(default_outbox) != 2:
        raise RuntimeError(f"examples/syndicate.toml should set {default_outbox} for [email] and [social]")
    text = text.replace(default_outbox, f'outbox_dir = "{(workdir / "outbox").as_posix()}"')
    target = workdir / "syndicate.toml"
    target.write_text(text, "utf-8")
    return target


def demo_database_url(workdir: Path = DEMO_HOME) -> str:
    return f"sqlite:///{(workdir / 'syndicate.db').as_posix()}"


@contextmanager
def demo_environment(workdir: Path) -> Iterator[None]:
    """The demo's ledger, and no channel credentials (the demo never sends for real, whatever this
    shell holds); the environment is put back afterwards."""
    saved = {name: os.environ.get(name) for name in (*CHANNEL_CREDENTIALS, "SYNDICATE_DATABASE_URL")}
    for name in CHANNEL_CREDENTIALS:
        os.environ.pop(name, None)
    os.environ["SYNDICATE_DATABASE_URL"] = demo_database_url(workdir)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def import_sample_subscribers(now: datetime) -> int:
    from compose.subscribers import parse_subscriber_csv
    from state.db import connect
    from state.subscribers import import_subscribers

    rows, errors = parse_subscriber_csv((EXAMPLES / "subscribers.csv").read_text("utf-8"))
    if errors:
        raise RuntimeError(f"examples/subscribers.csv is invalid: {errors}")
    with connect().session() as session:
        report = import_subscribers(session, rows, source="import:examples/subscribers.csv", now=now)
    return getattr(report, "added", 0)


def run_demo(workdir: Path = DEMO_HOME) -> dict[str, Any]:
    from datetime import UTC, datetime

    from rich.console import Console

    console = Console(highlight=False)
    workdir.mkdir(parents=True, exist_ok=True)
    with demo_environment(workdir):
        import_sample_subscribers(datetime.now(UTC))
        with serve_site() as origin:
            config_path = demo_config(origin, workdir)
            console.print(f"Serving the example site at {origin}")
            started = time.monotonic()
            with console.status("Starting Prefect (a temporary API server; the first run on a machine takes about "
                                "30 s while it creates its database)...", spinner="dots"):
                from flows.pipeline import demo_pipeline

                result = asyncio.run(demo_pipeline(str(config_path)))
            result["elapsed_s"] = round(time.monotonic() - started, 1)
        result["config_path"] = config_path.as_posix()
        result["database_url"] = demo_database_url(workdir)
        result["outbox"] = (workdir / "outbox").as_posix()
        if result["built"]["id"] is not None:
            from state.db import connect
            from state.ledger import get_edition

            with connect().session() as session:
                row = get_edition(session, result["built"]["id"])
                result["built"].update(slug=row.slug, subject=row.subject)
    return result


def program() -> str:
    """How to call `syndicate` from here: the console script beside this Python, relative to the
    working directory when it is inside it (e.g. `.venv/bin/syndicate`)."""
    script = Path(sys.executable).parent / "syndicate"
    if not script.exists():
        return f"{shlex.quote(sys.executable)} -m flows.cli"
    try:
        return shlex.quote(script.absolute().relative_to(Path.cwd()).as_posix())
    except ValueError:
        return shlex.quote(str(script.absolute()))


def demo_commands(result: dict[str, Any]) -> list[str]:
    """The commands the demo suggests, each ready to paste in the folder where it ran."""
    look = (f"SYNDICATE_DATABASE_URL={shlex.quote(result['database_url'])} {program()} "
            f"--config {shlex.quote(result['config_path'])}")
    commands = [f"{look} status"]
    if result["built"]["id"] is not None:
        commands.append(f"{look} edition show {result['built']['id']}")
    commands.append(f"{look} subscribers list")
    commands.append(f"{program()} demo")
    return commands
