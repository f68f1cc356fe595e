"""The JSON API (`/api/v1`) on SQLite and PostgreSQL: tokens and scopes, the subscriber upsert and its
rules (consent, double opt-in, unsubscribe always wins), editions and figures, paging, problems.
Every request and answer is held to the OpenAPI document (`tests/helpers/api_client.py`)."""

from __future__ import annotations

import json
import types
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from state import api_tokens, events
from state.models import (
    ApiTokenRow,
    AuditRow,
    EventRow,
    SubscriberChangeRow,
    SubscriberRow,
    SubscriberStatus,
    SuppressionRow,
)
from state.subscribers import find
from tests.conftest import NOW
from tests.helpers import desk_data
from tests.helpers.api_client import Api
from tests.helpers.staff import add_staff_rows
from web.api import DOCUMENT
from web.app import create_app

SECRET = "test-secret-key-0123456789abcdef"
ADMIN = "admin@socitm.example"
CONSENT = {"source": "membership form 2026", "at": "2026-11-20T09:30:00Z"}


@pytest.fixture
def site(db, tmp_path):
    config = desk_data.example_config(tmp_path)
    clock = desk_data.Clock(NOW)
    app = create_app(config=config, db=db, secret_key=SECRET, now=clock, env={})
    with db.session() as session:
        add_staff_rows(session)
        _, write = api_tokens.create_token(session, "crm", scope="write", by=ADMIN, now=NOW)
        _, read = api_tokens.create_token(session, "reports", scope="read", by=ADMIN, now=NOW)
    client = TestClient(app)
    return types.SimpleNamespace(app=app, db=db, clock=clock, config=config, tmp=tmp_path, client=client,
                                 api=Api(client, write), read=Api(client, read), write_token=write, read_token=read)


def _row(db, email):
    with db.session() as session:
        row = find(session, email)
        if row is not None:
            session.expunge(row)
        return row


def _changes(db, email):
    with db.session() as session:
        row = find(session, email)
        return [(c.field, c.old, c.new, c.door, c.by) for c in session.scalars(
            select(SubscriberChangeRow).where(SubscriberChangeRow.subscriber_id == row.id)
            .order_by(SubscriberChangeRow.id))]


def _events(db, name):
    with db.session() as session:
        return [dict(r.payload) for r in session.scalars(select(EventRow).where(EventRow.name == name))]


# --- the document and tokens ----------------------------------------------------------------------------


def test_the_document_is_served_as_kept_in_the_repository(site):
    response = site.api.call("GET", "/api/v1/openapi.json", token=None)
    assert response.status_code == 200
    assert response.json() == json.loads(DOCUMENT.read_text())
    assert response.json()["openapi"].startswith("3.1")


def test_no_token_a_wrong_one_and_a_revoked_one_are_refused_with_what_to_do(site):
    none = site.api.call("GET", "/api/v1/subscribers", token=None, valid=False)
    assert none.status_code == 401 and none.headers["content-type"] == "application/problem+json"
    assert "api-tokens create" in none.json()["detail"] and none.headers["www-authenticate"].startswith("Bearer")
    wrong = site.api.call("GET", "/api/v1/subscribers", token="synd_" + "x" * 43)
    assert wrong.status_code == 401 and 'error="invalid_token"' in wrong.headers["www-authenticate"]
    basic = site.client.get("/api/v1/subscribers", headers={"Authorization": f"Basic {site.read_token}"})
    assert basic.status_code == 401
    assert site.read.call("GET", "/api/v1/subscribers").status_code == 200
    with site.db.session() as session:
        api_tokens.revoke_token(session, "reports", by=ADMIN, now=NOW)
    refused = site.read.call("GET", "/api/v1/subscribers")
    assert refused.status_code == 401  # at once: the next request after the commit


def test_a_read_token_may_not_change_anything(site):
    response = site.read.call("PUT", "/api/v1/subscribers/ada@example.org", body={"name": "Ada"})
    assert response.status_code == 403 and "--scope write" in response.json()["detail"]
    assert _row(site.db, "ada@example.org") is None


def test_tokens_are_kept_hashed_and_their_use_is_recorded(site):
    with site.db.session() as session:
        rows = {r.name: r for r in session.scalars(select(ApiTokenRow))}
        assert rows["crm"].token_hash == api_tokens.token_hash(site.write_token)
        assert site.write_token not in json.dumps([r.token_hash + r.prefix for r in rows.values()])
        assert rows["crm"].last_used_at is None
        audit = [r.action for r in session.scalars(select(AuditRow))]
    assert audit.count("api-token-create") == 2
    site.clock.advance(minutes=5)
    site.api.call("GET", "/api/v1/editions")
    with site.db.session() as session:
        used = session.scalars(select(ApiTokenRow).where(ApiTokenRow.name == "crm")).one().last_used_at
    assert used is not None and used.replace(tzinfo=NOW.tzinfo) == NOW + timedelta(minutes=5)


def test_only_admins_make_tokens_and_names_are_checked(site):
    with site.db.session() as session, pytest.raises(Exception, match="only admins"):
        api_tokens.create_token(session, "x", scope="read", by="editor@socitm.example", now=NOW)
    with site.db.session() as session, pytest.raises(api_tokens.TokenRefused, match="already a token"):
        api_tokens.create_token(session, "crm", scope="read", by=ADMIN, now=NOW)
    with site.db.session() as session, pytest.raises(api_tokens.TokenRefused, match="unknown scope"):
        api_tokens.create_token(session, "y", scope="admin", by=ADMIN, now=NOW)


# --- the upsert ----------------------------------------------------------------------------------------------


def test_a_new_address_with_consent_is_active_and_every_field_is_recorded_against_the_token(site):
    response = site.api.call("PUT", "/api/v1/subscribers/Ada@Example.org", body={
        "name": "Ada Lovelace", "sections": ["news"], "tags": ["member", "cio"], "consent": CONSENT})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["result"] == "created" and body["subscriber"]["status"] == "active"
    assert body["subscriber"]["consent"] == {"source": "api:crm:membership form 2026", "at": "2026-11-20T09:30:00Z"}
    assert response.headers["location"] == "/api/v1/subscribers/Ada@example.org"
    assert _changes(site.db, "ada@example.org") == [
        ("status", None, "active", "api", "crm"), ("name", "", "Ada Lovelace", "api", "crm"),
        ("sections", None, ["news"], "api", "crm"), ("tags", [], ["member", "cio"], "api", "crm")]
    assert [e["door"] for e in _events(site.db, events.SUBSCRIBER_SUBSCRIBED)] == ["api"]


def test_a_new_address_without_consent_waits_for_the_confirmation_email_the_form_sends(site):
    response = site.api.call("POST", "/api/v1/subscribers", body={"email": "grace@example.org", "name": "Grace"})
    assert response.status_code == 202 and response.json()["result"] == "pending_confirmation"
    assert _row(site.db, "grace@example.org").status == SubscriberStatus.PENDING
    sent = list((site.tmp / "outbox").rglob("*.eml"))
    assert len(sent) == 1 and "grace@example.org" in sent[0].read_text()
    assert _events(site.db, events.SUBSCRIBER_SUBSCRIBED) == []
    again = site.api.call("PUT", "/api/v1/subscribers/grace@example.org", body={"consent": CONSENT})
    assert again.json()["result"] == "activated" and again.json()["subscriber"]["status"] == "active"
    assert len(list((site.tmp / "outbox").rglob("*.eml"))) == 1  # no second email


def test_an_update_changes_only_what_it_names_and_says_what_changed(site):
    site.api.call("PUT", "/api/v1/subscribers/ada@example.org", body={"name": "Ada", "tags": ["a"], "consent": CONSENT})
    same = site.api.call("PUT", "/api/v1/subscribers/ada@example.org", body={"name": "Ada"})
    assert same.status_code == 200 and same.json() == {**same.json(), "result": "unchanged", "changed": []}
    changed = site.api.call("PUT", "/api/v1/subscribers/ada@example.org", body={"sections": ["blogs", "news"]})
    assert changed.json()["changed"] == ["sections"] and changed.json()["subscriber"]["tags"] == ["a"]
    every = site.api.call("PUT", "/api/v1/subscribers/ada@example.org", body={"sections": None})
    assert every.json()["subscriber"]["sections"] is None
    got = site.read.call("GET", "/api/v1/subscribers/ADA@example.org")
    assert got.status_code == 200 and got.json()["name"] == "Ada"


def test_unsubscribe_always_wins_over_a_later_upsert(site):
    site.api.call("PUT", "/api/v1/subscribers/ada@example.org", body={"name": "Ada", "consent": CONSENT})
    gone = site.api.call("POST", "/api/v1/subscribers/ada@example.org/unsubscribe", body={"reason": "left Socitm"})
    assert gone.status_code == 200 and gone.json()["status"] == "unsubscribed"
    assert site.api.call("POST", "/api/v1/subscribers/ada@example.org/unsubscribe").status_code == 200  # idempotent
    back = site.api.call("PUT", "/api/v1/subscribers/ada@example.org", body={"name": "Ada B", "consent": CONSENT})
    assert back.status_code == 409 and back.json()["type"] == "urn:syndicate:problem:address-left"
    assert "unsubscribe always wins" in back.json()["detail"]
    row = _row(site.db, "ada@example.org")
    assert row.status == SubscriberStatus.UNSUBSCRIBED and row.name == "Ada"
    assert ("status", "active", "unsubscribed", "api", "crm") in _changes(site.db, "ada@example.org")
    assert len(_events(site.db, events.SUBSCRIBER_UNSUBSCRIBED)) == 1


def test_a_suppressed_or_erased_address_is_never_added(site, monkeypatch):
    with site.db.session() as session:
        session.add(SuppressionRow(email="bounced@example.org", kind="bounce", detail="550", suppressed_at=NOW))
    refused = site.api.call("PUT", "/api/v1/subscribers/bounced@example.org", body={"consent": CONSENT})
    assert refused.status_code == 409 and "suppressed for good" in refused.json()["detail"]
    from state import erasure
    from tests.helpers.staff import add_staff_rows

    monkeypatch.setenv(erasure.SALT_ENV, "api-test-erasure-salt-0123456789")
    with site.db.session() as session:
        add_staff_rows(session, {"dpo@socitm.example": "admin"})
        erasure.erase(session, "Erased@example.org", by="dpo@socitm.example", now=NOW)
    erased = site.api.call("POST", "/api/v1/subscribers", body={"email": "erased@example.org", "consent": CONSENT})
    assert erased.status_code == 409 and "erased" in erased.json()["detail"]
    assert _row(site.db, "bounced@example.org") is None and _row(site.db, "erased@example.org") is None


@pytest.mark.parametrize(("body", "pointer", "says"), [
    ({"sections": ["sport"]}, "/sections", "unknown section"),
    ({"sections": []}, "/sections", "at least one section"),
    ({"name": "Ada <script>"}, "/name", "angle brackets"),
    ({"nickname": "A"}, "/nickname", "Extra inputs"),
    ({"consent": {"source": "form", "at": "2099-01-01T00:00:00Z"}}, "/consent/at", "future"),
    ({"consent": {"source": "form", "at": "2026-01-01T00:00:00"}}, "/consent/at", "time zone"),
    ({"tags": ["x" * 65]}, "/tags/0", "at most 64"),
])
def test_a_bad_field_is_named_with_what_to_fix_and_changes_nothing(site, body, pointer, says):
    response = site.api.call("PUT", "/api/v1/subscribers/ada@example.org", body=body, valid=False)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["errors"][0]["pointer"] == pointer and says in problem["detail"]
    assert _row(site.db, "ada@example.org") is None


def test_bodies_that_are_not_json_objects_or_too_large_are_refused(site):
    assert site.api.call("PUT", "/api/v1/subscribers/a@example.org", raw=b"{nope", valid=False).status_code == 400
    assert site.api.call("PUT", "/api/v1/subscribers/a@example.org", body=[1], valid=False).status_code == 400
    assert site.api.call("PUT", "/api/v1/subscribers/a@example.org", raw=b"name=A",
                         content_type="application/x-www-form-urlencoded", valid=False).status_code == 415
    bad_email = site.api.call("PUT", "/api/v1/subscribers/not-an-address", body={"name": "A"})
    assert bad_email.status_code == 422 and bad_email.json()["errors"][0]["pointer"] == "/email"
    huge = site.client.put("/api/v1/subscribers/a@example.org", content=b'{"name": "' + b"a" * 70_000 + b'"}',
                           headers={"Authorization": f"Bearer {site.write_token}", "Content-Type": "application/json"})
    assert huge.status_code == 413
    with site.db.session() as session:
        assert session.scalars(select(SubscriberRow)).all() == []


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.dictionaries(st.sampled_from(["name", "sections", "tags", "consent", "email", "x"]),
                            st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                                         lambda inner: st.lists(inner, max_size=3)
                                         | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=6),
                            max_size=4))
def test_any_body_gets_an_answer_the_document_describes_never_a_crash(site, body):
    response = site.api.call("PUT", "/api/v1/subscribers/fuzz@example.org", body=body, valid=False)
    assert response.status_code in (200, 201, 202, 400, 409, 422), response.text


# --- lists, editions, figures ----------------------------------------------------------------------------------


def test_lists_are_paged_by_cursor_with_a_next_link(site):
    desk_data.seed_subscribers(site.db, 5, now=NOW)
    first = site.read.call("GET", "/api/v1/subscribers", params={"limit": "2"})
    assert [s["email"] for s in first.json()["data"]] == ["reader1@example.org", "reader2@example.org"]
    assert first.headers["link"] == f'<{first.json()["next"]}>; rel="next"'
    assert "set-cookie" not in first.headers and first.headers["cache-control"] == "no-store"
    seen, page = [], first.json()
    while True:
        seen += [s["email"] for s in page["data"]]
        if not page["next"]:
            break
        path, _, query = page["next"].partition("?")
        page = site.read.call("GET", path, params=dict(p.split("=") for p in query.split("&"))).json()
    assert seen == [f"reader{n}@example.org" for n in range(1, 6)]
    bad = site.read.call("GET", "/api/v1/subscribers", params={"limit": "1000"}, valid=False)
    assert bad.status_code == 400 and bad.json()["errors"][0]["pointer"] == "#/query/limit"


def test_editions_one_edition_and_its_figures(site):
    edition_id = desk_data.seed_edition(site.db, site.config, now=NOW)
    listed = site.read.call("GET", "/api/v1/editions")
    assert [e["id"] for e in listed.json()["data"]] == [edition_id]
    one = site.read.call("GET", f"/api/v1/editions/{edition_id}").json()
    assert one["status"] == "draft" and one["items"] and one["web_url"] is None
    figures = site.read.call("GET", f"/api/v1/editions/{edition_id}/figures").json()
    assert figures["edition_id"] == edition_id and figures["sent"] is False and figures["recipients"] == 0
    missing = site.read.call("GET", "/api/v1/editions/999/figures")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"


def test_an_unknown_api_address_is_a_problem_too(site):
    response = site.client.get("/api/v1/nothing", headers={"Authorization": f"Bearer {site.read_token}"})
    assert response.status_code == 404 and response.headers["content-type"] == "application/problem+json"
    assert "openapi.json" in response.json()["detail"]


def test_a_token_that_calls_too_often_is_told_to_wait(site, monkeypatch):
    from web.api import ApiLimits

    monkeypatch.setattr(ApiLimits, "calls_per_minute", 3)
    assert [site.read.call("GET", "/api/v1/editions").status_code for _ in range(3)] == [200, 200, 200]
    slow_down = site.read.call("GET", "/api/v1/editions")
    assert slow_down.status_code == 429 and slow_down.headers["retry-after"] == "60"
    assert site.api.call("GET", "/api/v1/editions").status_code == 200  # another token has its own count
    site.clock.advance(minutes=1, seconds=1)
    assert site.read.call("GET", "/api/v1/editions").status_code == 200
