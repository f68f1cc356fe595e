"""The desk's Integrations page: admins make a token (shown once, then only its start), revoke it,
and see the webhooks and their deliveries; other roles are refused."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from state import api_tokens, events, webhooks
from state.models import AuditRow, WebhookDeliveryRow
from tests.conftest import NOW
from tests.helpers import desk_data
from web.app import create_app

SECRET = "test-secret-key-0123456789abcdef"


def _site(db, tmp_path):
    config = desk_data.example_config(tmp_path)
    app = create_app(config=config, db=db, secret_key=SECRET, now=desk_data.Clock(NOW), env={})
    desk_data.seed_staff(db, "admin@example.org", "admin", now=NOW)
    desk_data.seed_staff(db, "ed@example.org", "editor", now=NOW)
    return app


def test_an_admin_makes_a_token_sees_it_once_and_revokes_it(sqlite_db, tmp_path):
    client = TestClient(_site(sqlite_db, tmp_path))
    desk_data.sign_in(client, "admin@example.org")
    page = client.get("/desk/integrations")
    assert page.status_code == 200 and "No token yet" in page.text and "Integrations" in page.text
    csrf = desk_data.csrf_from(page.text)
    made = client.post("/desk/integrations/tokens", data={"csrf_token": csrf, "name": "membership-crm",
                                                          "scope": "write"})
    assert made.status_code == 200 and "shown only this once" in made.text
    token = made.text.split('id="new-token">', 1)[1].split("<", 1)[0]
    assert token.startswith("synd_")
    assert client.get("/api/v1/editions", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    again = client.get("/desk/integrations")
    assert token not in again.text and token[:9] in again.text
    bad = client.post("/desk/integrations/tokens", data={"csrf_token": csrf, "name": "membership-crm",
                                                         "scope": "write"})
    assert bad.status_code == 400 and "already a token" in bad.text
    revoked = client.post("/desk/integrations/tokens/revoke", data={"csrf_token": csrf, "name": "membership-crm"},
                          follow_redirects=False)
    assert revoked.status_code == 303
    assert client.get("/api/v1/editions", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    with sqlite_db.session() as session:
        actions = [r.action for r in session.scalars(select(AuditRow))]
    assert actions.count("api-token-create") == 1 and actions.count("api-token-revoke") == 1


def test_webhook_deliveries_and_their_errors_are_on_the_page(sqlite_db, tmp_path):
    client = TestClient(_site(sqlite_db, tmp_path))
    with sqlite_db.session() as session:
        webhooks.add_endpoint(session, "https://crm.example.org/hooks", ["subscriber.subscribed"],
                              by="admin@example.org", server_key=SECRET, now=NOW)
        events.record_event(session, events.SUBSCRIBER_SUBSCRIBED, "syndicate.subscriber.1", {"id": 1}, now=NOW)
        webhooks.fan_out(session, now=NOW)
        delivery = session.scalars(select(WebhookDeliveryRow)).one()
        webhooks.record_attempt(session, delivery.id, now=NOW, status=503, error="answered HTTP 503: try later")
    desk_data.sign_in(client, "admin@example.org")
    text = client.get("/desk/integrations").text
    assert "https://crm.example.org/hooks" in text and "retrying" in text and "answered HTTP 503: try later" in text


def test_only_admins_see_or_change_integrations(sqlite_db, tmp_path):
    client = TestClient(_site(sqlite_db, tmp_path))
    desk_data.sign_in(client, "ed@example.org")
    assert client.get("/desk/integrations").status_code == 403
    assert "/desk/integrations" not in client.get("/desk").text
    csrf = desk_data.csrf_from(client.get("/desk").text)
    assert client.post("/desk/integrations/tokens", data={"csrf_token": csrf, "name": "x",
                                                          "scope": "read"}).status_code == 403
    with sqlite_db.session() as session:
        assert api_tokens.list_tokens(session) == []
