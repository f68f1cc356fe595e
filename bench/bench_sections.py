"""Benchmark: send one edition to 100,000 readers spread over all 16 combinations of 4 sections.

The edition has stories in every section, so each reader's email carries only the sections they
chose: 15 distinct emails (the whole edition as approved, and 14 narrower ones, each rendered
once), and the readers who chose no section are skipped. As in bench_send.py, the fake SendGrid
runs in its own process with 100 ms per request, and the sender in another, so wall time and
peak RSS cover exactly planning, rendering and sending. Targets: those of bench_send (10 s, 300 MB).

    .venv/bin/python bench/bench_sections.py [--subscribers 100000] [--delay 0.1]

Writes bench/results/sections.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from state.db import connect  # noqa: E402
from tests.helpers.sectioned import NOW, SECTIONS, add_items, add_readers, build_and_approve, sectioned_config  # noqa: E402

sys.path.insert(0, str(REPO / "bench"))
from record import Figure, write  # noqa: E402

KEY = "SG.test-key"
SECRET = "bench-secret"
COMBINATIONS = [list(combo) for size in range(len(SECTIONS) + 1) for combo in itertools.combinations(SECTIONS, size)]


def _prepare(db_url: str, outbox: Path, subscribers: int) -> None:
    db = connect(db_url)
    add_readers(db, [COMBINATIONS[i % len(COMBINATIONS)] for i in range(subscribers)])
    add_items(db, SECTIONS, per_section=3)
    build_and_approve(db, sectioned_config(outbox))
    db.dispose()


def _send(db_url: str, fake_url: str, outbox: str, concurrency: int) -> None:
    """In the sender process: time deliver_edition and report wall + peak RSS as JSON."""
    from sqlalchemy import func, select

    from connectors.channels.sendgrid import SendGridChannel
    from flows.stages.deliver import deliver_edition
    from state.models import DeliveryBatchRow

    db = connect(db_url)
    config = sectioned_config(Path(outbox), provider="sendgrid", batch_size=1000, concurrency=concurrency)
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    summary = deliver_edition(db, config, now=NOW, edition_id=1, secret_key=SECRET,
                              channel=SendGridChannel(KEY, host=fake_url, timeout_s=30))
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)  # fair on a busy machine
    rss_mb = after.ru_maxrss / 1024
    with db.session() as session:
        bodies = session.scalar(select(func.count(func.distinct(func.coalesce(DeliveryBatchRow.sections, "*")))))
        batches = session.scalar(select(func.count()).select_from(DeliveryBatchRow))
    print(json.dumps({"wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "peak_rss_mb": round(rss_mb, 1),
                      "accepted": summary.accepted,
                      "skipped": summary.skipped, "recipients": summary.recipients, "distinct_emails": bodies,
                      "batches": batches, "sent": summary.sent, "message": summary.message}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--delay", type=float, default=0.1)
    parser.add_argument("--concurrency", type=int, default=16)  # as bench_send
    parser.add_argument("--_send", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._send:
        db_url, fake_url, outbox, concurrency = args._send
        _send(db_url, fake_url, outbox, int(concurrency))
        return
    with tempfile.TemporaryDirectory() as tmp:
        db_url = f"sqlite:///{tmp}/bench.db"
        _prepare(db_url, Path(tmp), args.subscribers)
        fake = subprocess.Popen([sys.executable, "-m", "tests.fakes.fake_sendgrid", "--delay", str(args.delay),
                                 "--no-validate"], cwd=REPO, stdout=subprocess.PIPE, text=True)
        try:
            assert fake.stdout is not None
            fake_url = fake.stdout.readline().strip()
            sender = subprocess.run([sys.executable, __file__, "--_send", db_url, fake_url, tmp, str(args.concurrency)],
                                    cwd=REPO, capture_output=True, text=True)
            if sender.returncode:
                raise SystemExit(f"the sender failed (exit {sender.returncode}):\n{sender.stderr[-4000:]}")
            result = json.loads(sender.stdout.strip().splitlines()[-1])
        finally:
            fake.terminate()
            fake.wait()
    expected_skipped = sum(1 for i in range(args.subscribers) if not COMBINATIONS[i % len(COMBINATIONS)])
    details = {
        "what": f"deliver one edition with stories in 4 sections to {args.subscribers} readers spread over all "
                f"{len(COMBINATIONS)} combinations of those sections, via fake SendGrid (+{args.delay * 1000:.0f} ms "
                f"per request), batches of 1000 grouped by section set, concurrency {args.concurrency}, SQLite",
        "subscribers": args.subscribers, **result,
        "expected": {"accepted": args.subscribers - expected_skipped, "skipped (chose no section)": expected_skipped,
                     "distinct_emails": len(COMBINATIONS) - 1},
    }
    write("sections", [
        Figure("wall_s", result["wall_s"], "s", target=10),
        Figure("cpu_s", result["cpu_s"], "s"),
        Figure("peak_rss_mb", result["peak_rss_mb"], "MB", target=300),
    ], details)
    print(json.dumps(details, indent=2))
    if result["accepted"] != args.subscribers - expected_skipped:
        raise SystemExit(f"accepted {result['accepted']}, expected {args.subscribers - expected_skipped}")


if __name__ == "__main__":
    main()
