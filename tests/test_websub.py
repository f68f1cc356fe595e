"""Push ingestion (WebSub): discovery, subscription and renewal from the gather stage, the callback's
verification of intent and signed content distribution, end to end against a loopback fake hub
that also serves the feed, with the web app served by uvicorn on a loopback port."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode

import httpx
import pytest
from sqlalchemy import func, select

from compose.config import Config, Fetch, Source, WebSub
from connectors.sources import fetch_sources
from connectors.sources.websub import check_signature, discover, sign
from flows.stages.gather import gather_sources
from state.events import ITEM_DISCOVERED
from state.models import EventRow, ItemRow, SourceRow, WebSubSubscriptionRow
from tests.helpers import desk_data
from tests.helpers.serving import serve_on_loopback
from web.app import create_app

NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)
SECRET_KEY = "websub-test-secret-key-0123456789"
LEASE_GRANTED = 86_400  # the fake hub grants one day, whatever it is asked


def atom(base: str, entries: range, *, hub: bool = True) -> bytes:
    """An Atom feed of `entries` (by number) that advertises the fake hub and its own URL."""
    links = (f'<link rel="hub" href="{base}/hub"/><link rel="self" href="{base}/feed.xml"/>' if hub else "")
    body = "".join(
        f"<entry><id>urn:story:{n}</id><title>Story {n}</title><link href=\"https://www.socitm.net/news/{n}\"/>"
        f"<updated>2026-11-{10 + n:02d}T09:00:00Z</updated><summary>Summary of story {n}</summary></entry>"
        for n in entries)
    return (f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>News</title>'
            f'<id>urn:feed</id><updated>2026-11-26T09:00:00Z</updated>{links}{body}</feed>').encode()


# --- the fake hub (which is also the publisher's web server) -------------------------------------------------


@dataclass
class FakeHub:
    """Serves /feed.xml, takes (un)subscription requests at /hub, verifies intent synchronously
    against the callback, and pushes signed content on demand."""

    base: str = ""
    feed: bytes = b""
    answer: int = 202  # what the hub answers a subscription request
    requests: list[dict[str, str]] = field(default_factory=list)
    verifications: list[tuple[int, str, str]] = field(default_factory=list)  # (status, challenge, body)

    def subscription(self, mode: str = "subscribe") -> dict[str, str]:
        return [r for r in self.requests if r["hub.mode"] == mode][-1]

    def verify(self, form: dict[str, str], **override: str) -> httpx.Response:
        challenge = secrets.token_hex(8)
        params = {"hub.mode": form["hub.mode"], "hub.topic": form["hub.topic"], "hub.challenge": challenge}
        if form["hub.mode"] == "subscribe":
            params["hub.lease_seconds"] = str(LEASE_GRANTED)
        params.update(override)
        response = httpx.get(f"{form['hub.callback']}?{urlencode(params)}", trust_env=False)
        self.verifications.append((response.status_code, challenge, response.text))
        return response

    def publish(self, body: bytes, *, algorithm: str = "sha256", secret: str | None = None,
                content_type: str = "application/atom+xml", callback: str | None = None) -> httpx.Response:
        form = self.subscription()
        signature = sign(secret if secret is not None else form["hub.secret"], body, algorithm)
        return httpx.post(callback or form["hub.callback"], content=body, trust_env=False,
                          headers={"X-Hub-Signature": signature, "Content-Type": content_type})


def _handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _send(self, status: int, body: bytes = b"", content_type: str = "text/plain") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            self._send(200, hub.feed, "application/atom+xml")

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
            hub.requests.append(form)
            if hub.answer != 202:
                self._send(hub.answer, b"no thanks")
                return
            hub.verify(form)  # synchronous verification: the subscriber's row must already be committed
            self._send(202)

    return Handler


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    fake = FakeHub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    fake.base = f"http://127.0.0.1:{server.server_address[1]}"
    fake.feed = atom(fake.base, range(1, 4))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()


@dataclass
class Setup:
    config: Config  # what gather uses (push on, callback = the app)
    app_url: str
    clock: desk_data.Clock
    db: object


def _config(base: Config, hub: FakeHub, app_url: str, *, enabled: bool = True) -> Config:
    source = Source(name="news", kind="feed", url=f"{hub.base}/feed.xml", section="news")
    return base.model_copy(update={"sources": (source,),
                                   "websub": WebSub(enabled=enabled, callback_url=app_url)})


@pytest.fixture
def setup(db, hub, tmp_path) -> Iterator[Setup]:
    clock = desk_data.Clock(NOW)
    base = _config(desk_data.example_config(tmp_path), hub, "http://127.0.0.1:1")
    with serve_on_loopback(create_app(config=base, db=db, secret_key=SECRET_KEY, now=clock, env={})) as url:
        yield Setup(config=_config(base, hub, url), app_url=url, clock=clock, db=db)


def _gather(setup: Setup, *, now: datetime = NOW, config: Config | None = None):  # type: ignore[no-untyped-def]
    with setup.db.session() as session:  # type: ignore[attr-defined]
        return gather_sources(session, config or setup.config, now=now,
                              fetch=lambda sources, cursors: fetch_sources(sources, cursors, parse_workers=0))


def _subscription(setup: Setup) -> WebSubSubscriptionRow:
    with setup.db.session() as session:  # type: ignore[attr-defined]
        row = session.scalars(select(WebSubSubscriptionRow)).one()
        session.expunge(row)
        return row


def _counts(setup: Setup) -> tuple[int, int]:
    with setup.db.session() as session:  # type: ignore[attr-defined]
        items = session.scalar(select(func.count()).select_from(ItemRow))
        events = session.scalar(select(func.count()).select_from(EventRow).where(EventRow.name == ITEM_DISCOVERED))
        return items, events


# --- end to end -------------------------------------------------------------------------------------------


def test_gather_subscribes_the_hub_verifies_and_signed_pushes_store_items_once(setup: Setup, hub: FakeHub):
    summary = _gather(setup)
    assert summary.push.requested == 1 and summary.push.failed == 0
    form = hub.subscription()
    assert form["hub.topic"] == f"{hub.base}/feed.xml"
    assert form["hub.callback"].startswith(f"{setup.app_url}/websub/")
    assert form["hub.lease_seconds"] == "864000" and len(form["hub.secret"]) >= 32
    status, challenge, body = hub.verifications[-1]
    assert (status, body) == (200, challenge)
    row = _subscription(setup)
    assert row.state == "verified" and row.expires_at == NOW + timedelta(seconds=LEASE_GRANTED)
    assert row.secret == form["hub.secret"] and row.secret not in repr(row)
    assert _counts(setup) == (3, 0)  # the first poll is backlog: no events

    pushed = atom(hub.base, range(1, 6))  # stories 4 and 5 are new
    assert hub.publish(pushed).status_code == 202
    assert _counts(setup) == (5, 2)
    with setup.db.session() as session:
        announced = {e.payload["url"] for e in session.scalars(select(EventRow).where(EventRow.name == ITEM_DISCOVERED))}
        source = session.scalars(select(SourceRow)).one()
        assert source.last_success_at == NOW and source.last_items_new == 2
    assert announced == {"https://www.socitm.net/news/4", "https://www.socitm.net/news/5"}

    assert hub.publish(pushed, algorithm="sha1").status_code == 202  # the same content again: nothing changes
    assert _counts(setup) == (5, 2)
    assert _subscription(setup).pushes == 2

    forged = hub.publish(atom(hub.base, range(6, 8)), secret="not-the-secret")
    assert forged.status_code == 202  # acknowledged, ignored, recorded
    assert _counts(setup) == (5, 2)
    row = _subscription(setup)
    assert row.rejected_pushes == 1 and "does not match" in (row.last_rejected_reason or "")


def test_verification_for_a_wrong_topic_or_unknown_token_is_refused(setup: Setup, hub: FakeHub):
    _gather(setup)
    form = hub.subscription()
    assert hub.verify(form, **{"hub.topic": "https://evil.example/feed"}).status_code == 404
    unknown = dict(form, **{"hub.callback": f"{setup.app_url}/websub/not-a-token"})
    assert hub.verify(unknown).status_code == 404
    assert hub.verify(dict(form, **{"hub.mode": "unsubscribe"})).status_code == 404  # we never asked to leave
    assert _subscription(setup).state == "verified"


def test_a_lease_is_renewed_only_when_near_its_end(setup: Setup, hub: FakeHub):
    _gather(setup)
    token = _subscription(setup).token
    assert _gather(setup, now=NOW + timedelta(seconds=LEASE_GRANTED * 0.5)).push.requested == 0
    assert len(hub.requests) == 1
    later = NOW + timedelta(seconds=LEASE_GRANTED * 0.85)
    setup.clock.now = later
    assert _gather(setup, now=later).push.requested == 1
    assert len(hub.requests) == 2 and hub.subscription()["hub.callback"].endswith(token)
    row = _subscription(setup)
    assert row.state == "verified" and row.expires_at == later + timedelta(seconds=LEASE_GRANTED)


def test_disabled_push_asks_no_hub_and_takes_no_push(db, hub: FakeHub, tmp_path):
    base = _config(desk_data.example_config(tmp_path), hub, "http://127.0.0.1:1", enabled=False)
    setup = Setup(config=base, app_url="", clock=desk_data.Clock(NOW), db=db)
    summary = _gather(setup)
    assert summary.push.requested == 0 and hub.requests == []
    row = _subscription(setup)
    assert row.state == "discovered" and row.hub_url == f"{hub.base}/hub"  # discovery is still recorded
    client = _client(db, base)
    refused = client.post(f"/websub/{row.token}", content=atom(hub.base, range(1, 3)),
                          headers={"X-Hub-Signature": sign(row.secret, atom(hub.base, range(1, 3))),
                                   "Content-Type": "application/atom+xml"})
    assert refused.status_code == 410


def test_a_removed_source_is_unsubscribed_and_its_pushes_get_410(setup: Setup, hub: FakeHub):
    _gather(setup)
    # the hub lives on loopback: with its source gone, only [fetch] allow_hosts lets syndicate reach it
    summary = _gather(setup, config=setup.config.model_copy(update={"sources": (),
                                                                    "fetch": Fetch(allow_hosts=("127.0.0.1",))}))
    assert summary.push.unsubscribed == 1
    form = hub.subscription("unsubscribe")
    assert "hub.secret" not in form and hub.verifications[-1][0] == 200
    assert _subscription(setup).state == "unsubscribed"
    assert hub.publish(atom(hub.base, range(1, 6))).status_code == 410
    assert _counts(setup) == (3, 0)


def test_a_refusing_hub_is_recorded_with_a_hint_and_asked_again_later(setup: Setup, hub: FakeHub):
    hub.answer = 500
    summary = _gather(setup)
    assert summary.push.failed == 1
    row = _subscription(setup)
    assert row.state == "failed" and "500" in (row.last_error or "") and row.last_error_hint
    assert _gather(setup, now=NOW + timedelta(minutes=10)).push.failed == 0  # not hammered
    hub.answer = 202
    assert _gather(setup, now=NOW + timedelta(hours=2)).push.requested == 1
    assert _subscription(setup).state == "verified"


# --- the callback alone (SQLite) ------------------------------------------------------------------------------


def _client(db, config: Config):  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    return TestClient(create_app(config=config, db=db, secret_key=SECRET_KEY, now=lambda: NOW, env={}))


@pytest.fixture
def requested(sqlite_db, hub: FakeHub, tmp_path):  # type: ignore[no-untyped-def]
    """A subscription the hub accepted but has not verified yet (the hub answers without verifying)."""
    config = _config(desk_data.example_config(tmp_path), hub, "http://127.0.0.1:1")
    hub.answer = 204
    setup = Setup(config=config, app_url="", clock=desk_data.Clock(NOW), db=sqlite_db)
    _gather(setup)
    hub.answer = 202
    return setup, _client(sqlite_db, config), _subscription(setup)


def test_a_denied_subscription_is_recorded_with_the_reason(requested):
    setup, client, row = requested
    params = {"hub.mode": "denied", "hub.topic": row.topic_url, "hub.reason": "publisher says no"}
    assert client.get(f"/websub/{row.token}?{urlencode(params)}").status_code == 200
    denied = _subscription(setup)
    assert denied.state == "denied" and "publisher says no" in (denied.last_error or "")


def test_pushes_over_the_limit_or_of_the_wrong_type_are_refused(requested, hub: FakeHub):
    setup, client, row = requested
    assert _counts(setup) == (3, 0)  # the first poll: backlog
    body = atom(hub.base, range(3, 6))
    headers = {"X-Hub-Signature": sign(row.secret, body, "sha512")}
    wrong = client.post(f"/websub/{row.token}", content=body, headers=dict(headers, **{"Content-Type": "image/png"}))
    assert wrong.status_code == 415
    big = b"<feed>" + b" " * (10 * 1024 * 1024) + b"</feed>"
    assert client.post(f"/websub/{row.token}", content=big,
                       headers={"Content-Type": "application/atom+xml"}).status_code == 413
    unsigned = client.post(f"/websub/{row.token}", content=body, headers={"Content-Type": "application/atom+xml"})
    assert unsigned.status_code == 202
    assert _counts(setup) == (3, 0)
    stranger = client.post("/websub/not-a-token-we-gave", content=body, headers=dict(headers, **{
        "Content-Type": "application/atom+xml"}))
    assert stranger.status_code == 410 and _counts(setup) == (3, 0)  # refused for its token, before its body is read
    good = client.post(f"/websub/{row.token}", content=body,
                       headers=dict(headers, **{"Content-Type": "application/atom+xml; charset=utf-8"}))
    assert good.status_code == 202 and _counts(setup) == (5, 2)
    assert _subscription(setup).rejected_pushes == 2


# --- discovery and signatures (pure) ----------------------------------------------------------------------------


def test_discovery_reads_atom_links_and_ignores_entry_links():
    body = atom("https://pub.example", range(1, 2)).replace(b"<link href=", b'<link rel="hub" href="https://no.example/" x=')
    found = discover(body, {}, "https://pub.example/feed.xml")
    assert (found.hub, found.self_url) == ("https://pub.example/hub", "https://pub.example/feed.xml")
    assert discover(atom("https://pub.example", range(1, 2), hub=False), {}, "https://pub.example/f").hub is None


def test_discovery_reads_rss_atom_link_with_relative_urls():
    body = (b'<?xml version="1.0"?><rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel>'
            b"<title>T</title><link>https://pub.example/</link>"
            b"<atom:link rel='self' type='application/rss+xml' href='/rss?a=1&amp;b=2'/>"
            b'<atom:link href="https://hub.example/" rel="hub" />'
            b"<item><title>x</title></item></channel></rss>")
    found = discover(body, {"Content-Type": "application/rss+xml"}, "https://pub.example/feed")
    assert (found.hub, found.self_url) == ("https://hub.example/", "https://pub.example/rss?a=1&b=2")


def test_discovery_prefers_the_link_header_and_reads_json_feed_hubs():
    header = '<https://hub.example/h>; rel="hub", <https://pub.example/canonical.xml>; rel=self'
    found = discover(atom("https://pub.example", range(1, 2)), {"Link": header}, "https://pub.example/feed.xml")
    assert (found.hub, found.self_url) == ("https://hub.example/h", "https://pub.example/canonical.xml")
    json_feed = b'{"version": "https://jsonfeed.org/version/1.1", "feed_url": "https://pub.example/feed.json",' \
                b' "hubs": [{"type": "rssCloud", "url": "https://c.example"}, {"type": "WebSub", "url": "/hub"}]}'
    found = discover(json_feed, {}, "https://pub.example/feed.json")
    assert (found.hub, found.self_url) == ("https://pub.example/hub", "https://pub.example/feed.json")
    assert discover(b'<feed><link rel="hub" href="javascript:alert(1)"/></feed>', {}, "https://p.example/").hub is None


@pytest.mark.parametrize("algorithm", ["sha1", "sha256", "sha384", "sha512"])
def test_signatures_with_every_listed_algorithm_verify_and_forgeries_do_not(algorithm: str):
    body = b"<feed/>"
    assert check_signature("s3cret", body, sign("s3cret", body, algorithm)).ok
    assert not check_signature("s3cret", body + b" ", sign("s3cret", body, algorithm)).ok
    assert not check_signature("other", body, sign("s3cret", body, algorithm)).ok


def test_missing_or_strange_signatures_are_refused_with_a_reason():
    assert check_signature("s", b"x", None).reason == "no X-Hub-Signature header"
    assert "unsupported" in check_signature("s", b"x", "md5=abc").reason
    assert not check_signature("s", b"x", "sha256=zz\u00e9").ok
    assert not check_signature("s", b"x", "sha256").ok
