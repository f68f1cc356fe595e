"""The doctor page in a real browser (Debian's chromium through Playwright) at phone (375 px) and desktop
(1280 px) width: reached from the desk home, blockers first with what to change, nothing scrolls
sideways (long DNS records wrap), axe-core finds nothing serious; an editor does not see the details
an admin sees. The web app serves itself at public_url, so the one-click probe reaches it.

Screenshots go to /tmp/shots-doctor/ (doctor-admin-375.png, doctor-editor-1280.png, ...) to look at.
"""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import HttpUrl

from compose.doctor import DoctorReport, Finding
from state.doctor import record_override
from tests.fakes.fake_dns import FakeDns
from tests.fakes.fake_sendgrid import FakeSendGrid
from tests.helpers import desk_data
from tests.helpers.browser import browser_fixture, check_page, sign_in, signed_in_page  # noqa: F401  (the browser fixture)
from tests.helpers.serving import serve_on_loopback
from web.app import create_app

pytestmark = pytest.mark.browser

NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)
SHOTS = Path("/tmp/shots-doctor")


@pytest.fixture
def server(sqlite_db, tmp_path):
    config = desk_data.example_config(tmp_path)
    edition_id = desk_data.seed_edition(sqlite_db, config, now=NOW)
    desk_data.seed_staff(sqlite_db, "alexandra.longname@example.org", "admin", now=NOW)
    desk_data.seed_staff(sqlite_db, "ed@example.org", "editor", now=NOW)
    with sqlite_db.session() as session:
        record_override(session, reason="DMARC record added this morning; the office resolver still caches the old "
                        "answer", by="alexandra.longname@example.org", edition_id=edition_id, now=NOW,
                        report=DoctorReport.of([Finding("dmarc", "blocker", "socitm.example has no DMARC record")]))
    with FakeDns() as dns, FakeSendGrid() as sendgrid:
        dns.txt("socitm.example", "v=spf1 include:_spf.google.com include:mail.zendesk.com ~all")
        dns.add("s1._domainkey.socitm.example", "CNAME", "s1.domainkey.u31459265.wl.sendgrid.net.")
        dns.txt("s1.domainkey.u31459265.wl.sendgrid.net",
                "v=DKIM1; k=rsa; p=" + base64.b64encode(os.urandom(270)).decode())
        dns.txt("_dmarc.socitm.example", "v=DMARC1; p=none; aspf=s")
        email = config.email.model_copy(update={"provider": "sendgrid"})
        env = {"SYNDICATE_DNS_SERVER": dns.address, "SENDGRID_API_KEY": sendgrid.api_key,
               "SENDGRID_API_HOST": sendgrid.url}
        app = create_app(config=config.model_copy(update={"email": email}), db=sqlite_db,
                         secret_key="browser-test-secret-key-0123", now=lambda: NOW, env=env)
        with serve_on_loopback(app) as base:
            state = app.state.syndicate  # serve itself at public_url, as `syndicate web` would
            edition = state.config.edition.model_copy(update={"public_url": HttpUrl(base)})
            state.config = state.config.model_copy(update={"edition": edition})
            yield base


@pytest.mark.parametrize("width", [375, 1280])
def test_the_doctor_page_from_the_desk_home_for_an_admin_and_an_editor(server, browser, width):
    base = server
    SHOTS.mkdir(exist_ok=True)
    page = signed_in_page(browser, base, width, "alexandra.longname@example.org")
    try:
        page.get_by_role("link", name="run the pre-flight check").click()
        page.wait_for_url(f"{base}/desk/doctor")
        verdict = page.get_by_role("region", name="Not ready for a real send")
        assert verdict.is_visible() and "blocker(s)" in verdict.inner_text()
        findings = page.locator("#doctor-findings > li")
        levels = [findings.nth(i).get_attribute("class") for i in range(findings.count())]
        assert levels[0] == "finding finding-blocker" and levels[-1] == "finding finding-ok"
        assert levels == sorted(levels, key=lambda c: ["blocker", "warning", "ok"].index(c.rsplit("-", 1)[1]))
        dkim = page.locator('[data-check="dkim:s2"]')
        assert "no DKIM key at s2._domainkey.socitm.example" in dkim.inner_text()
        assert "s2._domainkey.socitm.example CNAME s2.domainkey." in dkim.locator(".fix").inner_text()
        ok = page.locator('[data-check="unsubscribe"]')
        assert "answers the one-click unsubscribe POST with our secret key" in ok.inner_text()
        assert "it has 7 scope(s)" in page.locator('[data-check="scopes"]').inner_text()
        overrides = page.get_by_role("region", name="Sent despite the check").inner_text()
        assert "office resolver still caches" in overrides
        check_page(page, width, SHOTS / f"doctor-admin-{width}.png")

        sign_in(page, base, "ed@example.org")
        page.goto(f"{base}/desk/doctor")
        assert "it has 7 scope(s)" not in page.locator('[data-check="scopes"]').inner_text()
        assert page.get_by_text("Details that name keys and credentials are shown to admins.").is_visible()
        check_page(page, width, SHOTS / f"doctor-editor-{width}.png")
    finally:
        page.context.close()
    assert (SHOTS / f"doctor-admin-{width}.png").stat().st_size > 10_000
