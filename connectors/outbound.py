"""Guarding outbound requests whose target came from content (server-side request forgery).

A redirect to another host, a WebSub hub advertised by a feed, an item link being checked: each
names a host that an outsider chose. `OutboundGuard` refuses to connect when that host resolves to
a loopback, private, link-local, multicast, reserved or otherwise non-public address. The check is
made on the address actually dialled, on every connection (every redirect hop opens its own), so
a name that resolves to a public address once and an internal one the next time (DNS rebinding)
cannot pass it:

    aiohttp (sources)       `GuardedConnector` checks the addresses it is about to dial
    httpx (links, hubs)     `guarded_transport(...)` resolves, checks, then dials the checked address

Hosts named in `syndicate.toml` as sources are trusted as written, host and port (the demo serves
its site on loopback), and `[fetch] allow_hosts` opens further hosts ("host" or "host:port").
A refusal is an `OutboundRefused` carrying a hint that names the rule.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from compose.errors import SyndicateError

Resolver = Callable[[str, int], Sequence[str]]  # host, port -> the addresses it resolves to

RULE_HINT = ("syndicate does not connect to internal addresses (loopback, private, link-local, multicast, "
             "reserved) named by content; if this host is yours, name it as a source in syndicate.toml or "
             "add it to [fetch] allow_hosts")


class OutboundRefused(SyndicateError):
    """A connection refused because its address is internal and its host is not trusted."""

    def __init__(self, host: str, address: str, kind: str) -> None:
        super().__init__(f"refused to connect to {host} ({address}): a {kind} address")
        self.host, self.address, self.kind = host, address, kind
        self.hint = RULE_HINT


def address_kind(address: str) -> str | None:
    """What makes `address` internal ("loopback", "private", ...), or None for a public address."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "unparseable"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for kind, flag in (("loopback", ip.is_loopback), ("link-local", ip.is_link_local),
                       ("multicast", ip.is_multicast), ("unspecified", ip.is_unspecified),
                       ("reserved", ip.is_reserved), ("private", ip.is_private)):
        if flag:
            return kind
    return None if ip.is_global else "reserved"


def _host_port(entry: str) -> tuple[str, int | None]:
    parts = urlsplit(entry if "//" in entry else f"//{entry}")
    if not parts.hostname:
        raise ValueError(f"{entry!r} is not a host name (write \"host\" or \"host:port\")")
    return parts.hostname.lower().rstrip("."), parts.port


def _url_host_port(url: str) -> tuple[str, int | None]:
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    return (parts.hostname or "").lower().rstrip("."), parts.port or default


def system_resolver(host: str, port: int) -> list[str]:
    return [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


@dataclass(frozen=True)
class OutboundGuard:
    """Which hosts may be internal: (host, port) pairs, port None meaning any port."""

    trusted: frozenset[tuple[str, int | None]] = field(default_factory=frozenset)

    @classmethod
    def trusting(cls, urls: Iterable[str] = (), allow_hosts: Iterable[str] = ()) -> OutboundGuard:
        """Trust the host and port of each URL as written (sources in syndicate.toml) and each
        `allow_hosts` entry ("host" for any port, "host:port" for one)."""
        pairs = {_url_host_port(str(url)) for url in urls}
        pairs |= {_host_port(entry) for entry in allow_hosts}
        return cls(frozenset(pair for pair in pairs if pair[0]))

    def trusts(self, host: str, port: int | None) -> bool:
        name = host.lower().strip("[]").rstrip(".")
        return (name, port) in self.trusted or (name, None) in self.trusted

    def check(self, host: str, port: int | None, address: str) -> None:
        """Raise `OutboundRefused` if connecting to `address` for `host:port` is not allowed."""
        if self.trusts(host, port):
            return
        kind = address_kind(address)
        if kind is not None:
            raise OutboundRefused(host, address, kind)


# --- aiohttp -----------------------------------------------------------------------------------------


def check_addr_infos(guard: OutboundGuard, host: str, port: int | None, addr_infos: Iterable[Any]) -> None:
    """The aiohttp hook's check: every address about to be dialled for `host` must be allowed."""
    for info in addr_infos:
        guard.check(host, port, str(info[4][0]))


# --- httpx (through httpcore's network backend) --------------------------------------------------------


class _Backend:
    """Shared by the sync and async backends: resolve, check every address, dial a checked one."""

    def __init__(self, guard: OutboundGuard, inner: Any, resolver: Resolver | None) -> None:
        self.guard, self.inner, self.resolver = guard, inner, resolver or system_resolver

    def _addresses(self, host: str, port: int) -> list[str]:
        try:
            addresses = list(dict.fromkeys(self.resolver(host, port)))
        except OSError as exc:
            import httpcore

            raise httpcore.ConnectError(f"could not resolve {host}: {exc}") from exc
        for address in addresses:
            self.guard.check(host, port, address)
        return addresses


class _SyncGuardedBackend(_Backend):
    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Any = None) -> Any:
        if self.guard.trusts(host, port):
            return self.inner.connect_tcp(host, port, timeout, local_address, socket_options)
        error: Exception | None = None
        for address in self._addresses(host, port):
            try:
                return self.inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except Exception as exc:  # noqa: BLE001 - try the next address; the last error is raised
                error = exc
        raise error or OSError(f"no address for {host}")

    def connect_unix_socket(self, *args: Any, **kwargs: Any) -> Any:
        raise OutboundRefused("a unix socket", "-", "local")

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


class _AsyncGuardedBackend(_Backend):
    async def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                          socket_options: Any = None) -> Any:
        if self.guard.trusts(host, port):
            return await self.inner.connect_tcp(host, port, timeout, local_address, socket_options)
        import anyio.to_thread

        addresses = await anyio.to_thread.run_sync(self._addresses, host, port)
        error: Exception | None = None
        for address in addresses:
            try:
                return await self.inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except Exception as exc:  # noqa: BLE001 - try the next address; the last error is raised
                error = exc
        raise error or OSError(f"no address for {host}")

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> Any:
        raise OutboundRefused("a unix socket", "-", "local")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def guarded_transport(guard: OutboundGuard, *, asynchronous: bool, resolver: Resolver | None = None,
                      **options: Any) -> Any:
    """An httpx transport (`httpx.AsyncHTTPTransport` or `httpx.HTTPTransport`) whose every connection,
    redirects included, is checked by `guard`. TLS still verifies the host name, not the address."""
    import httpx

    transport: Any = httpx.AsyncHTTPTransport(**options) if asynchronous else httpx.HTTPTransport(**options)
    pool = transport._pool  # httpcore's pool: its network backend is where connections are dialled
    backend = _AsyncGuardedBackend if asynchronous else _SyncGuardedBackend
    pool._network_backend = backend(guard, pool._network_backend, resolver)
    return transport
