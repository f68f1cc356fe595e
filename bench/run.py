"""`make bench`: run every benchmark in bench/ in turn, each in its own process, then print each
figure with its target and its change since the last run on this machine, and fail loudly (exit 1)
when a figure regressed by more than 20% (in ratio to its in-run baseline where it has one) or a
benchmark failed.

    python bench/run.py [NAME ...]     e.g. python bench/run.py gather startup
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import record  # noqa: E402  (bench/ is not a package: its scripts run by path)


def main(argv: list[str]) -> int:
    wanted = set(argv)
    scripts = [p for p in sorted(HERE.glob("bench_*.py")) if not wanted or p.stem.removeprefix("bench_") in wanted]
    unknown = wanted - {p.stem.removeprefix("bench_") for p in scripts}
    if unknown:
        names = ", ".join(sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py")))
        print(f"no benchmark named {', '.join(sorted(unknown))}: the benchmarks are {names}", file=sys.stderr)
        return 2
    record.RESULTS.mkdir(exist_ok=True)
    started_run = time.time()
    failed = []
    for script in scripts:
        print(f"\n=== {script.stem} ===", flush=True)
        started = time.monotonic()
        code = subprocess.call([sys.executable, str(script)], cwd=HERE.parent)
        print(f"--- {script.stem}: exit {code} in {time.monotonic() - started:.1f} s", flush=True)
        if code:
            failed.append(script.stem)
    fingerprint = str(record.machine()["fingerprint"])
    before = record.last_run(fingerprint)
    regressed, missed = [], []
    print(f"\n=== figures (machine: {fingerprint}) ===")
    for path in sorted(record.RESULTS.glob("*.json")):
        if path.stat().st_mtime < started_run:
            continue  # written by an earlier run (or by a benchmark not run this time)
        bench, figures = record.read(path)
        if not figures:
            continue
        changes = record.compare(bench, figures, before.get(bench))
        for line in record.report(changes):
            print(line)
        regressed += [c for c in changes if c.regressed]
        missed += [f"{bench}.{f.name}" for f in figures if f.meets_target() is False]
        record.remember(bench, figures, fingerprint)
    if missed:
        print(f"\ntargets missed: {', '.join(missed)}")
    if regressed:
        print("\nREGRESSED by more than 20% since the last run on this machine:")
        for change in regressed:
            how = "in ratio to " + str(change.figure.baseline) if change.by_baseline else "by value"
            print(f"  {change.bench}.{change.figure.name}: {(change.ratio or 0) - 1:+.0%} ({how}; "
                  f"was {change.previous:g}, now {change.figure.value:g} {change.figure.unit})")
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed or regressed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
