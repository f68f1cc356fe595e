"""Benchmark Prefect's orchestration overhead in syndicate (issue 20, point 4), on loopback only.

Measures in one run:
- `serve_ready_s`: `syndicate serve` started cold in a fresh temporary project folder (its own
  PREFECT_HOME and Prefect SQLite database under ./var/prefect, a fresh ledger, the example config
  pointed at the example site served by this script), until it is *ready to accept work*: the
  Prefect API answers /health, all 6 deployments of prefect.yaml are registered **and** READY (a
  deployment turns READY when its runner has polled the server for runs, so the runner is polling),
  and the review desk answers GET /editions with 200. Median of `--serves` starts, each stopped
  with Ctrl-C (SIGINT) and waited for. The page cache cannot be dropped here (no root), so
  "cold" means a new PREFECT_HOME and database each time, with the Python files already cached.
  Baselines in the same run: `prefect server start` alone on a fresh home until /health answers
  (`server_alone_s`, what serve builds on), `python -c "import prefect.server.api.server"`
  (`import_server_app_s`, the floor of any Prefect server start) and `python -c "import prefect"`
  (`import_prefect_s`).
- `flow_overhead_s`: the `gather` flow called in-process against the last serve's Prefect server,
  minus the gather stage it wraps (`gather_task.fn`, no Prefect run) on the same input (the example
  site, already gathered: nothing new, so every call does the same work), alternated, medians of
  `--flows` calls each.
- The burst: 50 `syndicate.item.discovered` events posted to the served Prefect API at once (through
  the relay's emitter, as a gather's relay pass does), then the `social-drafts` flow runs they start
  are counted (`burst_runs`, must be 1) and the time from the first event to that run's completion
  (`burst_to_drafted_s`).

Writes bench/results/orchestration.json and prints a table.

    python bench/bench_orchestration.py [--serves 3] [--flows 5] [--events 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = ROOT / "bench"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH_DIR))

from record import Figure, write  # noqa: E402

TARGETS = {"serve_ready_s": 15.0, "flow_overhead_s": 1.0, "burst_runs": 1}
DEPLOYMENTS = 6  # prefect.yaml's
READY_TIMEOUT_S = 240.0  # a bound, not a target: a cold start on a loaded 2-core machine
BURST_TIMEOUT_S = 120.0
SECRET = "bench-orchestration-secret-0123456789"


def _environment(workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PYTHONUNBUFFERED="1", SYNDICATE_SECRET_KEY=SECRET,
               SYNDICATE_DATABASE_URL=f"sqlite:///{workdir / 'ledger.db'}",
               PREFECT_HOME=str(workdir / ".prefect"), PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1")
    return env


def _get(url: str, timeout: float = 5) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (loopback)
        raw = response.read()
    return json.loads(raw) if raw and response.headers.get_content_type() == "application/json" else response.status


def _post(url: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (loopback)
        return json.loads(response.read())


def _answers(url: str) -> bool:
    try:
        _get(url, timeout=2)
    except (OSError, ValueError):
        return False
    return True


def _free_port() -> int:
    from flows.serve import free_port

    return free_port()


class Serve:
    """`syndicate serve` in a subprocess, in its own project folder; its output kept line by line."""

    def __init__(self, workdir: Path, config: Path) -> None:
        self.workdir, self.port = workdir, _free_port()
        self.lines: list[str] = []
        self.started = time.monotonic()
        self.process = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "flows.cli", "--config", str(config), "serve", "--port", str(self.port)],
            cwd=workdir, env=_environment(workdir), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, text=True)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:  # each with the seconds since the start, to see where they go
            self.lines.append(f"{time.monotonic() - self.started:6.1f} {line.rstrip()}")

    def api_url(self) -> str | None:
        for line in reversed(self.lines):
            if match := re.search(r"Starting the Prefect server on (\S+)", line):
                return match.group(1)
        return None

    def wait_ready(self) -> dict[str, float]:
        """Seconds from the start to: API healthy, deployments registered, all READY, desk answering."""
        marks: dict[str, float] = {}
        deadline = self.started + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("syndicate serve exited before it was ready:\n" + "\n".join(self.lines[-30:]))
            now = time.monotonic() - self.started
            api = self.api_url()
            if api and "api_healthy_s" not in marks and _answers(f"{api}/health"):
                marks["api_healthy_s"] = now
            if "api_healthy_s" in marks and "deployments_ready_s" not in marks:
                try:
                    found = _post(f"{api}/deployments/filter", {})
                except (OSError, ValueError):
                    found = []
                if len(found) >= DEPLOYMENTS:
                    marks.setdefault("deployments_registered_s", now)
                    if all(d.get("status") == "READY" for d in found):
                        marks["deployments_ready_s"] = now
            if "desk_s" not in marks and _answers(f"http://127.0.0.1:{self.port}/editions"):
                marks["desk_s"] = now
            if {"deployments_ready_s", "desk_s"} <= marks.keys():
                marks["ready_s"] = max(marks["deployments_ready_s"], marks["desk_s"])
                return marks
            time.sleep(0.1)
        raise RuntimeError(f"syndicate serve was not ready after {READY_TIMEOUT_S:.0f} s ({marks}):\n"
                           + "\n".join(self.lines[-30:]))

    def stop(self) -> float:
        """Ctrl-C, and the seconds until it exited."""
        started = time.monotonic()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise RuntimeError("syndicate serve did not stop within 60 s of Ctrl-C") from None
        return time.monotonic() - started


def _project(root: Path, origin: str, name: str) -> tuple[Path, Path]:
    from flows.demo import demo_config

    workdir = root / name
    workdir.mkdir()
    return workdir, demo_config(origin, workdir)


def import_s(module: str, repeats: int) -> float:
    """A fresh Python process importing `module`, median seconds."""
    times = []
    for _ in range(repeats):
        started = time.monotonic()
        subprocess.run([sys.executable, "-c", f"import {module}"], check=True,  # noqa: S603
                       env=_environment(Path(tempfile.gettempdir())))
        times.append(time.monotonic() - started)
    return statistics.median(times)


def server_alone_s(root: Path) -> float:
    """`prefect server start` on a fresh home and database until /health answers (what serve starts)."""
    from flows.serve import LocalPrefectServer, wait_healthy

    server = LocalPrefectServer(home=root / "server-alone" / "var" / "prefect", port=_free_port())
    env = server.environment()
    env = {k: v for k, v in env.items() if not k.startswith("PREFECT_") or k.startswith("PREFECT_SERVER")}
    env.update(PREFECT_HOME=str(server.home), DO_NOT_TRACK="1")
    server.home.mkdir(parents=True)
    started = time.monotonic()
    with (server.home / "server.log").open("ab") as log:
        process = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(server.port),
             "--ui", "--analytics-off"], env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        wait_healthy(server.api_url, timeout_s=READY_TIMEOUT_S, say=lambda _text: None, process=process)
        return time.monotonic() - started
    finally:
        process.terminate()
        process.wait(30)


def _median_pair(first: Callable[[], Any], second: Callable[[], Any], repeats: int) -> tuple[float, float]:
    """Medians of `first` and `second`, alternated so load drifts hit both alike."""
    a, b = [], []
    for _ in range(repeats):
        for call, into in ((first, a), (second, b)):
            started = time.monotonic()
            call()
            into.append(time.monotonic() - started)
    return statistics.median(a), statistics.median(b)


def flow_overhead(api_url: str, workdir: Path, config: Path, repeats: int) -> dict[str, float]:
    """The gather flow in-process against the served API vs the gather stage alone, same input."""
    os.environ.update(_environment(workdir))
    os.environ["PREFECT_API_URL"] = api_url
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    from flows.pipeline import gather, gather_task

    path = str(config)
    stage = lambda: gather_task.fn(path, False)  # noqa: E731
    flow_call = lambda: asyncio.run(gather(path))  # noqa: E731
    first = time.monotonic()
    flow_call()  # the first call in a process also builds Prefect's client: reported, not in the median
    first_s = time.monotonic() - first
    stage_s, flow_s = _median_pair(stage, flow_call, repeats)
    APILogWorker.drain_all()
    EventsWorker.drain_all()
    return {"stage_s": stage_s, "flow_s": flow_s, "first_flow_s": first_s, "flow_overhead_s": flow_s - stage_s}


def burst(api_url: str, workdir: Path, events: int) -> dict[str, float]:
    """`events` item.discovered events at once to the served API; the social-drafts runs they start."""
    os.environ["PREFECT_API_URL"] = api_url
    from flows.relay import PrefectApiEmitter

    (drafts,) = [d for d in _post(f"{api_url}/deployments/filter", {}) if d["name"] == "social-drafts"]
    runs_filter = {"deployments": {"id": {"any_": [drafts["id"]]}}}
    before = {r["id"] for r in _post(f"{api_url}/flow_runs/filter", runs_filter)}
    emitter = PrefectApiEmitter()
    started = time.monotonic()
    try:
        for i in range(1, events + 1):
            emitter(event="syndicate.item.discovered",
                    resource={"prefect.resource.id": f"syndicate.item.{i}", "prefect.resource.name": f"Bench item {i}"},
                    occurred=datetime.now(UTC), payload={"source": "bench"}, id=uuid.uuid4(), related=[])
    finally:
        emitter.close()
    emitted_s = time.monotonic() - started
    done_s = None
    while time.monotonic() - started < BURST_TIMEOUT_S:
        runs = [r for r in _post(f"{api_url}/flow_runs/filter", runs_filter) if r["id"] not in before]
        if runs and all(r["state_type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED") for r in runs):
            done_s = time.monotonic() - started
            break
        time.sleep(0.2)
    if done_s is None:
        raise RuntimeError(f"the burst's social-drafts run did not finish within {BURST_TIMEOUT_S:.0f} s")
    time.sleep(5)  # a second run the burst would start has been created by now
    runs = [r for r in _post(f"{api_url}/flow_runs/filter", runs_filter) if r["id"] not in before]
    states = sorted(r["state_type"] for r in runs)
    if states != ["COMPLETED"]:
        print(f"burst runs: {states}", file=sys.stderr)
    return {"burst_runs": len(runs), "burst_to_drafted_s": done_s, "burst_emit_s": emitted_s,
            "burst_completed": float(states.count("COMPLETED"))}


def _prepare_ledger(workdir: Path, config: Path) -> int:
    """Gather the example site into the project's ledger (so social-drafts has items to draft), its
    events marked relayed: the only item.discovered events Prefect sees are the burst's."""
    os.environ.update(_environment(workdir))
    from sqlalchemy import update

    from flows.settings import load_config
    from flows.stages.gather import gather_sources
    from state.db import connect
    from state.models import EventRow

    db = connect()
    with db.session() as session:
        summary = gather_sources(session, load_config(str(config)), now=datetime.now(UTC), include_backlog=True)
    with db.session() as session:
        session.execute(update(EventRow).values(relayed_at=datetime.now(UTC)))
    return summary.new


def _table(figures: list[Figure]) -> None:
    values = {f.name: f for f in figures}
    print(f"{'figure':<28}{'value':>12}{'baseline':>22}{'target':>14}")
    for f in figures:
        base = f"{values[f.baseline].value:.2f} ({f.baseline})" if f.baseline else ""
        target = "" if f.target is None else f"{'<=' if f.better == 'lower' else '>='} {f.target:g}"
        mark = {True: " ok", False: " MISSED", None: ""}[f.meets_target()]
        print(f"{f.name:<28}{f.value:>9.2f} {f.unit:<3}{base[:21]:>22}{target:>10}{mark}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--serves", type=int, default=3, help="cold starts of syndicate serve (median)")
    parser.add_argument("--flows", type=int, default=5, help="flow calls and stage calls (medians)")
    parser.add_argument("--events", type=int, default=50, help="item.discovered events in the burst")
    args = parser.parse_args()
    os.environ.update(PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1")
    from flows.demo import serve_site

    details: dict[str, Any] = {"load_1m_start": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory(prefix="bench-orchestration-") as tmp, serve_site() as origin:
        root = Path(tmp)
        details["import_prefect_s"] = import_s("prefect", 3)
        details["import_server_app_s"] = import_s("prefect.server.api.server", 1)  # the server's floor
        details["server_alone_s"] = server_alone_s(root)
        starts: list[dict[str, float]] = []
        for n in range(args.serves):
            workdir, config = _project(root, origin, f"serve{n}")
            last = n == args.serves - 1
            if last:
                details["items_in_ledger"] = _prepare_ledger(workdir, config)
            served = Serve(workdir, config)
            try:
                starts.append(served.wait_ready())
                details.setdefault("serve_output", []).append(list(served.lines))
                print(f"serve start {n + 1}: " + ", ".join(f"{k} {v:.1f}" for k, v in starts[-1].items()), flush=True)
                if last:
                    api = served.api_url()
                    assert api is not None
                    details.update(burst(api, workdir, args.events))
                    details.update(flow_overhead(api, workdir, config, args.flows))
            finally:
                details.setdefault("stop_s", []).append(served.stop())
        details["serve_starts"] = starts
        for key in ("api_healthy_s", "deployments_registered_s", "deployments_ready_s", "desk_s"):
            details[f"median_{key}"] = statistics.median(s[key] for s in starts)
    details["load_1m_end"] = os.getloadavg()[0]
    figures = [
        Figure("import_prefect_s", details["import_prefect_s"], "s"),
        Figure("import_server_app_s", details["import_server_app_s"], "s"),
        Figure("server_alone_s", details["server_alone_s"], "s"),
        Figure("serve_ready_s", statistics.median(s["ready_s"] for s in starts), "s",
               target=TARGETS["serve_ready_s"], baseline="server_alone_s"),
        Figure("stage_s", details["stage_s"], "s"),
        Figure("flow_s", details["flow_s"], "s", baseline="stage_s"),
        Figure("flow_overhead_s", details["flow_overhead_s"], "s", target=TARGETS["flow_overhead_s"]),
        Figure("burst_runs", details["burst_runs"], "run", target=TARGETS["burst_runs"]),
        Figure("burst_to_drafted_s", details["burst_to_drafted_s"], "s"),
    ]
    _table(figures)
    write("orchestration", figures, details)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
