"""Benchmark: select + compose + render one 30-item In Our View edition (HTML and text) with
mjml-python, against rendering the same MJML with the official MJML on node (warm, in-process).

    .venv/bin/python bench/bench_render.py [--n 200] [--rounds 30]

The render comparison is like for like: the same MJML, syndicate's renderer
(`compose.email.mjml_to_html`) against node MJML with validation skipped (mjml-python does not
validate; CI validates strictly on its own). Node at its default (soft validation) and
mjml2html without the mj-text pass-through are reported beside it.

Targets: <= 20 ms per complete edition, >= 20x faster than node. Writes bench/results/render.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from importlib.metadata import version
from pathlib import Path

import mjml

from compose.config import Config
from compose.edition import build_edition
from compose.email import mjml_to_html, render_email, render_mjml
from compose.models import Item

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = json.loads((ROOT / "tests" / "golden" / "fixture.json").read_text(encoding="utf-8"))
NODE_BENCH = ROOT / "tools" / "mjml-validate" / "bench_node.mjs"
TARGET_MS = 20.0
TARGET_SPEEDUP = 20.0
ITEMS = 30
WARMUP = 10
PY_PER_ROUND = 40
NODE_PER_ROUND = 6


def _inputs() -> tuple[list[Item], Config, datetime]:
    """30 items in the sample's style, spread over the three sections, 12 with images."""
    data = json.loads(json.dumps(FIXTURE["config"]))
    for section in data["sections"]:
        section["max_items"] = 10
    config = Config.model_validate(data)
    now = datetime.fromisoformat(FIXTURE["now"])
    base = FIXTURE["items"]
    items = []
    for n in range(ITEMS):
        raw = base[n % len(base)]
        items.append(Item(**{
            **raw,
            "url": raw["url"].rstrip("/") + f"-{n}/",
            "section": ("news", "blogs", "publications")[n % 3],
            "summary_text": raw["summary_text"] or "Discover how to deliver better services digitally.",
            "image_url": raw.get("image_url") or (f"https://socitm.net/uploads/{n}.jpg" if n % 5 == 0 else None),
            "published": now - timedelta(hours=n * 5),
        }))
    return items, config, now


def _edition(items, config, now):
    return build_edition(items, config=config, now=now, slug=FIXTURE["slug"],
                         intro_markdown=FIXTURE["intro_markdown"], featured_url=items[0].url)


def _python(n: int) -> dict:
    items, config, now = _inputs()
    for _ in range(WARMUP):
        render_email(_edition(items, config, now), config=config)
    times = []
    for _ in range(n):
        start = time.perf_counter()
        rendered = render_email(_edition(items, config, now), config=config)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {"n": n, "median_ms": statistics.median(times), "p90_ms": times[int(n * 0.9)], "min_ms": times[0],
            "html_bytes": rendered.html_bytes, "text_bytes": len(rendered.text.encode()),
            "items": len(_edition(items, config, now).items) + 1, "trimmed": len(rendered.trimmed)}


def _median(times: list[float]) -> float:
    return statistics.median(times)


def _renders(rounds: int) -> dict:
    """The same MJML rendered by syndicate's renderer (mjml-python, mj-text passed through),
    by mjml2html alone, and by node MJML (validation skipped, and at its default, soft),
    interleaved in `rounds` rounds so that all of them sample the machine alike: its speed
    drifts by up to 1.8x over seconds here, which a run of one then the other mistakes for
    a difference between them."""
    items, config, now = _inputs()
    source = render_mjml(_edition(items, config, now), config=config)
    python = {"syndicate": lambda: mjml_to_html(source), "mjml2html": lambda: mjml.mjml2html(source)}
    for render in python.values():
        for _ in range(WARMUP):
            render()
    times: dict[str, list[float]] = {name: [] for name in (*python, "node_skip", "node_soft")}
    node = None
    if shutil.which("node") and (ROOT / "tools" / "mjml-validate" / "node_modules" / "mjml").exists():
        with tempfile.NamedTemporaryFile("w", suffix=".mjml", delete=False, encoding="utf-8") as file:
            file.write(source)
        node = subprocess.Popen(["node", str(NODE_BENCH), file.name, str(WARMUP)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True, cwd=NODE_BENCH.parent)
        node_bytes = json.loads(node.stdout.readline())["bytes"]  # type: ignore[union-attr]
    try:
        for _ in range(rounds):
            for name, render in python.items():
                for _ in range(PY_PER_ROUND):
                    start = time.perf_counter()
                    render()
                    times[name].append((time.perf_counter() - start) * 1000)
            for level in ("skip", "soft") if node else ():
                node.stdin.write(f"{level} {NODE_PER_ROUND}\n")  # type: ignore[union-attr]
                node.stdin.flush()  # type: ignore[union-attr]
                times[f"node_{level}"] += json.loads(node.stdout.readline())  # type: ignore[union-attr]
    finally:
        if node:
            node.stdin.close()  # type: ignore[union-attr]
            node.wait(timeout=60)
            Path(file.name).unlink()
    summary = {name: {"n": len(ts), "median_ms": _median(ts), "min_ms": min(ts)} for name, ts in times.items() if ts}
    summary["mjml_bytes"] = len(source.encode())
    summary["html_bytes"] = len(mjml_to_html(source).encode())
    if node:
        summary["node_html_bytes"] = node_bytes
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="complete editions to time")
    parser.add_argument("--rounds", type=int, default=30, help="interleaved rounds of render timings")
    args = parser.parse_args()
    python = _python(args.n)
    renders = _renders(args.rounds)
    ours = renders["syndicate"]["median_ms"]
    node = renders.get("node_skip")

    def ratio(key: str) -> float | None:
        return renders[key]["median_ms"] / ours if key in renders else None

    result = {
        "benchmark": "select + compose + render (HTML and text) of one 30-item edition; the same MJML "
        "rendered by syndicate (mjml-python) and by node MJML, interleaved",
        "when": datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "mjml-python": version("mjml-python"), "node_mjml": version_note()},
        "complete_edition": python,
        "renders": renders,
        "speedup": ratio("node_skip"),
        "speedup_vs_node_default_validation": ratio("node_soft"),
        "speedup_mjml2html_alone": (node["median_ms"] / renders["mjml2html"]["median_ms"]) if node else None,
        "targets": {"median_ms_max": TARGET_MS, "speedup_min": TARGET_SPEEDUP},
    }
    result["meets_targets"] = python["median_ms"] <= TARGET_MS and (
        result["speedup"] is None or result["speedup"] >= TARGET_SPEEDUP)
    out = ROOT / "bench" / "results" / "render.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"complete edition (select+compose+render HTML+text): median {python['median_ms']:.2f} ms "
          f"(p90 {python['p90_ms']:.2f}), {python['html_bytes']:,} B HTML, {python['items']} items")
    print(f"render of the same {renders['mjml_bytes']:,} B MJML, {args.rounds} interleaved rounds (median ms):")
    print(f"  syndicate (mjml-python, mj-text passed through) {ours:.2f}   "
          f"mjml2html alone {renders['mjml2html']['median_ms']:.2f}")
    if node:
        print(f"  node MJML {version_note()}: validation skipped {node['median_ms']:.2f}, "
              f"default (soft) {renders['node_soft']['median_ms']:.2f}")
        print(f"ratio: syndicate renders {result['speedup']:.1f}x faster than node MJML with validation skipped "
              f"({result['speedup_vs_node_default_validation']:.1f}x against node's default; "
              f"mjml2html alone {result['speedup_mjml2html_alone']:.1f}x)")
    else:
        print("node MJML not installed: run `npm ci --prefix tools/mjml-validate`")
    print(f"targets (<= {TARGET_MS:g} ms, >= {TARGET_SPEEDUP:g}x): {'met' if result['meets_targets'] else 'MISSED'}")
    print(f"wrote {out.relative_to(ROOT)}")
    return 0 if result["meets_targets"] else 1


def version_note() -> str:
    package = ROOT / "tools" / "mjml-validate" / "node_modules" / "mjml" / "package.json"
    return json.loads(package.read_text())["version"] if package.exists() else "?"


if __name__ == "__main__":
    sys.exit(main())
