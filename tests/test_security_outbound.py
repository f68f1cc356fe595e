"""Attack from issue 13, row 4: reaching internal addresses through content (SSRF).

A source that redirects to another host on loopback, a hub link in a feed, an item link being
checked: each names an address an outsider chose. All on loopback: the configured source is
trusted as written (host and port); what it points at is not, unless `[fetch] allow_hosts` says so.
The rebinding tests give a host name that resolves to loopback through a resolver of the test's
own: the check is on the address dialled, not on the name.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from compose.config import Source
from connectors.link_check import broken_links
from connectors.outbound import RULE_HINT, OutboundGuard, OutboundRefused, address_kind
from connectors.sources import fetch_sources
from connectors.sources.fetch import fetch, make_client
from connectors.sources.websub import HubClient
from tests.helpers.feedserver import body, redirect, serve

RSS = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>Internal</title><link>http://x.example/</link>'
       b'<item><title>Secret board minutes</title><link>http://x.example/secret</link></item></channel></rss>')


@contextmanager
def listener() -> Iterator[tuple[int, list[socket.socket]]]:
    """A loopback port that records every connection made to it (nothing is ever answered)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.setblocking(False)
    accepted: list[socket.socket] = []
    try:
        yield server.getsockname()[1], accepted
    finally:
        try:
            while True:
                accepted.append(server.accept()[0])
        except BlockingIOError:
            pass
        for conn in accepted:
            conn.close()
        server.close()


def _source(url: str) -> Source:
    return Source(name="news", kind="feed", url=url, section="news")


def test_a_source_redirecting_to_another_loopback_port_is_refused_with_the_rule(tmp_path):
    with serve({"/internal.xml": body(RSS, headers={"Content-Type": "application/rss+xml"})}) as internal, \
            serve({"/feed": redirect(internal.url("/internal.xml"), 302)}) as site:
        [report] = fetch_sources([_source(site.url("/feed"))], parse_workers=0)
    assert not report.ok and "refused" in (report.error or "") and "loopback" in (report.error or "")
    assert report.hint == RULE_HINT and "allow_hosts" in report.hint
    assert internal.requests == [] and not report.items


def test_the_same_redirect_is_followed_when_the_host_is_allowed_in_the_config():
    with serve({"/internal.xml": body(RSS, headers={"Content-Type": "application/rss+xml"})}) as internal, \
            serve({"/feed": redirect(internal.url("/internal.xml"), 302)}) as site:
        [report] = fetch_sources([_source(site.url("/feed"))], parse_workers=0,
                                 allow_hosts=[f"127.0.0.1:{internal.port}"])
    assert report.ok and [item.title for item in report.items] == ["Secret board minutes"]


def test_the_configured_source_itself_is_trusted_as_written_on_loopback():
    with serve({"/feed": body(RSS, headers={"Content-Type": "application/rss+xml"})}) as site:
        [report] = fetch_sources([_source(site.url("/feed"))], parse_workers=0)
    assert report.ok and len(report.items) == 1


def test_a_hub_advertised_on_loopback_is_never_posted_to_with_the_secret():
    with listener() as (port, accepted):
        guard = OutboundGuard.trusting(["http://127.0.0.1:8000/feed"])  # the source, not the hub's port
        client = HubClient(guard=guard)
        try:
            for hub in (f"http://127.0.0.1:{port}/hub", "http://127.0.0.2:9/hub", "http://[::1]:9/hub",
                        "http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/hub", "http://224.0.0.1/hub"):
                answer = client.request(hub, mode="subscribe", topic="http://127.0.0.1:8000/feed",
                                        callback="https://news.example/websub/t", secret="s3cret")
                assert not answer.ok and "refused" in (answer.error or ""), hub
                assert answer.hint == RULE_HINT
        finally:
            client.close()
    assert accepted == []


def test_link_checking_sends_nothing_to_an_internal_url():
    with listener() as (port, accepted):
        found = broken_links([f"http://127.0.0.1:{port}/admin", "http://192.168.1.1/router"])
    assert accepted == []
    assert all(reason.startswith("not checked: refused") for reason in found.values()) and len(found) == 2


def test_link_checking_refuses_a_redirect_from_an_allowed_site_to_an_internal_one():
    with listener() as (port, accepted), serve({"/ok": redirect(f"http://127.0.0.1:{port}/private", 302)}) as site:
        found = broken_links([site.url("/ok")], guard=OutboundGuard.trusting([site.url("/")]))
    assert accepted == [] and "refused" in found[site.url("/ok")]


# --- rebinding: a name that resolves to an internal address ------------------------------------------------------


class _Resolver(AbstractResolver):
    """Every name resolves to loopback, as a rebinding DNS server would answer the second time."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        self.asked.append(host)
        return [ResolveResult(hostname=host, host="127.0.0.1", port=port, family=socket.AF_INET, proto=0,
                              flags=socket.AI_NUMERICHOST)]

    async def close(self) -> None:
        return None


def test_a_redirect_to_a_name_that_resolves_to_loopback_is_refused_even_on_a_trusted_port():
    with serve({"/feed": redirect("/moved", 302), "/moved": body(RSS)}) as site:
        # the redirect goes to the same server and port, under a name the outsider controls
        site.routes["/feed"] = redirect(f"http://rebind.example:{site.port}/moved", 302)
        resolver = _Resolver()

        async def run():  # type: ignore[no-untyped-def]
            guard = OutboundGuard.trusting([f"http://feeds.example:{site.port}/feed"])
            async with make_client(2, guard=guard, resolver=resolver) as client:
                return await fetch(client, f"http://feeds.example:{site.port}/feed")

        fetched = asyncio.run(run())
    assert not fetched.ok and "rebind.example (127.0.0.1)" in (fetched.error or "") and fetched.hint == RULE_HINT
    assert "rebind.example" in resolver.asked  # resolved, then refused at the address: never connected
    assert [path for path, _ in site.requests] == ["/feed"]


def test_link_checking_checks_the_address_each_connection_dials():
    answers = iter(["127.0.0.1"] * 10)
    asked: list[str] = []

    def rebinding(host: str, port: int) -> list[str]:
        asked.append(host)
        return [next(answers)]

    with listener() as (port, accepted):
        found = broken_links([f"http://news.example:{port}/story"], resolver=rebinding)
    assert asked == ["news.example"] and accepted == []
    assert "news.example (127.0.0.1)" in found[f"http://news.example:{port}/story"]


@pytest.mark.parametrize(("address", "kind"), [
    ("127.0.0.1", "loopback"), ("::1", "loopback"), ("::ffff:127.0.0.1", "loopback"), ("10.1.2.3", "private"),
    ("172.16.0.1", "private"), ("192.168.0.1", "private"), ("169.254.169.254", "link-local"), ("fe80::1", "link-local"),
    ("224.0.0.1", "multicast"), ("0.0.0.0", "unspecified"), ("240.0.0.1", "reserved"), ("100.64.0.1", "reserved"),
    ("fc00::1", "private"), ("93.184.216.34", None), ("2606:4700::1111", None),
])
def test_address_kinds(address, kind):
    assert address_kind(address) == kind


def test_an_allow_list_entry_opens_one_host_and_port_or_every_port():
    guard = OutboundGuard.trusting(["http://127.0.0.1:8000/feed"], ["intranet.example", "10.0.0.5:8080"])
    guard.check("127.0.0.1", 8000, "127.0.0.1")
    guard.check("intranet.example", 1234, "10.0.0.9")
    guard.check("10.0.0.5", 8080, "10.0.0.5")
    for host, port in (("127.0.0.1", 8001), ("10.0.0.5", 8081), ("localhost", 8000)):
        with pytest.raises(OutboundRefused):
            guard.check(host, port, "127.0.0.1")
