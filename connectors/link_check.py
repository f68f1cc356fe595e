"""Checking that the links an edition carries still answer, before staff approve it.

A link is broken when it answers 4xx/5xx (after redirects) or cannot be reached in time. HEAD is
tried first; servers that refuse HEAD (405, 501) get a GET whose body is never read. Links come
from content: a link (or a redirect) to an internal address is not requested, and is reported
(`connectors.outbound.OutboundGuard`), unless its host is a configured source or allowed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import httpx

from compose.config import Config
from compose.models import Edition
from connectors.outbound import OutboundGuard, OutboundRefused, Resolver, guarded_transport
from connectors.sources.fetch import USER_AGENT


class LinkCheckLimits:
    timeout_s = 10.0
    concurrency = 16
    max_redirects = 5


async def _check(client: httpx.AsyncClient, gate: asyncio.Semaphore, url: str) -> str | None:
    async with gate:
        try:
            response = await client.head(url)
            if response.status_code in (405, 501):
                async with client.stream("GET", url) as streamed:
                    response = streamed
        except OutboundRefused as refused:
            return f"not checked: {refused}"
        except httpx.TooManyRedirects:
            return "too many redirects"
        except httpx.TimeoutException:
            return f"no answer within {LinkCheckLimits.timeout_s:g} s"
        except httpx.HTTPError as exc:
            return f"unreachable ({type(exc).__name__})"
    if response.status_code >= 400:
        return f"HTTP {response.status_code}"
    return None


async def _check_all(urls: list[str], guard: OutboundGuard, resolver: Resolver | None) -> dict[str, str]:
    gate = asyncio.Semaphore(LinkCheckLimits.concurrency)
    async with httpx.AsyncClient(timeout=LinkCheckLimits.timeout_s, follow_redirects=True,
                                 max_redirects=LinkCheckLimits.max_redirects, trust_env=False,
                                 transport=guarded_transport(guard, asynchronous=True, resolver=resolver),
                                 headers={"User-Agent": USER_AGENT}) as client:
        results = await asyncio.gather(*(_check(client, gate, url) for url in urls))
    return {url: problem for url, problem in zip(urls, results, strict=True) if problem}


def broken_links(urls: Iterable[str], *, guard: OutboundGuard | None = None,
                 resolver: Resolver | None = None) -> dict[str, str]:
    """The links that do not answer, with the reason. Only http(s) links are checked, and only on
    public addresses unless `guard` trusts the host. `resolver` replaces DNS (tests)."""
    wanted = sorted({url for url in urls if url.startswith(("http://", "https://"))})
    return asyncio.run(_check_all(wanted, guard or OutboundGuard(), resolver)) if wanted else {}


def edition_link_warnings(edition: Edition, config: Config) -> tuple[str, ...]:
    """A warning per link of `edition` (its items and the pinned one) that does not answer; the
    configured sources' hosts and `fetch.allow_hosts` are trusted even on internal addresses."""
    shown = ((edition.featured,) if edition.featured else ()) + edition.items
    guard = OutboundGuard.trusting([str(source.url) for source in config.sources], config.fetch.allow_hosts)
    broken = broken_links((item.url for item in shown), guard=guard)
    return tuple(f"broken link in \"{item.title}\": {item.url} ({broken[item.url]})"
                 for item in shown if item.url in broken)
