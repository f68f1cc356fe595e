"""The pre-flight checks that ask the outside world (`syndicate doctor`, the desk's doctor page):

- the From domain's SPF, DKIM and DMARC (`connectors.dns_check`);
- that `public_url` serves the RFC 8058 one-click unsubscribe POST, answered by a web app that
  holds our secret key (a signed link for a subscriber that does not exist: the app must say it
  knows no such subscriber, which it can only say after checking the signature);
- that the SendGrid API key has the scopes a send needs (`GET /v3/scopes`);
- that the Event Webhook's public key is set and parses.

The ledger's checks (secret key against links sent, Gmail's clip) are `state.doctor`'s. Everything
here returns `compose.doctor.Finding`s and never raises for what it finds.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from datetime import datetime
from functools import cache
from urllib.parse import urlsplit

import httpx

from compose.config import Config
from compose.doctor import Finding
from compose.signing import unsubscribe_token, unsubscribe_url
from connectors.dns_check import mail_auth_findings
from connectors.errors import AuthError, ConnectorError
from connectors.outbound import (
    OutboundGuard,
    OutboundRefused,
    Resolver,
    address_kind,
    guarded_transport,
    system_resolver,
)
from connectors.sources.fetch import USER_AGENT

REQUIRED_SCOPES = ("mail.send",)
PROBE_SUBSCRIBER = 0  # no subscriber has id 0: the probe never unsubscribes anyone
NO_SUBSCRIBER_MARK = "We have no subscriber for this link"  # web.public's answer to a genuine link for nobody


class PreflightLimits:
    timeout_s = 10.0


@cache
def tls_context() -> ssl.SSLContext:
    """The verifying TLS context of the probe, built by the first check and kept for the process:
    building one (loading certifi's bundle) costs more than the rest of the desk's doctor page,
    and httpx builds one for every new transport unless it is given one."""
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


def real_sending(config: Config, env: Mapping[str, str]) -> bool:
    """Whether sends go out for real (SendGrid configured and its key set), not to the outbox."""
    return config.email.provider == "sendgrid" and bool(env.get("SENDGRID_API_KEY"))


def unsubscribe_findings(config: Config, secret_key: str | None, *, now: datetime, real: bool,
                         resolver: Resolver | None = None) -> list[Finding]:
    """POST a one-click unsubscribe (`List-Unsubscribe=One-Click`) to public_url, as Gmail does."""
    public = str(config.edition.public_url).rstrip("/")
    parts = urlsplit(public)
    host = parts.hostname or ""
    findings: list[Finding] = []
    where = "[edition] public_url in syndicate.toml"
    if real and parts.scheme != "https":
        findings.append(Finding("unsubscribe-https", "blocker", f"public_url is not https: {public}",
                                detail="RFC 8058 one-click unsubscribe needs an https link; Gmail and Yahoo ignore "
                                       "an http one.",
                                fix=f"serve the web app over https and set {where} to its https address"))
    try:
        kinds = {address_kind(a) for a in (resolver or system_resolver)(host, parts.port or 443)}
    except OSError as exc:
        return [*findings, Finding("unsubscribe", "blocker" if real else "warning",
                                   f"public_url's host {host} does not resolve ({exc})",
                                   fix=f"set {where} to the address the web app is served at")]
    internal = sorted(k for k in kinds if k is not None)
    if internal:
        findings.append(Finding("unsubscribe-public", "warning" if real else "ok",
                                f"public_url {public} is on a {internal[0]} address" + (
                                    ": subscribers cannot reach it" if real else " (fine for the outbox and the demo)"),
                                fix=(f"set {where} to the public https address of `syndicate web`" if real else "")))
    if secret_key is None:
        return [*findings, Finding("unsubscribe", "warning", "one-click unsubscribe not tried: no secret key yet",
                                   fix="run `syndicate send` or `syndicate web` once (they create the key), then "
                                       "check again")]
    token = unsubscribe_token(secret_key, subscriber_id=PROBE_SUBSCRIBER, edition_id=None, now=now)
    url = unsubscribe_url(public, token)
    guard = OutboundGuard.trusting([public])  # named in syndicate.toml: trusted as written, host and port
    try:
        with httpx.Client(timeout=PreflightLimits.timeout_s, follow_redirects=False, trust_env=False,
                          transport=guarded_transport(guard, asynchronous=False, resolver=resolver,
                                                    verify=tls_context()),
                          headers={"User-Agent": USER_AGENT}) as client:
            answer = client.post(url, content=b"List-Unsubscribe=One-Click",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    except OutboundRefused as refused:
        return [*findings, Finding("unsubscribe", "blocker", f"not tried: {refused}", fix=refused.hint)]
    except (httpx.HTTPError, OSError) as exc:
        return [*findings, Finding("unsubscribe", "blocker" if real else "warning",
                                   f"no answer from {public} ({type(exc).__name__})",
                                   detail="subscribers' one-click unsubscribe goes there; it must answer at all times.",
                                   fix=f"start the web app (`syndicate web` or `syndicate serve`) where {where} "
                                       "points, or correct public_url")]
    if answer.status_code == 400 and NO_SUBSCRIBER_MARK in answer.text:
        return [*findings, Finding("unsubscribe", "ok", f"{public} answers the one-click unsubscribe POST with "
                                                        "our secret key")]
    if answer.status_code == 400:
        return [*findings, Finding("unsubscribe", "blocker", f"the web app at {public} does not accept our links",
                                   detail="it answered the signed probe as a link that does not work: it runs with "
                                          "another secret key, so every unsubscribe link sent would fail.",
                                   fix="run the web app with the same SYNDICATE_SECRET_KEY (or key file) as "
                                       "`syndicate send`")]
    return [*findings, Finding("unsubscribe", "blocker", f"{public} does not serve the one-click unsubscribe POST "
                                                         f"(it answered HTTP {answer.status_code} to POST "
                                                         "/unsubscribe/…)",
                               detail="it is not syndicate's web app, or a proxy in front of it refuses POST.",
                               fix=f"point {where} at `syndicate web`, and let POST /unsubscribe/* through "
                                   "any proxy without a login or CSRF check")]


def scope_findings(config: Config, env: Mapping[str, str]) -> list[Finding]:
    """Whether the SendGrid API key in use may send (`GET /v3/scopes`)."""
    from connectors.channels.sendgrid import SendGridChannel

    if config.email.provider != "sendgrid":
        return [Finding("scopes", "ok", "SendGrid not used: [email] provider is the outbox")]
    channel = SendGridChannel.from_env(env, config=config)
    if channel is None:
        return [Finding("scopes", "warning", "SENDGRID_API_KEY is not set: sends go to the outbox, not SendGrid",
                        fix="set SENDGRID_API_KEY to a key with the Mail Send permission in the environment of "
                            "`syndicate send` and `syndicate serve`")]
    try:
        granted = channel.scopes()
    except AuthError as exc:
        return [Finding("scopes", "blocker", f"SendGrid refused the API key ({exc.status})",
                        detail=exc.provider_message or "", private=True,
                        fix="create a new API key in SendGrid (Settings > API Keys) with Mail Send and set "
                            "SENDGRID_API_KEY to it")]
    except (TimeoutError, ConnectorError) as exc:
        return [Finding("scopes", "warning", f"could not ask SendGrid for the key's scopes: {exc}", private=True,
                        fix="check the network to SendGrid (or SENDGRID_API_HOST), then run the check again")]
    finally:
        channel.close()
    missing = [scope for scope in REQUIRED_SCOPES if scope not in granted]
    if missing:
        return [Finding("scopes", "blocker", f"the SendGrid API key lacks {', '.join(missing)}",
                        detail=f"it has {len(granted)} scope(s)", private=True,
                        fix="edit the key in SendGrid (Settings > API Keys > Edit) and give it Mail Send: Full "
                            "Access, or create a key that has it")]
    return [Finding("scopes", "ok", f"the SendGrid API key may send ({', '.join(REQUIRED_SCOPES)})",
                    detail=f"it has {len(granted)} scope(s)", private=True)]


def webhook_key_findings(config: Config, env: Mapping[str, str]) -> list[Finding]:
    """Whether SENDGRID_WEBHOOK_PUBLIC_KEY is set and is an ECDSA public key (as SendGrid's UI shows it)."""
    from sendgrid.helpers.eventwebhook import EventWebhook

    if config.email.provider != "sendgrid":
        return [Finding("webhook-key", "ok", "SendGrid not used: no Event Webhook to verify")]
    key = env.get("SENDGRID_WEBHOOK_PUBLIC_KEY", "").strip()
    fix = ("in SendGrid, Settings > Mail Settings > Event Webhook: enable Signed Event Webhook Requests, copy the "
           "Verification Key and set SENDGRID_WEBHOOK_PUBLIC_KEY to it for `syndicate web`")
    if not key:
        return [Finding("webhook-key", "blocker", "SENDGRID_WEBHOOK_PUBLIC_KEY is not set",
                        detail="without it, bounces and spam complaints from SendGrid are refused, so they never "
                               "suppress an address or pause a send that harms your reputation.", fix=fix)]
    body = "".join(line for line in key.splitlines() if not line.startswith("-----"))
    try:
        EventWebhook(body)
    except (ValueError, TypeError) as exc:  # bad base64 (binascii.Error is a ValueError), not a key
        return [Finding("webhook-key", "blocker", "SENDGRID_WEBHOOK_PUBLIC_KEY is not a public key "
                                                  f"({type(exc).__name__})", fix=fix)]
    return [Finding("webhook-key", "ok", "SENDGRID_WEBHOOK_PUBLIC_KEY is set and is a public key")]


def outside_findings(config: Config, env: Mapping[str, str], *, secret_key: str | None, now: datetime,
                     resolver: Resolver | None = None) -> list[Finding]:
    """Every check of the outside world, in the order the report lists them."""
    real = real_sending(config, env)
    sendgrid = config.email.provider == "sendgrid"
    return [*mail_auth_findings(config.edition.from_email, config.email.dkim_selectors, sendgrid=sendgrid, env=env),
            *unsubscribe_findings(config, secret_key, now=now, real=real, resolver=resolver),
            *scope_findings(config, env), *webhook_key_findings(config, env)]
