"""The desk's doctor page through HTTP against a real ledger (SQLite and PostgreSQL), the DNS fake and
the SendGrid wire fake: staff must sign in; every member of staff sees each finding and what to change;
only admins see the details that name keys and credentials; overrides from the audit log are listed;
the desk home links to it. The same checks as `syndicate doctor` (one implementation)."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from compose.doctor import DoctorReport, Finding
from state.doctor import record_override
from tests.fakes.fake_dns import FakeDns
from tests.fakes.fake_sendgrid import FakeSendGrid
from tests.helpers import desk_data
from web.app import create_app

NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)
SECRET = "test-secret-key-0123456789abcdef"


@pytest.fixture
def desk(db, tmp_path):
    config = desk_data.example_config(tmp_path)
    edition_id = desk_data.seed_edition(db, config, now=NOW)
    for email, role in (("ed@example.org", "editor"), ("boss@example.org", "admin")):
        desk_data.seed_staff(db, email, role, now=NOW)
    with FakeDns() as dns, FakeSendGrid() as sendgrid:
        dns.txt("socitm.example", "v=spf1 include:_spf.google.com ~all")
        email = config.email.model_copy(update={"provider": "sendgrid"})
        env = {"SYNDICATE_DNS_SERVER": dns.address, "SENDGRID_API_KEY": sendgrid.api_key,
               "SENDGRID_API_HOST": sendgrid.url}
        app = create_app(config=config.model_copy(update={"email": email}), db=db, secret_key=SECRET,
                         now=lambda: NOW, env=env)
        yield app, db, edition_id, sendgrid


def _as(app, email) -> TestClient:
    client = TestClient(app)
    assert desk_data.sign_in(client, email).status_code == 303
    return client


def _text(page: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def test_the_page_needs_a_signed_in_member_of_staff(desk):
    app, *_ = desk
    answer = TestClient(app).get("/desk/doctor", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")


def test_staff_see_every_finding_and_what_to_change(desk):
    app, _, edition_id, sendgrid = desk
    page = _as(app, "ed@example.org").get("/desk/doctor")
    assert page.status_code == 200
    text = _text(page.text)
    assert "Not ready for a real send" in text
    assert "socitm.example's SPF record does not include SendGrid" in text
    assert ('What to change: change the TXT record at socitm.example to "v=spf1 include:_spf.google.com '
            'include:sendgrid.net ~all"') in text
    assert "socitm.example has no DMARC record" in text and "no DKIM key at s1._domainkey.socitm.example" in text
    assert "the SendGrid API key may send (mail.send)" in text  # asked of the wire fake
    assert sendgrid.server.requests_to("/v3/scopes", "GET")
    assert f"the next edition, {edition_id}" in text and "under Gmail's clip" in text
    assert "No edition has gone out through SendGrid yet" in text
    assert "No send has overridden the check." in text
    for level in ("blocker", "warning", "ok"):
        assert f'class="finding finding-{level}"' in page.text


def test_only_admins_see_details_that_name_keys(desk):
    app, *_ = desk
    editor = _text(_as(app, "ed@example.org").get("/desk/doctor").text)
    admin = _text(_as(app, "boss@example.org").get("/desk/doctor").text)
    assert "it has 7 scope(s)" in admin and "it has 7 scope(s)" not in editor
    assert "Details that name keys and credentials are shown to admins." in editor
    assert "shown to admins" not in admin


def test_overrides_from_the_audit_log_are_listed(desk):
    app, db, edition_id, _ = desk
    report = DoctorReport.of([Finding("dmarc", "blocker", "socitm.example has no DMARC record")])
    with db.session() as session:
        record_override(session, reason="DMARC added at 9:00, not visible from the office yet", by="boss@example.org",
                        edition_id=edition_id, report=report, now=NOW)
    text = _text(_as(app, "ed@example.org").get("/desk/doctor").text)
    assert (f"boss@example.org Thu 26 Nov 2026, 14:00 GMT, edition {edition_id}: DMARC added at 9:00, not visible "
            "from the office yet") in text
    assert "blockers then: socitm.example has no DMARC record" in text


def test_the_desk_home_links_to_it(desk):
    app, *_ = desk
    page = _as(app, "ed@example.org").get("/desk").text
    assert 'href="/desk/doctor"' in page and "pre-flight check" in page


def test_the_page_reads_the_same_checks_as_the_cli(desk):
    """One implementation: the page's findings are those the CLI's report gives for the same world."""
    from flows.stages.preflight import doctor_report

    app, db, _, _ = desk
    state = app.state.syndicate
    report = doctor_report(state.config, db, now=NOW, env={**state.env, "SYNDICATE_SECRET_KEY": SECRET})
    text = _text(_as(app, "boss@example.org").get("/desk/doctor").text)
    assert report.findings and all(finding.title in text for finding in report.findings)
