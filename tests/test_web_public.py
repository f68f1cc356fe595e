"""Public endpoints: one-click unsubscribe (RFC 8058), subscribe and confirm, the archive and its feed,
and the SendGrid Event Webhook (signed like SendGrid signs it, with a key made here)."""

from __future__ import annotations

import base64
import email
import email.policy
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from defusedxml import ElementTree
from fastapi.testclient import TestClient

from compose.signing import confirm_token, unsubscribe_token
from state import deliveries, ledger
from state.models import DeliveryRow, EditionRow, EditionStatus, SubscriberRow
from tests.helpers import desk_data
from tests.helpers.staff import add_staff_rows
from web.app import create_app
from web.public import SIGNATURE_HEADER, TIMESTAMP_HEADER

NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)
SECRET = "test-secret-key-0123456789abcdef"
KEY = ec.generate_private_key(ec.SECP256R1())
PUBLIC_KEY = base64.b64encode(KEY.public_key().public_bytes(
    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode()


@pytest.fixture
def site(sqlite_db, tmp_path):
    config = desk_data.example_config(tmp_path)
    clock = desk_data.Clock(NOW)
    app = create_app(config=config, db=sqlite_db, secret_key=SECRET, now=clock,
                     env={"SENDGRID_WEBHOOK_PUBLIC_KEY": PUBLIC_KEY})
    desk_data.seed_subscribers(sqlite_db, 2, now=NOW)
    return app, sqlite_db, clock, TestClient(app)


def _status(db, subscriber_id: int) -> str:
    with db.session() as session:
        return session.get(SubscriberRow, subscriber_id).status


def test_unsubscribe_page_asks_then_one_click_post_unsubscribes_at_once(site):
    app, db, _, client = site
    token = unsubscribe_token(SECRET, subscriber_id=1, edition_id=None, now=NOW)
    page = client.get(f"/unsubscribe/{token}")
    assert page.status_code == 200 and "Unsubscribe" in page.text and _status(db, 1) == "active"
    # exactly what a mail client sends for RFC 8058: no cookie, no CSRF token, no login
    response = TestClient(app).post(f"/unsubscribe/{token}", content=b"List-Unsubscribe=One-Click",
                                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 200 and "You are unsubscribed" in response.text
    assert _status(db, 1) == "unsubscribed" and _status(db, 2) == "active"
    assert TestClient(app).post(f"/unsubscribe/{token}").status_code == 200  # a second click changes nothing


def test_unsubscribe_answers_carry_the_security_headers_and_no_session_cookie(site):
    """The unsubscribe page and its one-click POST are answered before the session middleware
    (`public.UnsubscribeFastPath`): no cookie is set for a reader, every answer still carries the
    headers all answers carry and is never cached (a private link), and a bad link still gets its 400."""
    app, db, _, _ = site
    token = unsubscribe_token(SECRET, subscriber_id=1, edition_id=None, now=NOW)
    for method, path in (("GET", f"/unsubscribe/{token}"), ("POST", f"/unsubscribe/{token}"),
                         ("POST", f"/unsubscribe/{token[:-3]}abc")):
        response = TestClient(app).request(method, path, content=b"List-Unsubscribe=One-Click",
                                           headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert response.status_code == (400 if path.endswith("abc") else 200), (method, path)
        assert "set-cookie" not in response.headers, (method, path)
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["x-frame-options"] == "DENY" and "content-security-policy" in response.headers
    assert _status(db, 1) == "unsubscribed"


def test_forged_and_expired_unsubscribe_links_get_a_clear_400(site):
    _, db, clock, client = site
    token = unsubscribe_token(SECRET, subscriber_id=1, edition_id=None, now=NOW)
    forged = unsubscribe_token("another-secret-key-0123456789", subscriber_id=2, edition_id=None, now=NOW)
    for bad in (forged, token[:-3] + "abc"):
        for method in ("GET", "POST"):
            response = client.request(method, f"/unsubscribe/{bad}")
            assert response.status_code == 400 and "not valid" in response.text
    clock.advance(days=731)
    expired = client.post(f"/unsubscribe/{token}")
    assert expired.status_code == 400 and "expired" in expired.text
    assert _status(db, 1) == "active" and _status(db, 2) == "active"


def test_subscribe_sends_a_confirmation_link_that_activates(site):
    app, db, clock, client = site
    form = client.get("/subscribe")
    token = desk_data.csrf_from(form.text)
    response = client.post("/subscribe", data={"csrf_token": token, "email": "New.Person@Example.org", "name": "Ada"})
    assert response.status_code == 200 and "Check your inbox" in response.text
    with db.session() as session:
        row = session.query(SubscriberRow).filter_by(email="New.Person@example.org").one()
        assert row.status == "pending" and row.consent_source == "web:/subscribe"
        sid = row.id
    outbox = Path(app.state.syndicate.config.email.outbox_dir) / "email" / "confirmations"
    mail = email.message_from_bytes(next(outbox.glob("*.eml")).read_bytes(), policy=email.policy.default)
    assert mail["To"] == "New.Person@example.org"  # the name is not confirmed yet: it goes nowhere
    text = mail.get_body(("plain",)).get_content()
    link = re.search(r"http://127\.0\.0\.1:8000(/confirm/[\w.\-]+)", text).group(1)
    clock.advance(days=1)
    page = client.get(link)  # a GET shows a button and changes nothing (mail scanners follow links)
    assert page.status_code == 200 and "Confirm my subscription" in page.text
    assert _status(db, sid) == "pending"
    confirmed = client.post(link, data={"csrf_token": desk_data.csrf_from(page.text)})
    assert confirmed.status_code == 200 and "You are subscribed" in confirmed.text
    assert _status(db, sid) == "active"


def test_subscribe_refuses_a_bad_address_and_a_missing_csrf_token(site):
    _, db, _, client = site
    assert client.post("/subscribe", data={"email": "a@example.org"}).status_code == 403
    token = desk_data.csrf_from(client.get("/subscribe").text)
    bad = client.post("/subscribe", data={"csrf_token": token, "email": "not-an-address"})
    assert bad.status_code == 400 and "does not look right" in bad.text


def test_forged_and_expired_confirmation_links_are_refused(site):
    _, db, clock, client = site
    with db.session() as session:
        session.add(SubscriberRow(email="p@example.org", status="pending", created_at=NOW))
    token = confirm_token(SECRET, subscriber_id=3, email="p@example.org", now=NOW)
    assert client.get(f"/confirm/{token}x").status_code == 400
    clock.advance(days=8)
    expired = client.get(f"/confirm/{token}")
    assert expired.status_code == 400 and "expired" in expired.text
    assert _status(db, 3) == "pending"


def _sent_edition(db, config) -> EditionRow:
    eid = desk_data.seed_edition(db, config, now=NOW)
    with db.session() as session:
        add_staff_rows(session, {"ap@example.org": "approver"})
        ledger.approve(session, "edition", eid, by="ap@example.org", now=NOW)
        row = session.get(EditionRow, eid)
        ledger.mark_edition_sending(session, row)
        ledger.mark_edition_sent(session, row, now=NOW + timedelta(hours=1), summary={"accepted": 2})
        return row


def test_archive_index_page_and_feed_show_only_sent_editions_without_tokens(site):
    app, db, _, client = site
    config = app.state.syndicate.config
    assert "No edition has been sent yet" in client.get("/editions").text
    row = _sent_edition(db, config)
    index = client.get("/editions").text
    assert f"/editions/{row.slug}" in index
    page = client.get(f"/editions/{row.slug}")
    assert page.status_code == 200
    assert "{{" not in page.text and "Hello there," in page.text
    assert 'href="http://127.0.0.1:8000/subscribe"' in page.text  # in place of anyone's unsubscribe link
    assert "script-src" not in page.headers["content-security-policy"]
    feed = ElementTree.fromstring(client.get("/editions/feed.xml").content)
    items = feed.findall("./channel/item")
    assert [i.findtext("link") for i in items] == [f"http://127.0.0.1:8000/editions/{row.slug}"]
    assert items[0].findtext("title") == row.subject
    with db.session() as session:  # a draft is not published
        session.get(EditionRow, row.id).status = EditionStatus.DRAFT
    assert client.get(f"/editions/{row.slug}").status_code == 404
    assert client.get("/editions/feed.xml").text.count("<item>") == 0


def _signed(body: bytes, timestamp: int, key=KEY) -> dict[str, str]:
    signature = key.sign(str(timestamp).encode() + body, ec.ECDSA(hashes.SHA256()))
    return {SIGNATURE_HEADER: base64.b64encode(signature).decode(), TIMESTAMP_HEADER: str(timestamp),
            "Content-Type": "application/json"}


def _events(edition_id: int) -> bytes:
    stamp = int(NOW.timestamp())
    return json.dumps([
        {"sg_event_id": "ev-1", "event": "delivered", "email": "reader1@example.org", "timestamp": stamp,
         "edition_id": str(edition_id), "subscriber_id": "1"},
        {"sg_event_id": "ev-2", "event": "bounce", "type": "bounce", "email": "reader2@example.org",
         "timestamp": stamp, "edition_id": str(edition_id), "subscriber_id": "2", "reason": "550 no such user"},
    ]).encode()


def test_webhook_applies_signed_events_once(site):
    app, db, _, client = site
    row = _sent_edition(db, app.state.syndicate.config)
    with db.session() as session:
        deliveries.plan(session, session.get(EditionRow, row.id), batch_size=10, now=NOW, channel="sendgrid")
    body = _events(row.id)
    first = client.post("/webhooks/sendgrid", content=body, headers=_signed(body, int(NOW.timestamp())))
    assert first.status_code == 200 and first.json() == {"applied": 2, "duplicates": 0, "unmatched": 0,
                                                    "reputation": "ok"}
    again = client.post("/webhooks/sendgrid", content=body, headers=_signed(body, int(NOW.timestamp())))
    assert again.json() == {"applied": 0, "duplicates": 2, "unmatched": 0, "reputation": "ok"}
    with db.session() as session:
        delivered = session.query(DeliveryRow).filter_by(edition_id=row.id, subscriber_id=1).one()
        assert delivered.delivered_at is not None
    assert _status(db, 2) == "bounced"


def test_webhook_refuses_unsigned_forged_altered_and_stale_requests(site):
    app, db, clock, client = site
    body = _events(1)
    stamp = int(NOW.timestamp())
    other = ec.generate_private_key(ec.SECP256R1())
    cases = {
        "unsigned": {"Content-Type": "application/json"},
        "forged": _signed(body, stamp, key=other),
        "altered": _signed(body.replace(b"bounce", b"click_"), stamp),
        "stale": _signed(body, stamp - 3600),
    }
    for name, headers in cases.items():
        response = client.post("/webhooks/sendgrid", content=body, headers=headers)
        assert response.status_code == 403, name
    unconfigured = create_app(config=app.state.syndicate.config, db=db, secret_key=SECRET, now=clock, env={})
    response = TestClient(unconfigured).post("/webhooks/sendgrid", content=body, headers=_signed(body, stamp))
    assert response.status_code == 403 and "SENDGRID_WEBHOOK_PUBLIC_KEY" in response.text
    with db.session() as session:
        assert session.query(SubscriberRow).filter_by(status="bounced").count() == 0


def test_brand_stylesheet_carries_the_org_colours(site):
    app, _, _, client = site
    css = client.get("/brand.css").text
    assert app.state.syndicate.config.branding.primary_colour in css
