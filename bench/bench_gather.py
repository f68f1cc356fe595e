"""Benchmark the whole `syndicate gather` command on the feed farm of `bench/feedfarm.py` (500 feeds
x 30 items, about 10% syndicated across feeds, 50 ms latency), which this script starts on 127.0.0.1.

Every figure is a whole process, started and timed from here, its peak RSS read from `wait4`:

- `syndicate --config syndicate.toml gather` (N `[[sources]]`, `SYNDICATE_DATABASE_URL` to a fresh
  SQLite file): cold (`--include-backlog`, so every item is announced), nothing changed (every
  feed answers 304; best of 3) and 50 feeds changed (the farm's `/mutate`);
- in the same run, the peers on the same farm: the sequential loop (`httpx.get` + `feedparser.parse`
  per feed) and `reader` (PyPI) with `update_feeds(workers=32, scheduled=False)`, cold and nothing changed;
- the floors: an empty Python process, and one that only imports what gather cannot do without
  (aiohttp, sqlalchemy.orm, feedparser).

With `--scaling`, syndicate's runs are repeated at 2,000 and 5,000 feeds (a farm each) and a table
of time and memory per feed is printed: the whole process divided by N, and the cost of each feed
added from one size to the next (a fixed start-up cost cannot hide in it), which should be flat
within 20%.

    python bench/bench_gather.py [--feeds 500] [--items 30] [--latency-ms 50] [--scaling]

Targets (issue 20): cold <= 2.5 s and >= 12x the loop, >= 4x reader; nothing changed <= 0.5 s and
>= 4x reader; 50 changed <= 0.8 s; peak RSS <= 300 MB. Writes bench/results/gather.json.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))
from record import Figure, compile_project, write  # noqa: E402

FEEDFARM = BENCH_DIR / "feedfarm.py"
SYNDICATE = Path(sys.executable).parent / "syndicate"
SCALES = (500, 2000, 5000)
FLAT = 0.20  # per-feed costs within 20% of each other count as linear
CONFIG_HEAD = """[organisation]
name = "Bench"
site_url = "https://bench.example/"
postal_address = "1 Bench Street"
[edition]
from_email = "news@bench.example"
from_name = "Bench"
reply_to = "news@bench.example"
[[sections]]
key = "news"
title = "News"
"""


PR_SET_CHILD_SUBREAPER = 36  # prctl(2), Linux
_FARMS: set[int] = set()  # the farm servers this benchmark started: never reaped as a run's leftovers


@dataclass(frozen=True, slots=True)
class Run:
    """One whole process: wall time, CPU time (user + system, the process and the workers it
    waited for: steadier than wall time on a loaded machine), peak RSS, exit code and the tail of
    what it printed. `tree_cpu_s` adds the processes it started and did not wait for (a forkserver
    and its parse workers), reaped here once they exit; equal to `cpu_s` where they cannot be."""

    seconds: float
    cpu_s: float
    peak_mb: float
    code: int
    tail: str
    tree_cpu_s: float = 0.0


def _adopt_orphans() -> bool:
    """Make this process the subreaper of everything it starts (Linux), so that a run's leftover
    processes are reparented here when it exits and their CPU time can be counted."""
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _adopted() -> list[int]:
    """Our child processes other than the farms: what a finished run left behind."""
    me, found = os.getpid(), []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in _FARMS:
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == me:
                found.append(int(entry.name))
    return found


def _reap_leftovers(timeout_s: float = 10.0) -> float:
    """Wait for what a run left behind (its forkserver exits when the run does) and return the CPU
    time of those processes and of the children they waited for."""
    cpu, deadline = 0.0, time.perf_counter() + timeout_s
    while (pids := _adopted()) and time.perf_counter() < deadline:
        for pid in pids:
            with contextlib.suppress(ChildProcessError):
                done, _status, usage = os.wait4(pid, os.WNOHANG)
                if done:
                    cpu += usage.ru_utime + usage.ru_stime
        time.sleep(0.005)
    return cpu


def _run(argv: list[str], env: dict[str, str] | None = None, timeout_s: float = 600) -> Run:
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        deadline = started + timeout_s
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                process.kill()
                pid, status, usage = os.wait4(process.pid, 0)
                break
            time.sleep(0.005)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        tail = out.read().decode(errors="replace")[-600:]
    cpu = usage.ru_utime + usage.ru_stime
    return Run(seconds, cpu, usage.ru_maxrss / 1024, process.returncode, tail, cpu + _reap_leftovers())


def _checked(run: Run, what: str) -> Run:
    if run.code != 0:
        raise SystemExit(f"{what} failed (exit {run.code}):\n{run.tail}")
    return run


def _farm_call(base: str, path: str, method: str = "GET") -> dict:
    """Ask the running farm (its /stats, /stats/reset and /mutate endpoints)."""
    with urllib.request.urlopen(urllib.request.Request(base + path, method=method), timeout=60) as answer:
        return json.loads(answer.read())


@contextlib.contextmanager
def _farm(feeds: int, items: int, latency_ms: float) -> Iterator[str]:
    server = subprocess.Popen([sys.executable, str(FEEDFARM), "--feeds", str(feeds), "--items", str(items),
                               "--latency-ms", str(latency_ms)], stdout=subprocess.PIPE, text=True)
    _FARMS.add(server.pid)
    try:
        assert server.stdout is not None
        base = server.stdout.readline().strip()
        if not base.startswith("http://127.0.0.1:"):
            raise SystemExit(f"the feed farm did not start (it printed {base!r})")
        yield base
    finally:
        server.terminate()
        server.wait()
        _FARMS.discard(server.pid)


def _served(base: str) -> str:
    counted = _farm_call(base, "/stats")
    return f"{counted['requests']} requests: {counted['ok']} x 200, {counted['not_modified']} x 304"


class Syndicate:
    """`syndicate gather` as a person runs it, on N sources of one farm and a fresh SQLite ledger."""

    def __init__(self, work: Path, base: str, feeds: int) -> None:
        self.config = work / f"syndicate-{feeds}.toml"
        self.config.write_text(CONFIG_HEAD + "".join(
            f'[[sources]]\nname = "feed{i}"\nkind = "feed"\nurl = "{base}/feeds/{i}.xml"\nsection = "news"\n'
            for i in range(feeds)), encoding="utf-8")
        database = work / f"ledger-{feeds}.db"
        self.env = {**os.environ, "SYNDICATE_DATABASE_URL": f"sqlite:///{database}", "COLUMNS": "100"}

    def gather(self, *flags: str) -> Run:
        return _checked(_run([str(SYNDICATE), "--config", str(self.config), "gather", *flags], self.env),
                        "syndicate gather")


def _peer_loop(urls: list[str]) -> None:
    import feedparser
    import httpx

    with httpx.Client() as client:
        for url in urls:
            feedparser.parse(client.get(url).content)


def _peer_reader(urls: list[str], database: str) -> None:
    from reader import make_reader

    with contextlib.closing(make_reader(database)) as feeds:
        for url in urls:
            feeds.add_feed(url, exist_ok=True)
        # scheduled=False: every feed, as `syndicate gather` fetches every source. By default reader
        # updates only the feeds due by its own schedule (an hour after the last update), so a second
        # run right after the first asked the farm for nothing and measured no work at all.
        feeds.update_feeds(workers=32, scheduled=False)


def _peer(name: str, urls: list[str], work: Path) -> Run:
    listed = work / "urls.json"
    listed.write_text(json.dumps(urls))
    argv = [sys.executable, __file__, "--peer", name, "--urls", str(listed), "--reader-db", str(work / "reader.sqlite")]
    return _checked(_run(argv), f"the peer {name}")


FLOOR_IMPORTS = "import aiohttp, sqlalchemy.orm, feedparser"


def _syndicate_runs(work: Path, base: str, feeds: int, *, attempts_304: int = 3) -> dict[str, Run]:
    runs: dict[str, Run] = {}
    syndicate = Syndicate(work, base, feeds)
    _farm_call(base, "/stats/reset", "POST")
    runs["cold"] = syndicate.gather("--include-backlog")
    print(f"  {feeds} feeds, cold: {runs['cold'].seconds:.2f} s, CPU {runs['cold'].cpu_s:.2f} s"
          f" (with its workers {runs['cold'].tree_cpu_s:.2f} s) ({_served(base)})", flush=True)
    attempts = []
    for _ in range(attempts_304):
        _farm_call(base, "/stats/reset", "POST")
        attempts.append(syndicate.gather())
    runs["not_modified"] = min(attempts, key=lambda r: r.seconds)
    print(f"  {feeds} feeds, nothing changed: {runs['not_modified'].seconds:.2f} s, CPU {runs['not_modified'].cpu_s:.2f} s"
          f" ({_served(base)})", flush=True)
    _farm_call(base, "/mutate?feeds=50&items=2", "POST")
    _farm_call(base, "/stats/reset", "POST")
    runs["changed_50"] = syndicate.gather()
    print(f"  {feeds} feeds, 50 changed: {runs['changed_50'].seconds:.2f} s, CPU {runs['changed_50'].cpu_s:.2f} s"
          f" (with its workers {runs['changed_50'].tree_cpu_s:.2f} s) ({_served(base)})", flush=True)
    return runs


def _scaling_table(scaled: dict[int, dict[str, Run]]) -> tuple[list[str], dict[str, object]]:
    """Whole-process cost per feed at each size, and the cost of each feed added from one size to the
    next (what a fixed start-up cost cannot hide): linear when those steps are within `FLAT`."""
    def measures(runs: dict[str, Run]) -> dict[str, float]:
        return {"cold_s": runs["cold"].seconds, "cold_cpu_s": runs["cold"].cpu_s,
                "not_modified_s": runs["not_modified"].seconds, "not_modified_cpu_s": runs["not_modified"].cpu_s,
                "peak_mb": max(r.peak_mb for r in runs.values())}

    sizes = sorted(scaled)
    measured = {feeds: measures(scaled[feeds]) for feeds in sizes}
    lines = [f"{'feeds':>6} {'cold s':>7} {'CPU s':>6} {'304 s':>6} {'CPU s':>6} {'peak MB':>8}"
             f" {'cold CPU ms/feed':>17} {'KB/feed':>8}"]
    for feeds in sizes:
        m = measured[feeds]
        lines.append(f"{feeds:>6} {m['cold_s']:>7.2f} {m['cold_cpu_s']:>6.2f} {m['not_modified_s']:>6.2f}"
                     f" {m['not_modified_cpu_s']:>6.2f} {m['peak_mb']:>8.0f} {m['cold_cpu_s'] * 1000 / feeds:>17.2f}"
                     f" {m['peak_mb'] * 1024 / feeds:>8.1f}")
    verdicts: dict[str, object] = {"measured": {str(k): v for k, v in measured.items()}}
    lines.append("each feed added (from one size to the next):")
    for key, unit, scale in (("cold_s", "ms", 1000), ("cold_cpu_s", "ms", 1000), ("not_modified_s", "ms", 1000),
                             ("not_modified_cpu_s", "ms", 1000), ("peak_mb", "KB", 1024)):
        steps = {f"{a}-{b}": (measured[b][key] - measured[a][key]) * scale / (b - a) for a, b in zip(sizes, sizes[1:], strict=False)}
        low, high = min(steps.values()), max(steps.values())
        spread = high / low - 1 if low > 0 else float("inf")
        verdicts[key] = {"per_feed_added": steps, "spread": round(spread, 3), "flat": spread <= FLAT}
        lines.append(f"  {key:<19}" + ", ".join(f"{step}: {v:.2f} {unit}" for step, v in steps.items())
                     + f"; {'flat' if spread <= FLAT else 'NOT flat'} within {FLAT * 100:.0f}% ({spread * 100:.0f}%)")
    return lines, verdicts


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--feeds", type=int, default=500)
    parser.add_argument("--items", type=int, default=30)
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--scaling", action="store_true", help=f"also run syndicate at {SCALES[1:]} feeds")
    parser.add_argument("--skip-peers", action="store_true", help="measure syndicate and the floors only")
    parser.add_argument("--peer", choices=["loop", "reader"], help=argparse.SUPPRESS)
    parser.add_argument("--urls", help=argparse.SUPPRESS)
    parser.add_argument("--reader-db", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peer:  # a child process of this benchmark: one peer run
        urls = json.loads(Path(args.urls).read_text())
        _peer_loop(urls) if args.peer == "loop" else _peer_reader(urls, args.reader_db)
        return 0

    details: dict[str, object] = {"feeds": args.feeds, "items_per_feed": args.items, "latency_ms": args.latency_ms,
                                  "load_before": os.getloadavg()[0], "workers_counted": _adopt_orphans()}
    compile_project()
    floor = _checked(_run([sys.executable, "-c", "pass"]), "python")
    imports = _checked(_run([sys.executable, "-c", FLOOR_IMPORTS]), "the import floor")
    gather_imports = _checked(_run([sys.executable, "-c", "import flows.cli, flows.stages.gather, connectors.sources"]),
                              "importing gather")
    scaled: dict[int, dict[str, Run]] = {}
    peers: dict[str, Run] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for feeds in (args.feeds, *(s for s in SCALES if s != args.feeds and args.scaling)):
            with _farm(feeds, args.items, args.latency_ms) as base:
                if feeds == args.feeds:
                    details["farm"] = {k: v for k, v in _farm_call(base, "/stats").items()
                                       if k in ("entries", "articles", "syndicated")}
                scaled[feeds] = _syndicate_runs(work, base, feeds, attempts_304=3 if feeds == args.feeds else 1)
                if feeds == args.feeds and not args.skip_peers:
                    urls = [f"{base}/feeds/{i}.xml" for i in range(feeds)]
                    for name, peer in (("loop", "loop"), ("reader_cold", "reader"), ("reader_not_modified", "reader")):
                        _farm_call(base, "/stats/reset", "POST")
                        peers[name] = _peer(peer, urls, work)
                        served = _farm_call(base, "/stats")
                        if served["requests"] < feeds:  # a peer that skips feeds does less work: no baseline
                            raise SystemExit(f"the peer {name} asked for {served['requests']} of {feeds} feeds")
                        print(f"  {name}: {peers[name].seconds:.2f} s, CPU {peers[name].cpu_s:.2f} s "
                              f"({_served(base)})", flush=True)
    runs = scaled[args.feeds]
    peak = max(runs[k].peak_mb for k in ("cold", "not_modified", "changed_50"))
    figures = [
        Figure("python_empty_s", round(floor.seconds, 3), "s"),
        Figure("import_floor_s", round(imports.seconds, 3), "s", baseline="python_empty_s"),
        Figure("import_gather_s", round(gather_imports.seconds, 3), "s", baseline="import_floor_s"),
        Figure("cold_s", round(runs["cold"].seconds, 3), "s", target=2.5, baseline="import_floor_s"),
        Figure("not_modified_s", round(runs["not_modified"].seconds, 3), "s", target=0.5, baseline="import_floor_s"),
        Figure("changed_50_s", round(runs["changed_50"].seconds, 3), "s", target=0.8, baseline="import_floor_s"),
        Figure("peak_rss_mb", round(peak, 1), "MB", target=300),
        Figure("import_floor_rss_mb", round(imports.peak_mb, 1), "MB"),
    ]
    if peers:
        figures += [
            Figure("loop_s", round(peers["loop"].seconds, 3), "s"),
            Figure("reader_cold_s", round(peers["reader_cold"].seconds, 3), "s"),
            Figure("reader_not_modified_s", round(peers["reader_not_modified"].seconds, 3), "s"),
            Figure("cold_vs_loop_x", round(peers["loop"].seconds / runs["cold"].seconds, 2), "x", better="higher",
                   target=12),
            Figure("cold_vs_reader_x", round(peers["reader_cold"].seconds / runs["cold"].seconds, 2), "x",
                   better="higher", target=4),
            Figure("not_modified_vs_reader_x",
                   round(peers["reader_not_modified"].seconds / runs["not_modified"].seconds, 2), "x",
                   better="higher", target=4),
        ]
    details["runs"] = {f"{feeds}/{name}": {"s": round(r.seconds, 3), "cpu_s": round(r.cpu_s, 3),
                                           "tree_cpu_s": round(r.tree_cpu_s, 3), "peak_mb": round(r.peak_mb, 1)}
                       for feeds, rs in scaled.items() for name, r in rs.items()}
    details["peers"] = {name: {"s": round(r.seconds, 3), "cpu_s": round(r.cpu_s, 3), "peak_mb": round(r.peak_mb, 1)}
                        for name, r in peers.items()}
    details["floors"] = {name: {"s": round(r.seconds, 3), "cpu_s": round(r.cpu_s, 3), "peak_mb": round(r.peak_mb, 1)}
                         for name, r in (("python", floor), ("imports", imports), ("gather_imports", gather_imports))}
    details["output_of_50_changed"] = runs["changed_50"].tail
    if len(scaled) > 1:
        lines, verdicts = _scaling_table(scaled)
        details["scaling"] = verdicts
        for feeds in scaled:
            if feeds != args.feeds:
                figures.append(Figure(f"cold_{feeds}_ms_per_feed", round(scaled[feeds]["cold"].seconds * 1000 / feeds, 3),
                                      "ms"))
    write("gather", figures, details)
    print(f"\n{'figure':<26}{'value':>10} {'unit':<5}{'baseline':>24}{'target':>10}")
    for f in figures:
        target = "" if f.target is None else ("<= " if f.better == "lower" else ">= ") + f"{f.target:g}"
        print(f"{f.name:<26}{f.value:>10g} {f.unit:<5}{f.baseline or '':>24}{target:>10}")
    if len(scaled) > 1:
        print("\nscaling (memory = peak RSS):")
        print("\n".join(lines))
    print(f"\nload average: {os.getloadavg()[0]:.2f} (before: {details['load_before']:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
