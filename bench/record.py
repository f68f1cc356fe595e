"""What every benchmark writes, and how `make bench` compares a run with the last one on this machine.

A benchmark measures figures (`Figure`): a value with its unit, which way is better, the target
the issue set (if any) and, where the run measured one, the name of its in-run baseline: the
peer or floor measured in the same run (a sequential loop, another tool, an empty process).
`write(bench, figures, details)` stores them in bench/results/BENCH.json; `bench/run.py` then
compares each figure with the last recorded run on the same machine (`compare`): the ratio to
the baseline where both runs have one, else the value itself, and calls a change for the worse
of more than 20% a regression.

The history of runs is bench/results/history.jsonl, one line a run, kept per machine by a
fingerprint of its processor, core count and memory (`machine()`).
"""

from __future__ import annotations

import json
import os
import platform
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

RESULTS = Path(__file__).resolve().parent / "results"
HISTORY = RESULTS / "history.jsonl"
REGRESSION = 1.2  # a figure more than 20% worse than last time (in ratio to its baseline where it has one)


@dataclass(frozen=True, slots=True)
class Figure:
    """One measured figure. `baseline` names another figure of the same benchmark, measured in
    the same run, that this one is judged against (lower is better: value / baseline)."""

    name: str
    value: float
    unit: str
    better: Literal["lower", "higher"] = "lower"
    target: float | None = None
    baseline: str | None = None

    def meets_target(self) -> bool | None:
        if self.target is None:
            return None
        return self.value <= self.target if self.better == "lower" else self.value >= self.target


PACKAGES = ("compose", "connectors", "flows", "state", "web")  # the project's own, as pyproject lists them


def compile_project() -> None:
    """Write the bytecode of the project's own modules, as an install does (`pip install` compiles
    them; an editable checkout writes it on first import). Where PYTHONDONTWRITEBYTECODE is set, every
    process would compile about 80 modules again (0.1 to 0.2 s each): a cost no installed user pays."""
    import compileall

    root = Path(__file__).resolve().parent.parent
    for package in PACKAGES:
        compileall.compile_dir(root / package, quiet=1)


def machine() -> dict[str, object]:
    """Who measured: the processor, cores and memory (the fingerprint), plus Python and the load."""
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30)
    fingerprint = f"{platform.machine()} {cpu} x{os.cpu_count()} {memory_gb}GB"
    return {"fingerprint": fingerprint, "python": platform.python_version(),
            "load_1m": round(os.getloadavg()[0], 2)}


def write(bench: str, figures: list[Figure], details: dict | None = None) -> Path:
    """Store one benchmark's figures (and whatever else it wants kept) in bench/results/BENCH.json."""
    names = [f.name for f in figures]
    duplicated = {n for n in names if names.count(n) > 1}
    if duplicated:
        raise ValueError(f"{bench}: figures named twice: {sorted(duplicated)}")
    missing = {f.baseline for f in figures if f.baseline and f.baseline not in names}
    if missing:
        raise ValueError(f"{bench}: baselines that are not figures of this run: {sorted(missing)}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{bench}.json"
    path.write_text(json.dumps({
        "bench": bench, "when": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine(),
        "figures": [asdict(f) for f in figures], "details": details or {},
    }, indent=2) + "\n", encoding="utf-8")
    return path


def read(path: Path) -> tuple[str, list[Figure]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return data["bench"], [Figure(**f) for f in data.get("figures", [])]


@dataclass(frozen=True, slots=True)
class Change:
    """One figure against the last run: `ratio` > 1 is worse; `by_baseline` says it was judged in
    ratio to its in-run baseline."""

    bench: str
    figure: Figure
    previous: float | None
    ratio: float | None
    by_baseline: bool

    @property
    def regressed(self) -> bool:
        return self.ratio is not None and self.ratio > REGRESSION


def _judged(figure: Figure, figures: dict[str, float], by_baseline: bool) -> float | None:
    """The number a figure is compared by: value / baseline, or the value itself."""
    value = figures.get(figure.name)
    if by_baseline:
        base = figures.get(figure.baseline or "")
        return value / base if value and base else None
    return value or None


def compare(bench: str, now: list[Figure], before: dict[str, float] | None) -> list[Change]:
    """Each figure of `now` against the same figure of the last run (`before`: name -> value), in
    ratio to its baseline where both runs measured the baseline, else by value."""
    values = {f.name: f.value for f in now}
    changes = []
    for figure in now:
        ratio = previous = None
        by_baseline = bool(figure.baseline and before and values.get(figure.baseline) and before.get(figure.baseline))
        if before and figure.name in before:
            previous = before[figure.name]
            current, earlier = _judged(figure, values, by_baseline), _judged(figure, before, by_baseline)
            if current and earlier:
                ratio = current / earlier if figure.better == "lower" else earlier / current
        changes.append(Change(bench, figure, previous, ratio, by_baseline))
    return changes


def last_run(fingerprint: str, history: Path = HISTORY) -> dict[str, dict[str, float]]:
    """The figures of each benchmark's last recorded run on the machine `fingerprint`."""
    last: dict[str, dict[str, float]] = {}
    if not history.exists():
        return last
    for line in history.read_text(encoding="utf-8").splitlines():
        try:
            run = json.loads(line)
        except json.JSONDecodeError:
            continue
        if run.get("fingerprint") == fingerprint:
            last[run["bench"]] = run["figures"]
    return last


def remember(bench: str, figures: list[Figure], fingerprint: str, history: Path = HISTORY) -> None:
    history.parent.mkdir(parents=True, exist_ok=True)
    with history.open("a", encoding="utf-8") as out:
        out.write(json.dumps({"bench": bench, "fingerprint": fingerprint,
                              "when": datetime.now(UTC).isoformat(timespec="seconds"),
                              "figures": {f.name: f.value for f in figures}}) + "\n")


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def report(changes: list[Change], width: int = 80) -> list[str]:
    """Lines for the terminal: every figure with its baseline, target and change since last time."""
    lines = []
    for change in changes:
        f = change.figure
        target = f.meets_target()
        verdict = "" if target is None else (" ok" if target else " MISSED")
        since = "first run" if change.ratio is None else f"{(change.ratio - 1) * 100:+.0f}%"
        if change.regressed:
            since += " REGRESSED"
        base = f" vs {f.baseline}" if f.baseline else ""
        goal = f" (target {'<=' if f.better == 'lower' else '>='} {_number(f.target)})" if f.target is not None else ""
        lines.append(f"{change.bench}.{f.name}: {_number(f.value)} {f.unit}{goal}{verdict}; {since}{base}"[:width * 2])
    return lines
