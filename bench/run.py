"""`make bench`: run every benchmark in bench/ in turn, each in its own process, and print the
figures each one wrote to bench/results/*.json."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    wanted = set(argv)
    scripts = [p for p in sorted(HERE.glob("bench_*.py")) if not wanted or p.stem.removeprefix("bench_") in wanted]
    (HERE / "results").mkdir(exist_ok=True)
    failed = []
    for script in scripts:
        print(f"\n=== {script.stem} ===", flush=True)
        started = time.monotonic()
        code = subprocess.call([sys.executable, str(script)], cwd=HERE.parent)
        print(f"--- {script.stem}: exit {code} in {time.monotonic() - started:.1f} s", flush=True)
        if code:
            failed.append(script.stem)
    print("\n=== results ===")
    for result in sorted((HERE / "results").glob("*.json")):
        print(f"{result.name}: {json.dumps(json.loads(result.read_text()), indent=None)[:600]}")
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
