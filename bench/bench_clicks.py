"""Benchmark: the click redirect `/r/<token>` under load, the whole process, on SQLite and PostgreSQL.

For each ledger and each way of writing clicks, `syndicate web` runs as a subprocess (as in
production: uvicorn, one worker) on a built, sent edition; wrk (Debian's `wrk`, installed with
apt) drives it from another process over 32 connections, rotating over the edition's article
links with a browser's User-Agent, and reports throughput and latency percentiles. The server is
then stopped with SIGTERM and the ledger's click count must equal the requests wrk completed: no
click lost, including those still counted in memory at shutdown. A last run starts two
`syndicate web` processes on one PostgreSQL ledger, each loaded by its own wrk, and checks the
sum again (several workers never overwrite each other's counts).

Modes: `batched` (clicks counted in memory, written every `[tracking] flush_seconds` = 1 s, the
default) and `per-click` (`flush_seconds = 0`: one upsert per click, inside the request).
Target: >= 2,000 clicks/s with p99 < 50 ms.

    .venv/bin/python bench/bench_clicks.py [--seconds 10] [--connections 32]

Writes bench/results/clicks.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import func, select  # noqa: E402

from compose.signing import click_token  # noqa: E402
from state.db import connect  # noqa: E402
from state.models import ClickRow, EditionItemRow, EditionRow, EditionStatus  # noqa: E402
from tests.helpers import desk_data  # noqa: E402
from tests.helpers.postgres import ThrowawayPostgres  # noqa: E402

sys.path.insert(0, str(REPO / "bench"))
import web_server  # noqa: E402
from record import Figure, write  # noqa: E402

SECRET = "bench-secret-key-0123456789abcdef"
NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
BROWSER = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15"
LUA = """
paths = {%s}
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", paths[(counter %% #paths) + 1])
end
%s
"""
PACED_CONNECTIONS = 28  # each pausing 10 ms after an answer: about 2,000 requests a second in all
# wrk keeps each connection busy; `delay` paces every connection: `connections` * 1000 / `pace_ms` a second at most
PACED = "delay = function() return %d end"


def _prepare(url: str, folder: Path, flush_seconds: float) -> tuple[Path, list[str]]:
    """A ledger with a sent edition; the config file; the edition's click paths."""
    config_text = desk_data.EXAMPLE_CONFIG.read_text("utf-8").replace(
        'outbox_dir = "outbox"', f'outbox_dir = "{folder / "outbox"}"')
    config_text = (config_text.replace("[tracking]\n", f"[tracking]\nflush_seconds = {flush_seconds}\n", 1)
                   if "[tracking]\n" in config_text else config_text + f"\n[tracking]\nflush_seconds = {flush_seconds}\n")
    config_file = folder / "syndicate.toml"
    config_file.write_text(config_text, "utf-8")
    db = connect(url)
    config = desk_data.example_config(folder)
    edition_id = desk_data.seed_edition(db, config, now=NOW)
    with db.session() as session:
        row = session.get(EditionRow, edition_id)
        assert row is not None
        row.status, row.sent_at = EditionStatus.SENT, NOW
        items = session.scalars(select(EditionItemRow.item_id).where(EditionItemRow.edition_id == edition_id)).all()
    db.dispose()
    return config_file, [f"/r/{click_token(SECRET, edition_id=edition_id, item_id=item)}" for item in items]


def _start(url: str, config_file: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SYNDICATE_DATABASE_URL": url, "SYNDICATE_SECRET_KEY": SECRET}
    return web_server.start(config_file, port, env, config_file.parent / f"server-{port}.log", timeout_s=60)


def _wrk(port: int, paths: list[str], seconds: int, connections: int, folder: Path,
         pace_ms: int = 0) -> subprocess.Popen[str]:
    script = folder / f"paths-{port}-{pace_ms}.lua"
    script.write_text(LUA % (", ".join(json.dumps(p) for p in paths), PACED % pace_ms if pace_ms else ""), "utf-8")
    return subprocess.Popen(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script),
                             "-H", f"User-Agent: {BROWSER}", f"http://127.0.0.1:{port}"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def _parse(output: str) -> dict[str, float]:
    figures: dict[str, float] = {}
    for pct, value, unit in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)\s*$", output, re.M):
        figures[f"p{pct}_ms"] = round(_ms(value, unit), 2)
    done = re.search(r"(\d+) requests in ([\d.]+)(s|m)", output)
    if done:
        figures["requests"] = int(done[1])
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if rate:
        figures["per_s"] = round(float(rate[1]), 1)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    figures["bad_responses"] = int(errors[1]) if errors else 0
    socket_errors = re.search(r"Socket errors: (.*)", output)
    figures["socket_errors"] = 0 if not socket_errors else sum(int(n) for n in re.findall(r"\d+", socket_errors[1]))
    return figures


def _clicks(url: str) -> int:
    db = connect(url)
    try:
        with db.session() as session:
            return int(session.scalar(select(func.coalesce(func.sum(ClickRow.clicks), 0))) or 0)
    finally:
        db.dispose()


def _load(ports: list[int], paths: list[str], seconds: int, connections: int, folder: Path,
          pace_ms: int = 0) -> dict[str, float]:
    loads = [_wrk(port, paths, seconds, connections, folder, pace_ms) for port in ports]
    parsed = [_parse(load.communicate()[0]) for load in loads]
    return {"per_s": round(sum(float(p.get("per_s", 0)) for p in parsed), 1),
            "p50_ms": max(float(p.get("p50_ms", 0)) for p in parsed),
            "p99_ms": max(float(p.get("p99_ms", 0)) for p in parsed),
            "requests": sum(int(p.get("requests", 0)) for p in parsed),
            "bad_responses": sum(int(p["bad_responses"]) for p in parsed),
            "socket_errors": sum(int(p["socket_errors"]) for p in parsed)}


def run(url: str, label: str, flush_seconds: float, *, seconds: int, connections: int, workers: int = 1
        ) -> dict[str, object]:
    """Saturate the server(s) (`max`), then drive about 2,000 clicks a second (`at_2000`: 28
    connections, each pausing 10 ms after an answer), then stop them and count the ledger."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config_file, paths = _prepare(url, folder, flush_seconds)
        ports = [web_server.free_port() for _ in range(workers)]
        servers = [_start(url, config_file, port) for port in ports]
        try:
            saturated = _load(ports, paths, seconds, connections, folder)
            paced = _load(ports, paths, seconds, PACED_CONNECTIONS // workers, folder, pace_ms=10)
        finally:
            for server in servers:
                web_server.stop(server)
        counted = _clicks(url)
        requests = int(saturated["requests"] + paced["requests"])
        # wrk leaves out of its count the requests still in flight when it stops (one per connection at most)
        in_flight = workers * connections + PACED_CONNECTIONS
        return {"ledger": label, "mode": "batched" if flush_seconds else "per-click", "workers": workers,
                "max": saturated, "at_2000": paced, "completed": requests, "counted": counted,
                "lost": max(0, requests - counted), "over": max(0, counted - requests - in_flight)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: sudo apt-get install wrk")
    runs = []
    postgres = ThrowawayPostgres()
    try:
        for flush_seconds in (1.0, 0.0):
            for label in ("sqlite", "postgresql"):
                if label == "sqlite":
                    holder = tempfile.mkdtemp()
                    url = f"sqlite:///{holder}/ledger.db"
                else:
                    url = postgres.url(postgres.create("syndicate_bench"))
                figures = run(url, label, flush_seconds, seconds=args.seconds, connections=args.connections)
                print(json.dumps(figures), flush=True)
                runs.append(figures)
        url = postgres.url(postgres.create("syndicate_bench"))
        figures = run(url, "postgresql", 1.0, seconds=args.seconds, connections=args.connections // 2, workers=2)
        print(json.dumps(figures), flush=True)
        runs.append(figures)
    finally:
        postgres.drop_all()
    figures = []
    for figures_of_run in runs:
        name = f"{figures_of_run['ledger']}_{figures_of_run['mode'].replace('-', '_')}"
        if figures_of_run["workers"] != 1:
            name += f"_{figures_of_run['workers']}_workers"
        top, paced = figures_of_run["max"], figures_of_run["at_2000"]
        assert isinstance(top, dict) and isinstance(paced, dict)
        default = figures_of_run["mode"] == "batched"  # the targets are the default's; per-click is shown beside it
        figures += [Figure(f"{name}_max_per_s", top["per_s"], "/s", better="higher", target=2000 if default else None),
                    Figure(f"{name}_at_2000_p99_ms", paced["p99_ms"], "ms", target=50 if default else None),
                    Figure(f"{name}_lost", float(figures_of_run["lost"]), "clicks", target=0)]
    write("clicks", figures, {
        "target": {"per_s": 2000, "p99_ms": 50}, "seconds": args.seconds, "connections": args.connections,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average_1m_at_end": round(os.getloadavg()[0], 2)}, "runs": runs,
    })
    print("wrote bench/results/clicks.json")


if __name__ == "__main__":
    main()
