"""A farm of RSS and Atom feeds on loopback: the workload of `bench/bench_gather.py`.

    python bench/feedfarm.py [--feeds 500] [--items 30] [--latency-ms 50] [--port 0] [--seed 1]

It prints its base URL (http://127.0.0.1:PORT) as the first line on stdout, then serves until
stopped. Only 127.0.0.1 is bound; only the standard library is used.

- `GET /feeds/<n>.xml`: feed n (RSS 2.0 when n is even, Atom 1.0 when odd), `items` entries,
  newest first, with an ETag and a Last-Modified. A matching `If-None-Match` (or, when the
  request has none, an `If-Modified-Since` not older than the feed) gets `304 Not Modified`.
  Bodies are gzipped when the client accepts it. Every answer waits `latency-ms` first.
- About 10% of the entries are syndicated: the same article (same link, with tracking
  parameters added) appears in a second feed under another guid, as when a blog post is also
  published in a news feed. De-duplication across sources should store it once.
- `POST /mutate?feeds=K[&items=2]`: K feeds, chosen by the seed, gain new articles (the oldest
  fall off, so a feed keeps its length); their ETag and Last-Modified change.
- `GET /stats`: request counters (`requests`, `ok` (200), `not_modified` (304), `not_found`,
  `bytes`) and what the farm holds (`feeds`, `entries`, `articles`, `syndicated`).
  `POST /stats/reset` zeroes the counters.

The farm is also usable in-process: `FeedFarm(feeds=..., items=...)` builds the feeds,
`serve(farm, latency_ms=...)` returns a running server.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import random
import threading
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape, quoteattr

HOST = "127.0.0.1"
SYNDICATED_SHARE = 0.10
TRACKING = "utm_source=partner&utm_medium=rss&utm_campaign=feedfarm"
START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)  # articles are 7 minutes apart from here
WORDS = (
    "council", "digital", "service", "data", "cloud", "cyber", "local", "public", "leadership",
    "policy", "briefing", "housing", "care", "network", "security", "identity", "platform",
    "procurement", "skills", "inclusion", "accessibility", "design", "research", "strategy",
    "funding", "partnership", "innovation", "broadband", "governance", "privacy", "analytics",
    "automation", "resident", "outcomes", "budget", "workforce", "transformation", "standards",
    "roadmap", "pilot",
)


@dataclass(frozen=True)
class Article:
    guid: str
    link: str
    title: str
    summary_html: str
    published: datetime


@dataclass(frozen=True)
class FeedVersion:
    """One published state of a feed: the bytes served and the validators that name them."""

    body: bytes
    gzipped: bytes
    etag: str
    last_modified: datetime


class FeedFarm:
    """`feeds` feeds of `items` entries each, generated from `seed` (the same seed, the same farm)."""

    def __init__(self, *, feeds: int = 500, items: int = 30, seed: int = 1) -> None:
        if feeds < 1 or items < 1:
            raise ValueError("a feed farm needs at least one feed of at least one item")
        self.items = items
        self._rng = random.Random(seed)
        self._serial = 0
        self._lock = threading.Lock()
        self.entries: list[list[Article]] = [[self._new_article(f) for _ in range(items)] for f in range(feeds)]
        self.syndicated = self._syndicate() if feeds > 1 else 0
        built = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
        self.versions = [self._render(f, built) for f in range(feeds)]

    # -- content ----------------------------------------------------------------------------

    def _sentence(self, low: int, high: int) -> str:
        return " ".join(self._rng.choice(WORDS) for _ in range(self._rng.randint(low, high))).capitalize()

    def _new_article(self, feed: int) -> Article:
        self._serial += 1
        slug = f"{self._sentence(3, 6).lower().replace(' ', '-')}-{self._serial}"
        paragraphs = "".join(f"<p>{escape(self._sentence(12, 40))}.</p>" for _ in range(self._rng.randint(1, 4)))
        return Article(guid=f"urn:feedfarm:{feed}:{self._serial}", link=f"https://site{feed}.example.org/news/{slug}",
                       title=self._sentence(4, 12), summary_html=paragraphs,
                       published=START + timedelta(minutes=7 * self._serial))

    def _syndicate(self) -> int:
        """Replace about one entry in ten by another feed's article: same link, own guid."""
        feeds = len(self.entries)
        slots = [(f, j) for f in range(feeds) for j in range(self.items) if self._rng.random() < SYNDICATED_SHARE]
        taken = set(slots)
        originals = [(g, k) for g in range(feeds) for k in range(self.items) if (g, k) not in taken]
        copies = 0
        for f, j in slots:
            picks = (self._rng.choice(originals) for _ in range(50)) if originals else iter(())
            source = next((pick for pick in picks if pick[0] != f), None)
            if source is None:  # a tiny farm with no original elsewhere: the entry stays an original
                continue
            original = self.entries[source[0]][source[1]]
            self.entries[f][j] = replace(original, guid=f"{original.guid}:in-feed-{f}",
                                         link=f"{original.link}?{TRACKING}")
            copies += 1
        return copies

    def _render(self, feed: int, modified: datetime) -> FeedVersion:
        entries = sorted(self.entries[feed], key=lambda a: a.published, reverse=True)
        text = _atom(feed, entries) if feed % 2 else _rss(feed, entries)
        body = text.encode("utf-8")
        etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
        return FeedVersion(body=body, gzipped=gzip.compress(body, 5), etag=etag, last_modified=modified)

    # -- changes and counts -----------------------------------------------------------------

    def mutate(self, feeds: int, *, new_items: int = 2) -> list[int]:
        """`feeds` feeds (chosen by the seed) gain `new_items` new articles each; returns which."""
        with self._lock:
            chosen = sorted(self._rng.sample(range(len(self.entries)), min(feeds, len(self.entries))))
            for f in chosen:
                newest_first = sorted(self.entries[f], key=lambda a: a.published, reverse=True)
                fresh = [self._new_article(f) for _ in range(new_items)]
                self.entries[f] = (fresh + newest_first)[: self.items]
                # Last-Modified has one-second resolution: a change is always at least a second later
                modified = max(datetime.now(UTC).replace(microsecond=0),
                               self.versions[f].last_modified + timedelta(seconds=1))
                self.versions[f] = self._render(f, modified)
            return chosen

    def version(self, feed: int) -> FeedVersion | None:
        with self._lock:
            return self.versions[feed] if 0 <= feed < len(self.versions) else None

    def holdings(self) -> dict[str, int]:
        """What the farm serves: feeds, entries, distinct articles and syndicated copies."""
        with self._lock:
            links = {a.link.split("?", 1)[0] for entries in self.entries for a in entries}
            return {"feeds": len(self.entries), "entries": sum(map(len, self.entries)),
                    "articles": len(links), "syndicated": sum("?" in a.link for e in self.entries for a in e)}


def _http_date(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def _rss(feed: int, entries: list[Article]) -> str:
    items = "".join(
        f"<item><title>{escape(a.title)}</title><link>{escape(a.link)}</link>"
        f'<guid isPermaLink="false">{escape(a.guid)}</guid><pubDate>{_http_date(a.published)}</pubDate>'
        f"<description>{escape(a.summary_html)}</description></item>"
        for a in entries)
    return ('<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
            f"<title>Site {feed} news</title><link>https://site{feed}.example.org/</link>"
            f"<description>News from site {feed}</description>{items}</channel></rss>\n")


def _atom(feed: int, entries: list[Article]) -> str:
    body = "".join(
        f"<entry><id>{escape(a.guid)}</id><title>{escape(a.title)}</title>"
        f"<link rel=\"alternate\" href={quoteattr(a.link)}/><published>{a.published.isoformat()}</published>"
        f"<updated>{a.published.isoformat()}</updated><author><name>Comms team</name></author>"
        f'<summary type="html">{escape(a.summary_html)}</summary></entry>'
        for a in entries)
    updated = (entries[0].published if entries else START).isoformat()
    return ('<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
            f"<title>Site {feed} blog</title><id>https://site{feed}.example.org/blog/</id>"
            f'<link href="https://site{feed}.example.org/blog/"/><updated>{updated}</updated>{body}</feed>\n')


class _Counters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.values = dict.fromkeys(("requests", "ok", "not_modified", "not_found", "bytes"), 0)

    def add(self, outcome: str, nbytes: int = 0) -> None:
        with self._lock:
            self.values["requests"] += 1
            self.values[outcome] += 1
            self.values["bytes"] += nbytes

    def snapshot(self, reset: bool = False) -> dict[str, int]:
        with self._lock:
            values = dict(self.values)
            if reset:
                self.values = dict.fromkeys(self.values, 0)
            return values


class FarmServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # a gather opens hundreds of connections at once

    def __init__(self, farm: FeedFarm, *, port: int = 0, latency_ms: float = 0.0) -> None:
        self.farm, self.latency, self.counters = farm, latency_ms / 1000, _Counters()
        super().__init__((HOST, port), _Handler)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.server_address[1]}"

    def feed_urls(self) -> list[str]:
        return [f"{self.url}/feeds/{n}.xml" for n in range(len(self.farm.versions))]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as feed readers use it
    server: FarmServer

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, value: object) -> None:
        self._send(200, json.dumps(value).encode(), {"Content-Type": "application/json"})

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        if url.path == "/mutate":
            try:
                feeds, items = int(query.get("feeds", ["50"])[0]), int(query.get("items", ["2"])[0])
            except ValueError:
                self._send(400, b"feeds and items must be whole numbers\n")
                return
            self._json({"mutated": self.server.farm.mutate(feeds, new_items=items)})
        elif url.path == "/stats/reset":
            self._json(self.server.counters.snapshot(reset=True))
        else:
            self._send(404, b"POST /mutate?feeds=K or /stats/reset\n")

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == "/stats":
            self._json({**self.server.counters.snapshot(), **self.server.farm.holdings()})
            return
        if self.server.latency:
            time.sleep(self.server.latency)
        name = path.removeprefix("/feeds/").removesuffix(".xml")
        version = self.server.farm.version(int(name)) if path.startswith("/feeds/") and name.isdigit() else None
        if version is None:
            self.server.counters.add("not_found")
            self._send(404, b"no such feed\n")
            return
        validators = {"ETag": version.etag, "Last-Modified": _http_date(version.last_modified)}
        if self._not_modified(version):
            self.server.counters.add("not_modified")
            self._send(304, headers=validators)
            return
        gzipped = "gzip" in (self.headers.get("Accept-Encoding") or "")
        body = version.gzipped if gzipped else version.body
        kind = "application/atom+xml" if int(name) % 2 else "application/rss+xml"
        headers = {"Content-Type": f"{kind}; charset=utf-8", **validators}
        if gzipped:
            headers["Content-Encoding"] = "gzip"
        self.server.counters.add("ok", len(body))
        self._send(200, body, headers)

    do_HEAD = do_GET

    def _not_modified(self, version: FeedVersion) -> bool:
        """RFC 9110 13.2.2: If-None-Match decides when present, else If-Modified-Since."""
        if_none_match = self.headers.get("If-None-Match")
        if if_none_match is not None:
            tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
            return version.etag in tags or "*" in tags
        since = self.headers.get("If-Modified-Since")
        if since is None:
            return False
        try:
            return version.last_modified <= parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False


def serve(farm: FeedFarm, *, port: int = 0, latency_ms: float = 0.0) -> FarmServer:
    """Start serving `farm` on 127.0.0.1 in a background thread; `shutdown()` stops it."""
    server = FarmServer(farm, port=port, latency_ms=latency_ms)
    threading.Thread(target=server.serve_forever, name="feedfarm", daemon=True).start()
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--feeds", type=int, default=500)
    parser.add_argument("--items", type=int, default=30, help="entries per feed")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="wait before every feed answer")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    server = FarmServer(FeedFarm(feeds=args.feeds, items=args.items, seed=args.seed),
                        port=args.port, latency_ms=args.latency_ms)
    print(server.url, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
