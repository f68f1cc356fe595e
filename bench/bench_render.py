"""Benchmark: select + compose + render one 30-item In Our View edition (HTML and text) with
mjml-python, against rendering the same MJML with the official MJML on node (warm, in-process).

    .venv/bin/python bench/bench_render.py [--n 200]

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
import time
from datetime import datetime, timedelta
from importlib.metadata import version
from pathlib import Path

import mjml

from compose.config import Config
from compose.edition import build_edition
from compose.email import render_email, render_mjml
from compose.models import Item

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = json.loads((ROOT / "tests" / "golden" / "fixture.json").read_text(encoding="utf-8"))
NODE_BENCH = ROOT / "tools" / "mjml-validate" / "bench_node.mjs"
TARGET_MS = 20.0
TARGET_SPEEDUP = 20.0
ITEMS = 30
WARMUP = 10


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


def _mrml_only(n: int) -> dict:
    """mjml2html alone on the same MJML that node renders: the like-for-like comparison."""
    items, config, now = _inputs()
    source = render_mjml(_edition(items, config, now), config=config)
    for _ in range(WARMUP):
        mjml.mjml2html(source)
    times = []
    for _ in range(n):
        start = time.perf_counter()
        mjml.mjml2html(source)
        times.append((time.perf_counter() - start) * 1000)
    return {"n": n, "median_ms": statistics.median(times), "min_ms": min(times)}


def _node(n: int) -> dict | None:
    node = shutil.which("node")
    if node is None or not (ROOT / "tools" / "mjml-validate" / "node_modules" / "mjml").exists():
        return None  # `npm ci --prefix tools/mjml-validate` installs it
    items, config, now = _inputs()
    mjml_source = render_mjml(_edition(items, config, now), config=config)
    out = subprocess.run([node, str(NODE_BENCH), str(n), str(WARMUP)], input=mjml_source, text=True,
                         capture_output=True, check=True, timeout=600)
    return json.loads(out.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    args = parser.parse_args()
    python = _python(args.n)
    mrml = _mrml_only(args.n)
    node = _node(args.n)
    result = {
        "benchmark": "select + compose + render (HTML and text) of one 30-item edition",
        "when": datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "mjml-python": version("mjml-python")},
        "mjml_python": python,
        "mjml_python_render_only": mrml,
        "node_mjml": node,
        "speedup": node["median_ms"] / mrml["median_ms"] if node else None,
        "speedup_whole_edition_vs_node_render": node["median_ms"] / python["median_ms"] if node else None,
        "targets": {"median_ms_max": TARGET_MS, "speedup_min": TARGET_SPEEDUP},
    }
    result["meets_targets"] = python["median_ms"] <= TARGET_MS and (
        result["speedup"] is None or result["speedup"] >= TARGET_SPEEDUP)
    out = ROOT / "bench" / "results" / "render.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"mjml-python (select+compose+render HTML+text): median {python['median_ms']:.2f} ms "
          f"(p90 {python['p90_ms']:.2f}), {python['html_bytes']:,} B HTML, {python['items']} items")
    if node:
        print(f"node MJML {version_note()} (render only, warm): median {node['median_ms']:.2f} ms "
              f"(min {node['min_ms']:.2f}), {node['bytes']:,} B")
        print(f"mjml-python render only, same MJML: median {mrml['median_ms']:.2f} ms")
        print(f"ratio (render vs render): mjml-python is {result['speedup']:.1f}x faster; the whole "
              f"select+compose+render+text is {result['speedup_whole_edition_vs_node_render']:.1f}x faster "
              "than node's render alone")
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
