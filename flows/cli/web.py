"""Long-running commands: `web` (the review desk and public endpoints) and `serve` (everything on
this machine: Prefect server and deployments, event relay, web app).
"""

from __future__ import annotations

from typing import Annotated

import typer

from flows.cli import terminal
from flows.cli.context import config, config_path, database, now


def web(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8000,
    https: Annotated[bool, typer.Option("--https", help="Served behind https: mark cookies Secure.")] = False,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Server processes (one core each).")] = 1,
) -> None:
    """Serve the review desk for staff and the public endpoints (unsubscribe, archive, webhooks)."""
    from flows.settings import signing_key
    from web.app import serve_web

    cfg, db = config(), database()
    key = signing_key(db, now=now())
    terminal.say(f"review desk on http://{host}:{port}/desk (staff accounts: `syndicate staff add EMAIL --role ...`)")
    serve_web(cfg, db, key, host=host, port=port, https=https, workers=workers)


def serve(
    host: Annotated[str, typer.Option("--host", help="Address of the web app.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port of the web app.")] = 8000,
) -> None:
    """Run everything on this machine: Prefect server and deployments, event relay, web app. Ctrl-C stops."""
    from flows.serve import run_serve

    code = run_serve(config_path(), host=host, port=port)
    if code:
        raise typer.Exit(code)
