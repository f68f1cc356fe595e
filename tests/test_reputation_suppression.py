"""Suppression for good, on SQLite and PostgreSQL: a hard bounce or a spam complaint reported by
SendGrid keeps the address out whatever comes later (a CSV re-import, the desk's import preview,
the sign-up form, an old confirmation link, a milder event); each refusal says why; only an
admin's audited reinstatement opens the way back, and then only through a fresh double opt-in."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from compose.signing import confirm_token
from state import provider_events, subscribers
from state.errors import LedgerError, NotAllowed
from state.models import AuditRow, SubscriberRow, SubscriberStatus, SuppressionRow
from state.subscribers import SuppressedAddress
from tests.helpers import desk_data
from tests.helpers.staff import add_staff_rows
from web.app import create_app

SECRET = "test-secret-key-0123456789abcdef"
ADMIN, APPROVER = "admin@socitm.example", "approver@socitm.example"


@pytest.fixture
def ledger(db, now):
    with db.session() as session:
        add_staff_rows(session)
        for n, status in enumerate([SubscriberStatus.ACTIVE] * 4, start=1):
            session.add(SubscriberRow(email=f"Reader{n}@Example.org", name=f"Reader {n}", status=status,
                                      consent_source="import:test", consent_at=now, confirmed_at=now,
                                      status_changed_at=now, created_at=now))
    # reader1 hard-bounces, reader2 complains, reader3 is blocked (temporary), reader4 unsubscribes
    batch = [{"email": "reader1@example.org", "event": "bounce", "type": "bounce", "status": "5.1.1",
              "reason": "550 5.1.1 no such user", "sg_event_id": "b1", "timestamp": int(now.timestamp()),
              "subscriber_id": "1"},
             {"email": "reader2@example.org", "event": "spamreport", "sg_event_id": "s2",
              "timestamp": int(now.timestamp()), "subscriber_id": "2"},
             {"email": "reader3@example.org", "event": "bounce", "type": "blocked", "status": "5.7.1",
              "reason": "550 5.7.1 blocked by policy", "bounce_classification": "Reputation", "sg_event_id": "x3",
              "timestamp": int(now.timestamp()), "subscriber_id": "3"},
             {"email": "reader4@example.org", "event": "unsubscribe", "sg_event_id": "u4",
              "timestamp": int(now.timestamp()), "subscriber_id": "4"}]
    with db.session() as session:
        provider_events.apply_provider_events(session, batch, now=now)
    return db


def statuses(db) -> dict[int, str]:
    with db.session() as session:
        return {row.id: str(row.status) for row in session.scalars(select(SubscriberRow))}


def test_hard_bounces_and_complaints_are_suppressed_for_good_blocks_are_not(ledger):
    assert statuses(ledger) == {1: "bounced", 2: "complained", 3: "active", 4: "unsubscribed"}
    with ledger.session() as session:
        rows = session.scalars(select(SuppressionRow).order_by(SuppressionRow.id)).all()
        assert [(r.email, r.kind) for r in rows] == [("reader1@example.org", "bounce"),
                                                     ("reader2@example.org", "complaint")]
        assert "550 5.1.1 no such user" in rows[0].detail
        assert set(subscribers.suppressed_addresses(session, ["READER1@example.org", "reader3@example.org"])) == \
            {"reader1@example.org"}


def test_a_re_import_never_brings_them_back_and_says_why(ledger, now):
    csv = "email,name\nreader1@example.org,One\nREADER2@example.org,Two\nreader3@example.org,Three\nnew@example.org,New\n"
    with ledger.session() as session:
        preview = subscribers.preview_import(session, csv)
        refused = {p.line: p.reason for p in preview.refused}
        assert set(refused) == {2, 3}
        assert "suppressed for good" in refused[2] and "bounced for good" in refused[2]
        assert "reported a message as spam" in refused[3] and "syndicate subscribers reinstate" in refused[3]
        report = subscribers.import_csv(session, csv, filename="again.csv", now=now + timedelta(days=1))
    assert (report.added, report.unchanged) == (1, 1)
    assert set(report.left_alone) == {"Reader1@Example.org", "Reader2@Example.org"}
    assert "suppressed for good" in report.message
    assert statuses(ledger)[1] == "bounced" and statuses(ledger)[2] == "complained"


def test_a_milder_event_later_never_weakens_a_suppression(ledger, now):
    later = [{"email": "reader1@example.org", "event": "unsubscribe", "sg_event_id": "u1",
              "timestamp": int(now.timestamp()) + 60, "subscriber_id": "1"},
             {"email": "reader2@example.org", "event": "group_resubscribe", "sg_event_id": "r2", "asm_group_id": 1,
              "timestamp": int(now.timestamp()) + 60, "subscriber_id": "2"}]
    with ledger.session() as session:
        provider_events.apply_provider_events(session, later, now=now)
    assert statuses(ledger)[1] == "bounced" and statuses(ledger)[2] == "complained"


def test_an_address_suppressed_without_a_subscriber_cannot_sign_up_or_be_imported(db, now):
    with db.session() as session:  # e.g. carried over by the migration, or its subscriber row erased
        session.add(SuppressionRow(email="gone@example.org", kind="complaint", detail="", suppressed_at=now))
    with db.session() as session, pytest.raises(SuppressedAddress, match="suppressed for good"):
        subscribers.subscribe_pending(session, "Gone@Example.org", source="web:/subscribe", now=now)
    with db.session() as session:
        report = subscribers.import_csv(session, "email\ngone@example.org\n", filename="x.csv", now=now)
        assert report.added == 0 and report.left_alone == ("gone@example.org",)
        assert session.scalar(select(SubscriberRow.id)) is None


@pytest.fixture
def site(ledger, tmp_path, now):
    config = desk_data.example_config(tmp_path)
    clock = desk_data.Clock(now)
    app = create_app(config=config, db=ledger, secret_key=SECRET, now=clock, env={})
    return app, clock, TestClient(app), Path(config.email.outbox_dir) / "email" / "confirmations"


def test_the_sign_up_form_writes_nothing_to_a_suppressed_address_and_says_what_to_do(site):
    app, clock, client, outbox = site
    for address in ("reader1@example.org", "reader2@example.org", "reader4@example.org"):
        token = desk_data.csrf_from(client.get("/subscribe").text)
        answer = client.post("/subscribe", data={"csrf_token": token, "email": address})
        assert answer.status_code == 200 and "bounced for good or were reported as spam" in answer.text
        assert app.state.syndicate.config.edition.reply_to in answer.text
    sent = sorted(outbox.glob("*.eml")) if outbox.exists() else []
    assert len(sent) == 1 and "reader4@example.org" in sent[0].read_text().lower()  # only the one who unsubscribed


def test_an_old_confirmation_link_is_refused_with_the_reason(site, now):
    app, clock, client, _ = site
    link = f"/confirm/{confirm_token(SECRET, subscriber_id=2, email='Reader2@Example.org', now=now)}"
    page = client.get(link)
    answer = client.post(link, data={"csrf_token": desk_data.csrf_from(page.text)})
    assert answer.status_code == 400
    assert "suppressed for good" in answer.text and "reported a message as spam" in answer.text
    assert statuses(app.state.syndicate.db)[2] == "complained"


def test_only_an_admin_with_a_reason_reinstates_and_the_person_then_confirms(site, now):
    app, clock, client, outbox = site
    db = app.state.syndicate.db
    with db.session() as session, pytest.raises(NotAllowed, match="only admins"):
        subscribers.lift_suppression(session, "reader2@example.org", by=APPROVER, reason="asked", now=now)
    with db.session() as session, pytest.raises(LedgerError, match="--reason"):
        subscribers.lift_suppression(session, "reader2@example.org", by=ADMIN, reason="  ", now=now)
    with db.session() as session, pytest.raises(LedgerError, match="not suppressed"):
        subscribers.lift_suppression(session, "reader3@example.org", by=ADMIN, reason="asked", now=now)
    with db.session() as session:
        done = subscribers.lift_suppression(session, "READER2@example.org", by=ADMIN, now=now,
                                            reason="asked by phone to be re-added")
    assert (done.email, done.lifted, done.status) == ("reader2@example.org", ("complaint",), "unsubscribed")
    with db.session() as session:
        audit = session.scalars(select(AuditRow).where(AuditRow.action == "reinstate")).one()
        lifted = session.scalars(select(SuppressionRow).where(SuppressionRow.email == "reader2@example.org")).one()
    assert audit.actor == ADMIN and audit.detail["reason"] == "asked by phone to be re-added"
    assert (lifted.lifted_by, lifted.lifted_reason) == (ADMIN, "asked by phone to be re-added")
    assert statuses(db)[2] == "unsubscribed"  # not active: nothing is sent until they confirm
    # the person signs up again and confirms from their inbox
    token = desk_data.csrf_from(client.get("/subscribe").text)
    client.post("/subscribe", data={"csrf_token": token, "email": "reader2@example.org"})
    path = next(p for p in outbox.glob("*.eml") if "reader2" in p.read_text().lower())
    mail = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    link = re.search(r"https?://[^/\s]+(/confirm/[\w.\-]+)", mail.get_body(("plain",)).get_content()).group(1)
    page = client.get(link)
    assert client.post(link, data={"csrf_token": desk_data.csrf_from(page.text)}).status_code == 200
    assert statuses(db)[2] == "active"
