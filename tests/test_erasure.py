"""A person's data on request (state/subscriber_export.py, state/erasure.py) on SQLite and PostgreSQL:
the export holds everything about one address and nothing about anyone else; erasure deletes it
all and keeps only a salted hash, which an import, the sign-up path and the API check; a member of
staff's re-add with fresh consent is the only way back; both are audited and role-checked."""

from __future__ import annotations

import json
import stat
import unicodedata
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from compose.subscribers import SubscriberCsvRow
from state import erasure
from state.clicks import record_click, record_open
from state.db import connect
from state.errors import NotAllowed
from state.models import (
    AuditRow,
    DeliveryRow,
    ErasedAddressRow,
    ProviderEventRow,
    ReaderClickRow,
    ReaderOpenRow,
    SubscriberChangeRow,
    SubscriberRow,
    SuppressionRow,
)
from state.provider_events import apply_provider_events
from state.reader_preferences import set_sections
from state.subscriber_export import audit_export, export_address
from state.subscribers import import_subscribers, subscribe_pending
from tests.helpers import desk_data, report_data
from tests.helpers.staff import add_staff_rows

NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)
ADMIN, EDITOR = "admin@socitm.example", "editor@socitm.example"
SALT = "test-erasure-salt-0123456789abcdef"
WHO = "reader1@example.org"


@pytest.fixture(autouse=True)
def _salt(monkeypatch):
    monkeypatch.setenv(erasure.SALT_ENV, SALT)


@pytest.fixture
def sent(db, tmp_path):
    """Three readers who got an edition (through the real deliver stage, to the outbox), with a
    delivery event, a bounce for reader 3, a click and an open for reader 1, and a change."""
    config = desk_data.example_config(tmp_path)
    edition_id = report_data.send_edition(db, config, now=NOW, subscribers=3)
    people = report_data.recipients(db)
    later = NOW + timedelta(hours=1)
    with db.session() as session:
        add_staff_rows(session)
        apply_provider_events(session, report_data.events_for(edition_id, people, "delivered", at=later), now=later)
        apply_provider_events(session, report_data.events_for(edition_id, people[2:], "bounce", at=later,
                                                               type="bounce", reason="550 no such user"), now=later)
        record_click(session, edition_id=edition_id, item_id=None, url="https://www.socitm.net/news/1", subscriber_id=1,
                     now=later)
        record_open(session, edition_id=edition_id, subscriber_id=1, now=later)
        set_sections(session, session.get(SubscriberRow, 1), ["news"], known=["news", "blogs", "publications"],
                     now=later)
    return db, config, edition_id, tmp_path


def test_export_holds_everything_about_one_address_and_nothing_else(sent):
    db, _, edition_id, _ = sent
    with db.session() as session:
        data = export_address(session, "Reader1@EXAMPLE.org", now=NOW)
    assert data["email"] == WHO and data["subscriber"]["name"] == "Reader 1"
    assert data["subscriber"]["sections"] == ["news"] and data["erased"] is False
    assert data["consent"] == {"source": "import:test", "given_at": (NOW - timedelta(weeks=6)).isoformat(),
                               "confirmed_at": (NOW - timedelta(weeks=6)).isoformat()}
    assert [(c["door"], c["field"], c["new"]) for c in data["changes"]] == [("preferences", "sections", ["news"])]
    [delivery] = data["deliveries"]
    assert delivery["edition_id"] == edition_id and delivery["status"] == "accepted" and delivery["delivered_at"]
    assert [e["kind"] for e in data["provider_events"]] == ["delivered"]
    assert data["clicks"][0]["url"] == "https://www.socitm.net/news/1" and data["opens"][0]["opens"] == 1
    assert data["suppressions"] == []
    assert "reader2@example.org" not in json.dumps(data) and "reader3" not in json.dumps(data)
    with db.session() as session:
        bounced = export_address(session, "reader3@example.org", now=NOW)
        nobody = export_address(session, "nobody@example.org", now=NOW)
    assert [s["kind"] for s in bounced["suppressions"]] == ["bounce"]
    assert {e["kind"] for e in bounced["provider_events"]} == {"delivered", "bounce"}
    assert nobody["subscriber"] is None and nobody["deliveries"] == [] and nobody["email"] == "nobody@example.org"


def test_export_is_for_admins_and_audited(sent):
    db, _, _, _ = sent
    with db.session() as session, pytest.raises(NotAllowed, match="only admins may export"):
        audit_export(session, WHO, by=EDITOR, now=NOW, subscriber_id=1, door="cli")
    with db.session() as session:
        audit_export(session, WHO, by=ADMIN, now=NOW, subscriber_id=1, door="cli")
    with db.session() as session:
        row = session.scalars(select(AuditRow).where(AuditRow.action == "subscriber.export")).one()
        assert (row.actor, row.subject_id, row.detail["email"]) == (ADMIN, 1, WHO)


def _held_about(session, subscriber_id: int) -> dict[str, int]:
    def count(model, *where):
        return session.scalar(select(func.count()).select_from(model).where(*where))

    return {"subscriber": count(SubscriberRow, SubscriberRow.id == subscriber_id),
            "changes": count(SubscriberChangeRow, SubscriberChangeRow.subscriber_id == subscriber_id),
            "deliveries": count(DeliveryRow, DeliveryRow.subscriber_id == subscriber_id),
            "clicks": count(ReaderClickRow, ReaderClickRow.subscriber_id == subscriber_id),
            "opens": count(ReaderOpenRow, ReaderOpenRow.subscriber_id == subscriber_id),
            "suppressions": count(SuppressionRow, SuppressionRow.subscriber_id == subscriber_id)}


def test_erase_deletes_everything_keeps_a_salted_hash_and_audits_without_the_address(sent):
    db, _, _, _ = sent
    with db.session() as session:  # an earlier export named the address in the audit log
        audit_export(session, WHO, by=ADMIN, now=NOW, subscriber_id=1, door="cli")
        others_before = _held_about(session, 2)
    with db.session() as session:
        done = erasure.erase(session, "READER1@example.org", by=ADMIN, now=NOW)
    assert done.removed["subscriber"] == 1 and done.removed["deliveries"] == 1 and done.removed["changes"] == 1
    with db.session() as session:
        assert set(_held_about(session, 1).values()) == {0}
        assert _held_about(session, 2) == others_before  # nobody else loses anything
        events = session.scalars(select(ProviderEventRow)).all()
        assert all(WHO not in json.dumps(e.payload) for e in events)
        assert sum(e.payload == {"erased": True} for e in events) == 1
        everything = json.dumps([row.detail for row in session.scalars(select(AuditRow))])
        assert WHO not in everything.lower()
        [kept] = session.scalars(select(ErasedAddressRow)).all()
        assert kept.digest == erasure.address_digest(SALT, WHO) and WHO not in kept.digest
        erase_audit = session.scalars(select(AuditRow).where(AuditRow.action == "subscriber.erase")).one()
        assert erase_audit.actor == ADMIN and erase_audit.detail["digest"] == kept.digest[:16]
        assert erasure.is_erased(session, "Reader1@Example.ORG") and not erasure.is_erased(session, "reader2@example.org")
        data = export_address(session, WHO, now=NOW)
    assert data["subscriber"] is None and data["erased"] is True and data["provider_events"] == []


def test_an_erased_address_is_refused_by_import_and_sign_up_until_an_admin_readds_it(sent):
    db, _, _, _ = sent
    with db.session() as session:
        erasure.erase(session, WHO, by=ADMIN, now=NOW)
    with db.session() as session:
        report = import_subscribers(session, [SubscriberCsvRow(line=2, email="Reader1@Example.org", name="R"),
                                              SubscriberCsvRow(line=3, email="new@example.org", name="N")],
                                    source="import:members.csv", now=NOW)
        assert report.added == 1 and report.erased == ("Reader1@Example.org",)
        assert "erased at their owner's request" in report.message
        with pytest.raises(erasure.ErasedAddress, match="erased at its owner's request"):
            subscribe_pending(session, "READER1@example.org", source="web:/subscribe", now=NOW)
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(SubscriberRow)
                              .where(func.lower(SubscriberRow.email) == WHO)) == 0
        with pytest.raises(NotAllowed):
            erasure.readd(session, WHO, consent="asked by phone", by=EDITOR, now=NOW)
        with pytest.raises(erasure.ErasureError, match="--consent"):
            erasure.readd(session, WHO, consent="  ", by=ADMIN, now=NOW)
    with db.session() as session:
        row = erasure.readd(session, "Reader1@example.org", consent="asked by email on 7 Dec", by=ADMIN, now=NOW)
        assert row.status == "active" and row.consent_source == f"staff:{ADMIN}: asked by email on 7 Dec"
    with db.session() as session:
        assert not erasure.is_erased(session, WHO)
        assert session.scalars(select(AuditRow).where(AuditRow.action == "subscriber.readd")).one().actor == ADMIN
        with pytest.raises(erasure.ErasureError, match="is not erased"):
            erasure.readd(session, "someone@example.org", consent="x", by=ADMIN, now=NOW)


def test_erase_is_for_admins_only(db):
    desk_data.seed_subscribers(db, 1, now=NOW)
    with db.session() as session:
        add_staff_rows(session)
    with db.session() as session, pytest.raises(NotAllowed, match="only admins may erase"):
        erasure.erase(session, WHO, by=EDITOR, now=NOW)
    with db.session() as session:
        assert session.get(SubscriberRow, 1) is not None and not erasure.is_erased(session, WHO)


def test_a_lost_salt_is_refused_instead_of_letting_erased_addresses_back(db, monkeypatch):
    with db.session() as session:
        add_staff_rows(session)
        erasure.erase(session, "gone@example.org", by=ADMIN, now=NOW)
    monkeypatch.setenv(erasure.SALT_ENV, "another-salt-altogether-0123456789")
    with db.session() as session, pytest.raises(erasure.ErasureError, match="restore"):
        subscribe_pending(session, "gone@example.org", source="web:/subscribe", now=NOW)


def test_the_salt_is_kept_beside_the_ledger_readable_by_its_owner_only(tmp_path, monkeypatch):
    monkeypatch.delenv(erasure.SALT_ENV)
    database = connect(f"sqlite:///{tmp_path / 'ledger.db'}")
    try:
        with database.session() as session:
            add_staff_rows(session)
            assert not erasure.is_erased(session, "x@example.org")  # no erasure yet: no salt made
            assert not (tmp_path / erasure.SALT_FILE).exists()
            erasure.erase(session, "x@example.org", by=ADMIN, now=NOW)
        path = tmp_path / erasure.SALT_FILE
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        with database.session() as session:
            assert erasure.is_erased(session, "X@example.org")
        path.chmod(0o644)
        with database.session() as session, pytest.raises(erasure.ErasureError, match="chmod 600"):
            erasure.is_erased(session, "x@example.org")
    finally:
        database.dispose()


def test_a_preference_link_in_the_sent_email_opens_the_readers_page(sent):
    db, config, edition_id, tmp_path = sent
    from fastapi.testclient import TestClient

    from web.app import create_app

    eml = next(Path(config.email.outbox_dir).glob(f"email/*/00001-e{edition_id}.eml"))
    mail = message_from_bytes(eml.read_bytes(), policy=policy.default)
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    link = next(line.split(": ", 1)[1] for line in text.splitlines() if line.startswith("Manage your preferences: "))
    html = mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert f'href="{link}"' in html and "{{" not in text + html
    path = link.removeprefix(str(config.edition.public_url).rstrip("/"))
    app = create_app(config=config, db=db, secret_key=report_data.SECRET, now=lambda: NOW, env={})
    page = TestClient(app).get(path)
    assert page.status_code == 200 and WHO in page.text and "Hello Reader." in page.text


# --- the hash: every way of writing one address gives one hash --------------------------------------------

local_parts = st.text(alphabet=st.characters(categories=("Ll", "Lu", "Nd"), max_codepoint=0x24F), min_size=1,
                      max_size=20)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(local=local_parts, domain=st.sampled_from(["example.org", "bücher.example", "EXAMPLE.ORG", "xn--bcher-kva.example"]))
def test_case_and_unicode_forms_of_one_address_share_one_hash(local: str, domain: str) -> None:
    address = f"{local}@{domain}"
    forms = {address, address.upper(), address.lower(), f"  {address} ", unicodedata.normalize("NFD", address),
             unicodedata.normalize("NFC", address.swapcase())}
    if address.upper().lower() != address.lower():  # ß, dotless i...: not one address in the ledger either
        forms = {address, unicodedata.normalize("NFD", address), f" {address}"}
    digests = {erasure.address_digest(SALT, form) for form in forms}
    assert len(digests) == 1, forms
    assert erasure.address_digest("another-salt-0123456789", address) not in digests
    assert erasure.address_digest(SALT, f"x{address}") not in digests


def test_an_international_domain_in_unicode_or_idna_is_one_address() -> None:
    assert erasure.address_digest(SALT, "User@xn--bcher-kva.example") == erasure.address_digest(SALT, "USER@BÜCHER.example")


def test_erase_drops_the_outgoing_webhook_bodies_that_name_the_address(db):
    from state.models import WebhookDeliveryRow, WebhookEndpointRow

    desk_data.seed_subscribers(db, 2, now=NOW)
    with db.session() as session:
        add_staff_rows(session)
        endpoint = WebhookEndpointRow(url="https://crm.example/hook", events=["subscriber.subscribed"], salt="s" * 32,
                                      created_by=ADMIN, created_at=NOW)
        session.add(endpoint)
        session.flush()
        for n in (1, 2):
            session.add(WebhookDeliveryRow(endpoint_id=endpoint.id, event_row_id=n, message_id=f"msg_{n}",
                                           event="subscriber.subscribed", created_at=NOW,
                                           payload={"type": "subscriber.subscribed",
                                                    "data": {"id": n, "email": f"reader{n}@example.org"}}))
    with db.session() as session:
        assert erasure.erase(session, "READER1@example.org", by=ADMIN, now=NOW).removed["webhook_deliveries"] == 1
    with db.session() as session:
        assert [r.payload["data"]["email"] for r in session.scalars(select(WebhookDeliveryRow))] == ["reader2@example.org"]
