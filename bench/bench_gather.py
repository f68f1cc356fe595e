"""Benchmark `syndicate gather` on the feed farm of `bench/feedfarm.py` (500 feeds x 30 items,
about 10% syndicated across feeds, 50 ms latency), which this script starts on 127.0.0.1.

Measures in one run: a sequential feedparser baseline (httpx.get + feedparser.parse per feed),
then syndicate cold, nothing changed (all 304) and 50 feeds changed, storing through
`flows.stages.gather.gather_sources` into a fresh SQLite database, with peak RSS. The farm's
request counters (200s, 304s) are taken for each run. Prints a table and writes
bench/results/gather.json. Targets (issue): cold <= 7 s, all-304 <= 1 s, 50 changed <= 1.5 s,
peak RSS <= 400 MB.

    python bench/bench_gather.py [--feeds 500] [--items 30] [--latency-ms 50] [--fetch-only]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FEEDFARM = ROOT / "bench" / "feedfarm.py"
RESULTS = ROOT / "bench" / "results" / "gather.json"
TARGETS = {"cold_s": 7.0, "not_modified_s": 1.0, "changed_50_s": 1.5, "peak_rss_mb": 400}


def _farm(base: str, path: str, method: str = "GET") -> dict:
    """Ask the running farm (its /stats, /stats/reset and /mutate endpoints)."""
    with urllib.request.urlopen(urllib.request.Request(base + path, method=method), timeout=30) as answer:
        return json.loads(answer.read())


def _rss_mb() -> float:
    self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the largest parse worker
    return (self_kb + children_kb) / 1024


def _config(urls: list[str]):
    from compose.config import Config

    return Config.model_validate({
        "organisation": {"name": "Bench", "site_url": "https://bench.example/", "postal_address": "1 Bench Street"},
        "edition": {"from_email": "news@bench.example", "from_name": "Bench", "reply_to": "news@bench.example"},
        "sections": [{"key": "news", "title": "News"}],
        "sources": [{"name": f"feed{i}", "kind": "feed", "url": u, "section": "news"} for i, u in enumerate(urls)],
    })


class Store:
    """Stores through the lead's gather stage on a fresh SQLite database (or only fetches)."""

    def __init__(self, workdir: Path, fetch_only: bool) -> None:
        self.fetch_only = fetch_only
        self.cursors: dict = {}
        if not fetch_only:
            from state.db import connect

            self.db = connect(f"sqlite:///{workdir / 'bench.db'}")

    def run(self, config) -> dict:
        if self.fetch_only:
            from connectors.sources import fetch_sources

            reports = fetch_sources(config.sources, self.cursors)
            self.cursors = {r.source: r.cursor for r in reports if r.cursor}
            return {"items": sum(len(r.items) for r in reports), "failed": sum(not r.ok for r in reports),
                    "not_modified": sum(r.not_modified for r in reports)}
        from flows.stages.gather import gather_sources

        with self.db.session() as session:
            summary = gather_sources(session, config, now=datetime.now(UTC), include_backlog=True)
        return {"new": summary.new, "updated": summary.updated, "failed": summary.failed,
                "not_modified": sum(s.not_modified for s in summary.sources)}

    def stored(self) -> int | None:
        if self.fetch_only:
            return None
        from sqlalchemy import func, select

        from state.models import ItemRow

        with self.db.session() as session:
            return session.scalar(select(func.count()).select_from(ItemRow))


def _baseline(urls: list[str]) -> float:
    import feedparser
    import httpx

    start = time.perf_counter()
    with httpx.Client() as client:
        for url in urls:
            feedparser.parse(client.get(url).content)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--feeds", type=int, default=500)
    parser.add_argument("--items", type=int, default=30)
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--fetch-only", action="store_true", help="measure fetch_sources without the database")
    parser.add_argument("--skip-baseline", action="store_true")
    args = parser.parse_args()
    from connectors.sources import shutdown

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        server = subprocess.Popen([sys.executable, str(FEEDFARM), "--feeds", str(args.feeds), "--items", str(args.items),
                                   "--latency-ms", str(args.latency_ms)], stdout=subprocess.PIPE, text=True)
        try:
            assert server.stdout is not None
            base = server.stdout.readline().strip()
            if not base.startswith("http://127.0.0.1:"):
                raise SystemExit(f"the feed farm did not start (it printed {base!r})")
            urls = [f"{base}/feeds/{i}.xml" for i in range(args.feeds)]
            config = _config(urls)
            farm = _farm(base, "/stats")
            results: dict = {"feeds": args.feeds, "items_per_feed": args.items, "latency_ms": args.latency_ms,
                             "farm": {k: farm[k] for k in ("entries", "articles", "syndicated")},
                             "stored_by": "fetch_sources only" if args.fetch_only else "gather_sources + SQLite"}
            if not args.skip_baseline:
                results["baseline_sequential_feedparser_s"] = round(_baseline(urls), 2)
            store = Store(work, args.fetch_only)
            for name, mutate in (("cold", False), ("not_modified", False), ("changed_50", True)):
                if mutate:
                    _farm(base, "/mutate?feeds=50&items=2", "POST")
                _farm(base, "/stats/reset", "POST")
                start = time.perf_counter()
                outcome = store.run(config)
                results[f"{name}_s"] = round(time.perf_counter() - start, 2)
                counted = _farm(base, "/stats")
                outcome["served"] = {k: counted[k] for k in ("requests", "ok", "not_modified")}
                results[f"{name}_outcome"] = outcome
                if name == "cold":
                    results["stored_items_after_cold"] = store.stored()
            results["stored_items"] = store.stored()
            results["peak_rss_mb"] = round(_rss_mb(), 1)
        finally:
            shutdown()
            server.terminate()
            server.wait()
    results["targets"] = TARGETS
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    print(f"{'measure':<34}{'value':>12}{'target':>10}")
    for key in ("baseline_sequential_feedparser_s", "cold_s", "not_modified_s", "changed_50_s", "peak_rss_mb",
                "stored_items_after_cold", "stored_items"):
        if key in results:
            print(f"{key:<34}{results[key]!s:>12}{TARGETS.get(key, ''):>10}")
    farm = results["farm"]
    print(f"farm: {farm['entries']} entries, {farm['syndicated']} syndicated copies, "
          f"{farm['articles']} distinct articles")
    for name in ("cold", "not_modified", "changed_50"):
        outcome = results[name + "_outcome"]
        served = outcome.pop("served")
        stored = ", ".join(f"{key.replace('_', ' ')} {value}" for key, value in outcome.items())
        print(f"{name}: {stored}")
        print(f"{'':>{len(name) + 2}}served {served['requests']}: {served['ok']} x 200, {served['not_modified']} x 304")
        outcome["served"] = served
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
