"""`syndicate demo`: the whole pipeline on the bundled example site, delivered to the outbox.

Serves `examples/site/` on 127.0.0.1, points the example config at it, imports the sample
subscribers, and runs the real Prefect flows (one parent flow, so one temporary API server).
"""

from __future__ import annotations

import functools
import os
import secrets
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
    "MASTODON_ACCESS_TOKEN", "BLUESKY_HANDLE", "BLUESKY_APP_PASSWORD",
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


def demo_config(origin: str, workdir: Path) -> Path:
    """The example config with its sources pointed at the running demo site."""
    text = (EXAMPLES / "syndicate.toml").read_text("utf-8").replace(PLACEHOLDER_ORIGIN, origin)
    target = workdir / "demo.toml"
    target.write_text(text, "utf-8")
    return target


def demo_secret_key(workdir: Path) -> str:
    """SYNDICATE_SECRET_KEY from the environment, else a local key kept in ./var for the demo only."""
    if os.environ.get("SYNDICATE_SECRET_KEY"):
        return os.environ["SYNDICATE_SECRET_KEY"]
    path = workdir / "demo-secret-key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(32), "utf-8")
        path.chmod(0o600)
    return path.read_text("utf-8").strip()


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


def run_demo(workdir: Path = Path("var")) -> dict[str, Any]:
    from datetime import UTC, datetime

    from rich.console import Console

    console = Console(highlight=False)
    workdir.mkdir(parents=True, exist_ok=True)
    for name in CHANNEL_CREDENTIALS:  # the demo never sends for real, whatever this shell holds
        os.environ.pop(name, None)
    os.environ["SYNDICATE_SECRET_KEY"] = demo_secret_key(workdir)
    import_sample_subscribers(datetime.now(UTC))
    with serve_site() as origin:
        config_path = demo_config(origin, workdir)
        console.print(f"Serving the example site at {origin}")
        started = time.monotonic()
        with console.status("Starting Prefect (a temporary API server; the first run on a machine takes about "
                            "30 s while it creates its database)...", spinner="dots"):
            from flows.pipeline import demo_pipeline

            result = demo_pipeline(str(config_path))
        result["elapsed_s"] = round(time.monotonic() - started, 1)
        result["config_path"] = str(config_path)
    return result
