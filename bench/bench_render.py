"""Benchmark: select + compose + render one 30-item In Our View edition (HTML and text) with
mjml-python, against rendering the same MJML with the official MJML on node (warm, in-process).

    .venv/bin/python bench/bench_render.py [--n 200] [--rounds 80]

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
sys.path.insert(0, str(ROOT / "bench"))
from record import Figure, write  # noqa: E402

FIXTURE = json.loads((ROOT / "tests" / "golden" / "fixture.json").read_text(encoding="utf-8"))
NODE_BENCH = ROOT / "tools" / "mjml-validate" / "bench_node.mjs"
TARGET_MS = 20.0
TARGET_SPEEDUP = 20.0
ITEMS = 30
WARMUP = 10
ROUNDS = 80
PY_PER_ROUND = 20  # about as long as the node renders of a round: a round lasts about 0.15 s
NODE_PER_ROUND = 2


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


def _renders(rounds: int) -> dict:
    """The same MJML rendered by syndicate's renderer (mjml-python, mj-text passed through),
    by mjml2html alone, and by node MJML (validation skipped, and at its default, soft), in
    `rounds` short rounds of each in turn; the ratios are taken round by round.

    This machine runs at two speeds, switching every few seconds (the same call takes 1.2 ms,
    then 2.2 ms). Timing one renderer and then the other compares two speeds, and a median
    over samples of both speeds jumps between them as their shares cross one half. A round
    lasts about 0.15 s, so both sides of one round ran at the same speed: the median of the
    per-round ratios is the comparison, the pooled figures are shown beside it."""
    items, config, now = _inputs()
    source = render_mjml(_edition(items, config, now), config=config)
    python = {"syndicate": lambda: mjml_to_html(source), "mjml2html": lambda: mjml.mjml2html(source)}
    for render in python.values():
        for _ in range(WARMUP):
            render()
    names = (*python, "node_skip", "node_soft")
    pooled: dict[str, list[float]] = {name: [] for name in names}
    per_round: dict[str, list[float]] = {name: [] for name in names}  # each round's median
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
                times = []
                for _ in range(PY_PER_ROUND):
                    start = time.perf_counter()
                    render()
                    times.append((time.perf_counter() - start) * 1000)
                pooled[name] += times
                per_round[name].append(statistics.median(times))
            for level in ("skip", "soft") if node else ():
                node.stdin.write(f"{level} {NODE_PER_ROUND}\n")  # type: ignore[union-attr]
                node.stdin.flush()  # type: ignore[union-attr]
                times = json.loads(node.stdout.readline())  # type: ignore[union-attr]
                pooled[f"node_{level}"] += times
                per_round[f"node_{level}"].append(statistics.median(times))
    finally:
        if node:
            node.stdin.close()  # type: ignore[union-attr]
            node.wait(timeout=60)
            Path(file.name).unlink()
    summary: dict = {name: {"n": len(ts), "median_ms": statistics.median(ts), "mean_ms": statistics.fmean(ts),
                            "min_ms": min(ts)} for name, ts in pooled.items() if ts}
    summary["ratios"] = {}
    for slow, fast in (("node_skip", "syndicate"), ("node_soft", "syndicate"), ("node_skip", "mjml2html")):
        if per_round[slow]:
            ratios = sorted(a / b for a, b in zip(per_round[slow], per_round[fast], strict=True))
            summary["ratios"][f"{slow}/{fast}"] = {
                "median": statistics.median(ratios), "p25": ratios[len(ratios) // 4],
                "p75": ratios[3 * len(ratios) // 4], "rounds": len(ratios),
                "pooled_medians": summary[slow]["median_ms"] / summary[fast]["median_ms"]}
    summary["mjml_bytes"] = len(source.encode())
    summary["html_bytes"] = len(mjml_to_html(source).encode())
    if node:
        summary["node_html_bytes"] = node_bytes
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="complete editions to time")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="rounds of render timings")
    args = parser.parse_args()
    python = _python(args.n)
    renders = _renders(args.rounds)
    ratios = renders["ratios"]
    result = {
        "benchmark": "select + compose + render (HTML and text) of one 30-item edition; the same MJML "
        "rendered by syndicate (mjml-python) and by node MJML, in alternating rounds",
        "when": datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "mjml-python": version("mjml-python"), "node_mjml": version_note()},
        "complete_edition": python,
        "renders": renders,
        "speedup": ratios["node_skip/syndicate"]["median"] if ratios else None,
        "targets": {"median_ms_max": TARGET_MS, "speedup_min": TARGET_SPEEDUP},
    }
    result["meets_targets"] = python["median_ms"] <= TARGET_MS and (
        result["speedup"] is None or result["speedup"] >= TARGET_SPEEDUP)
    figures = [Figure("edition_ms", python["median_ms"], "ms", target=TARGET_MS)]
    if ratios:
        figures += [Figure("node_mjml_ms", renders["node_skip"]["median_ms"], "ms"),
                    Figure("render_ms", renders["syndicate"]["median_ms"], "ms", baseline="node_mjml_ms"),
                    Figure("speedup_vs_node", result["speedup"], "x", better="higher", target=TARGET_SPEEDUP)]
    out = write("render", figures, result)
    print(f"complete edition (select+compose+render HTML+text): median {python['median_ms']:.2f} ms "
          f"(p90 {python['p90_ms']:.2f}), {python['html_bytes']:,} B HTML, {python['items']} items")
    print(f"render of the same {renders['mjml_bytes']:,} B MJML, {args.rounds} rounds, median ms:")
    print(f"  syndicate (mjml-python, mj-text passed through) {renders['syndicate']['median_ms']:.2f}, "
          f"mjml2html alone {renders['mjml2html']['median_ms']:.2f}")
    if ratios:
        print(f"  node MJML {version_note()}: validation skipped {renders['node_skip']['median_ms']:.2f}, "
              f"default (soft) {renders['node_soft']['median_ms']:.2f}")
        for key, label in (("node_skip/syndicate", "syndicate against node, validation skipped (the target)"),
                           ("node_soft/syndicate", "syndicate against node at its default (soft)"),
                           ("node_skip/mjml2html", "mjml2html alone against node, validation skipped")):
            r = ratios[key]
            print(f"ratio, {label}: {r['median']:.1f}x (rounds p25-p75 {r['p25']:.1f}-{r['p75']:.1f}x; "
                  f"pooled medians {r['pooled_medians']:.1f}x)")
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
