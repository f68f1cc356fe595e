"""WebSub (W3C Recommendation, https://www.w3.org/TR/websub/): the subscriber's side of a hub.

    discover(body, headers, url)   the hub and self (topic) links a fetched source advertises
    HubClient.request(...)         ask a hub to subscribe or unsubscribe a callback (202/204 = accepted)
    check_signature(secret, ...)   verify the X-Hub-Signature of a pushed body (HMAC, constant time)
    sign(secret, body)             the signature a hub sends (for fakes and tests)

Discovery reads the HTTP `Link` header first, then the feed's own links: Atom `<link rel="hub">`,
RSS 2.0 `<atom:link rel="hub">`, JSON Feed `hubs`. Only the feed-level part of the document is
read (before the first entry or item), with a tag scanner rather than an XML parser, so a hostile
document cannot expand entities here; the parser proper (`FeedSource`) reads the entries.

Signatures: sha1, sha256, sha384 and sha512 are all accepted, as the spec lists them. HMAC-SHA1 is
not broken as a MAC (the SHA-1 collision attacks do not give HMAC forgeries) and several hubs in
service sign only with sha1; refusing it would silently drop their pushes.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urljoin

from compose.urls import is_web_url
from connectors.outbound import OutboundGuard, OutboundRefused, guarded_transport

from .fetch import USER_AGENT

if TYPE_CHECKING:
    import httpx

SIGNATURE_HEADER = "X-Hub-Signature"
ALGORITHMS: dict[str, str] = {"sha1": "sha1", "sha256": "sha256", "sha384": "sha384", "sha512": "sha512"}


class HubLimits:
    """Limits on talking to a hub and on what the discovery scan reads."""

    timeout_s = 15.0
    connect_timeout_s = 10.0
    scan_bytes = 256 * 1024  # the feed-level links come before the entries: this is plenty


@dataclass(frozen=True, slots=True)
class Discovery:
    """What a fetched source advertises for push: a hub, and its own canonical URL (the topic)."""

    hub: str | None = None
    self_url: str | None = None


def discover(body: bytes, headers: Mapping[str, str], url: str) -> Discovery:
    """The WebSub hub and self links of one fetched response (Link header first, then the body)."""
    links = _link_header(_header(headers, "link"), url)
    hub, self_url = links.get("hub"), links.get("self")
    if hub and self_url:
        return Discovery(hub, self_url)
    found = _json_feed_links(body, url) if body.lstrip()[:1] == b"{" else _markup_links(body, url)
    return Discovery(hub or found.get("hub"), self_url or found.get("self"))


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return ""


_LINK_VALUE = re.compile(r"<([^>]*)>((?:\s*;\s*[^;,]+)*)")
_PARAM = re.compile(r"""\s*;\s*([\w*-]+)\s*=\s*(?:"([^"]*)"|([^\s;,"]+))""")


def _link_header(value: str, base: str) -> dict[str, str]:
    """rel -> href from an RFC 8288 `Link` header; the first link of each relation wins."""
    found: dict[str, str] = {}
    for match in _LINK_VALUE.finditer(value):
        href = _http(match.group(1).strip(), base)
        for param in _PARAM.finditer(match.group(2)):
            if param.group(1).lower() != "rel" or not href:
                continue
            for rel in (param.group(2) or param.group(3) or "").lower().split():
                found.setdefault(rel, href)
    return found


_TAG = re.compile(rb"<(/?)([\w.-]+:)?(link|entry|item|items)\b([^>]*)>", re.IGNORECASE)
_ATTR = re.compile(rb"""([\w:.-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")


def _markup_links(body: bytes, base: str) -> dict[str, str]:
    """rel -> href of the feed-level `<link>` / `<atom:link>` elements that carry an href."""
    found: dict[str, str] = {}
    for match in _TAG.finditer(body[: HubLimits.scan_bytes]):
        name = match.group(3).lower()
        if name != b"link":
            if not match.group(1) and name in (b"entry", b"item"):
                break  # the entries begin: their links are not the feed's
            continue
        attrs = {m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3))
                 for m in _ATTR.finditer(match.group(4))}
        href = attrs.get(b"href")
        if href is None:
            continue
        url = _http(html.unescape(href.decode("utf-8", "replace")).strip(), base)
        for rel in attrs.get(b"rel", b"").decode("ascii", "replace").lower().split():
            if url:
                found.setdefault(rel, url)
    return found


def _json_feed_links(body: bytes, base: str) -> dict[str, str]:
    """JSON Feed 1.x: `hubs: [{"type": "WebSub", "url": ...}]` and `feed_url` (its self URL)."""
    try:
        document = json.loads(body[: HubLimits.scan_bytes * 40])
    except ValueError:
        return {}
    if not isinstance(document, dict):
        return {}
    found: dict[str, str] = {}
    for hub in document.get("hubs") or ():
        if (isinstance(hub, dict) and str(hub.get("type", "")).lower() == "websub"
                and isinstance(hub.get("url"), str) and (url := _http(hub["url"], base))):
            found.setdefault("hub", url)
    if isinstance(document.get("feed_url"), str) and (url := _http(document["feed_url"], base)):
        found["self"] = url
    return found


def _http(href: str, base: str) -> str | None:
    """`href` made absolute; None unless it is an http(s) URL with a host."""
    try:
        url = urljoin(base, href)
    except ValueError:
        return None
    return url if is_web_url(url) else None


# --- secrets and signatures -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SignatureCheck:
    """Whether a pushed body is signed with the subscription's secret, and if not, why."""

    ok: bool
    reason: str = ""
    algorithm: str | None = None


def check_signature(secret: str, body: bytes, header: str | None) -> SignatureCheck:
    """Verify `X-Hub-Signature: method=hexdigest` over the raw body (constant-time comparison)."""
    if not header:
        return SignatureCheck(False, "no X-Hub-Signature header")
    method, sep, given = header.strip().partition("=")
    algorithm = ALGORITHMS.get(method.strip().lower())
    if not sep or algorithm is None:
        return SignatureCheck(False, f"unsupported signature method {method.strip()[:20]!r}")
    expected = hmac.new(secret.encode("utf-8"), body, getattr(hashlib, algorithm)).hexdigest()
    if not hmac.compare_digest(expected, given.strip().lower().encode("ascii", "replace").decode("ascii")):
        return SignatureCheck(False, f"the {algorithm} signature does not match", algorithm)
    return SignatureCheck(True, algorithm=algorithm)


def sign(secret: str, body: bytes, algorithm: str = "sha256") -> str:
    """The X-Hub-Signature value a hub sends for `body` (used by tests and fakes)."""
    return f"{algorithm}={hmac.new(secret.encode('utf-8'), body, getattr(hashlib, ALGORITHMS[algorithm])).hexdigest()}"


# --- the hub client ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HubAnswer:
    """A hub's answer to a (un)subscription request. `ok` means accepted (202/204): the hub verifies
    our intent later, by a GET to the callback."""

    ok: bool
    status: int | None = None
    error: str | None = None
    hint: str | None = None


class HubClient:
    """Sends subscription requests to WebSub hubs. One per gather run; `close()` when done."""

    def __init__(self, client: httpx.Client | None = None, *, guard: OutboundGuard | None = None) -> None:
        """`guard` checks the address of every hub (a hub URL comes from a feed: an internal one is
        refused unless its host is a configured source or in `[fetch] allow_hosts`)."""
        import httpx  # here, not at the top: a gather with no hub to ask never loads it

        self._client = client or httpx.Client(
            timeout=httpx.Timeout(HubLimits.timeout_s, connect=HubLimits.connect_timeout_s),
            headers={"User-Agent": USER_AGENT}, follow_redirects=False, trust_env=False,
            transport=guarded_transport(guard or OutboundGuard(), asynchronous=False))

    def __repr__(self) -> str:
        return "HubClient()"

    def close(self) -> None:
        self._client.close()

    def request(self, hub: str, *, mode: str, topic: str, callback: str, secret: str | None = None,
                lease_seconds: int | None = None) -> HubAnswer:
        """POST hub.mode/topic/callback (and hub.secret, hub.lease_seconds) to `hub`. Never raises."""
        form = {"hub.mode": mode, "hub.topic": topic, "hub.callback": callback}
        if secret:
            form["hub.secret"] = secret
        if lease_seconds:
            form["hub.lease_seconds"] = str(lease_seconds)
        if not _http(hub, hub):
            return HubAnswer(False, error=f"the hub URL {hub!r} is not http(s)",
                             hint="the source advertises a hub syndicate cannot use: polling goes on")
        import httpx

        try:
            response = self._client.post(hub, data=form)
        except OutboundRefused as refused:
            return HubAnswer(False, error=f"the hub {hub!r} was not asked: {refused}", hint=refused.hint)
        except httpx.TimeoutException:
            return HubAnswer(False, error="the hub did not answer in time",
                             hint="usually temporary: syndicate asks again on a later gather")
        except httpx.HTTPError as exc:
            return HubAnswer(False, error=f"could not reach the hub: {exc.__class__.__name__}",
                             hint="check that the hub is up; syndicate asks again on a later gather")
        if response.status_code in (202, 204):
            return HubAnswer(True, status=response.status_code)
        detail = " ".join(response.text[:200].split())
        return HubAnswer(False, status=response.status_code,
                         error=f"the hub refused the {mode} request with {response.status_code}"
                               + (f": {detail}" if detail else ""),
                         hint=_refusal_hint(response.status_code))


def _refusal_hint(status: int) -> str:
    if 300 <= status < 400:
        return "the hub redirects: the source advertises an outdated hub URL; polling goes on"
    if status in (400, 422):
        return ("the hub rejected the request: is [websub] callback_url (or edition.public_url) a public "
                "https URL the hub can reach?")
    if status == 429 or status >= 500:
        return "the hub is busy or failing: syndicate asks again on a later gather"
    return "the hub will not take this subscription: polling goes on as before"
