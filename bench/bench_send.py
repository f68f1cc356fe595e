"""Benchmark: send one edition to 100,000 active subscribers through the fake SendGrid.

The fake runs in its own process and adds 100 ms to every request (a realistic API round trip).
The sender runs in another process so that its wall time and peak RSS cover exactly "send" to
"all accepted" (plus interpreter start-up, included in the RSS and reported separately as wall).
Baseline: one request per recipient, measured on a sample of sequential requests in the same run
and extrapolated linearly to all recipients (timing 100,000 requests at 100 ms would take ~3 h).

    .venv/bin/python bench/bench_send.py [--subscribers 100000] [--delay 0.1] [--baseline-sample 50]

Writes bench/results/send.json (bench/record.py figures).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import insert  # noqa: E402

from compose.config import Config  # noqa: E402
from state import ledger  # noqa: E402
from state.db import connect  # noqa: E402
from state.models import EditionRow, StaffRow, SubscriberRow, SubscriberStatus  # noqa: E402

sys.path.insert(0, str(REPO / "bench"))
from record import Figure, write  # noqa: E402

KEY = "SG.test-key"
SECRET = "bench-secret"
NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def _config(outbox: Path, concurrency: int) -> Config:
    return Config.model_validate({
        "organisation": {"name": "Bench Org", "site_url": "https://example.org", "postal_address": "1 High St, Town"},
        "edition": {"from_email": "news@example.org", "from_name": "News", "reply_to": "editors@example.org",
                    "public_url": "https://news.example.org"},
        "sections": [{"key": "news", "title": "News"}],
        "email": {"provider": "sendgrid", "outbox_dir": str(outbox), "batch_size": 1000, "concurrency": concurrency},
    })


def _prepare(db_url: str, subscribers: int) -> None:
    db = connect(db_url)
    html = (REPO / "tests" / "golden").glob("*.html")
    body = next(iter(html), None)
    html_text = body.read_text("utf-8") if body else "<p>Hello {{first_name}}</p>" * 500
    with db.session() as session:
        rows = [{"email": f"reader{i}@example.com", "name": f"Reader {i}", "status": SubscriberStatus.ACTIVE,
                 "consent_source": "bench", "created_at": NOW} for i in range(1, subscribers + 1)]
        for start in range(0, len(rows), 10_000):
            session.execute(insert(SubscriberRow), rows[start:start + 10_000])
        edition = EditionRow(slug="bench", title="In Our View", subject="In Our View for {{first_name}}",
                             html=html_text + '<a href="{{unsubscribe_url}}">Unsubscribe</a>',
                             text="Hello {{first_name}}\n{{unsubscribe_url}}", content_hash="h",
                             built_at=NOW - timedelta(hours=1), scheduled_for=NOW)
        session.add(edition)
        session.flush()
        session.add(StaffRow(email="bench@example.org", role="approver", failed_logins=0, created_at=NOW))
        session.flush()
        ledger.approve(session, "edition", edition.id, by="bench@example.org", now=NOW)
    db.dispose()


def _send(db_url: str, fake_url: str, outbox: str, concurrency: int) -> None:
    """In the sender process: time deliver_edition and report wall + peak RSS as JSON."""
    from connectors.channels.sendgrid import SendGridChannel
    from flows.stages.deliver import deliver_edition

    db = connect(db_url)
    started = time.perf_counter()
    summary = deliver_edition(db, _config(Path(outbox), concurrency), now=NOW, edition_id=1, secret_key=SECRET,
                              channel=SendGridChannel(KEY, host=fake_url, timeout_s=30))
    wall = time.perf_counter() - started
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"wall_s": round(wall, 3), "peak_rss_mb": round(rss_mb, 1), "accepted": summary.accepted,
                      "recipients": summary.recipients, "sent": summary.sent, "message": summary.message}))


def _baseline(fake_url: str, sample: int) -> float:
    """Seconds for `sample` sequential one-recipient requests (the naive way)."""
    from connectors.channels.base import OutboundEmail, Recipient
    from connectors.channels.sendgrid import SendGridChannel

    channel = SendGridChannel(KEY, host=fake_url, timeout_s=30)
    message = OutboundEmail(1, "bench", "s", "<p>Hello {{first_name}}</p>", "Hello", "news@example.org", "News",
                            "editors@example.org")
    started = time.perf_counter()
    for i in range(sample):
        channel.send_batch(message, [Recipient(10_000_000 + i, f"b{i}@example.com", "B", "https://x.example/u")])
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--delay", type=float, default=0.1)
    parser.add_argument("--concurrency", type=int, default=16)  # [email] concurrency; 8 gave 11.3 s
    parser.add_argument("--baseline-sample", type=int, default=50)
    parser.add_argument("--_send", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._send:
        db_url, fake_url, outbox, concurrency = args._send
        _send(db_url, fake_url, outbox, int(concurrency))
        return
    with tempfile.TemporaryDirectory() as tmp:
        db_url = f"sqlite:///{tmp}/bench.db"
        _prepare(db_url, args.subscribers)
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
            sample_s = _baseline(fake_url, args.baseline_sample)
        finally:
            fake.terminate()
            fake.wait()
    baseline_s = sample_s / args.baseline_sample * args.subscribers
    details = {
        "what": f"deliver one edition to {args.subscribers} active subscribers via fake SendGrid "
                f"(+{args.delay * 1000:.0f} ms per request), batches of 1000, concurrency {args.concurrency}, SQLite",
        "subscribers": args.subscribers, **result,
        "baseline_one_request_per_recipient": {
            "sample_requests": args.baseline_sample, "sample_wall_s": round(sample_s, 3),
            "note": "sequential, one recipient per request, timed on a sample in this run and extrapolated linearly"},
    }
    write("send", [
        Figure("one_request_per_recipient_s", round(baseline_s, 1), "s"),
        Figure("wall_s", result["wall_s"], "s", target=10, baseline="one_request_per_recipient_s"),
        Figure("peak_rss_mb", result["peak_rss_mb"], "MB", target=300),
    ], details)
    print(json.dumps(details, indent=2))
    print(f"{args.subscribers:,} subscribers: {result['wall_s']} s (target 10), {result['peak_rss_mb']} MB (target 300); "
          f"one request per recipient: {baseline_s:,.0f} s ({baseline_s / result['wall_s']:,.0f}x)")
    if result["accepted"] != args.subscribers:
        raise SystemExit(f"accepted {result['accepted']} of {args.subscribers}")


if __name__ == "__main__":
    main()
