"""Signed Event Webhook: ECDSA P-256 checked with sendgrid's helper; events applied once each."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func, select

from connectors.channels.sendgrid import WebhookRejected, verify_event_webhook
from flows.stages.deliver import deliver_edition
from state import deliveries, provider_events
from state.db import connect
from state.models import DeliveryRow, ProviderEventRow, SubscriberRow, SubscriberStatus
from tests.test_deliver import NOW, SECRET, add_subscribers, make_config, make_edition

T = int(NOW.timestamp())


@pytest.fixture(scope="module")
def keys():
    private = ec.generate_private_key(ec.SECP256R1())
    der = private.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, base64.b64encode(der).decode()


def sign(private: ec.EllipticCurvePrivateKey, timestamp: str, raw: bytes) -> str:
    return base64.b64encode(private.sign(timestamp.encode() + raw, ec.ECDSA(hashes.SHA256()))).decode()


RAW = json.dumps([{"email": "a@example.com", "event": "delivered", "sg_event_id": "e1", "timestamp": T}]).encode()


def test_a_genuine_request_verifies(keys):
    private, public = keys
    verify_event_webhook(public, RAW, sign(private, str(T), RAW), str(T), now=T + 5)
    pem = "-----BEGIN PUBLIC KEY-----\n" + public + "\n-----END PUBLIC KEY-----\n"
    verify_event_webhook(pem, RAW, sign(private, str(T), RAW), str(T), now=T)


@pytest.mark.parametrize("case", ["tampered", "other key", "changed timestamp", "reserialised", "not base64",
                                  "missing"])
def test_forged_requests_are_rejected(keys, case):
    private, public = keys
    signature, timestamp, raw = sign(private, str(T), RAW), str(T), RAW
    if case == "tampered":
        raw = RAW.replace(b"delivered", b"bounce")
    elif case == "other key":
        signature = sign(ec.generate_private_key(ec.SECP256R1()), str(T), RAW)
    elif case == "changed timestamp":
        timestamp = str(T + 1)
    elif case == "reserialised":
        raw = json.dumps(json.loads(RAW), indent=1).encode()
    elif case == "not base64":
        signature = "%%%not-base64%%%"
    else:
        signature = ""
    with pytest.raises(WebhookRejected):
        verify_event_webhook(public, raw, signature, timestamp, now=T)


def test_stale_timestamps_are_replays(keys):
    private, public = keys
    old = str(T - 3600)
    with pytest.raises(WebhookRejected, match="replay"):
        verify_event_webhook(public, RAW, sign(private, old, RAW), old, now=T)


@pytest.fixture
def sent(tmp_path):
    db = connect(f"sqlite:///{tmp_path}/t.db")
    yield from _sent(db, tmp_path)


@pytest.fixture
def sent_anywhere(db, tmp_path):
    """`sent`, on SQLite and on PostgreSQL."""
    yield from _sent(db, tmp_path)


def _sent(db, tmp_path):  # type: ignore[no-untyped-def]
    add_subscribers(db, 3)
    edition = make_edition(db)
    summary = deliver_edition(db, make_config(tmp_path), now=NOW, secret_key=SECRET)
    assert summary.sent
    yield db, edition
    db.dispose()


def _event(kind: str, sid: int, eid: str, edition: int, **extra: object) -> dict[str, object]:
    return {"email": f"reader{sid}@example.com", "event": kind, "sg_event_id": eid, "timestamp": T + 60,
            "edition_id": str(edition), "subscriber_id": str(sid), **extra}


def test_events_update_deliveries_and_suppress_once(sent):
    db, edition = sent
    batch = [_event("delivered", 1, "d1", edition), _event("open", 1, "o1", edition), _event("click", 1, "c1", edition),
             _event("bounce", 2, "b2", edition, type="bounce", reason="550 no such user"),
             _event("spamreport", 3, "s3", edition), _event("deferred", 1, "df1", edition, response="try later"),
             {"event": "processed", "email": "x@example.com"}]
    with db.session() as session:
        report = provider_events.apply_provider_events(session, batch, now=NOW)
    assert (report.applied, report.duplicates, report.unmatched) == (6, 0, 1)
    with db.session() as session:
        again = provider_events.apply_provider_events(session, batch, now=NOW)
        assert (again.applied, again.duplicates) == (0, 6)
        assert session.scalar(select(func.count()).select_from(ProviderEventRow)) == 6
        figures = deliveries.edition_figures(session, edition)
        assert {k: figures[k] for k in ("recipients", "accepted", "delivered", "bounced", "complained", "opened",
                                        "clicked")} == {"recipients": 3, "accepted": 3, "delivered": 1, "bounced": 1,
                                                        "complained": 1, "opened": 1, "clicked": 1}
        statuses = dict(session.execute(select(SubscriberRow.id, SubscriberRow.status)).all())
        assert statuses == {1: SubscriberStatus.ACTIVE, 2: SubscriberStatus.BOUNCED, 3: SubscriberStatus.COMPLAINED}
        assert session.scalar(select(DeliveryRow.delivered_at).where(DeliveryRow.subscriber_id == 1)) == \
            datetime.fromtimestamp(T + 60, UTC)


def test_an_unsubscribe_event_stops_the_next_edition(sent, tmp_path):
    db, edition = sent
    with db.session() as session:
        provider_events.apply_provider_events(session, [_event("unsubscribe", 2, "u2", edition)], now=NOW)
    second = make_edition(db, slug="next")
    summary = deliver_edition(db, make_config(tmp_path), now=NOW, edition_id=second, secret_key=SECRET)
    assert summary.recipients == 2 and summary.accepted == 2
    assert not list((tmp_path / "outbox" / "email" / "next").glob("00002-*.eml"))


def test_a_blocked_bounce_does_not_suppress(sent):
    db, edition = sent
    with db.session() as session:
        provider_events.apply_provider_events(session, [_event("bounce", 1, "bl1", edition, type="blocked")], now=NOW)
        assert session.get(SubscriberRow, 1).status == SubscriberStatus.ACTIVE


def test_a_large_batch_stamps_each_delivery_once_and_counts_exactly(sent_anywhere):
    """The bulk of a delivery (delivered, open, click naming subscriber and edition) is applied in a
    few statements: a second event for the same delivery stamps nothing and counts nothing, the
    first event's time is kept, and the edition's counters equal the deliveries stamped."""
    db, edition = sent_anywhere
    batch = [_event("delivered", 1, "d1", edition), _event("delivered", 2, "d2", edition),
             _event("delivered", 1, "d1-again", edition, timestamp=T + 999),  # the same delivery, a new event id
             _event("open", 1, "o1", edition), _event("open", 3, "o3", edition), _event("click", 3, "c3", edition),
             _event("delivered", 99, "d99", edition),  # no such delivery: stored, stamps nothing
             _event("bounce", 2, "b2", edition, type="bounce", reason="550 no such user")]
    with db.session() as session:
        report = provider_events.apply_provider_events(session, batch, now=NOW)
    assert (report.applied, report.duplicates, report.unmatched) == (8, 0, 0)
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(ProviderEventRow)) == 8
        figures = deliveries.edition_figures(session, edition)
        assert {k: figures[k] for k in ("delivered", "opened", "clicked", "bounced")} == {
            "delivered": 2, "opened": 2, "clicked": 1, "bounced": 1}
        assert session.scalar(select(DeliveryRow.delivered_at).where(DeliveryRow.subscriber_id == 1)) == \
            datetime.fromtimestamp(T + 60, UTC)
        assert session.get(SubscriberRow, 2).status == SubscriberStatus.BOUNCED
    with db.session() as session:
        again = provider_events.apply_provider_events(session, batch, now=NOW)
        assert (again.applied, again.duplicates) == (0, 8)
        assert deliveries.edition_figures(session, edition)["delivered"] == 2
