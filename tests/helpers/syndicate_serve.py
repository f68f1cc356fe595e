"""`syndicate serve` in a subprocess for the tests that need the whole one-machine setup
(tests/test_serve.py, tests/test_prefect_ui_browser.py), and plain-HTTP calls to its Prefect API."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from flows.demo import EXAMPLES


class Served:
    """`syndicate serve` in a subprocess, its output collected line by line."""

    def __init__(self, workdir: Path, port: int, config: Path = EXAMPLES / "syndicate.toml",
                 env: dict[str, str] | None = None) -> None:
        environment = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        environment.update(SYNDICATE_SECRET_KEY="serve-test-secret-key-0123", PYTHONUNBUFFERED="1",
                           SYNDICATE_DATABASE_URL=f"sqlite:///{workdir / 'ledger.db'}", **(env or {}))
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "flows.cli", "--config", str(config), "serve", "--port", str(port)],
            cwd=workdir, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, text=True)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip())

    def wait_for(self, pattern: str, timeout_s: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if match := re.search(pattern, line):
                    return match
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        pytest.fail(f"no line matching {pattern!r} within {timeout_s} s; output:\n" + "\n".join(self.lines))

    def last(self, pattern: str) -> re.Match[str]:
        """The last line so far matching `pattern` (e.g. the port serve ended up on after a retry)."""
        for line in reversed(list(self.lines)):
            if match := re.search(pattern, line):
                return match
        pytest.fail(f"no line matching {pattern!r}; output:\n" + "\n".join(self.lines))

    def interrupt(self) -> int:
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            pytest.fail("syndicate serve did not stop within 60 s of Ctrl-C:\n" + "\n".join(self.lines))


def get(url: str) -> int:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (loopback)
        return response.status


def answers(url: str) -> bool:
    try:
        get(url)
    except OSError:
        return False
    return True


def api(api_url: str, path: str, body: dict[str, Any] | None = None, *, attempts: int = 6) -> Any:
    """POST (with a body) or GET one Prefect API path; the JSON answer. A 503 (the server's SQLite
    database busy) is retried with backoff, as Prefect's own client does."""
    data = json.dumps(body).encode() if body is not None else None
    for attempt in range(attempts):
        request = urllib.request.Request(f"{api_url}{path}", data=data, method="POST" if data is not None else "GET",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (loopback)
                raw = response.read()
            return json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            if exc.code not in (429, 503) or attempt == attempts - 1:
                raise
            time.sleep(2 ** attempt)
    raise AssertionError("unreachable")


def deployments(api_url: str) -> list[dict[str, Any]]:
    return api(api_url, "/deployments/filter", {})


def wait_for_deployments(api_url: str, count: int, timeout_s: float = 60) -> list[dict[str, Any]]:
    """serve() registers them just after it says so."""
    deadline = time.monotonic() + timeout_s
    while len(found := deployments(api_url)) < count and time.monotonic() < deadline:
        time.sleep(0.5)
    return found
