"""The From domain's mail authentication in DNS: SPF, DKIM and DMARC, as Gmail and Yahoo require of
bulk senders, read with dnspython.

The resolver is the system's, or the server `SYNDICATE_DNS_SERVER` names ("host" or "host:port",
e.g. "127.0.0.1:5353": a resolver of your own, or the tests' local fake). Each check returns
`compose.doctor.Finding`s that say exactly which record to add or change.

The record parsers (`parse_spf`, `parse_dmarc`, `parse_dkim`) take any text and never raise: a TXT
record is whatever someone typed into their DNS host's form.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import dns.exception
import dns.rdatatype
import dns.resolver

from compose.doctor import Finding

ENV_SERVER = "SYNDICATE_DNS_SERVER"
SENDGRID_SPF = "include:sendgrid.net"
SPF_LOOKUP_LIMIT = 10  # RFC 7208 §4.6.4: more DNS-querying terms than this is a permanent error
_LOOKUP_TERMS = ("include", "a", "mx", "ptr", "exists", "redirect")


class DnsLimits:
    timeout_s = 3.0  # per query, all servers tried
    lifetime_s = 6.0


def resolver_from_env(env: Mapping[str, str]) -> dns.resolver.Resolver:
    """The system resolver, or the server `SYNDICATE_DNS_SERVER` names; `ValueError` when it names none."""
    server = env.get(ENV_SERVER, "").strip()
    if not server:
        resolver = dns.resolver.Resolver()
    else:
        host, _, port = server.rpartition(":") if server.count(":") == 1 else (server, "", "")
        if not port.isdigit() or not 0 < int(port) < 65536:
            if port:
                raise ValueError(f"{ENV_SERVER}={server!r}: the port must be a number, e.g. 127.0.0.1:5353")
            host, port = server, "53"
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [host.strip("[]")]
        resolver.port = int(port)
    resolver.timeout, resolver.lifetime = DnsLimits.timeout_s, DnsLimits.lifetime_s
    resolver.cache = None
    return resolver


@dataclass(frozen=True)
class TxtAnswer:
    """The TXT strings at a name (each record's strings joined), or why there is no answer."""

    records: tuple[str, ...] = ()
    problem: str | None = None  # a lookup failure (timeout, server failure), not "no record"


def txt_records(resolver: dns.resolver.Resolver, name: str) -> TxtAnswer:
    """TXT records at `name`, CNAMEs followed (SendGrid's DKIM selectors are CNAMEs)."""
    try:
        answer = resolver.resolve(name, dns.rdatatype.TXT, raise_on_no_answer=False)
    except dns.resolver.NXDOMAIN:
        return TxtAnswer()
    except dns.resolver.NoNameservers:
        return TxtAnswer(problem=f"no DNS server answered for {name}")
    except dns.exception.Timeout:
        return TxtAnswer(problem=f"no answer for {name} within {DnsLimits.lifetime_s:g} s")
    except dns.exception.DNSException as exc:
        return TxtAnswer(problem=f"the lookup of {name} failed ({type(exc).__name__})")
    texts = []
    for rdata in answer.rrset or ():
        texts.append(b"".join(rdata.strings).decode("utf-8", "replace"))
    return TxtAnswer(tuple(texts))


# --- parsing ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spf:
    """An SPF record's terms (RFC 7208), lower-cased, and what stands out."""

    terms: tuple[str, ...]
    all_qualifier: str | None  # "+", "-", "~", "?" for the `all` term; None without one
    lookups: int  # terms that make the receiver query DNS (include, a, mx, ptr, exists, redirect)
    unknown: tuple[str, ...] = ()

    def includes(self, domain: str) -> bool:
        return f"include:{domain.lower()}" in (t.lstrip("+-~?") for t in self.terms)


def is_spf(text: str) -> bool:
    return text.strip().lower() == "v=spf1" or text.strip().lower().startswith("v=spf1 ")


def parse_spf(text: str) -> Spf | None:
    """The SPF record in `text`, or None when `text` is not one (does not start with "v=spf1")."""
    if not is_spf(text):
        return None
    terms = tuple(term.lower() for term in text.split()[1:])
    qualifier: str | None = None
    lookups = 0
    unknown = []
    for term in terms:
        bare = term.lstrip("+-~?")
        name = re.split(r"[:=/]", bare, maxsplit=1)[0]
        if bare == "all":
            qualifier = term[0] if term[0] in "+-~?" else "+"
        elif name in _LOOKUP_TERMS:
            lookups += 1
        elif name not in ("ip4", "ip6", "exp") and "=" not in bare:
            unknown.append(term)
    return Spf(terms, qualifier, lookups, tuple(unknown))


def spf_with(text: str, mechanism: str) -> str:
    """`text` (an SPF record) with `mechanism` added before its `all` (or `redirect`) term."""
    terms = text.split()
    for index, term in enumerate(terms):
        bare = term.lower().lstrip("+-~?")
        if bare == "all" or bare.startswith("redirect="):
            return " ".join([*terms[:index], mechanism, *terms[index:]])
    return " ".join([*terms, mechanism])


@dataclass(frozen=True)
class Dmarc:
    """A DMARC record's tags (RFC 7489), tag names lower-cased; `problems` says what is wrong with it."""

    tags: Mapping[str, str] = field(default_factory=dict)
    problems: tuple[str, ...] = ()

    @property
    def policy(self) -> str | None:
        return self.tags.get("p")


_POLICIES = ("none", "quarantine", "reject")


def is_dmarc(text: str) -> bool:
    return re.match(r"\s*v\s*=\s*DMARC1\s*(;|$)", text) is not None


def parse_dmarc(text: str) -> Dmarc | None:
    """The DMARC record in `text`, or None when `text` is not one (its first tag is not v=DMARC1)."""
    if not is_dmarc(text):
        return None
    tags: dict[str, str] = {}
    problems = []
    for part in text.split(";")[1:]:
        if not part.strip():
            continue
        name, equals, value = part.partition("=")
        name, value = name.strip().lower(), value.strip()
        if not equals or not name:
            problems.append(f"{part.strip()!r} is not a tag=value pair")
            continue
        tags.setdefault(name, value)
    policy = tags.get("p")
    if policy is None:
        problems.append("it has no policy (p=)")
    elif policy.lower() not in _POLICIES:
        problems.append(f"p={policy} is not a policy (none, quarantine or reject)")
    else:
        tags["p"] = policy.lower()
    for tag in ("adkim", "aspf"):
        if tag in tags:
            if tags[tag].lower() not in ("r", "s"):
                problems.append(f"{tag}={tags[tag]} is neither r (relaxed) nor s (strict)")
            else:
                tags[tag] = tags[tag].lower()
    if "sp" in tags and tags["sp"].lower() not in _POLICIES:
        problems.append(f"sp={tags['sp']} is not a policy (none, quarantine or reject)")
    return Dmarc(tags, tuple(problems))


def parse_dkim(text: str) -> tuple[bool, str]:
    """Whether `text` is a DKIM key record with a usable public key, and if not, why."""
    tags: dict[str, str] = {}
    for part in text.split(";"):
        name, equals, value = part.partition("=")
        if equals:
            tags.setdefault(name.strip().lower(), "".join(value.split()))
    if "v" in tags and tags["v"] != "DKIM1":
        return False, f"v={tags['v']} (a DKIM key record says v=DKIM1)"
    if "p" not in tags:
        return False, "it holds no public key (p=)"
    if not tags["p"]:
        return False, "its key is empty (p=): the key was revoked"
    try:
        base64.b64decode(tags["p"], validate=True)
    except (binascii.Error, ValueError):
        return False, "its public key (p=) is not valid base64"
    return True, ""


# --- the checks ---------------------------------------------------------------------------------------


def _lookup_failed(check: str, answer: TxtAnswer, name: str) -> Finding:
    return Finding(check, "warning", f"could not look up {name}: {answer.problem}",
                   fix=f"check the DNS server ({ENV_SERVER} or the system's), then run the check again")


def spf_findings(resolver: dns.resolver.Resolver, domain: str, *, sendgrid: bool) -> list[Finding]:
    answer = txt_records(resolver, domain)
    if answer.problem:
        return [_lookup_failed("spf", answer, domain)]
    records = [text for text in answer.records if is_spf(text)]
    wanted = f"v=spf1 {SENDGRID_SPF} ~all" if sendgrid else "v=spf1 mx ~all"
    if not records:
        return [Finding("spf", "blocker", f"{domain} has no SPF record",
                        detail="Gmail and Yahoo refuse bulk mail from a domain without SPF.",
                        fix=f"add a TXT record at {domain}: \"{wanted}\"" + ("" if sendgrid else
                            " (with the servers that send your mail)"))]
    if len(records) > 1:
        return [Finding("spf", "blocker", f"{domain} has {len(records)} SPF records: receivers treat that as an error",
                        detail="; ".join(f'"{r}"' for r in records),
                        fix="merge them into one TXT record starting \"v=spf1\" and delete the others")]
    text = records[0]
    spf = parse_spf(text)
    assert spf is not None
    if spf.all_qualifier == "+":
        return [Finding("spf", "blocker", f"{domain}'s SPF record allows anyone to send as you (+all)",
                        detail=f'"{text}"', fix=f"replace \"+all\" (or a bare \"all\") with \"~all\" in the TXT record at {domain}")]
    findings = []
    if sendgrid and not spf.includes("sendgrid.net"):
        findings.append(Finding("spf", "warning", f"{domain}'s SPF record does not include SendGrid",
                                detail=f'now: "{text}". SendGrid\'s automated security covers SPF on its own '
                                       "em subdomain; mail sent without it fails SPF for your domain.",
                                fix=f"change the TXT record at {domain} to \"{spf_with(text, SENDGRID_SPF)}\""))
    if spf.lookups > SPF_LOOKUP_LIMIT:
        findings.append(Finding("spf", "blocker", f"{domain}'s SPF record needs {spf.lookups} DNS lookups "
                                f"(the limit is {SPF_LOOKUP_LIMIT})", detail=f'"{text}"',
                                fix="remove includes you no longer send through, or replace them with ip4:/ip6: terms"))
    if spf.all_qualifier is None:
        findings.append(Finding("spf", "warning", f"{domain}'s SPF record has no \"all\" term", detail=f'"{text}"',
                                fix=f"end the TXT record at {domain} with \"~all\" (or \"-all\")"))
    if not findings:
        findings.append(Finding("spf", "ok", f"{domain} has an SPF record" + (" that includes SendGrid" if sendgrid else ""),
                                detail=f'"{text}"'))
    return findings


def dkim_findings(resolver: dns.resolver.Resolver, domain: str, selectors: Sequence[str], *,
                  sendgrid: bool) -> list[Finding]:
    if not selectors:
        return [Finding("dkim", "blocker", "no DKIM selector is configured, so DKIM cannot be checked",
                        fix="set [email] dkim_selectors in syndicate.toml to the selectors your provider signs with "
                            "(SendGrid's automated security: [\"s1\", \"s2\"])")]
    findings = []
    for selector in selectors:
        name = f"{selector}._domainkey.{domain}"
        check = f"dkim:{selector}"
        answer = txt_records(resolver, name)
        if answer.problem:
            findings.append(_lookup_failed(check, answer, name))
            continue
        keys = [text for text in answer.records if "p=" in text.replace(" ", "")]
        if not keys:
            how = ("add the CNAME record SendGrid shows for it (Settings > Sender Authentication), e.g. "
                   f"{name} CNAME {selector}.domainkey.u1234567.wl.sendgrid.net") if sendgrid else (
                   f"publish the DKIM key your provider gives you as a TXT record at {name}")
            findings.append(Finding(check, "blocker", f"no DKIM key at {name}",
                                    detail="Gmail and Yahoo require DKIM signatures aligned with the From domain.",
                                    fix=how))
            continue
        usable, why = parse_dkim(keys[0])
        if not usable:
            findings.append(Finding(check, "blocker", f"the DKIM record at {name} cannot be used: {why}",
                                    fix=f"publish the current key at {name} again, as your provider shows it"))
        else:
            findings.append(Finding(check, "ok", f"DKIM key found at {name}"))
    return findings


def _dmarc_at(resolver: dns.resolver.Resolver, domain: str) -> tuple[str, TxtAnswer]:
    name = f"_dmarc.{domain}"
    return name, txt_records(resolver, name)


def organisational_domain(domain: str) -> str:
    """The registered domain a subdomain's DMARC falls back to. Without the public suffix list this
    is a guess: the last two labels, or three under a two-letter country's second level (org.uk)."""
    labels = domain.lower().rstrip(".").split(".")
    keep = 3 if len(labels) >= 3 and len(labels[-1]) == 2 and len(labels[-2]) <= 3 else 2
    return ".".join(labels[-keep:])


def dmarc_findings(resolver: dns.resolver.Resolver, domain: str, *, sendgrid: bool) -> list[Finding]:
    name, answer = _dmarc_at(resolver, domain)
    inherited = False
    if not answer.problem and not any(is_dmarc(t) for t in answer.records):
        parent = organisational_domain(domain)
        if parent != domain:
            parent_name, parent_answer = _dmarc_at(resolver, parent)
            if parent_answer.problem or any(is_dmarc(t) for t in parent_answer.records):
                name, answer, inherited = parent_name, parent_answer, True
    if answer.problem:
        return [_lookup_failed("dmarc", answer, name)]
    records = [t for t in answer.records if is_dmarc(t)]
    report_to = f"dmarc-reports@{organisational_domain(domain)}"
    if not records:
        return [Finding("dmarc", "blocker", f"{domain} has no DMARC record",
                        detail="Gmail and Yahoo require a DMARC record (p=none at least) of bulk senders.",
                        fix=f"add a TXT record at _dmarc.{domain}: \"v=DMARC1; p=none; rua=mailto:{report_to}\" "
                            "(move to p=quarantine once the reports show only your own mail)")]
    if len(records) > 1:
        return [Finding("dmarc", "blocker", f"{name} has {len(records)} DMARC records: receivers ignore them all",
                        fix=f"keep one TXT record starting \"v=DMARC1\" at {name} and delete the others")]
    record = parse_dmarc(records[0])
    assert record is not None
    if record.problems:
        return [Finding("dmarc", "blocker", f"the DMARC record at {name} is not valid: " + "; ".join(record.problems),
                        detail=f'"{records[0]}"',
                        fix=f"write it as \"v=DMARC1; p=none; rua=mailto:{report_to}\" (or p=quarantine / p=reject)")]
    policy = (record.tags.get("sp") or record.policy or "none").lower() if inherited else (record.policy or "none")
    source = f" (inherited from {name})" if inherited else ""
    findings = [Finding("dmarc", "ok", f"{domain} has a DMARC record{source}, policy p={policy}",
                        detail=f'"{records[0]}"' + (". p=none only monitors: once the reports show only your own mail, "
                                                    "move to p=quarantine" if policy == "none" else ""))]
    if "rua" not in record.tags:
        findings.append(Finding("dmarc", "warning", f"the DMARC record at {name} asks for no reports (rua=)",
                                detail="without aggregate reports you cannot see who sends as your domain.",
                                fix=f"add \"rua=mailto:{report_to}\" to the TXT record at {name}"))
    if sendgrid and record.tags.get("aspf") == "s":
        findings.append(Finding("dmarc", "warning", "strict SPF alignment (aspf=s) with SendGrid",
                                detail="SendGrid's return path is its own subdomain of yours (em1234."
                                       f"{domain}): it aligns only under relaxed alignment, so DMARC rests on DKIM.",
                                fix=f"remove \"aspf=s\" from the TXT record at {name} (relaxed is the default), or "
                                    "make sure DKIM passes"))
    if record.tags.get("adkim") == "s":
        findings.append(Finding("dmarc", "warning", "strict DKIM alignment (adkim=s)",
                                detail=f"DKIM must be signed for {domain} exactly: a signature for a parent or "
                                       "subdomain fails DMARC.",
                                fix=f"authenticate {domain} itself in your provider, or remove \"adkim=s\" from {name}"))
    return findings


def mail_auth_findings(from_email: str, selectors: Sequence[str], *, sendgrid: bool,
                       env: Mapping[str, str]) -> list[Finding]:
    """SPF, DKIM and DMARC of the From address's domain."""
    domain = from_email.rpartition("@")[2].lower().rstrip(".")
    try:
        resolver = resolver_from_env(env)
    except ValueError as exc:
        return [Finding("dns", "blocker", str(exc), fix=f"set {ENV_SERVER} to host:port, or unset it to use the "
                                                        "system resolver")]
    except dns.resolver.NoResolverConfiguration:
        return [Finding("dns", "warning", "no DNS resolver is configured on this machine",
                        fix=f"set {ENV_SERVER} to a DNS server (host:port), e.g. 1.1.1.1:53")]
    return [*spf_findings(resolver, domain, sendgrid=sendgrid),
            *dkim_findings(resolver, domain, selectors, sendgrid=sendgrid),
            *dmarc_findings(resolver, domain, sendgrid=sendgrid)]
