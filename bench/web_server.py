"""`syndicate web` as the benchmarks run it: a whole server process on 127.0.0.1, started on a free
port and waited for until it answers, its stderr kept in a file (a full pipe would stall it), and
stopped with SIGTERM as an operator would (killed if it does not stop within a minute)."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start(config_file: Path, port: int, env: Mapping[str, str], log: Path, *, workers: int = 1,
          timeout_s: float = 180) -> subprocess.Popen[bytes]:
    """Start `syndicate --config CONFIG web --port PORT [--workers N]` and wait until it serves a page."""
    command = [sys.executable, "-m", "flows.cli", "--config", str(config_file), "web", "--port", str(port)]
    if workers > 1:
        command += ["--workers", str(workers)]
    with log.open("ab") as err:
        server = subprocess.Popen(command, cwd=REPO, env=dict(env), stdout=subprocess.DEVNULL, stderr=err)
    deadline = time.monotonic() + timeout_s  # worker processes import everything afresh: slow on a loaded machine
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/brand.css", timeout=1).read()
            return server
        except OSError:
            if server.poll() is not None:
                raise RuntimeError(f"syndicate web exited: {log.read_text('utf-8', 'replace')[-2000:]}") from None
            time.sleep(0.2)
    stop(server)
    raise RuntimeError(f"syndicate web did not answer within {timeout_s:g} s")


def stop(server: subprocess.Popen[bytes]) -> None:
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=60)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
