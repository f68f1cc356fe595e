"""Outgoing webhooks on SQLite and PostgreSQL: events to deliveries, signed per Standard Webhooks and
checked by the reference library (`standardwebhooks`) in a receiver on loopback, retried after a
500 or a timeout with a growing wait, given up after the last attempt with the error kept, and
never sent to an internal address unless `[fetch] allow_hosts` names it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from compose.webhooks import WebhookLimits, retry_wait, sign
from connectors.outbound import OutboundGuard
from connectors.webhooks import WebhookSender
from flows.webhooks import deliver_webhooks
from state import ledger, webhooks
from state.api_subscribers import Upsert, unsubscribe_subscriber, upsert_subscriber
from state.models import EditionRow, EditionStatus, WebhookDeliveryRow
from tests.conftest import NOW
from tests.fakes.server import FakeServer, Fault, Reply
from tests.helpers import desk_data
from tests.helpers.staff import add_staff_rows

KEY = "test-secret-key-0123456789abcdef"
ADMIN = "admin@socitm.example"


class Receiver:
    """A membership system's webhook receiver: checks every signature with the reference library."""

    def __init__(self) -> None:
        self.secret = ""
        self.received: list[dict] = []
        self.ids: list[str] = []
        self.refused = 0
        self.server = FakeServer(self.app)

    def app(self, request) -> Reply:
        try:
            payload = Webhook(self.secret).verify(request.body, request.headers)
        except WebhookVerificationError:
            self.refused += 1
            return Reply(status=400, json={"error": "bad signature"})
        self.received.append(payload)
        self.ids.append(request.headers["webhook-id"])
        return Reply(status=204)


@pytest.fixture
def receiver():
    with Receiver().server as server:
        yield server.app.__self__


def _guard(server: FakeServer) -> OutboundGuard:
    host_port = server.url.split("//", 1)[1].rstrip("/")
    return OutboundGuard.trusting(allow_hosts=[host_port])


def _endpoint(db, url: str, events: list[str]) -> str:
    with db.session() as session:
        add_staff_rows(session)
        _, secret = webhooks.add_endpoint(session, url, events, by=ADMIN, server_key=KEY, now=NOW)
    return secret


def _subscribe(db, email: str, now: datetime = NOW) -> None:
    with db.session() as session:
        upsert_subscriber(session, Upsert(email=email, name="Ada", consent_source="form", consent_at=now),
                          by="crm", now=now)


def _pass(db, guard, now, **kwargs):
    return deliver_webhooks(db, server_key=KEY, guard=guard, now=now, clock=lambda: datetime.now(UTC), **kwargs)


def _deliveries(db):
    with db.session() as session:
        rows = session.scalars(select(WebhookDeliveryRow).order_by(WebhookDeliveryRow.id)).all()
        session.expunge_all()
        return rows


def test_a_subscription_reaches_the_receiver_signed_once(db, receiver):
    receiver.secret = _endpoint(db, receiver.server.url + "/hooks", ["subscriber.subscribed"])
    assert receiver.secret.startswith("whsec_")
    _subscribe(db, "ada@example.org")
    report = _pass(db, _guard(receiver.server), NOW)
    assert (report.queued, report.delivered) == (1, 1)
    assert receiver.refused == 0 and len(receiver.received) == 1
    body = receiver.received[0]
    assert body["type"] == "subscriber.subscribed" and body["data"]["email"] == "ada@example.org"
    assert body["data"]["status"] == "active"
    again = _pass(db, _guard(receiver.server), NOW + timedelta(hours=1))
    assert (again.queued, again.delivered) == (0, 0) and len(receiver.received) == 1  # never twice
    (row,) = _deliveries(db)
    assert webhooks.delivery_state(row) == "delivered" and row.attempts == 1 and row.last_status == 204


def test_a_500_is_retried_later_with_the_same_message_id(db, receiver):
    receiver.secret = _endpoint(db, receiver.server.url + "/hooks", ["subscriber.subscribed", "subscriber.unsubscribed"])
    _subscribe(db, "ada@example.org")
    receiver.server.inject(Fault(status=500, json={"error": "down"}))
    first = _pass(db, _guard(receiver.server), NOW)
    assert (first.delivered, first.retrying) == (0, 1)
    (row,) = _deliveries(db)
    assert row.last_status == 500 and "HTTP 500" in row.last_error
    assert row.next_attempt_at.replace(tzinfo=UTC) == NOW + WebhookLimits.first_retry
    assert _pass(db, _guard(receiver.server), NOW + timedelta(seconds=29)).delivered == 0  # not due yet
    assert _pass(db, _guard(receiver.server), NOW + timedelta(seconds=30)).delivered == 1
    tried = receiver.server.requests_to("/hooks")
    assert len(tried) == 2 and tried[0].headers["webhook-id"] == tried[1].headers["webhook-id"]
    assert tried[0].body == tried[1].body
    (row,) = _deliveries(db)
    assert row.attempts == 2 and row.delivered_at is not None and row.last_error is None


def test_a_receiver_that_does_not_answer_in_time_is_retried(db, receiver):
    receiver.secret = _endpoint(db, receiver.server.url + "/hooks", ["subscriber.subscribed"])
    _subscribe(db, "ada@example.org")
    receiver.server.inject(Fault(delay_s=2.0))
    sender = WebhookSender(_guard(receiver.server), timeout_s=0.5)
    try:
        report = _pass(db, _guard(receiver.server), NOW, sender=sender)
    finally:
        sender.close()
    assert report.retrying == 1 and "no answer within 0.5 s" in next(iter(report.errors.values()))
    assert _pass(db, _guard(receiver.server), NOW + timedelta(minutes=1)).delivered == 1


def test_it_gives_up_after_the_last_attempt_and_the_failure_stays_visible(db, receiver):
    receiver.secret = "whsec_" + "A" * 44  # not the endpoint's: every attempt is refused
    _endpoint(db, receiver.server.url + "/hooks", ["subscriber.subscribed"])
    _subscribe(db, "ada@example.org")
    moment = NOW
    for attempt in range(1, WebhookLimits.max_attempts + 1):
        report = _pass(db, _guard(receiver.server), moment)
        assert report.delivered == 0
        wait = retry_wait(attempt)
        if wait is None:
            assert report.failed == 1
            break
        moment += wait
    (row,) = _deliveries(db)
    assert row.attempts == WebhookLimits.max_attempts and webhooks.delivery_state(row) == "failed"
    assert row.last_status == 400 and "bad signature" in row.last_error and row.next_attempt_at is None
    assert receiver.refused == WebhookLimits.max_attempts
    assert _pass(db, _guard(receiver.server), moment + timedelta(days=30)).failed == 0  # nothing more
    with db.session() as session:
        assert [r.id for r in webhooks.deliveries(session, failing=True)] == [row.id]


def test_an_internal_address_is_refused_unless_allowed_and_one_bad_receiver_never_stops_another(db, receiver):
    receiver.secret = _endpoint(db, receiver.server.url + "/good", ["subscriber.unsubscribed"])
    _endpoint(db, "http://127.0.0.1:9/hooks", ["subscriber.unsubscribed"])  # loopback, not allowed
    _subscribe(db, "ada@example.org")
    with db.session() as session:
        unsubscribe_subscriber(session, "ada@example.org", by="crm", reason="left", now=NOW)
    report = _pass(db, _guard(receiver.server), NOW)
    assert (report.queued, report.delivered, report.retrying) == (2, 1, 1)
    assert receiver.received[0]["type"] == "subscriber.unsubscribed"
    assert receiver.received[0]["data"]["reason"] == "unsubscribed"
    refused = [r for r in _deliveries(db) if r.delivered_at is None]
    assert "loopback" in refused[0].last_error and "allow_hosts" in refused[0].last_error


def test_edition_sent_carries_its_figures_and_a_new_endpoint_gets_only_what_happens_next(db, receiver, tmp_path):
    config = desk_data.example_config(tmp_path)
    _subscribe(db, "before@example.org")  # before any endpoint: never sent
    receiver.secret = _endpoint(db, receiver.server.url + "/hooks", ["edition.sent"])
    edition_id = desk_data.seed_edition(db, config, now=NOW)
    _subscribe(db, "after@example.org")  # not asked for
    with db.session() as session:
        row = session.get(EditionRow, edition_id)
        row.status = EditionStatus.SENDING
        ledger.mark_edition_sent(session, row, now=NOW, summary={"accepted": 2, "failed": 0})
    report = _pass(db, _guard(receiver.server), NOW)
    assert report.queued == 1 and [b["type"] for b in receiver.received] == ["edition.sent"]
    data = receiver.received[0]["data"]
    assert data["id"] == edition_id and data["figures"] == {"accepted": 2, "failed": 0} and data["subject"]


def test_removed_endpoints_get_nothing_more_and_bad_ones_are_refused(db, receiver):
    receiver.secret = _endpoint(db, receiver.server.url + "/hooks", ["subscriber.subscribed"])
    _subscribe(db, "ada@example.org")
    receiver.server.inject(Fault(status=503))
    assert _pass(db, _guard(receiver.server), NOW).retrying == 1
    with db.session() as session:
        (endpoint,) = webhooks.endpoints(session)
        webhooks.remove_endpoint(session, endpoint.id, by=ADMIN, now=NOW)
    _subscribe(db, "grace@example.org")
    assert _pass(db, _guard(receiver.server), NOW + timedelta(hours=1)).queued == 0 and receiver.received == []
    (row,) = _deliveries(db)
    assert webhooks.delivery_state(row) == "failed" and "removed" in row.last_error
    with db.session() as session:
        with pytest.raises(webhooks.WebhookRefused, match="use one or more of"):
            webhooks.add_endpoint(session, "https://x.example/h", ["subscriber.deleted"], by=ADMIN, server_key=KEY, now=NOW)
        with pytest.raises(webhooks.WebhookRefused, match="web address"):
            webhooks.add_endpoint(session, "ftp://x.example/h", ["edition.sent"], by=ADMIN, server_key=KEY, now=NOW)
        with pytest.raises(Exception, match="only admins"):
            webhooks.add_endpoint(session, "https://x.example/h", ["edition.sent"], by="editor@socitm.example",
                                  server_key=KEY, now=NOW)


def test_the_signature_is_the_standard_one_and_waits_grow_to_the_cap():
    secret = b"0123456789abcdef0123456789abcdef"
    stamp = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)
    reference = Webhook(secret).sign("msg_1", stamp, b'{"a":1}')
    assert sign(secret, "msg_1", int(stamp.timestamp()), b'{"a":1}') == reference
    waits = [retry_wait(n) for n in range(1, WebhookLimits.max_attempts + 1)]
    assert waits[0] == WebhookLimits.first_retry and waits[-1] is None
    assert all(b > a for a, b in zip(waits[:-2], waits[1:-1], strict=True))
    assert all(w <= WebhookLimits.longest_wait for w in waits[:-1])


def test_every_door_that_subscribes_or_unsubscribes_announces_it_once(db):
    from compose.subscribers import SubscriberCsvRow
    from state import events, subscribers
    from state.models import EventRow, SubscriberStatus

    with db.session() as session:
        add_staff_rows(session)
        subscribers.import_subscribers(session, [SubscriberCsvRow(2, "a@example.org", "A"),
                                                 SubscriberCsvRow(3, "b@example.org", "B")], source="x.csv", now=NOW)
        pending = subscribers.subscribe_pending(session, "c@example.org", source="web:/subscribe", now=NOW)
        subscribers.confirm(session, pending.id, "c@example.org", now=NOW)
        bounced = subscribers.find(session, "a@example.org")
        subscribers.suppress(session, bounced.id, SubscriberStatus.BOUNCED, reason="550", now=NOW)
        subscribers.suppress(session, bounced.id, SubscriberStatus.COMPLAINED, reason="spam", now=NOW)  # left already
        subscribers.unsubscribe(session, "b@example.org", reason="link", now=NOW)
        subscribers.lift_suppression(session, "a@example.org", by=ADMIN, reason="asked by phone", now=NOW)
    with db.session() as session:
        rows = session.scalars(select(EventRow).where(EventRow.name.like("syndicate.subscriber.%"))
                               .order_by(EventRow.id)).all()
        said = [(r.name.rsplit(".", 1)[1], r.payload.get("door") or r.payload.get("status")) for r in rows]
    assert said == [("subscribed", "import"), ("subscribed", "import"), ("subscribed", "form"),
                    ("unsubscribed", "bounced"), ("unsubscribed", "unsubscribed")]
    assert events.SUBSCRIBER_SUBSCRIBED == "syndicate.subscriber.subscribed"


def test_erasure_can_forget_what_webhooks_said_about_an_address(db, receiver):
    receiver.secret = _endpoint(db, receiver.server.url + "/hooks", ["subscriber.subscribed"])
    _subscribe(db, "ada@example.org")
    _subscribe(db, "grace@example.org")
    _pass(db, _guard(receiver.server), NOW)
    with db.session() as session:
        assert webhooks.forget_address(session, "ADA@example.org") == 1
    assert [r.payload["data"]["email"] for r in _deliveries(db)] == ["grace@example.org"]
