"""Benchmark: how long `syndicate` takes to start, as a whole process, against the floors
measured in the same run: an empty Python (`python -c pass`) and the bare import of SQLAlchemy's
ORM (`python -c "import sqlalchemy.orm"`), which every command reading the ledger pays; and, to
show where `status` spends its time, the import of the ledger's models and of the status modules.

    .venv/bin/python bench/bench_startup.py [--runs 7]

Each command runs once to warm the disk cache, then `--runs` times (at most `--budget` seconds
each); a figure is the median wall time, and the peak RSS of the process (from `wait4`).
`status` and `status --json` read a demo ledger made first in a temporary folder as `syndicate
demo` makes its own, without Prefect: the example site served on 127.0.0.1, the sample
subscribers imported, `gather`, `backlog release` and `edition build` (13 items, an edition and a
thread waiting for approval). No channel credentials reach the commands.

Targets (issue 20): `--help` at most 0.25 s, `status` at most 0.4 s. Writes bench/results/startup.json.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from record import Figure, compile_project, write  # noqa: E402

ROOT = BENCH_DIR.parent
PYTHON = sys.executable
HELP_TARGET_S = 0.25
STATUS_TARGET_S = 0.4


def syndicate() -> list[str]:
    """The console script beside this Python, as a person runs it (else `python -m flows.cli`)."""
    script = Path(PYTHON).parent / "syndicate"
    return [str(script)] if script.exists() else [PYTHON, "-m", "flows.cli"]


def make_demo_ledger(workdir: Path) -> dict[str, str]:
    """A ledger like the demo's in `workdir`, and the environment the commands run in."""
    from flows.demo import demo_config, demo_database_url, serve_site

    env = {k: v for k, v in os.environ.items() if not k.startswith(("SYNDICATE_", "MASTODON_", "SENDGRID_",
                                                                    "X_", "BLUESKY_", "LINKEDIN_"))}
    env.update(SYNDICATE_DATABASE_URL=demo_database_url(workdir), COLUMNS="80")
    with serve_site() as origin:
        config = demo_config(origin, workdir)
        env["SYNDICATE_CONFIG"] = str(config)
        steps = [["subscribers", "import", str(ROOT / "examples" / "subscribers.csv")], ["gather"],
                 ["backlog", "release"], ["edition", "build"]]
        for words in steps:
            done = subprocess.run([*syndicate(), *words], env=env, cwd=workdir, capture_output=True, text=True,
                                  timeout=300, stdin=subprocess.DEVNULL)
            if done.returncode:
                raise RuntimeError(f"syndicate {' '.join(words)} failed ({done.returncode}):\n{done.stderr}")
    return env


def run_once(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """One whole process: its wall time in seconds and its peak RSS in MB. Fails on a non-zero exit."""
    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        process = subprocess.Popen(argv, env=env, cwd=cwd, stdout=out, stderr=out, stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode:
            out.seek(0)
            raise RuntimeError(f"{' '.join(argv)} exited {process.returncode}:\n{out.read().decode()[-2000:]}")
    return elapsed, usage.ru_maxrss / 1024  # KB on Linux


def measure(argv: list[str], env: dict[str, str], cwd: Path, *, runs: int, budget_s: float) -> dict[str, float]:
    run_once(argv, env, cwd)  # warm-up: the disk cache, .pyc files
    times, rss = [], []
    deadline = time.monotonic() + budget_s
    while len(times) < runs and (len(times) < 3 or time.monotonic() < deadline):
        elapsed, peak = run_once(argv, env, cwd)
        times.append(elapsed)
        rss.append(peak)
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times), "runs": len(times),
            "rss_mb": statistics.median(rss)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs of each command, after one warm-up")
    parser.add_argument("--budget", type=float, default=60.0, help="seconds at most for the runs of one command")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be 1 or more")

    compile_project()
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        workdir = Path(tmp)
        started = time.monotonic()
        env = make_demo_ledger(workdir)
        setup_s = time.monotonic() - started
        commands = {  # figure name -> (argv, target, baseline)
            "python_pass": ([PYTHON, "-c", "pass"], None, None),
            "import_sqlalchemy_orm": ([PYTHON, "-c", "import sqlalchemy.orm"], None, None),
            # what `status` must import before it reads anything: the ORM and the ledger's 32 models,
            # then the status modules themselves (the config models, the queries, the terminal)
            "import_models": ([PYTHON, "-c", "import state.models"], None, "import_sqlalchemy_orm"),
            "import_status": ([PYTHON, "-c", "import flows.cli.status, state.status_report"], None,
                              "import_sqlalchemy_orm"),
            "help": ([*syndicate(), "--help"], HELP_TARGET_S, "python_pass"),
            "edition_help": ([*syndicate(), "edition", "--help"], HELP_TARGET_S, "python_pass"),
            "status": ([*syndicate(), "status"], STATUS_TARGET_S, "import_sqlalchemy_orm"),
            "status_json": ([*syndicate(), "status", "--json"], STATUS_TARGET_S, "import_sqlalchemy_orm"),
        }
        results = {name: measure(argv, env, workdir, runs=args.runs, budget_s=args.budget)
                   for name, (argv, _, _) in commands.items()}

    figures = []
    for name, (_, target, baseline) in commands.items():
        figures.append(Figure(f"{name}_s", round(results[name]["median_s"], 4), "s", target=target,
                              baseline=f"{baseline}_s" if baseline else None))
    for name, (_, _, baseline) in commands.items():
        figures.append(Figure(f"{name}_rss_mb", round(results[name]["rss_mb"], 1), "MB",
                              baseline=f"{baseline}_rss_mb" if baseline else None))
    load = os.getloadavg()
    details = {"results": results, "runs": args.runs, "setup_s": round(setup_s, 1), "load": [round(x, 2) for x in load],
               "when": datetime.now(UTC).isoformat(timespec="seconds"),
               "self_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    out = write("startup", figures, details)

    print(f"startup, whole process, median of {args.runs} (load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f})")
    print(f"{'command':<24}{'median s':>10}{'min s':>8}{'target':>8}{'x floor':>9}{'RSS MB':>9}  met")
    for name, (_, target, baseline) in commands.items():
        r = results[name]
        ratio = f"{r['median_s'] / results[baseline]['median_s']:.1f}" if baseline else ""
        met = "" if target is None else ("yes" if r["median_s"] <= target else "NO")
        print(f"{name:<24}{r['median_s']:>10.3f}{r['min_s']:>8.3f}{target or '':>8}{ratio:>9}{r['rss_mb']:>9.1f}  {met}")
    print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
