"""`syndicate doctor` and the gate on a first real send, as a person runs them at 80 columns, on the
SQLite and PostgreSQL ledgers: the DNS fake, the SendGrid wire fake and the real web app on loopback
stand in for the world. `send` refuses the first send through SendGrid while a blocker stands and
sends nothing; `--override-doctor REASON` sends and the audit log keeps who, why and which blockers;
the outbox never waits for the doctor."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from flows.cli import main
from state import ledger
from state.db import Database
from state.doctor import OVERRIDE_ACTION, first_real_send
from state.models import AuditRow, EditionRow, EditionStatus
from tests.fakes.fake_dns import FakeDns
from tests.fakes.fake_sendgrid import FakeSendGrid
from tests.helpers import desk_data
from tests.helpers.serving import serve_on_loopback
from web.app import create_app

BUILT = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)
NOW = datetime(2026, 12, 3, 10, 30, tzinfo=UTC)  # after the example edition's send time (Thu 3 Dec, 10:00)
KEY = "doctor-cli-secret-key-0123456789abcdef"
DOMAIN = "socitm.example"  # the example's From domain
REASON = "DMARC record added an hour ago, not yet visible from this network"


@dataclass
class World:
    db: Database
    dns: FakeDns
    sendgrid: FakeSendGrid
    config_path: Path
    edition_id: int
    base: str

    def configure(self, *, provider: str) -> None:
        text = desk_data.EXAMPLE_CONFIG.read_text("utf-8")
        text = text.replace('outbox_dir = "outbox"', f'outbox_dir = "{self.config_path.parent / "outbox"}"')
        text = text.replace('public_url = "http://127.0.0.1:8000"', f'public_url = "{self.base}"')
        text = text.replace('provider = "outbox"', f'provider = "{provider}"')
        self.config_path.write_text(text, "utf-8")

    def publish_good_dns(self) -> None:
        key = base64.b64encode(os.urandom(270)).decode()
        self.dns.txt(DOMAIN, "v=spf1 include:sendgrid.net ~all")
        for selector in ("s1", "s2"):
            self.dns.add(f"{selector}._domainkey.{DOMAIN}", "CNAME", f"{selector}.domainkey.u9.wl.sendgrid.net.")
            self.dns.txt(f"{selector}.domainkey.u9.wl.sendgrid.net", f"v=DKIM1; k=rsa; p={key}")
        self.dns.txt(f"_dmarc.{DOMAIN}", f"v=DMARC1; p=none; rua=mailto:dmarc@{DOMAIN}")


@pytest.fixture
def world(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """An approved edition that is due, subscribers and staff on the ledger; the web app serving it
    on loopback; DNS and SendGrid fakes; the CLI's environment pointed at them, 80 columns wide."""
    config = desk_data.example_config(tmp_path)
    edition_id = desk_data.seed_edition(db, config, now=BUILT)
    desk_data.seed_subscribers(db, 3, now=BUILT)
    for email, role in (("ap@example.org", "approver"), ("boss@example.org", "admin")):
        desk_data.seed_staff(db, email, role, now=BUILT)
    with db.session() as session:
        ledger.approve(session, "edition", edition_id, by="ap@example.org", now=BUILT)
    url = db.engine.url.render_as_string(hide_password=False)
    app = create_app(config=config, db=db, secret_key=KEY, now=lambda: NOW, env={})
    with FakeDns() as dns, FakeSendGrid() as sendgrid, serve_on_loopback(app) as base:
        for name in ("SENDGRID_WEBHOOK_PUBLIC_KEY", "X_API_KEY", "MASTODON_ACCESS_TOKEN", "BLUESKY_HANDLE"):
            monkeypatch.delenv(name, raising=False)
        for name, value in {"SYNDICATE_DATABASE_URL": url, "SYNDICATE_CONFIG": str(tmp_path / "syndicate.toml"),
                            "SYNDICATE_NOW": NOW.isoformat(), "COLUMNS": "80", "SYNDICATE_SECRET_KEY": KEY,
                            "SYNDICATE_DNS_SERVER": dns.address, "SENDGRID_API_KEY": sendgrid.api_key,
                            "SENDGRID_API_HOST": sendgrid.url}.items():
            monkeypatch.setenv(name, value)
        monkeypatch.chdir(tmp_path)
        found = World(db, dns, sendgrid, tmp_path / "syndicate.toml", edition_id, base)
        found.configure(provider="sendgrid")
        yield found


def run(capsys: pytest.CaptureFixture[str], *words: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(words))
    out, err = capsys.readouterr()
    for line in (err if "--json" in words else out + err).splitlines():
        assert len(line) <= 80, f"{' '.join(words)}: a line of {len(line)} columns:\n{line}"
    return code, out, err


def _status(db: Database, edition_id: int) -> str:
    with db.session() as session:
        return str(session.get(EditionRow, edition_id).status)


def test_doctor_lists_each_blocker_with_what_to_change_and_exits_1(world, capsys):
    code, out, err = run(capsys, "doctor")
    assert code == 1
    assert out.startswith("BLOCKER ") and not any(line.endswith(" ") for line in out.splitlines())
    assert f"{DOMAIN} has no SPF record" in out and f"{DOMAIN} has no DMARC record" in out
    assert f"no DKIM key at s1._domainkey.{DOMAIN}" in out
    assert "SENDGRID_WEBHOOK_PUBLIC_KEY is not set" in out and "public_url is not https" in out
    flat = " ".join(out.split())
    assert f'fix: add a TXT record at {DOMAIN}: "v=spf1 include:sendgrid.net ~all"' in flat
    assert err.strip() == "error: 6 blocker(s), 1 warning(s): fix the blockers before the first real send"


def test_doctor_json_is_one_object_with_every_finding(world, capsys):
    code, out, _ = run(capsys, "doctor", "--json")
    data = json.loads(out)
    assert code == 1 and data["ok"] is False
    checks = {f["check"]: f["level"] for f in data["findings"]}
    assert checks["spf"] == "blocker" and checks["dmarc"] == "blocker" and checks["scopes"] == "ok"
    assert checks["unsubscribe"] == "ok" and checks["secret-key"] == "ok" and checks["clip"] == "ok"
    assert data["counts"]["blocker"] == sum(1 for f in data["findings"] if f["level"] == "blocker")
    assert all(f["fix"] for f in data["findings"] if f["level"] != "ok")


def test_doctor_passes_for_a_domain_set_up_right_sending_through_the_outbox(world, capsys):
    world.publish_good_dns()
    world.configure(provider="outbox")
    code, out, _ = run(capsys, "doctor")
    assert code == 0, out
    assert "BLOCKER" not in out and "warning " not in out and out.splitlines()[-1] == "every check passed"


def test_the_first_real_send_waits_while_a_blocker_stands_and_sends_nothing(world, capsys):
    code, out, err = run(capsys, "send")
    assert code == 1
    flat = " ".join(err.split())
    assert "first real send through SendGrid" in flat and "syndicate doctor" in flat
    assert "--override-doctor" in flat and f"{DOMAIN} has no SPF record" in flat
    assert world.sendgrid.accepted_requests == 0 and not world.sendgrid.server.requests_to("/v3/mail/send")
    assert _status(world.db, world.edition_id) == EditionStatus.APPROVED
    with world.db.session() as session:
        assert first_real_send(session, "sendgrid")
        assert session.scalars(select(AuditRow).where(AuditRow.action == OVERRIDE_ACTION)).all() == []


def test_an_override_sends_and_the_audit_log_keeps_who_why_and_the_blockers(world, capsys):
    code, out, err = run(capsys, "send", str(world.edition_id), "--override-doctor", REASON, "--by", "boss@example.org")
    assert code == 0, out + err
    assert "sending despite 6 pre-flight blocker(s); the override is in the audit log" in " ".join(out.split())
    assert world.sendgrid.accepted_requests >= 1
    assert _status(world.db, world.edition_id) == EditionStatus.SENT
    with world.db.session() as session:
        [row] = session.scalars(select(AuditRow).where(AuditRow.action == OVERRIDE_ACTION)).all()
        assert not first_real_send(session, "sendgrid")
    assert (row.actor, row.subject_kind, row.subject_id) == ("boss@example.org", "edition", world.edition_id)
    assert row.detail["reason"] == REASON
    assert f"{DOMAIN} has no SPF record" in [b["title"] for b in row.detail["blockers"]]


def test_once_an_edition_went_out_through_sendgrid_sends_no_longer_wait(world, capsys):
    assert run(capsys, "send", "--override-doctor", REASON)[0] == 0
    with world.db.session() as session:
        [row] = session.scalars(select(AuditRow).where(AuditRow.action == OVERRIDE_ACTION)).all()
    assert row.actor.endswith("(terminal login)")  # without --by, the machine's login is named
    scopes_asked = len(world.sendgrid.server.requests_to("/v3/scopes"))
    code, out, err = run(capsys, "send")  # nothing due now, and no doctor run: it is not the first send
    assert code == 0 and "no approved edition is due" in out
    assert len(world.sendgrid.server.requests_to("/v3/scopes")) == scopes_asked


@pytest.mark.parametrize("reason", ["", "because", " " * 20])
def test_an_override_without_a_real_reason_is_refused_and_sends_nothing(world, capsys, reason):
    code, _, err = run(capsys, "send", "--override-doctor", reason)
    assert code == 1 and "needs a reason" in err
    assert world.sendgrid.accepted_requests == 0
    assert _status(world.db, world.edition_id) == EditionStatus.APPROVED


def test_an_override_by_someone_not_on_the_staff_list_is_refused(world, capsys):
    code, _, err = run(capsys, "send", "--override-doctor", REASON, "--by", "stranger@example.org")
    assert code == 1 and "stranger@example.org" in err
    assert world.sendgrid.accepted_requests == 0


def test_the_outbox_never_waits_for_the_doctor(world, capsys):
    world.configure(provider="outbox")
    code, out, err = run(capsys, "send")
    assert code == 0, out + err
    assert "outbox" in out and _status(world.db, world.edition_id) == EditionStatus.SENT
    assert not world.dns.questions and not world.sendgrid.server.requests

