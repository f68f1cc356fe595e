"""A big ledger stays fast: `edition build`, `status` and every desk page on 1,000,000 items and
100,000 subscribers, on SQLite and on PostgreSQL (issue 20, point 2).

The ledger is written in bulk (executemany on SQLite, COPY on PostgreSQL) with a realistic spread:
60 sources over three sections, items over two years, a sent edition a week with its items, its
roundup and item threads and their posts, approvals, 100,000 subscribers in every status, the last
four editions delivered to every active subscriber (batches, deliveries, opens, clicks), per-edition
counters and clicks, events (nearly all relayed), the audit log and subscriber changes.

Then, in-process (query costs; the cost of starting a process is bench_startup's):
- `edition build`: the stage `syndicate edition build` runs (`build_edition_and_threads`), rolled
  back after each run, median and p95 (target 200 ms);
- `status`: `state.status_report.status_report`, what `syndicate status` shows (target 0.5 s);
- every desk page the app serves (listed from its routes, so a new page is measured too), through
  starlette's TestClient with a signed-in admin, p95 (target 100 ms).

Each figure's baseline is the same measurement on a small ledger (the same shape, 2,000 items and
200 subscribers) in the same run: the ratio is the cost of size. Link cards are off in the config
(checking them fetches the items' pages from the network, which a benchmark must not do).

    .venv/bin/python bench/bench_ledger.py [--items 1000000] [--subscribers 100000] [--requests 20]

Writes bench/results/ledger.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(BENCH_DIR))

from record import Figure, write  # noqa: E402
from sqlalchemy import text  # noqa: E402

from compose.config import Config  # noqa: E402
from flows.settings import parse_config  # noqa: E402
from state.db import Database, connect  # noqa: E402

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)  # a Monday morning
SECRET = "bench-secret-key-0123456789abcdef"
ADMIN = "admin@socitm.example"
SECTIONS = ("news", "blogs", "publications")
SOURCES = 60
WEEKS = 104  # two years of weekly editions, all sent
DELIVERED = 4  # the last editions with a delivery row per active subscriber
SMALL = {"items": 2_000, "subscribers": 200}
QUERIES = {"/desk/api/count": "?network=x&text=In+Our+View"}  # pages that need a query to answer
EXPORTS = {"/desk/subscribers.csv"}  # downloads of every row: timed, no page target
TARGETS = {"build": 200.0, "status": 500.0, "page": 100.0}


# --- the config ---------------------------------------------------------------------------------


def bench_config(folder: Path) -> tuple[Config, str]:
    """The example organisation with 60 sources, link cards off (no network), the outbox in `folder`."""
    text_ = (REPO / "examples" / "syndicate.toml").read_text("utf-8")
    text_ = text_.replace('outbox_dir = "outbox"', f'outbox_dir = "{folder / "outbox"}"')
    text_ = text_.replace("[social.x]\n", "[social.x]\ncards = false\n", 1)
    extra = "".join(f'\n[[sources]]\nname = "source-{n:02d}"\nkind = "feed"\n'
                    f'url = "http://127.0.0.1:9/source-{n:02d}/feed.xml"\nsection = "{SECTIONS[n % 3]}"\n'
                    for n in range(4, SOURCES + 1))
    text_ = text_.replace("\n[email]\n", extra + "\n[email]\n", 1)
    return parse_config(text_, origin="bench"), text_


def source_names(config: Config) -> list[tuple[str, str]]:
    return [(source.name, source.section) for source in config.sources]


# --- writing the ledger in bulk -----------------------------------------------------------------


def _sqlite_value(value: object) -> object:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


def _bulk(db: Database, table: str, columns: Sequence[str], rows: Iterable[tuple[Any, ...]]) -> int:
    """Write `rows` into `table`: executemany in chunks on SQLite, COPY on PostgreSQL."""
    raw = db.engine.raw_connection()
    count = 0
    try:
        cursor = raw.cursor()
        if db.is_sqlite:
            sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
            chunk: list[tuple[Any, ...]] = []
            for row in rows:
                chunk.append(tuple(_sqlite_value(v) for v in row))
                if len(chunk) >= 20_000:
                    cursor.executemany(sql, chunk)
                    count += len(chunk)
                    chunk.clear()
            cursor.executemany(sql, chunk)
            count += len(chunk)
        else:
            with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for row in rows:
                    copy.write_row(row)
                    count += 1
        raw.commit()
    finally:
        raw.close()
    return count


def _spread(n: int, total: int, start: datetime, end: datetime) -> datetime:
    return start + (end - start) * (n / max(total, 1))


def fill(db: Database, config: Config, *, items: int, subscribers: int) -> dict[str, int]:
    """A ledger of `items` items and `subscribers` subscribers, with two years of sent editions."""
    from state.staff import add_staff, set_password

    start, end = NOW - timedelta(days=7 * WEEKS), NOW - timedelta(hours=1)
    sources = source_names(config)
    counts: dict[str, int] = {}
    failing = {len(sources) - 1, len(sources) - 2}
    counts["sources"] = _bulk(db, "sources", (
        "id", "name", "kind", "url", "section", "first_gathered_at", "last_attempt_at", "last_success_at",
        "last_error", "last_error_hint", "last_error_at", "consecutive_failures", "last_status", "last_bytes",
        "last_elapsed_ms", "last_items_new", "last_items_updated"), (
        (n + 1, name, "feed", f"http://127.0.0.1:9/{name}/feed.xml", section, start, end, end - timedelta(hours=2 * (n in failing)),
         "HTTP 503" if n in failing else None, "try again later" if n in failing else None,
         end if n in failing else None, 3 if n in failing else 0, 503 if n in failing else 200, 40_000, 120.0, 2, 0)
        for n, (name, section) in enumerate(sources)))

    def item_rows() -> Iterator[tuple[Any, ...]]:
        for n in range(1, items + 1):
            source = n % len(sources)
            section = sources[source][1]
            published = _spread(n, items, start, end)
            url = f"https://www.socitm.net/{section}/{n}-digital-leaders-briefing"
            yield (n, url, url, None, f"Digital leaders briefing {n}", f"<p>What happened in week {n // 1000}.</p>",
                   f"What happened in week {n // 1000}.", None, None, None, section, source + 1, f"{n:064x}",
                   published, published + timedelta(minutes=10), None, 1, n % 200 == 0)
    counts["items"] = _bulk(db, "items", (
        "id", "key", "url", "guid", "title", "summary_html", "summary_text", "image_url", "image_alt", "author",
        "section", "source_id", "content_hash", "published_at", "first_seen_at", "updated_at", "revision",
        "backlog"), item_rows())

    html = "<html><body>" + "<p>In Our View, this week.</p>" * 1_500 + "</body></html>"
    week_items = max(items // WEEKS, 1)

    def built(week: int) -> datetime:  # week 1 is the oldest; WEEKS the one built a week ago
        return NOW - timedelta(days=7 * (WEEKS - week + 1))

    counts["editions"] = _bulk(db, "editions", (
        "id", "slug", "title", "status", "subject", "preheader", "intro_markdown", "html", "text", "content_hash",
        "html_bytes", "warnings", "scheduled_for", "built_at", "sent_at"), (
        (w, f"in-our-view-{w}", f"In Our View {w}", "sent", f"In Our View #{w}", "This week", "", html, "text",
         f"{w:064x}", len(html), "[]", built(w) + timedelta(days=2), built(w), built(w) + timedelta(days=2))
        for w in range(1, WEEKS + 1)))
    counts["edition_items"] = _bulk(db, "edition_items", (
        "edition_id", "item_id", "section", "section_position", "position"), (
        (w, item, SECTIONS[k % 3], k % 3, k // 3)
        for w in range(1, WEEKS + 1)
        for k, item in enumerate(range(max((w - 1) * week_items, 1), min((w - 1) * week_items + 20, items + 1)))))
    counts["edition_counters"] = _bulk(db, "edition_counters", (
        "edition_id", "delivered", "bounced", "blocked", "dropped", "deferred", "complaints", "unsubscribes", "opened",
        "clicked", "recipients", "accepted", "failed", "ambiguous", "skipped", "pending", "settled_at", "updated_at"), (
        (w, subscribers * 88 // 100, subscribers // 100, 0, 0, 0, subscribers // 5000, subscribers // 1000,
         subscribers * 3 // 10, subscribers // 20, subscribers * 9 // 10, subscribers * 89 // 100, subscribers // 100,
         0, 0, 0, built(w) + timedelta(days=2), built(w) + timedelta(days=3)) for w in range(1, WEEKS + 1)))
    counts["clicks"] = _bulk(db, "clicks", ("edition_id", "item_id", "link", "url", "clicks", "first_at", "last_at"), (
        (w, item, f"item:{item}", f"https://www.socitm.net/news/{item}", 10 + item % 50, built(w) + timedelta(days=2),
         built(w) + timedelta(days=5))
        for w in range(1, WEEKS + 1)
        for item in range(max((w - 1) * week_items, 1), min((w - 1) * week_items + 20, items + 1))))

    # threads: a roundup per edition, and an item thread for one item in fifty; a few waiting or failed
    thread_count = WEEKS + items // 50

    def thread_rows() -> Iterator[tuple[Any, ...]]:
        for t in range(1, thread_count + 1):
            if t <= WEEKS:
                kind, key, item, edition, at = "roundup", f"edition:{t}", None, t, built(t)
            else:
                item = (t - WEEKS) * 50
                kind, key, edition, at = "item", f"item:{item}", None, _spread(item, items, start, end)
            status = "draft" if t > thread_count - 5 else ("failed" if t % 997 == 0 else "published")
            yield (t, "x", key, kind, item, edition, status, f"{t:064x}", at, at, None if status != "published" else at,
                   "the network refused it" if status == "failed" else None)
    counts["threads"] = _bulk(db, "threads", (
        "id", "network", "key", "kind", "item_id", "edition_id", "status", "content_hash", "scheduled_for", "created_at",
        "published_at", "error"), thread_rows())
    counts["posts"] = _bulk(db, "posts", ("thread_id", "position", "text", "status", "attempts", "posted_at"), (
        (t, p, f"Post {p} of thread {t}", "pending" if t > thread_count - 5 else "posted", 1, None)
        for t in range(1, thread_count + 1) for p in range(3)))
    counts["approvals"] = _bulk(db, "approvals", (
        "subject_kind", "subject_id", "content_hash", "decision", "by", "at"), (
        (kind, n, f"{n:064x}", "approved", ADMIN, NOW - timedelta(days=1))
        for kind, total in (("edition", WEEKS), ("thread", thread_count - 5)) for n in range(1, total + 1)))

    statuses = ["active"] * 90 + ["unsubscribed"] * 5 + ["bounced"] * 2 + ["complained"] + ["pending"] * 2

    def subscriber_rows() -> Iterator[tuple[Any, ...]]:
        for n in range(1, subscribers + 1):
            joined = _spread(n, subscribers, start, end)
            yield (n, f"reader{n}@example.org", f"Reader {n}", statuses[n % 100], "import:bench", joined,
                   joined, joined, joined, "[]")
    counts["subscribers"] = _bulk(db, "subscribers", (
        "id", "email", "name", "status", "consent_source", "consent_at", "confirmed_at", "status_changed_at",
        "created_at", "tags"), subscriber_rows())
    active = [n for n in range(1, subscribers + 1) if statuses[n % 100] == "active"]
    delivered = range(WEEKS - DELIVERED + 1, WEEKS + 1)
    batches = (len(active) + 999) // 1000
    counts["delivery_batches"] = _bulk(db, "delivery_batches", (
        "id", "edition_id", "channel", "status", "size", "attempts", "created_at", "updated_at"), (
        ((w - delivered.start) * batches + b + 1, w, "email", "accepted", 1000, 1, built(w), built(w))
        for w in delivered for b in range(batches)))

    def delivery_rows() -> Iterator[tuple[Any, ...]]:
        for w in delivered:
            sent = built(w) + timedelta(days=2)
            for k, n in enumerate(active):
                yield (w, n, (w - delivered.start) * batches + k // 1000 + 1, "accepted", f"msg-{w}-{n}", sent,
                       sent if n % 10 < 3 else None, sent if n % 20 == 0 else None, sent)
    counts["deliveries"] = _bulk(db, "deliveries", (
        "edition_id", "subscriber_id", "batch_id", "status", "provider_message_id", "delivered_at", "opened_at",
        "clicked_at", "updated_at"), delivery_rows())
    counts["reader_opens"] = _bulk(db, "reader_opens", (
        "edition_id", "subscriber_id", "opens", "first_at", "last_at"), (
        (w, n, 1, built(w) + timedelta(days=2), built(w) + timedelta(days=2))
        for w in delivered for n in active if n % 10 < 3))
    counts["reader_clicks"] = _bulk(db, "reader_clicks", (
        "edition_id", "link", "subscriber_id", "clicks", "first_at", "last_at"), (
        (w, f"item:{max((w - 1) * week_items, 1)}", n, 1, built(w) + timedelta(days=2), built(w) + timedelta(days=2))
        for w in delivered for n in active if n % 20 == 0))
    events = items // 2
    counts["events"] = _bulk(db, "events", (
        "name", "resource_id", "payload", "occurred_at", "relayed_at", "relay_attempts"), (
        ("syndicate.item.discovered", f"syndicate.item.{n * 2}", json.dumps({"id": n * 2}),
         _spread(n, events, start, end), None if n > events - 50 else _spread(n, events, start, end), 0)
        for n in range(1, events + 1)))
    counts["audit_log"] = _bulk(db, "audit_log", ("at", "actor", "action", "subject_kind", "subject_id", "detail"), (
        (_spread(n, 20_000, start, end), ADMIN, "approve", "thread", n, "{}") for n in range(1, 20_001)))
    counts["subscriber_changes"] = _bulk(db, "subscriber_changes", (
        "subscriber_id", "at", "door", "field", "old", "new", "by"), (
        (n, _spread(n, subscribers, start, end), "preferences", "sections", "null", '["news"]', None)
        for n in range(1, subscribers + 1, 2)))
    if not db.is_sqlite:
        with db.engine.connect() as connection:
            for table in counts:  # each table's id sequence past the ids written by hand
                connection.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                        f"(SELECT max(id) FROM {table}))")) if table != "edition_counters" else None
            connection.commit()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("ANALYZE"))  # what autovacuum does after a bulk load
    with db.session() as session:
        _, token = add_staff(session, ADMIN, "admin", now=NOW - timedelta(days=700))
        set_password(session, token, "correct horse battery staple", now=NOW - timedelta(days=700))
    return counts


# --- measuring ----------------------------------------------------------------------------------


def _ms(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def _p95(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]


def time_build(db: Database, config: Config, runs: int) -> list[float]:
    """`syndicate edition build`'s stage, each run rolled back so the next builds the same edition."""
    from flows.stages.edition import build_edition_and_threads

    times = []
    for _ in range(runs + 1):
        with db.sessions() as session:
            started = time.perf_counter()
            built = build_edition_and_threads(session, config, now=NOW, by="syndicate")
            session.flush()
            times.append((time.perf_counter() - started) * 1000)
            session.rollback()
        if not built["built"]:
            raise RuntimeError(f"the bench ledger built no edition: {built['reason']}")
    return times[1:]  # the first warms the caches (templates, compiled queries)


def time_status(db: Database, config: Config, runs: int) -> list[float]:
    from state.status_report import status_report

    times = []
    for _ in range(runs + 1):
        with db.sessions() as session:
            times.append(_ms(lambda s=session: status_report(s, config, now=NOW)))  # type: ignore[misc]
    return times[1:]


def desk_paths(ids: dict[str, list[str]]) -> list[str]:
    """Every GET page under /desk, each placeholder filled with a real id (or every chart's name):
    a page with a placeholder this bench does not know fails the bench instead of going unmeasured."""
    import re

    from web.app import ROUTERS

    paths = []
    for route in (route for module in ROUTERS for route in module.router.routes):
        path = getattr(route, "path", "")
        if not path.startswith("/desk") or "GET" not in (getattr(route, "methods", None) or ()):
            continue
        filled = [path]
        for name in re.findall(r"{(\w+)}", path):
            key = f"{path.split('/charts/')[0]}:name" if name == "name" else name
            if key not in ids:
                raise RuntimeError(f"bench_ledger does not know what to put in {{{name}}} of {path}: add it to desk_ids")
            filled = [p.replace(f"{{{name}}}", value) for p in filled for value in ids[key]]
        paths += [p + QUERIES.get(path, "") for p in filled]
    return paths


def desk_ids(subscribers: int) -> dict[str, list[str]]:
    from web.reports import EDITION_CHARTS, TREND_CHARTS

    return {"edition_id": [str(WEEKS)], "subscriber_id": [str(max(subscribers // 2, 1))],
            "/desk/reports:name": list(TREND_CHARTS),
            "/desk/reports/editions/{edition_id}:name": list(EDITION_CHARTS)}


def time_pages(db: Database, config: Config, subscribers: int, requests: int) -> dict[str, list[float]]:
    from fastapi.testclient import TestClient

    from web.app import create_app

    app = create_app(config=config, db=db, secret_key=SECRET, now=lambda: NOW)
    times: dict[str, list[float]] = {}
    with TestClient(app, base_url="http://127.0.0.1") as client:
        login = client.get("/login")
        token = login.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        signed = client.post("/login", data={"csrf_token": token, "email": ADMIN, "password": "correct horse battery staple",
                                             "next": "/desk"}, follow_redirects=False)
        if signed.status_code != 303:
            raise RuntimeError(f"signing in failed: {signed.status_code}")
        for path in desk_paths(desk_ids(subscribers)):
            first = client.get(path)
            if first.status_code != 200:
                raise RuntimeError(f"{path} answered {first.status_code}: {first.text[:300]}")
            times[path] = [_ms(lambda p=path: client.get(p)) for _ in range(requests)]  # type: ignore[misc]
    return times


def measure(db: Database, config: Config, *, subscribers: int, builds: int, requests: int) -> dict[str, Any]:
    return {"build": time_build(db, config, builds), "status": time_status(db, config, max(builds // 2, 3)),
            "pages": time_pages(db, config, subscribers, requests)}


# --- the run ------------------------------------------------------------------------------------


def _ledger(url: str, config: Config, items: int, subscribers: int) -> tuple[Database, dict[str, int], float]:
    db = connect(url)
    started = time.perf_counter()
    counts = fill(db, config, items=items, subscribers=subscribers)
    return db, counts, time.perf_counter() - started


def run(backend: str, url_for: Callable[[str], str], config: Config, args: argparse.Namespace
        ) -> tuple[list[Figure], dict[str, Any]]:
    results = {}
    details: dict[str, Any] = {}
    for size, scale in (("small", SMALL), ("big", {"items": args.items, "subscribers": args.subscribers})):
        db, counts, seconds = _ledger(url_for(size), config, scale["items"], scale["subscribers"])
        print(f"{backend} {size}: wrote {sum(counts.values()):,} rows in {seconds:.1f} s", flush=True)
        try:
            results[size] = measure(db, config, subscribers=scale["subscribers"], builds=args.builds,
                                    requests=args.requests)
        finally:
            db.dispose()
        details[f"{size}_rows"] = counts
        details[f"{size}_fill_s"] = round(seconds, 1)
    figures: list[Figure] = []

    def add(name: str, big: float, small: float, target: float | None) -> None:
        figures.append(Figure(f"{backend}_{name}_small", round(small, 2), "ms"))
        figures.append(Figure(f"{backend}_{name}", round(big, 2), "ms", target=target,
                              baseline=f"{backend}_{name}_small"))

    add("edition_build_median", statistics.median(results["big"]["build"]), statistics.median(results["small"]["build"]),
        TARGETS["build"])
    add("edition_build_p95", _p95(results["big"]["build"]), _p95(results["small"]["build"]), TARGETS["build"])
    add("status_median", statistics.median(results["big"]["status"]), statistics.median(results["small"]["status"]),
        TARGETS["status"])
    small_pages = {_generic(p): t for p, t in results["small"]["pages"].items()}
    for path, times in results["big"]["pages"].items():
        target = None if path in EXPORTS else TARGETS["page"]
        add(f"page{_generic(path)}_p95", _p95(times), _p95(small_pages[_generic(path)]), target)
    return figures, details


def _generic(path: str) -> str:
    """A page's path as a figure name: ids out, so a run on another ledger compares."""
    import re

    return re.sub(r"/\d+", "/ID", path.split("?")[0])


def table(figures: list[Figure]) -> list[str]:
    small = {f.name: f.value for f in figures if f.baseline is None}
    lines = [f"{'figure':<52} {'big':>8} {'small':>7} {'target':>7} ", "-" * 79]
    for f in figures:
        if f.baseline is None:
            continue
        ok = " !" if f.meets_target() is False else ""
        target = "-" if f.target is None else f"{f.target:.0f}"
        lines.append(f"{f.name[:52]:<52} {f.value:>8.1f} {small[f.baseline]:>7.1f} {target:>7}{ok}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=20, help="requests per desk page")
    parser.add_argument("--builds", type=int, default=10, help="edition builds timed")
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    from tests.helpers.postgres import ThrowawayPostgres

    figures: list[Figure] = []
    details: dict[str, Any] = {"items": args.items, "subscribers": args.subscribers, "requests": args.requests,
                               "builds": args.builds}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config, _ = bench_config(folder)
        for backend in args.backends.split(","):
            if backend == "sqlite":
                found, more = run(backend, lambda size: f"sqlite:///{folder / size}.db", config, args)
            else:
                postgres = ThrowawayPostgres()
                try:
                    found, more = run(backend, lambda size: postgres.url(postgres.create(f"bench_ledger_{size}")),
                                      config, args)
                finally:
                    postgres.drop_all()
            figures += found
            details[backend] = more
    import os

    details["load_1m_at_end"] = round(os.getloadavg()[0], 2)
    write("ledger", figures, details)
    print("\n".join(table(figures)))


if __name__ == "__main__":
    main()
