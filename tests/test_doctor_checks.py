"""The pre-flight checks beyond DNS, each ok, warning and blocker, against real things: the one-click
unsubscribe POST to the real web app served on loopback, SendGrid's `GET /v3/scopes` through the wire
fake (the real `sendgrid` library), the Event Webhook key, the secret key against the fingerprints of
links sent and Gmail's clip on the SQLite and PostgreSQL ledgers."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import HttpUrl
from sqlalchemy import func, select

from compose.config import Config
from compose.doctor import CLIP_MARGIN_BYTES, GMAIL_CLIP_BYTES, DoctorReport, Finding, clip_finding
from connectors.channels.sendgrid import SendGridChannel
from connectors.errors import AuthError, PermanentError, TransientError
from connectors.preflight import scope_findings, tls_context, unsubscribe_findings, webhook_key_findings
from state import doctor
from state.models import AuditRow, EditionRow, SubscriberRow, SubscriberStatus
from state.secret_key import SecretKey, key_fingerprint
from tests.fakes.fake_sendgrid import FakeSendGrid
from tests.fakes.server import FakeServer, Fault, Reply
from tests.helpers import desk_data
from tests.helpers.serving import serve_on_loopback
from web.app import create_app

NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)
KEY = "doctor-test-secret-key-0123456789"


def _with(config: Config, *, public_url: str | None = None, provider: str | None = None) -> Config:
    edition = config.edition.model_copy(update={"public_url": HttpUrl(public_url)}) if public_url else config.edition
    email = config.email.model_copy(update={"provider": provider}) if provider else config.email
    return config.model_copy(update={"edition": edition, "email": email})


def _levels(findings: list[Finding]) -> list[tuple[str, str]]:
    return [(f.check, f.level) for f in findings]


# --- one-click unsubscribe at public_url ---------------------------------------------------------------


@pytest.fixture
def web(sqlite_db, tmp_path):
    """The real web app on a loopback port, its ledger with subscribers; yields (base URL, config)."""
    config = desk_data.example_config(tmp_path)
    desk_data.seed_subscribers(sqlite_db, 3, now=NOW)
    app = create_app(config=config, db=sqlite_db, secret_key=KEY, now=lambda: NOW, env={})
    with serve_on_loopback(app) as base:
        yield base, _with(config, public_url=base)


def test_the_web_app_at_public_url_answers_the_one_click_post_with_our_key(web, sqlite_db):
    base, config = web
    findings = unsubscribe_findings(config, KEY, now=NOW, real=False)
    assert _levels(findings) == [("unsubscribe-public", "ok"), ("unsubscribe", "ok")]
    assert "fine for the outbox and the demo" in findings[0].title
    with sqlite_db.session() as session:  # the probe names no subscriber: nobody left, nothing audited
        assert session.scalar(select(func.count()).select_from(SubscriberRow)
                              .where(SubscriberRow.status == SubscriberStatus.UNSUBSCRIBED)) == 0
        assert session.scalar(select(func.count()).select_from(AuditRow)) == 0


def test_the_probe_builds_its_tls_context_once_and_reuses_it(web):
    _, config = web
    tls_context.cache_clear()
    for _ in range(3):  # each view of the desk's doctor page probes again
        assert unsubscribe_findings(config, KEY, now=NOW, real=False)[-1].level == "ok"
    assert (tls_context.cache_info().misses, tls_context.cache_info().hits) == (1, 2)


def test_a_web_app_with_another_key_is_a_blocker(web):
    _, config = web
    [_, finding] = unsubscribe_findings(config, "another-secret-key-0123456789", now=NOW, real=False)
    assert finding.level == "blocker" and "does not accept our links" in finding.title
    assert "same SYNDICATE_SECRET_KEY" in finding.fix


def test_a_real_send_needs_https_and_a_public_address(web):
    base, config = web
    findings = unsubscribe_findings(config, KEY, now=NOW, real=True)
    assert _levels(findings) == [("unsubscribe-https", "blocker"), ("unsubscribe-public", "warning"),
                                 ("unsubscribe", "ok")]
    assert f"public_url is not https: {base}" == findings[0].title
    assert "subscribers cannot reach it" in findings[1].title


@pytest.mark.parametrize("status", [405, 404, 302, 403])
def test_something_else_at_public_url_is_a_blocker(tmp_path, status):
    """A CMS that refuses POST, a proxy that sends it to a login page: redirects are not followed."""
    other = FakeServer(lambda request: Reply(status if request.method == "POST" else 200, body=b"<html>a CMS</html>",
                                             headers={"Location": "http://127.0.0.1:9/login"}))
    other.start()
    try:
        config = _with(desk_data.example_config(tmp_path), public_url=other.url)
        [_, finding] = unsubscribe_findings(config, KEY, now=NOW, real=False)
    finally:
        other.stop()
    assert finding.level == "blocker" and f"HTTP {status}" in finding.title
    assert [(r.method, r.body) for r in other.requests] == [("POST", b"List-Unsubscribe=One-Click")]


def test_nothing_at_public_url_is_a_warning_for_the_demo_and_a_blocker_for_a_real_send(tmp_path):
    config = _with(desk_data.example_config(tmp_path), public_url="http://127.0.0.1:9")  # discard: nothing listens
    assert unsubscribe_findings(config, KEY, now=NOW, real=False)[-1].level == "warning"
    finding = unsubscribe_findings(config, KEY, now=NOW, real=True)[-1]
    assert finding.level == "blocker" and "syndicate web" in finding.fix


def test_no_key_yet_means_the_probe_waits(tmp_path):
    config = _with(desk_data.example_config(tmp_path), public_url="http://127.0.0.1:9")
    finding = unsubscribe_findings(config, None, now=NOW, real=False)[-1]
    assert finding.level == "warning" and "no secret key yet" in finding.title


# --- SendGrid: the key's scopes and the webhook key --------------------------------------------------------


@pytest.fixture
def sendgrid():
    with FakeSendGrid() as fake:
        yield fake


def _sendgrid_env(fake: FakeSendGrid, **extra: str) -> dict[str, str]:
    return {"SENDGRID_API_KEY": fake.api_key, "SENDGRID_API_HOST": fake.url, **extra}


def test_a_key_that_may_send_is_ok_asked_through_get_scopes(sendgrid, tmp_path):
    config = _with(desk_data.example_config(tmp_path), provider="sendgrid")
    [finding] = scope_findings(config, _sendgrid_env(sendgrid))
    assert finding.level == "ok" and "mail.send" in finding.title and finding.private
    [request] = sendgrid.server.requests_to("/v3/scopes", "GET")
    assert request.headers["authorization"] == f"Bearer {sendgrid.api_key}"


def test_a_key_without_mail_send_is_a_blocker(sendgrid, tmp_path):
    sendgrid.scopes = ("alerts.read", "stats.read")
    config = _with(desk_data.example_config(tmp_path), provider="sendgrid")
    [finding] = scope_findings(config, _sendgrid_env(sendgrid))
    assert finding.level == "blocker" and finding.title == "the SendGrid API key lacks mail.send"
    assert "Mail Send" in finding.fix


def test_a_refused_key_is_a_blocker_and_sendgrid_down_is_a_warning(sendgrid, tmp_path):
    config = _with(desk_data.example_config(tmp_path), provider="sendgrid")
    [refused] = scope_findings(config, {**_sendgrid_env(sendgrid), "SENDGRID_API_KEY": "SG.revoked"})
    assert refused.level == "blocker" and "refused the API key (401)" in refused.title
    sendgrid.server.inject(Fault(status=503, json={"errors": [{"message": "unavailable"}]}, path="/v3/scopes"))
    [down] = scope_findings(config, _sendgrid_env(sendgrid))
    assert down.level == "warning" and "could not ask SendGrid" in down.title


def test_no_api_key_is_a_warning_and_the_outbox_needs_none(tmp_path):
    config = desk_data.example_config(tmp_path)
    assert scope_findings(config, {})[0].level == "ok"
    [finding] = scope_findings(_with(config, provider="sendgrid"), {})
    assert finding.level == "warning" and "SENDGRID_API_KEY is not set" in finding.title


def test_the_scopes_call_maps_sendgrid_answers_into_the_error_tree(sendgrid):
    channel = SendGridChannel(sendgrid.api_key, host=sendgrid.url, timeout_s=5)
    assert "mail.send" in channel.scopes()
    sendgrid.server.inject(Fault(status=429, json={"errors": [{"message": "slow down"}]},
                                 headers={"X-RateLimit-Reset": "0"}, path="/v3/scopes"))
    with pytest.raises(TransientError):
        channel.scopes()
    sendgrid.server.inject(Fault(status=200, json={"scope": "mail.send"}, path="/v3/scopes"))
    with pytest.raises(PermanentError, match="no list of scopes"):
        channel.scopes()
    with pytest.raises(AuthError) as refused:
        SendGridChannel("SG.wrong", host=sendgrid.url, timeout_s=5).scopes()
    assert refused.value.status == 401 and "authorization grant is invalid" in (refused.value.provider_message or "")


def _verification_key() -> str:
    der = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


@pytest.mark.parametrize(("value", "level"), [
    (None, "blocker"), ("", "blocker"), ("not a key at all", "blocker"), (base64.b64encode(b"x" * 91).decode(), "blocker"),
    ("GOOD", "ok"), ("GOOD-PEM", "ok"),
])
def test_the_webhook_key_must_be_set_and_be_a_public_key(tmp_path, value, level):
    config = _with(desk_data.example_config(tmp_path), provider="sendgrid")
    if value == "GOOD":
        value = _verification_key()
    elif value == "GOOD-PEM":
        value = f"-----BEGIN PUBLIC KEY-----\n{_verification_key()}\n-----END PUBLIC KEY-----\n"
    env = {} if value is None else {"SENDGRID_WEBHOOK_PUBLIC_KEY": value}
    [finding] = webhook_key_findings(config, env)
    assert finding.level == level
    if level == "blocker":
        assert "Verification Key" in finding.fix
    assert webhook_key_findings(desk_data.example_config(tmp_path), env)[0].level == "ok"  # the outbox: no webhook


# --- the ledger: the secret key, Gmail's clip ----------------------------------------------------------------


def _url(db) -> str:
    return db.engine.url.render_as_string(hide_password=False)


def test_the_key_in_use_must_match_the_links_sent(db, tmp_path):
    config = desk_data.example_config(tmp_path)
    edition_id = desk_data.seed_edition(db, config, now=NOW)
    with db.session() as session:
        [finding] = doctor.key_findings(session, SecretKey(KEY, "test"), now=NOW, database_url=_url(db))
        assert finding.level == "ok" and "no links sent" in finding.title
        session.get(EditionRow, edition_id).key_fingerprint = key_fingerprint(KEY)
    with db.session() as session:
        [same] = doctor.key_findings(session, SecretKey(KEY, "test"), now=NOW, database_url=_url(db))
        [other] = doctor.key_findings(session, SecretKey("a-different-key-0123456789", "test"), now=NOW,
                                      database_url=_url(db))
        [missing] = doctor.key_findings(session, None, now=NOW, database_url=_url(db))
    assert same.level == "ok" and "matches the links already sent" in same.title
    assert other.level == "blocker" and f"edition {edition_id}" in other.detail and "Set the old key back" in other.detail
    assert missing.level == "blocker" and "is missing" in missing.detail


def test_an_unreadable_key_file_is_a_blocker(db, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'elsewhere' / 'ledger.db'}"
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "secret-key").write_text("x" * 40)
    (tmp_path / "elsewhere" / "secret-key").chmod(0o644)
    key, problem = doctor.current_key({}, database_url=url)
    assert key is None and problem is not None and problem.level == "blocker" and "chmod 600" in problem.detail


@pytest.mark.parametrize(("size", "level"), [
    (50_000, "ok"), (GMAIL_CLIP_BYTES - CLIP_MARGIN_BYTES + 1, "warning"), (GMAIL_CLIP_BYTES + 1, "blocker")])
def test_the_next_edition_must_be_under_gmails_clip(db, tmp_path, size, level):
    config = desk_data.example_config(tmp_path)
    with db.session() as session:
        [nothing] = doctor.clip_findings(session)
    assert nothing.level == "ok" and "no edition built yet" in nothing.title
    edition_id = desk_data.seed_edition(db, config, now=NOW)
    with db.session() as session:
        session.get(EditionRow, edition_id).html_bytes = size
    with db.session() as session:
        [finding] = doctor.clip_findings(session)
    assert finding.level == level and f"{size:,} bytes" in finding.title and f"the next edition, {edition_id}" in finding.title
    assert (finding.fix != "") == (level != "ok")


def test_the_clip_of_the_edition_as_built_by_the_pipeline_is_measured(db, tmp_path):
    config = desk_data.example_config(tmp_path)
    edition_id = desk_data.seed_edition(db, config, now=NOW)
    with db.session() as session:
        row = session.get(EditionRow, edition_id)
        assert row.html_bytes == len(row.html.encode("utf-8"))
        assert doctor.clip_findings(session) == [clip_finding(row.html_bytes, which=f"the next edition, {edition_id} "
                                                                                  f"({row.slug}),")]


def test_a_report_lists_blockers_first_and_says_what_to_do():
    report = DoctorReport.of([Finding("a", "ok", "fine"), Finding("b", "warning", "meh", fix="x"),
                              Finding("c", "blocker", "bad", fix="y")])
    assert [f.check for f in report.findings] == ["c", "b", "a"]
    assert report.as_dict()["ok"] is False and report.counts() == {"blocker": 1, "warning": 1, "ok": 1}
    assert report.summary().startswith("1 blocker(s), 1 warning(s)")
    assert DoctorReport.of([Finding("a", "ok", "fine")]).summary() == "every check passed"
