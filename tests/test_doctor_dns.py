"""The From domain's SPF, DKIM and DMARC as `syndicate doctor` reads them: dnspython's real resolver
against a DNS server on 127.0.0.1 (tests/fakes/fake_dns.py, UDP and TCP), each check ok, warning and
blocker, with the record to add or change; and the record parsers over any text (hypothesis)."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compose.doctor import Finding
from connectors import dns_check
from connectors.dns_check import (
    dkim_findings,
    dmarc_findings,
    mail_auth_findings,
    parse_dkim,
    parse_dmarc,
    parse_spf,
    resolver_from_env,
    spf_findings,
    spf_with,
)
from tests.fakes.fake_dns import FakeDns

DOMAIN = "socitm.example"
KEY = base64.b64encode(os.urandom(270)).decode()  # the size of a 2048-bit RSA public key's DER


@pytest.fixture
def fake() -> Iterator[FakeDns]:
    with FakeDns() as server:
        yield server


def _resolver(fake: FakeDns):
    return resolver_from_env({"SYNDICATE_DNS_SERVER": fake.address})


def _levels(findings: list[Finding]) -> list[tuple[str, str]]:
    return [(f.check, f.level) for f in findings]


def _all_good(fake: FakeDns) -> None:
    fake.txt(DOMAIN, "v=spf1 include:_spf.google.com include:sendgrid.net ~all")
    fake.txt(DOMAIN, "google-site-verification=abc123")
    for selector in ("s1", "s2"):
        fake.add(f"{selector}._domainkey.{DOMAIN}", "CNAME", f"{selector}.domainkey.u7.wl.sendgrid.net.")
        fake.txt(f"{selector}.domainkey.u7.wl.sendgrid.net", f"v=DKIM1; k=rsa; p={KEY}")
    fake.txt(f"_dmarc.{DOMAIN}", f"v=DMARC1; p=quarantine; rua=mailto:dmarc@{DOMAIN}")


def test_a_domain_set_up_as_sendgrid_asks_passes_every_check_through_the_real_resolver(fake):
    _all_good(fake)
    findings = mail_auth_findings(f"news@{DOMAIN}", ("s1", "s2"), sendgrid=True,
                                  env={"SYNDICATE_DNS_SERVER": fake.address})
    assert _levels(findings) == [("spf", "ok"), ("dkim:s1", "ok"), ("dkim:s2", "ok"), ("dmarc", "ok")]
    assert "p=quarantine" in findings[-1].title
    asked = {(name, kind) for name, kind, _ in fake.questions}
    assert {(DOMAIN, "TXT"), (f"s1._domainkey.{DOMAIN}", "TXT"), (f"_dmarc.{DOMAIN}", "TXT")} <= asked


# --- SPF ------------------------------------------------------------------------------------------------


def test_no_spf_record_is_a_blocker_that_gives_the_record_to_add(fake):
    fake.txt(DOMAIN, "some-other-verification=1")
    [finding] = spf_findings(_resolver(fake), DOMAIN, sendgrid=True)
    assert finding.level == "blocker"
    assert finding.fix == f'add a TXT record at {DOMAIN}: "v=spf1 include:sendgrid.net ~all"'


def test_an_unknown_domain_has_no_spf_record(fake):
    [finding] = spf_findings(_resolver(fake), "nowhere.example", sendgrid=False)
    assert finding.level == "blocker" and "no SPF record" in finding.title


def test_spf_without_sendgrid_is_a_warning_with_the_record_rewritten(fake):
    fake.txt(DOMAIN, "v=spf1 include:_spf.google.com -all")
    [finding] = spf_findings(_resolver(fake), DOMAIN, sendgrid=True)
    assert finding.level == "warning"
    assert f'change the TXT record at {DOMAIN} to "v=spf1 include:_spf.google.com include:sendgrid.net -all"' == finding.fix
    assert spf_findings(_resolver(fake), DOMAIN, sendgrid=False)[0].level == "ok"  # the outbox needs no SendGrid


@pytest.mark.parametrize(("record", "says"), [
    ("v=spf1 +all", "allows anyone"),
    ("v=spf1 all", "allows anyone"),
    ("v=spf1 include:sendgrid.net " + " ".join(f"include:s{i}.example" for i in range(10)) + " ~all", "11 DNS lookups"),
])
def test_dangerous_or_broken_spf_is_a_blocker(fake, record, says):
    fake.txt(DOMAIN, record)
    findings = spf_findings(_resolver(fake), DOMAIN, sendgrid=True)
    assert any(f.level == "blocker" and says in f.title for f in findings), findings


def test_two_spf_records_are_a_blocker(fake):
    fake.txt(DOMAIN, "v=spf1 include:sendgrid.net ~all")
    fake.txt(DOMAIN, "v=spf1 mx -all")
    [finding] = spf_findings(_resolver(fake), DOMAIN, sendgrid=True)
    assert finding.level == "blocker" and "2 SPF records" in finding.title and "merge them" in finding.fix


def test_a_long_spf_record_split_into_strings_is_joined(fake):
    record = "v=spf1 " + " ".join(f"ip4:192.0.2.{i}" for i in range(40)) + " include:sendgrid.net ~all"
    assert len(record) > 255
    fake.txt(DOMAIN, record)
    [finding] = spf_findings(_resolver(fake), DOMAIN, sendgrid=True)
    assert finding.level == "ok" and finding.detail == f'"{record}"'


# --- DKIM -----------------------------------------------------------------------------------------------


def test_a_missing_selector_is_a_blocker_naming_the_cname_to_add(fake):
    _all_good(fake)
    fake.clear(f"s2._domainkey.{DOMAIN}")
    findings = dkim_findings(_resolver(fake), DOMAIN, ("s1", "s2"), sendgrid=True)
    assert _levels(findings) == [("dkim:s1", "ok"), ("dkim:s2", "blocker")]
    assert f"s2._domainkey.{DOMAIN} CNAME s2.domainkey." in findings[1].fix


@pytest.mark.parametrize(("record", "why"), [
    ("v=DKIM1; k=rsa; p=", "revoked"),
    ("v=DKIM1; k=rsa; p=not*base64!", "not valid base64"),
    ("v=DKIM2; p=" + KEY, "v=DKIM2"),
])
def test_an_unusable_dkim_key_is_a_blocker(fake, record, why):
    fake.txt(f"s1._domainkey.{DOMAIN}", record)
    [finding] = dkim_findings(_resolver(fake), DOMAIN, ("s1",), sendgrid=False)
    assert finding.level == "blocker" and why in finding.title


def test_no_selector_configured_is_a_blocker_saying_which_key_to_set(fake):
    [finding] = dkim_findings(_resolver(fake), DOMAIN, (), sendgrid=True)
    assert finding.level == "blocker" and "[email] dkim_selectors" in finding.fix


def test_a_truncated_udp_answer_is_read_again_over_tcp(fake):
    long_key = base64.b64encode(os.urandom(1200)).decode()  # a 4096-bit-class key: too big for 512 bytes of UDP
    fake.txt(f"s1._domainkey.{DOMAIN}", f"v=DKIM1; k=rsa; p={long_key}")
    resolver = _resolver(fake)
    resolver.use_edns(-1)  # plain DNS: 512-byte UDP answers, so the server sets TC and the resolver retries on TCP
    [finding] = dkim_findings(resolver, DOMAIN, ("s1",), sendgrid=False)
    assert finding.level == "ok"
    assert (f"s1._domainkey.{DOMAIN}", "TXT", "tcp") in fake.questions


# --- DMARC ----------------------------------------------------------------------------------------------


def test_no_dmarc_record_is_a_blocker_giving_the_record(fake):
    [finding] = dmarc_findings(_resolver(fake), DOMAIN, sendgrid=True)
    assert finding.level == "blocker"
    assert finding.fix.startswith(f'add a TXT record at _dmarc.{DOMAIN}: "v=DMARC1; p=none; rua=mailto:')


@pytest.mark.parametrize(("record", "problem"), [
    ("v=DMARC1; rua=mailto:d@socitm.example", "no policy"),
    ("v=DMARC1; p=block", "p=block is not a policy"),
    ("v=DMARC1; p=none; adkim=x", "adkim=x"),
])
def test_an_invalid_dmarc_record_is_a_blocker(fake, record, problem):
    fake.txt(f"_dmarc.{DOMAIN}", record)
    [finding] = dmarc_findings(_resolver(fake), DOMAIN, sendgrid=True)
    assert finding.level == "blocker" and problem in finding.title


def test_dmarc_notes_monitoring_missing_reports_and_strict_alignment(fake):
    fake.txt(f"_dmarc.{DOMAIN}", "v=DMARC1; p=none; aspf=s; adkim=s")
    findings = dmarc_findings(_resolver(fake), DOMAIN, sendgrid=True)
    assert _levels(findings) == [("dmarc", "ok"), ("dmarc", "warning"), ("dmarc", "warning"), ("dmarc", "warning")]
    assert "move to p=quarantine" in findings[0].detail
    assert "rua=mailto:" in findings[1].fix
    assert "aspf=s" in findings[2].fix and "adkim=s" in findings[3].fix


def test_a_subdomain_inherits_the_organisations_dmarc_and_its_subdomain_policy(fake):
    fake.txt("_dmarc.socitm.org.uk", "v=DMARC1; p=reject; sp=quarantine; rua=mailto:d@socitm.org.uk")
    [finding] = dmarc_findings(_resolver(fake), "news.socitm.org.uk", sendgrid=True)
    assert finding.level == "ok" and "inherited from _dmarc.socitm.org.uk" in finding.title
    assert "p=quarantine" in finding.title


def test_two_dmarc_records_are_a_blocker(fake):
    fake.txt(f"_dmarc.{DOMAIN}", "v=DMARC1; p=none")
    fake.txt(f"_dmarc.{DOMAIN}", "v=DMARC1; p=reject")
    [finding] = dmarc_findings(_resolver(fake), DOMAIN, sendgrid=True)
    assert finding.level == "blocker" and "2 DMARC records" in finding.title


# --- the DNS server itself ----------------------------------------------------------------------------


def test_a_failing_server_is_a_warning_not_a_false_verdict(fake):
    fake.servfail.add(DOMAIN)
    [finding] = spf_findings(_resolver(fake), DOMAIN, sendgrid=True)
    assert finding.level == "warning" and "could not look up" in finding.title


def test_a_server_that_never_answers_times_out_as_a_warning(fake, monkeypatch):
    monkeypatch.setattr(dns_check.DnsLimits, "timeout_s", 0.3)
    monkeypatch.setattr(dns_check.DnsLimits, "lifetime_s", 0.6)
    fake.silent.add(f"_dmarc.{DOMAIN}")
    [finding] = dmarc_findings(_resolver(fake), DOMAIN, sendgrid=True)
    assert finding.level == "warning" and "within 0.6 s" in finding.title


@pytest.mark.parametrize("value", ["127.0.0.1:notaport", "127.0.0.1:70000"])
def test_a_bad_dns_server_setting_is_a_blocker_naming_the_variable(value):
    [finding] = mail_auth_findings(f"news@{DOMAIN}", ("s1",), sendgrid=True, env={"SYNDICATE_DNS_SERVER": value})
    assert finding.level == "blocker" and "SYNDICATE_DNS_SERVER" in finding.title


def test_the_dns_server_setting_takes_a_host_alone_on_port_53():
    resolver = resolver_from_env({"SYNDICATE_DNS_SERVER": "192.0.2.53"})
    assert resolver.nameservers == ["192.0.2.53"] and resolver.port == 53


# --- the parsers over any text ----------------------------------------------------------------------------

_TERM = st.one_of(
    st.sampled_from(["a", "mx", "ptr", "include:sendgrid.net", "ip4:192.0.2.1", "ip6:2001:db8::1", "exists:%{i}.x",
                     "redirect=_spf.example", "exp=explain.example", "-all", "~all", "?all", "+all", "all"]),
    st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=20),
)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_text_parses_or_is_refused_without_raising(text):
    spf, dmarc = parse_spf(text), parse_dmarc(text)
    if spf is not None:
        assert text.strip().lower().startswith("v=spf1")
        assert spf.lookups <= len(spf.terms) and set(spf.unknown) <= set(spf.terms)
    if dmarc is not None:
        assert dmarc.problems or dmarc.policy in ("none", "quarantine", "reject")
    usable, why = parse_dkim(text)
    assert usable or why


@settings(max_examples=300, deadline=None)
@given(st.lists(_TERM, max_size=15))
def test_adding_sendgrid_keeps_every_term_and_the_all_term_last(terms):
    record = " ".join(["v=spf1", *terms])
    before = parse_spf(record)
    assert before is not None
    after = parse_spf(spf_with(record, "include:sendgrid.net"))
    assert after is not None and after.includes("sendgrid.net")
    assert sorted(after.terms) == sorted([*before.terms, "include:sendgrid.net"])
    assert after.all_qualifier == before.all_qualifier
    assert after.lookups == before.lookups + 1


@settings(max_examples=200, deadline=None)
@given(policy=st.sampled_from(["none", "quarantine", "reject", "NONE", "Reject"]),
       extra=st.dictionaries(st.sampled_from(["rua", "ruf", "pct", "fo", "ri", "sp", "aspf", "adkim"]),
                             st.sampled_from(["r", "s", "mailto:d@example.org", "100", "1", "none"]), max_size=5),
       spaces=st.sampled_from(["", " ", "  "]))
def test_a_written_dmarc_record_reads_back_its_policy_and_tags(policy, extra, spaces):
    record = f"v=DMARC1;{spaces}p={policy}" + "".join(f";{spaces}{k}{spaces}={spaces}{v}" for k, v in extra.items())
    parsed = parse_dmarc(record)
    assert parsed is not None and parsed.policy == policy.lower()
    bad = {k for k, v in extra.items() if (k in ("aspf", "adkim") and v not in ("r", "s"))
           or (k == "sp" and v not in ("none",))}
    assert bool(parsed.problems) == bool(bad)
    for key, value in extra.items():
        assert parsed.tags[key] in (value, value.lower())
