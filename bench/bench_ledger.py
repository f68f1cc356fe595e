"""A big ledger stays fast: `edition build`, `status` and every desk page on 1,000,000 items and
100,000 subscribers, on SQLite and on PostgreSQL (issue 20, point 2).

The ledger is written in bulk (tests/helpers/ledger_data.py: executemany on SQLite, COPY on PostgreSQL):
60 sources over three sections, items over two years, a sent edition a week with its items, its
roundup and item threads and their posts, approvals, 100,000 subscribers in every status, the last
four editions delivered to every active subscriber (batches, deliveries, opens, clicks), per-edition
counters and clicks, events (nearly all relayed), the audit log and subscriber changes.

Then, in-process (query costs; the cost of starting a process is bench_startup's):
- `edition build`: the stage `syndicate edition build` runs (`build_edition_and_threads`), rolled
  back after each run, median and p95 (target 200 ms);
- `status`: `state.status_report.status_report`, what `syndicate status` shows (target 0.5 s);
- every desk page the app serves (listed from its routes, so a new page is measured too), through
  starlette's TestClient with a signed-in admin, p95 (target 100 ms).

Each figure's baseline is the same measurement on a small ledger (the same shape, 2,000 items and
200 subscribers) in the same run: the ratio is the cost of size. Link cards are off in the config
(checking them fetches the items' pages from the network, which a benchmark must not do).

    .venv/bin/python bench/bench_ledger.py [--items 1000000] [--subscribers 100000] [--requests 20] [--keep]

`--keep` writes each ledger once and keeps it for the next run with `--keep` (PostgreSQL: databases
named `bench_ledger_kept_*`; SQLite: files under bench/results/kept/), so that before/after runs of a
change measure the same ledger without writing it again; a ledger of another size or an older schema
is written afresh. Writes bench/results/ledger.json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(BENCH_DIR))

from record import Figure, write  # noqa: E402

from compose.config import Config  # noqa: E402
from state.db import Database, connect  # noqa: E402
from tests.helpers.ledger_data import NOW, bench_config, desk_ids, desk_paths, fill, sign_in  # noqa: E402

SECRET = "bench-secret-key-0123456789abcdef"
SMALL = {"items": 2_000, "subscribers": 200}
EXPORTS = {"/desk/subscribers.csv"}  # downloads of every row: timed, no page target
TARGETS = {"build": 200.0, "status": 500.0, "page": 100.0}


# --- measuring ----------------------------------------------------------------------------------


def _ms(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def _p95(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]


def time_build(db: Database, config: Config, runs: int) -> list[float]:
    """`syndicate edition build`'s stage, each run rolled back so the next builds the same edition."""
    from flows.stages.edition import build_edition_and_threads

    times = []
    for _ in range(runs + 1):
        with db.sessions() as session:
            started = time.perf_counter()
            built = build_edition_and_threads(session, config, now=NOW, by="syndicate")
            session.flush()
            times.append((time.perf_counter() - started) * 1000)
            session.rollback()
        if not built["built"]:
            raise RuntimeError(f"the bench ledger built no edition: {built['reason']}")
    return times[1:]  # the first warms the caches (templates, compiled queries)


def time_candidates(db: Database, runs: int) -> tuple[list[float], int]:
    """The floor under the build: reading the items waiting for the next edition, which it must
    all see (to count what each section leaves out, and warn about links no email can carry): their
    headlines (`candidate_headlines`), as the build reads them; it reads whole only those it carries."""
    from state.editions import candidate_headlines

    times, count = [], 0
    for _ in range(runs + 1):
        with db.sessions() as session:
            started = time.perf_counter()
            count = len(candidate_headlines(session, now=NOW))
            times.append((time.perf_counter() - started) * 1000)
    return times[1:], count


def time_status(db: Database, config: Config, runs: int) -> list[float]:
    from state.status_report import status_report

    times = []
    for _ in range(runs + 1):
        with db.sessions() as session:
            times.append(_ms(lambda s=session: status_report(s, config, now=NOW)))  # type: ignore[misc]
    return times[1:]


def time_pages(db: Database, config: Config, subscribers: int, requests: int, cpu: dict[str, float] | None = None
               ) -> dict[str, list[float]]:
    from fastapi.testclient import TestClient

    from web.app import create_app

    app = create_app(config=config, db=db, secret_key=SECRET, now=lambda: NOW)
    times: dict[str, list[float]] = {}
    with TestClient(app, base_url="http://127.0.0.1") as client:
        sign_in(client)
        for path in desk_paths(desk_ids(subscribers)):
            first = client.get(path)
            if first.status_code != 200:
                raise RuntimeError(f"{path} answered {first.status_code}: {first.text[:300]}")
            started = time.process_time()
            times[path] = [_ms(lambda p=path: client.get(p)) for _ in range(requests)]  # type: ignore[misc]
            if cpu is not None:  # this process's CPU (the app's threads too), not the database server's
                cpu[_generic(path)] = round((time.process_time() - started) * 1000 / requests, 1)
    return times


def measure(db: Database, config: Config, *, subscribers: int, builds: int, requests: int) -> dict[str, Any]:
    """Each figure's times (ms), and the mean CPU time of this process per run (`cpu`, ms: steadier
    than wall time on a shared machine; on PostgreSQL the server's CPU is not in it)."""
    cpu: dict[str, float] = {}

    def timed(name: str, runs: int, call: Callable[[int], Any]) -> Any:
        call(0)  # warm (templates, compiled queries): every run counted below is a warm one
        started = time.process_time()
        found = call(runs)
        cpu[name] = round((time.process_time() - started) * 1000 / (runs + 1), 1)
        return found

    candidates, count = timed("candidates", builds, lambda runs: time_candidates(db, runs))
    build = timed("build", builds, lambda runs: time_build(db, config, runs))
    status = timed("status", max(builds // 2, 3), lambda runs: time_status(db, config, runs))
    pages = time_pages(db, config, subscribers, requests, cpu)
    return {"build": build, "candidates": candidates, "candidate_count": count, "status": status, "pages": pages,
            "cpu": cpu}


# --- the run ------------------------------------------------------------------------------------


def _ledger(url: str, config: Config, items: int, subscribers: int) -> tuple[Database, dict[str, int], float]:
    db = connect(url)
    started = time.perf_counter()
    counts = fill(db, config, items=items, subscribers=subscribers)
    return db, counts, time.perf_counter() - started


def _kept(name: str, make: Callable[[str], str], config: Config, items: int, subscribers: int
          ) -> tuple[Database, dict[str, int], float]:
    """The ledger a run with `--keep` wrote before (same size, same schema), or a new one, kept."""
    from sqlalchemy import inspect, text

    url = make(name)
    db = connect(url, migrate=False)
    try:
        with db.engine.connect() as connection:
            filled = "items" in inspect(connection).get_table_names() and connection.execute(
                text("SELECT count(*) FROM items")).scalar() == items and connection.execute(
                text("SELECT count(*) FROM subscribers")).scalar() == subscribers
    finally:
        db.dispose()
    if filled:
        db = connect(url)  # a newer migration (an index) applies to the kept ledger
        return db, {"kept": 1}, 0.0
    url = make(name, fresh=True)  # type: ignore[call-arg]
    return _ledger(url, config, items, subscribers)


def run(backend: str, url_for: Callable[[str], str], config: Config, args: argparse.Namespace
        ) -> tuple[list[Figure], dict[str, Any]]:
    results = {}
    details: dict[str, Any] = {}
    for size, scale in (("small", SMALL), ("big", {"items": args.items, "subscribers": args.subscribers})):
        if args.keep:
            db, counts, seconds = _kept(f"bench_ledger_kept_{size}", url_for, config, scale["items"],
                                        scale["subscribers"])
        else:
            db, counts, seconds = _ledger(url_for(size), config, scale["items"], scale["subscribers"])
        print(f"{backend} {size}: " + ("the ledger kept by an earlier run" if "kept" in counts else
                                       f"wrote {sum(counts.values()):,} rows in {seconds:.1f} s"), flush=True)
        try:
            results[size] = measure(db, config, subscribers=scale["subscribers"], builds=args.builds,
                                    requests=args.requests)
        finally:
            db.dispose()
        details[f"{size}_rows"] = counts
        details[f"{size}_fill_s"] = round(seconds, 1)
    figures: list[Figure] = []

    def add(name: str, big: float, small: float, target: float | None) -> None:
        figures.append(Figure(f"{backend}_{name}_small", round(small, 2), "ms"))
        figures.append(Figure(f"{backend}_{name}", round(big, 2), "ms", target=target,
                              baseline=f"{backend}_{name}_small"))

    add("edition_build_median", statistics.median(results["big"]["build"]), statistics.median(results["small"]["build"]),
        TARGETS["build"])
    add("edition_build_p95", _p95(results["big"]["build"]), _p95(results["small"]["build"]), TARGETS["build"])
    add("edition_build_read_candidates_median", statistics.median(results["big"]["candidates"]),
        statistics.median(results["small"]["candidates"]), None)
    details["candidates"] = {size: results[size]["candidate_count"] for size in results}
    details["cpu_ms"] = {size: results[size]["cpu"] for size in results}
    add("status_median", statistics.median(results["big"]["status"]), statistics.median(results["small"]["status"]),
        TARGETS["status"])
    small_pages = {_generic(p): t for p, t in results["small"]["pages"].items()}
    for path, times in results["big"]["pages"].items():
        target = None if path in EXPORTS else TARGETS["page"]
        add(f"page{_generic(path)}_p95", _p95(times), _p95(small_pages[_generic(path)]), target)
    return figures, details


def _sqlite_file(path: Path, fresh: bool) -> str:
    if fresh:
        path.unlink(missing_ok=True)
    return f"sqlite:///{path}"


def _postgres_db(postgres: Any, name: str, fresh: bool) -> str:
    """The kept database `name` (created when missing; dropped and created again when `fresh`)."""
    from sqlalchemy import text

    with postgres.admin.connect() as connection:
        if fresh:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        if not connection.execute(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}).scalar():
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    return str(postgres.url(name))


def _generic(path: str) -> str:
    """A page's path as a figure name: ids out, so a run on another ledger compares."""
    import re

    return re.sub(r"/\d+", "/ID", path.split("?")[0])


def table(figures: list[Figure]) -> list[str]:
    small = {f.name: f.value for f in figures if f.baseline is None}
    lines = [f"{'figure':<52} {'big':>8} {'small':>7} {'target':>7} ", "-" * 79]
    for f in figures:
        if f.baseline is None:
            continue
        ok = " !" if f.meets_target() is False else ""
        target = "-" if f.target is None else f"{f.target:.0f}"
        lines.append(f"{f.name[:52]:<52} {f.value:>8.1f} {small[f.baseline]:>7.1f} {target:>7}{ok}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=20, help="requests per desk page")
    parser.add_argument("--builds", type=int, default=10, help="edition builds timed")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--keep", action="store_true", help="reuse (or write and keep) the ledgers of an earlier run")
    args = parser.parse_args()
    from tests.helpers.postgres import ThrowawayPostgres

    figures: list[Figure] = []
    details: dict[str, Any] = {"items": args.items, "subscribers": args.subscribers, "requests": args.requests,
                               "builds": args.builds}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config, _ = bench_config(folder)
        for backend in args.backends.split(","):
            if backend == "sqlite" and args.keep:
                kept = BENCH_DIR / "results" / "kept"
                kept.mkdir(parents=True, exist_ok=True)
                found, more = run(backend, lambda name, fresh=False, kept=kept: _sqlite_file(kept / f"{name}.db", fresh),
                                  config, args)
            elif backend == "sqlite":
                found, more = run(backend, lambda size: f"sqlite:///{folder / size}.db", config, args)
            elif args.keep:
                postgres = ThrowawayPostgres()
                try:
                    found, more = run(backend, lambda name, fresh=False, pg=postgres: _postgres_db(pg, name, fresh),
                                      config, args)
                finally:
                    postgres.admin.dispose()
            else:
                postgres = ThrowawayPostgres()
                try:
                    found, more = run(backend, lambda size, pg=postgres: pg.url(pg.create(f"bench_ledger_{size}")),
                                      config, args)
                finally:
                    postgres.drop_all()
            figures += found
            details[backend] = more
            details["load_1m_at_end"] = round(os.getloadavg()[0], 2)
            write("ledger", figures, details)  # after each backend: a long run stopped early keeps what it measured
            print("\n".join(table(found)), flush=True)
            print("CPU ms per run of this process, big / small: " + ", ".join(
                f"{name} {cost:.0f}/{more['cpu_ms']['small'].get(name, 0):.0f}"
                for name, cost in more["cpu_ms"]["big"].items()), flush=True)


if __name__ == "__main__":
    main()
