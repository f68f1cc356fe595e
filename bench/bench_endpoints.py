"""Benchmark: the public endpoints under a constant load, the whole server, on PostgreSQL.

`syndicate web --workers 2` runs as a subprocess (uvicorn, as in production) on a PostgreSQL ledger seeded with
100,000 active subscribers and a sent edition with a delivery to each. An open-loop generator in
this process (`drive`) sends requests at a fixed rate over loopback and measures each latency
from the moment the request was *due*, not from when a connection was free, so a server that
falls behind shows it in the latency (no coordinated omission, as wrk2 does; Debian's wrk and hey
wait for each answer before the next request and replay one body). Every request is different
where the endpoint would otherwise skip the work:

- `health` (the baseline): GET /brand.css, the server's cheapest page;
- `unsubscribe_page`: GET /unsubscribe/<token>, a different subscriber's signed link each time;
- `unsubscribe_post`: the RFC 8058 one-click POST, each to a different subscriber (so each one
  really unsubscribes: the ledger must count as many unsubscribed subscribers as 200 answers);
- `websub`: signed content distribution (X-Hub-Signature, HMAC-SHA256 with the subscription's
  secret) of an Atom feed with one new entry each time (the ledger must store one item per push);
- `webhook`: SendGrid Event Webhook batches of 1,000 events, ECDSA-signed as SendGrid signs
  (P-256 over timestamp + body, key configured in SENDGRID_WEBHOOK_PUBLIC_KEY), each event a new
  `sg_event_id` stamping a delivery (the ledger must store 1,000 provider events per batch). A
  batch is far more work than a click: its rate is its own (`--webhook-rate`).

Target (issue 20): 1,000 requests/s for 60 s each, p99 < 100 ms, no error (non-2xx or timeout).

    .venv/bin/python bench/bench_endpoints.py [--seconds 60] [--rate 1000] [--webhook-rate 5] [--workers 2]

Writes bench/results/endpoints.json (bench/record.py).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(BENCH_DIR))

import web_server  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from record import Figure, write  # noqa: E402
from sqlalchemy import func, insert, select  # noqa: E402

from compose.signing import unsubscribe_tokens  # noqa: E402
from connectors.sources.websub import sign as hub_sign  # noqa: E402
from state.db import connect  # noqa: E402
from state.models import (  # noqa: E402
    DeliveryRow,
    DeliveryStatus,
    EditionRow,
    EditionStatus,
    ItemRow,
    ProviderEventRow,
    SourceRow,
    SubscriberRow,
    SubscriberStatus,
    WebSubSubscriptionRow,
)
from state.websub import PushState  # noqa: E402
from tests.helpers import desk_data  # noqa: E402
from tests.helpers.postgres import ThrowawayPostgres  # noqa: E402
from web.public import SIGNATURE_HEADER, TIMESTAMP_HEADER  # noqa: E402

SECRET = "bench-secret-key-0123456789abcdef"
TARGET_RATE, TARGET_P99_MS = 1000.0, 100.0
EVENTS_PER_BATCH = 1000
CONNECTIONS = 64  # keep-alive connections: at 1,000/s, room for 64 ms per answer before requests queue
TIMEOUT_S = 10.0  # an answer later than this is an error (a timeout)
DRAIN_S = 15.0  # how long the generator waits for the last answers after the last request is due


# --- the load generator ---------------------------------------------------------------------------------


@dataclass
class Load:
    """What one constant-rate run saw: latencies (ms, from when each request was due) and answers."""

    rate: float
    seconds: float
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    timeouts: int = 0
    failures: int = 0  # connection refused or reset, unreadable answer
    elapsed: float = 0.0
    connections: int = 0
    generator_cpu_s: float = 0.0  # this process's CPU time while it drove the load (it shares the machine)

    @property
    def sent(self) -> int:
        return len(self.latencies) + self.timeouts + self.failures

    @property
    def ok(self) -> int:
        return sum(n for status, n in self.statuses.items() if 200 <= status < 300)

    @property
    def errors(self) -> int:
        return self.sent - self.ok

    def percentile(self, pct: float) -> float:
        """Of every request sent: one that timed out counts as the timeout (no answer is no faster)."""
        if not self.sent:
            return 0.0
        ordered = sorted(self.latencies + [TIMEOUT_S * 1000] * (self.timeouts + self.failures))
        return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]

    @property
    def per_s(self) -> float:
        return self.ok / self.elapsed if self.elapsed else 0.0

    def summary(self) -> dict[str, object]:
        return {"rate": self.rate, "seconds": self.seconds, "sent": self.sent, "ok": self.ok,
                "per_s": round(self.per_s, 1), "p50_ms": round(self.percentile(50), 2),
                "p99_ms": round(self.percentile(99), 2), "max_ms": round(max(self.latencies, default=0), 2),
                "statuses": {str(k): v for k, v in sorted(self.statuses.items())}, "timeouts": self.timeouts,
                "failures": self.failures, "connections": self.connections,
                "generator_cpu_s": round(self.generator_cpu_s, 2)}


async def _answer(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one HTTP/1.1 answer (uvicorn always sends Content-Length here); (status, keep-alive)."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length, keep = 0, True
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection" and value.strip().lower() == b"close":
            keep = False
    if length:
        await reader.readexactly(length)
    return status, keep


async def drive(port: int, requests: list[bytes], rate: float, seconds: float, connections: int) -> Load:
    """Send `rate` * `seconds` requests (cycling over `requests`, whole HTTP/1.1 messages) at a
    constant rate over `connections` keep-alive connections. A request is put in a queue when it
    is due, whether or not a connection is free: one that waits is late, and its latency counts
    from when it was due (the generator never slows down for the server)."""
    loop = asyncio.get_running_loop()
    load = Load(rate=rate, seconds=seconds, connections=connections)
    total = int(rate * seconds)
    due_queue: asyncio.Queue[tuple[int, float] | None] = asyncio.Queue()

    async def connection_worker() -> None:
        conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        while (job := await due_queue.get()) is not None:
            i, due = job
            if loop.time() >= due + TIMEOUT_S:  # waited its whole timeout for a connection: never sent
                load.timeouts += 1
                continue
            try:
                async with asyncio.timeout_at(due + TIMEOUT_S):
                    if conn is not None and conn[0].at_eof():  # the server closed it while idle (keep-alive
                        conn[1].close()                        # timeout, 5 s): a client opens a new one
                        conn = None
                    if conn is None:
                        conn = await asyncio.open_connection("127.0.0.1", port)
                    conn[1].write(requests[i % len(requests)])
                    status, keep = await _answer(conn[0])
            except TimeoutError:
                load.timeouts += 1
            except (OSError, asyncio.IncompleteReadError, ValueError):
                load.failures += 1
            else:
                load.latencies.append((loop.time() - due) * 1000)
                load.statuses[status] += 1
                if keep:
                    continue
            if conn is not None:  # after an error or a `Connection: close`: a new connection next time
                conn[1].close()
                conn = None
        if conn is not None:
            conn[1].close()

    workers = [asyncio.create_task(connection_worker()) for _ in range(connections)]
    start = loop.time() + 0.05
    i = 0
    while i < total:
        now = loop.time()
        while i < total and start + i / rate <= now:
            due_queue.put_nowait((i, start + i / rate))
            i += 1
        if i < total:
            await asyncio.sleep(max(0.0, start + i / rate - loop.time()))
    for _ in workers:
        due_queue.put_nowait(None)
    _, late = await asyncio.wait(workers, timeout=DRAIN_S + TIMEOUT_S)
    for task in late:  # still waiting when the run's time is up: each unanswered request is a timeout
        task.cancel()
    load.timeouts += total - load.sent
    load.elapsed = seconds
    return load


def run_load(port: int, requests: list[bytes], rate: float, seconds: float, connections: int = CONNECTIONS) -> Load:
    import uvloop  # uvicorn's own event loop (uvicorn[standard]): the cheapest generator in Python

    cpu = time.process_time()
    load = uvloop.run(drive(port, requests, rate, seconds, connections))
    load.generator_cpu_s = time.process_time() - cpu
    return load


def cpu_seconds(server_pid: int, database: str) -> tuple[float, float]:
    """CPU time (user + system, s) used so far by the server (its process and its workers) and by the
    PostgreSQL backends serving `database` (their process title names it): what a request costs,
    whatever else the machine runs (wall-clock figures on a shared machine are not)."""
    tick = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    used: dict[int, float] = {}
    backends = 0.0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
            title = Path(entry.path, "cmdline").read_bytes()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        pid, cpu = int(entry.name), (int(fields[11]) + int(fields[12])) / tick
        parents[pid], used[pid] = int(fields[1]), cpu
        if title.startswith(b"postgres: ") and f" {database} ".encode() in title:
            backends += cpu
    mine = {server_pid}
    for _ in range(3):  # the server, its workers, and theirs
        mine |= {pid for pid, parent in parents.items() if parent in mine}
    return sum(used[pid] for pid in mine if pid in used), backends


def http(method: str, path: str, *, body: bytes = b"", headers: dict[str, str] | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "User-Agent: bench-endpoints"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


# --- the ledger and the server --------------------------------------------------------------------------


@dataclass(frozen=True)
class Site:
    url: str
    config_file: Path
    edition_id: int
    subscriber_ids: list[int]
    websub_token: str
    websub_secret: str


def prepare(url: str, folder: Path, subscribers: int, now: datetime) -> Site:
    """A ledger with `subscribers` active subscribers, a sent edition delivered to each, and a
    verified WebSub subscription for the `news` source."""
    config_text = desk_data.EXAMPLE_CONFIG.read_text("utf-8").replace(
        'outbox_dir = "outbox"', f'outbox_dir = "{folder / "outbox"}"')
    config_file = folder / "syndicate.toml"
    config_file.write_text(config_text, "utf-8")
    db = connect(url)
    config = desk_data.example_config(folder)
    edition_id = desk_data.seed_edition(db, config, now=now)
    with db.session() as session:
        session.execute(insert(SubscriberRow), [
            {"email": f"reader{n}@example.org", "name": f"Reader {n}", "status": SubscriberStatus.ACTIVE,
             "consent_source": "import:bench", "consent_at": now, "confirmed_at": now, "status_changed_at": now,
             "created_at": now, "tags": []} for n in range(1, subscribers + 1)])
        ids = list(session.scalars(select(SubscriberRow.id).order_by(SubscriberRow.id)))
        session.execute(insert(DeliveryRow), [
            {"edition_id": edition_id, "subscriber_id": sid, "status": DeliveryStatus.ACCEPTED,
             "provider_message_id": f"msg-{sid}", "updated_at": now} for sid in ids])
        row = session.get(EditionRow, edition_id)
        assert row is not None
        row.status, row.sent_at = EditionStatus.SENT, now
        source = session.scalars(select(SourceRow).where(SourceRow.name == "news")).one()
        subscription = WebSubSubscriptionRow(source_id=source.id, hub_url="https://hub.example/", topic_url=source.url,
                                             token="bench-websub-token", secret="bench-websub-secret-0123456789",
                                             state=PushState.VERIFIED, discovered_at=now, verified_at=now,
                                             lease_seconds=864_000, pushes=0, rejected_pushes=0)
        session.add(subscription)
    db.dispose()
    return Site(url, config_file, edition_id, ids, "bench-websub-token", "bench-websub-secret-0123456789")


def start(site: Site, port: int, public_key: str, workers: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SYNDICATE_DATABASE_URL": site.url, "SYNDICATE_SECRET_KEY": SECRET,
           "SENDGRID_WEBHOOK_PUBLIC_KEY": public_key}
    return web_server.start(site.config_file, port, env, site.config_file.parent / "server.log", workers=workers)


def settle(port: int, limit_s: float = 60) -> None:
    """Wait until the server has worked off what an earlier run left queued (abandoned requests are
    still served): its cheapest page answers within 50 ms again, or `limit_s` passed."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        asked = time.monotonic()
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/brand.css", timeout=5).read()
            if time.monotonic() - asked < 0.05:
                return
        except OSError:
            pass
        time.sleep(1)


def server_log(site: Site) -> str:
    return (site.config_file.parent / "server.log").read_text("utf-8", "replace")


def count(url: str, query: Callable[[], object]) -> int:
    db = connect(url)
    try:
        with db.session() as session:
            return int(session.scalar(query()) or 0)  # type: ignore[call-overload]
    finally:
        db.dispose()


# --- the requests ------------------------------------------------------------------------------------------


def unsubscribe_requests(site: Site, method: str, ids: list[int], now: datetime) -> list[bytes]:
    tokens = unsubscribe_tokens(SECRET, edition_id=site.edition_id, subscriber_ids=ids, now=now)
    if method == "GET":
        return [http("GET", f"/unsubscribe/{t}") for t in tokens]
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    return [http("POST", f"/unsubscribe/{t}", body=b"List-Unsubscribe=One-Click", headers=form) for t in tokens]


def websub_requests(site: Site, first: int, count_: int) -> list[bytes]:
    out = []
    for n in range(first, first + count_):
        body = (f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>News</title>'
                f'<id>urn:feed</id><updated>2026-12-07T09:00:00Z</updated><entry><id>urn:bench:{n}</id>'
                f'<title>Pushed story {n}</title><link href="https://www.socitm.net/news/pushed-{n}"/>'
                f'<updated>2026-12-07T09:00:00Z</updated><summary>Summary of pushed story {n}</summary></entry>'
                '</feed>').encode()
        out.append(http("POST", f"/websub/{site.websub_token}", body=body, headers={
            "Content-Type": "application/atom+xml", "X-Hub-Signature": hub_sign(site.websub_secret, body)}))
    return out


def webhook_requests(site: Site, key: ec.EllipticCurvePrivateKey, batches: int, now: datetime) -> list[bytes]:
    """`batches` signed batches of 1,000 new events each (delivered, open, click in turn), over the
    subscribers in order: every event stamps a delivery."""
    kinds = ("delivered", "open", "click")
    stamp = int(now.timestamp())
    timestamp = str(int(time.time()))
    ids = site.subscriber_ids
    out = []
    for b in range(batches):
        events = []
        for j in range(EVENTS_PER_BATCH):
            n = b * EVENTS_PER_BATCH + j
            sid = ids[n % len(ids)]
            events.append({"email": f"reader{sid}@example.org", "timestamp": stamp, "event": kinds[(n // len(ids)) % 3],
                           "sg_event_id": f"bench-{n}", "sg_message_id": f"msg-{sid}",
                           "edition_id": str(site.edition_id), "subscriber_id": str(sid)})
        body = json.dumps(events).encode()
        signature = base64.b64encode(key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))).decode()
        out.append(http("POST", "/webhooks/sendgrid", body=body, headers={
            "Content-Type": "application/json", SIGNATURE_HEADER: signature, TIMESTAMP_HEADER: timestamp}))
    return out


# --- the run -------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60, help="how long each endpoint is loaded")
    parser.add_argument("--rate", type=float, default=TARGET_RATE, help="requests a second")
    parser.add_argument("--webhook-rate", type=float, default=5, help="webhook batches (of 1,000 events) a second")
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2, help="`syndicate web --workers` (2: one a core)")
    parser.add_argument("--only", default="", help="comma-separated endpoints to load (default all; a partial "
                        "run is printed, not recorded)")
    args = parser.parse_args()
    needed = int(args.rate * args.seconds)
    if needed > args.subscribers and (not args.only or "unsubscribe_post" in args.only.split(",")):
        raise SystemExit(f"--rate x --seconds ({needed:,}) one-click unsubscribes need as many subscribers: "
                         f"raise --subscribers to at least {needed:,}")
    key = ec.generate_private_key(ec.SECP256R1())
    public_key = base64.b64encode(key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode()
    now = datetime.now(UTC).replace(microsecond=0)
    postgres = ThrowawayPostgres()
    runs: dict[str, dict[str, object]] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            started = time.monotonic()
            database = postgres.create("syndicate_bench")
            site = prepare(postgres.url(database), Path(tmp), args.subscribers, now)
            print(f"seeded {args.subscribers:,} subscribers in {time.monotonic() - started:.0f} s", flush=True)
            port = web_server.free_port()
            server = start(site, port, public_key, args.workers)
            try:
                ids = (site.subscriber_ids * (needed // len(site.subscriber_ids) + 1))[:needed]  # repeated when fewer (only the one-click POST needs a reader each)
                plan: list[tuple[str, list[bytes], float]] = [
                    ("health", [http("GET", "/brand.css")], args.rate),
                    ("unsubscribe_page", unsubscribe_requests(site, "GET", ids[:needed], now), args.rate),
                    ("unsubscribe_post", unsubscribe_requests(site, "POST", ids[:needed], now), args.rate),
                    ("websub", websub_requests(site, 1, needed), args.rate),
                ]
                only = set(filter(None, args.only.split(","))) or {*(name for name, _, _ in plan), "webhook"}
                for name, requests, rate in plan:
                    if name not in only:
                        continue
                    settle(port)
                    before = cpu_seconds(server.pid, database)
                    load = run_load(port, requests, rate, args.seconds)
                    runs[name] = load.summary() | _cpu_per_request(before, cpu_seconds(server.pid, database), load)
                    print(name, json.dumps(runs[name]), flush=True)
                    del requests
                if "webhook" in only:
                    settle(port)
                    batches = max(1, int(args.webhook_rate * args.seconds))
                    requests = webhook_requests(site, key, batches, now)
                    before = cpu_seconds(server.pid, database)
                    load = run_load(port, requests, args.webhook_rate, args.seconds)
                    runs["webhook"] = load.summary() | _cpu_per_request(before, cpu_seconds(server.pid, database), load)
                    print("webhook", json.dumps(runs["webhook"]), flush=True)
            finally:
                web_server.stop(server)
                log = server_log(site).splitlines()
                errors = Counter(line[:200] for line in log if line and not line.startswith((" ", "INFO", "Traceback"))
                                 and "Error" in line)
                if errors:
                    print(f"the server logged {sum(errors.values())} errors:", flush=True)
                    for line, n in errors.most_common(5):
                        print(f"  {n} x {line}", flush=True)
            ledger(site, runs)
    finally:
        postgres.drop_all()
    if set(runs) == {"health", "unsubscribe_page", "unsubscribe_post", "websub", "webhook"}:
        report(runs, args)
    else:
        for name, run in runs.items():
            print(name, {k: v for k, v in run.items() if k.startswith("ledger_")})


def _cpu_per_request(before: tuple[float, float], after: tuple[float, float], load: Load) -> dict[str, float]:
    """The server's and PostgreSQL's CPU time during a run, a request sent (ms); requests that
    timed out were most often served too, so this is per request sent, not per answer."""
    sent = max(1, load.sent)
    return {"server_cpu_ms": round((after[0] - before[0]) * 1000 / sent, 3),
            "postgres_cpu_ms": round((after[1] - before[1]) * 1000 / sent, 3)}


def ledger(site: Site, runs: dict[str, dict[str, object]]) -> None:
    """What the ledger holds after the runs, and whether every 2xx answer is in it (requests that
    timed out may have been done too)."""
    if "unsubscribe_post" in runs:
        runs["unsubscribe_post"]["ledger_unsubscribed"] = count(site.url, lambda: select(func.count()).where(
            SubscriberRow.status == SubscriberStatus.UNSUBSCRIBED))
    if "websub" in runs:
        runs["websub"]["ledger_items"] = count(site.url, lambda: select(func.count()).where(
            ItemRow.url.like("https://www.socitm.net/news/pushed-%")))
        runs["websub"]["ledger_pushes"] = count(site.url, lambda: select(WebSubSubscriptionRow.pushes))
    if "webhook" in runs:
        runs["webhook"]["ledger_events"] = count(site.url, lambda: select(func.count(ProviderEventRow.id)))
    for name, what, per in (("unsubscribe_post", "ledger_unsubscribed", 1), ("websub", "ledger_items", 1),
                            ("webhook", "ledger_events", EVENTS_PER_BATCH)):
        if name in runs:
            runs[name]["ledger_missing"] = max(0, int(runs[name]["ok"]) * per - int(runs[name][what]))  # type: ignore[call-overload]


def report(runs: dict[str, dict[str, object]], args: argparse.Namespace) -> None:
    figures: list[Figure] = []
    for name, run in runs.items():
        figures.append(Figure(f"{name}_per_s", float(run["per_s"]), "requests/s", better="higher",  # type: ignore[arg-type]
                              target=TARGET_RATE))
        figures.append(Figure(f"{name}_p99_ms", float(run["p99_ms"]), "ms", target=TARGET_P99_MS,  # type: ignore[arg-type]
                              baseline="health_p99_ms" if name != "health" else None))
        figures.append(Figure(f"{name}_errors", float(run["sent"]) - float(run["ok"]), "requests",  # type: ignore[arg-type]
                              target=0))
        figures.append(Figure(f"{name}_server_cpu_ms", float(run["server_cpu_ms"]), "ms",  # type: ignore[arg-type]
                              baseline="health_server_cpu_ms" if name != "health" else None))
        if "ledger_missing" in run:
            figures.append(Figure(f"{name}_ledger_missing", float(run["ledger_missing"]), "records",  # type: ignore[arg-type]
                                  target=0))
    webhook = runs["webhook"]
    figures.append(Figure("webhook_events_per_s", float(webhook["per_s"]) * EVENTS_PER_BATCH, "events/s",  # type: ignore[arg-type]
                          better="higher", target=TARGET_RATE * EVENTS_PER_BATCH))
    write("endpoints", figures, {"seconds": args.seconds, "rate": args.rate, "webhook_rate": args.webhook_rate,
                                 "subscribers": args.subscribers, "workers": args.workers, "runs": runs})
    print(f"{'endpoint':<18}{'sent/s':>8}{'ok/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}{'cpu ms':>8}{'pg ms':>7}"
          "  ledger")
    for name, run in runs.items():
        ledger = ", ".join(f"{k[7:]}={v}" for k, v in run.items() if k.startswith("ledger_"))
        print(f"{name:<18}{float(run['rate']):>8.0f}{float(run['per_s']):>9.1f}{float(run['p50_ms']):>9.1f}"  # type: ignore[arg-type]
              f"{float(run['p99_ms']):>9.1f}{int(run['sent']) - int(run['ok']):>8}{float(run['server_cpu_ms']):>8.2f}"  # type: ignore[arg-type,call-overload]
              f"{float(run['postgres_cpu_ms']):>7.2f}  {ledger}"[:100])  # type: ignore[arg-type]
    print(f"target: {TARGET_RATE:.0f}/s each for 60 s, p99 < {TARGET_P99_MS:.0f} ms, no error; "
          f"webhook: batches of {EVENTS_PER_BATCH:,} events")


if __name__ == "__main__":
    main()
