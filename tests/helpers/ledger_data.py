"""A big ledger written in bulk, for bench/bench_ledger.py (1,000,000 items) and
tests/test_query_plans.py (a small one of the same shape): executemany on SQLite, COPY on PostgreSQL.

The spread is realistic: 60 sources over three sections, items over two years, a sent edition a
week with its items, its roundup and item threads and their posts, approvals, subscribers in every
status, the last four editions delivered to every active subscriber (batches, deliveries, opens,
clicks), per-edition counters and clicks, events (nearly all relayed), the audit log and subscriber
changes. `desk_paths` lists every desk page the app serves, each with a real id.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

from compose.config import Config
from flows.settings import parse_config
from state.db import Database

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)  # a Monday morning
ADMIN = "admin@socitm.example"
PASSWORD = "correct horse battery staple"
SECTIONS = ("news", "blogs", "publications")
SOURCES = 60
WEEKS = 104  # two years of weekly editions, all sent
DELIVERED = 4  # the last editions with a delivery row per active subscriber
QUERIES = {"/desk/api/count": "?network=x&text=In+Our+View"}  # pages that need a query to answer


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

    # threads: a roundup per edition, and an item thread for one item in fifty; a few waiting (the newest
    # item threads, last week's roundup) or failed
    thread_count = WEEKS + items // 50

    def thread_rows() -> Iterator[tuple[Any, ...]]:
        for t in range(1, thread_count + 1):
            if t <= WEEKS:
                kind, key, item, edition, at = "roundup", f"edition:{t}", None, t, built(t)
            else:
                item = (t - WEEKS) * 50
                kind, key, edition, at = "item", f"item:{item}", None, _spread(item, items, start, end)
            status = "draft" if t > thread_count - 5 or t == WEEKS else ("failed" if t % 997 == 0 else "published")
            yield (t, "x", key, kind, item, edition, status, f"{t:064x}", at, at, None if status != "published" else at,
                   "the network refused it" if status == "failed" else None)
    counts["threads"] = _bulk(db, "threads", (
        "id", "network", "key", "kind", "item_id", "edition_id", "status", "content_hash", "scheduled_for", "created_at",
        "published_at", "error"), thread_rows())
    def post_text(t: int, p: int) -> str:
        if t != WEEKS:
            return f"Post {p} of thread {t}"
        item = (WEEKS - 1) * week_items + p  # the last roundup's posts link its edition's items (their cards)
        return f"Post {p}: https://www.socitm.net/{sources[item % len(sources)][1]}/{item}-digital-leaders-briefing"

    def waiting(t: int) -> bool:  # the newest item threads, and last week's roundup staff have not approved yet
        return t > thread_count - 5 or t == WEEKS

    counts["posts"] = _bulk(db, "posts", ("thread_id", "position", "text", "status", "attempts", "posted_at"), (
        (t, p, post_text(t, p), "pending" if waiting(t) else "posted", 1, None)
        for t in range(1, thread_count + 1) for p in range(3)))
    counts["approvals"] = _bulk(db, "approvals", (
        "subject_kind", "subject_id", "content_hash", "decision", "by", "at"), (
        (kind, n, f"{n:064x}", "approved", ADMIN, NOW - timedelta(days=1))
        for kind, total in (("edition", WEEKS), ("thread", thread_count - 5)) for n in range(1, total + 1)
        if (kind, n) != ("thread", WEEKS)))

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
            # what autovacuum does after a bulk load (since PostgreSQL 13 it vacuums after inserts too):
            # statistics, and the visibility map that lets an index-only scan skip the table
            connection.execute(text("VACUUM ANALYZE"))
    with db.session() as session:
        _, token = add_staff(session, ADMIN, "admin", now=NOW - timedelta(days=700))
        set_password(session, token, PASSWORD, now=NOW - timedelta(days=700))
    return counts


# --- the desk's pages ---------------------------------------------------------------------------


def desk_ids(subscribers: int) -> dict[str, list[str]]:
    """What goes in each placeholder of a desk page's path: a real id, or every chart's name."""
    from web.reports import EDITION_CHARTS, TREND_CHARTS

    return {"edition_id": [str(WEEKS)], "subscriber_id": [str(max(subscribers // 2, 1))],
            "/desk/reports:name": list(TREND_CHARTS),
            "/desk/reports/editions/{edition_id}:name": list(EDITION_CHARTS)}


def desk_paths(ids: dict[str, list[str]]) -> list[str]:
    """Every GET page under /desk, each placeholder filled from `ids`: a page with a placeholder not
    in `ids` raises instead of going unmeasured."""
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
                raise LookupError(f"no value for {{{name}}} of {path}: add it to tests/helpers/ledger_data.desk_ids")
            filled = [p.replace(f"{{{name}}}", value) for p in filled for value in ids[key]]
        paths += [p + QUERIES.get(path, "") for p in filled]
    return paths


def sign_in(client: Any) -> None:
    """Sign the admin in through the real form."""
    login = client.get("/login")
    token = login.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    signed = client.post("/login", data={"csrf_token": token, "email": ADMIN, "password": PASSWORD, "next": "/desk"},
                         follow_redirects=False)
    if signed.status_code != 303:
        raise RuntimeError(f"signing in failed: {signed.status_code}")
