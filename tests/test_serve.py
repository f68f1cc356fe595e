"""`syndicate serve` on one machine: a long-lived Prefect server, the five deployments, the web app;
Ctrl-C stops all of it, and starting again resumes with the deployments still active."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from flows.demo import EXAMPLES
from flows.serve import free_port

pytestmark = pytest.mark.prefect
REPO = Path(__file__).resolve().parents[1]


class Served:
    """`syndicate serve` in a subprocess, its output collected line by line."""

    def __init__(self, workdir: Path, port: int) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        env.update(SYNDICATE_SECRET_KEY="serve-test-secret-key-0123", PYTHONUNBUFFERED="1",
                   SYNDICATE_DATABASE_URL=f"sqlite:///{workdir / 'ledger.db'}")
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "flows.cli", "--config", str(EXAMPLES / "syndicate.toml"), "serve",
             "--port", str(port)], cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, text=True)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip())

    def wait_for(self, pattern: str, timeout_s: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for line in self.lines:
                if match := re.search(pattern, line):
                    return match
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        pytest.fail(f"no line matching {pattern!r} within {timeout_s} s; output:\n" + "\n".join(self.lines))

    def interrupt(self) -> int:
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            pytest.fail("syndicate serve did not stop within 60 s of Ctrl-C:\n" + "\n".join(self.lines))


def _get(url: str) -> int:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (loopback)
        return response.status


def _deployments(api_url: str) -> list[dict]:
    request = urllib.request.Request(f"{api_url}/deployments/filter", data=b"{}", method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback)
        return json.loads(response.read())


def _answers(url: str) -> bool:
    try:
        _get(url)
    except OSError:
        return False
    return True


@pytest.mark.timeout(400)
def test_serve_runs_everything_stops_on_ctrl_c_and_resumes(tmp_path: Path) -> None:
    port = free_port()
    for attempt in ("first start", "restart"):
        served = Served(tmp_path, port)
        try:
            api_url = served.wait_for(r"Starting the Prefect server on (\S+)", 60).group(1)
            served.wait_for(r"Serving 5 deployments", 240)
            deadline = time.monotonic() + 30
            while not _answers(f"http://127.0.0.1:{port}/editions") and time.monotonic() < deadline:
                time.sleep(0.5)
            assert _get(f"http://127.0.0.1:{port}/editions") == 200, attempt
            deadline = time.monotonic() + 60  # serve() registers them just after it says so
            while len(deployments := _deployments(api_url)) < 5 and time.monotonic() < deadline:
                time.sleep(0.5)
            assert sorted(d["name"] for d in deployments) == [
                "build-edition", "gather", "publish-posts", "send-edition", "social-drafts"], attempt
            assert not any(d.get("paused") for d in deployments), f"{attempt}: deployments paused"
        finally:
            code = served.interrupt()
        assert code == 0, "\n".join(served.lines)
        assert not _answers(f"{api_url}/health"), "the Prefect server was left running"
        assert not _answers(f"http://127.0.0.1:{port}/editions"), "the web app was left running"
