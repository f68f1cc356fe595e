"""The desk's doors: every staff route refuses anonymous requests, CSRF on every form, set-up links,
sign-in throttling, roles, cookies and security headers."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from state.staff import LoginPolicy, add_staff, lock_delay
from tests.helpers import desk_data
from web.app import create_app

NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)
SECRET = "test-secret-key-0123456789abcdef"
PUBLIC = {"/", "/login", "/logout", "/setup/{token}", "/subscribe", "/confirm/{token}", "/unsubscribe/{token}",
          "/editions", "/editions/feed.xml", "/editions/{slug}", "/webhooks/sendgrid", "/brand.css",
          "/websub/{token}", "/calendar/{token}.ics", "/r/{token}", "/o/{token}", "/api/v1/openapi.json",
          "/preferences", "/preferences/{token}"}
TOKEN_ROUTES = "/api/v1/"  # the JSON API: a bearer token instead of a staff session (web/api.py)


@pytest.fixture
def env(sqlite_db, tmp_path):
    config = desk_data.example_config(tmp_path)
    edition_id = desk_data.seed_edition(sqlite_db, config, now=NOW)
    clock = desk_data.Clock(NOW)
    app = create_app(config=config, db=sqlite_db, secret_key=SECRET, now=clock, env={})
    return app, clock, edition_id


def _client(app, **kw) -> TestClient:
    return TestClient(app, **kw)


def _api_routes(routes):
    """Every endpoint of the app, also inside included routers (FastAPI keeps those as one route each)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif getattr(route, "original_router", None) is not None:
            yield from _api_routes(route.original_router.routes)


def _route_instances(app):
    found = list(_api_routes(app.routes))
    assert len(found) > 20, "the route walk found too few routes: has FastAPI changed how it stores them?"
    for route in found:
        path = re.sub(r"\{[^}]+\}", "1", route.path)
        for method in sorted(route.methods - {"HEAD"}):
            yield route.path, path, method


def test_every_route_is_either_public_by_name_or_a_staff_route(env):
    app, _, _ = env
    for template, _, _ in _route_instances(app):
        assert template in PUBLIC or template.startswith(("/desk", TOKEN_ROUTES)), (
            f"{template} is neither a staff route (/desk...) nor listed as public: decide which it is")


def test_every_api_route_refuses_a_request_without_a_token(env):
    app, _, _ = env
    client = _client(app)
    checked = 0
    for template, path, method in _route_instances(app):
        if not template.startswith(TOKEN_ROUTES) or template in PUBLIC:
            continue
        response = client.request(method, path.replace("/1", "/a@example.org") if "subscribers" in path else path,
                                  json={"name": "A"} if method in ("PUT", "POST") else None)
        assert response.status_code == 401, (method, template, response.status_code)
        assert response.headers["content-type"] == "application/problem+json"
        checked += 1
    assert checked >= 8


def test_every_staff_route_refuses_an_anonymous_request(env):
    app, _, _ = env
    client = _client(app)
    checked = 0
    for template, path, method in _route_instances(app):
        if not template.startswith("/desk"):
            continue
        response = client.request(method, path, follow_redirects=False)
        if method == "GET":
            assert response.status_code == 303, (method, template)
            assert response.headers["location"].startswith("/login?next=")
        else:
            assert response.status_code == 401, (method, template, response.status_code)
        checked += 1
    assert checked >= 15


def test_a_signed_in_editor_reaches_every_staff_page_that_needs_no_more_than_view(env):
    app, _, edition_id = env
    desk_data.seed_staff(app.state.syndicate.db, "ed@example.org", "editor", now=NOW)
    client = _client(app)
    assert desk_data.sign_in(client, "ed@example.org").status_code == 303
    for path in ("/desk", f"/desk/editions/{edition_id}", "/desk/threads", "/desk/history",
                 "/desk/audit", f"/desk/history/editions/{edition_id}"):
        assert client.get(path).status_code == 200, path
    assert client.get("/desk/staff").status_code == 403
    assert client.get("/desk/subscribers").status_code == 403  # every address: the same role as the export
    assert client.get("/desk/subscribers.csv").status_code == 403


def test_every_staff_form_without_its_csrf_token_is_refused(env):
    app, _, edition_id = env
    desk_data.seed_staff(app.state.syndicate.db, "boss@example.org", "admin", now=NOW)
    client = _client(app)
    desk_data.sign_in(client, "boss@example.org")
    for template, path, method in _route_instances(app):
        if method != "POST" or not template.startswith("/desk"):
            continue
        path = path.replace("/editions/1", f"/editions/{edition_id}")
        missing = client.post(path, data={"note": "x"}, follow_redirects=False)
        forged = client.post(path, data={"note": "x", "csrf_token": "forged"}, follow_redirects=False)
        assert missing.status_code == 403, (template, missing.status_code)
        assert forged.status_code == 403, (template, forged.status_code)
    # and the public forms
    for path in ("/login", "/subscribe", "/logout"):
        assert client.post(path, data={"email": "a@example.org"}).status_code == 403


def test_an_editor_cannot_approve_and_an_approver_may_fix_a_typo(env):
    app, _, edition_id = env
    db = app.state.syndicate.db
    desk_data.seed_staff(db, "ed@example.org", "editor", now=NOW)
    desk_data.seed_staff(db, "ap@example.org", "approver", now=NOW)
    editor = _client(app)
    desk_data.sign_in(editor, "ed@example.org")
    token = desk_data.csrf_from(editor.get(f"/desk/editions/{edition_id}").text)
    refused = editor.post(f"/desk/editions/{edition_id}/approve", data={"csrf_token": token})
    assert refused.status_code == 403
    assert desk_data.edition(db, edition_id).status == "draft"
    approver = _client(app)
    desk_data.sign_in(approver, "ap@example.org")
    token = desk_data.csrf_from(approver.get(f"/desk/editions/{edition_id}").text)
    assert approver.post(f"/desk/editions/{edition_id}/edit", data={"csrf_token": token, "intro": "x"},
                         follow_redirects=False).status_code == 303


def test_set_up_link_works_once_and_then_signs_in(env):
    app, _, _ = env
    db = app.state.syndicate.db
    with db.session() as session:
        _, token = add_staff(session, "new@example.org", "editor", now=NOW)
    client = _client(app)
    page = client.get(f"/setup/{token}")
    assert page.status_code == 200 and "new@example.org" in page.text
    csrf = desk_data.csrf_from(page.text)
    short = client.post(f"/setup/{token}", data={"csrf_token": csrf, "password": "short", "password_again": "short"})
    assert short.status_code == 400 and str(LoginPolicy.min_password_length) in short.text
    done = client.post(f"/setup/{token}", data={"csrf_token": csrf, "password": desk_data.PASSWORD,
                                                "password_again": desk_data.PASSWORD}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/desk"
    assert client.get("/desk").status_code == 200
    again = _client(app).get(f"/setup/{token}")
    assert again.status_code == 400 and "not valid" in again.text


def test_forged_and_expired_set_up_links_are_refused(env):
    app, clock, _ = env
    with app.state.syndicate.db.session() as session:
        _, token = add_staff(session, "late@example.org", "editor", now=NOW)
    client = _client(app)
    assert client.get(f"/setup/{token[:-2]}xx").status_code == 400
    clock.advance(hours=73)
    expired = client.get(f"/setup/{token}")
    assert expired.status_code == 400 and "expired" in expired.text


def test_sign_in_waits_a_growing_delay_per_account_and_address_together(env):
    app, clock, _ = env
    desk_data.seed_staff(app.state.syndicate.db, "ed@example.org", "editor", now=NOW)
    client = _client(app, client=("10.0.1.1", 5000))
    for _ in range(LoginPolicy.free_failures):
        assert desk_data.sign_in(client, "ed@example.org", "wrong password").status_code == 401
    assert desk_data.sign_in(client, "ed@example.org", "wrong password").status_code == 429
    waiting = desk_data.sign_in(client, "ed@example.org")
    assert waiting.status_code == 429 and "try again in" in waiting.text  # the right password, but this pair waits
    # the owner, from elsewhere, is not locked out by what was tried from 10.0.1.1
    assert desk_data.sign_in(_client(app, client=("10.0.1.2", 5000)), "ed@example.org").status_code == 303
    clock.advance(seconds=lock_delay(LoginPolicy.free_failures).total_seconds() + 1)
    assert desk_data.sign_in(client, "ed@example.org").status_code == 303
    assert lock_delay(LoginPolicy.free_failures + 1) > lock_delay(LoginPolicy.free_failures)


def test_sign_in_is_throttled_per_client_address_across_accounts(env):
    app, _, _ = env
    desk_data.seed_staff(app.state.syndicate.db, "ed@example.org", "editor", now=NOW)
    client = _client(app, client=("192.0.2.7", 5000))
    for n in range(LoginPolicy.free_failures_per_address):
        desk_data.sign_in(client, f"nobody{n}@example.org", "guess")
    refused = desk_data.sign_in(client, "ed@example.org")
    assert refused.status_code == 429 and "Too many failed sign-ins" in refused.text
    assert desk_data.sign_in(_client(app, client=("192.0.2.8", 5000)), "ed@example.org").status_code == 303


def test_session_cookie_flags_and_logout(env, sqlite_db, tmp_path):
    app, _, _ = env
    desk_data.seed_staff(app.state.syndicate.db, "ed@example.org", "editor", now=NOW)
    client = _client(app)
    response = desk_data.sign_in(client, "ed@example.org")
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    token = desk_data.csrf_from(client.get("/desk").text)
    assert client.post("/logout", data={"csrf_token": token}, follow_redirects=False).status_code == 303
    assert client.get("/desk", follow_redirects=False).status_code == 303
    secure = create_app(config=desk_data.example_config(tmp_path), db=sqlite_db, secret_key=SECRET, now=lambda: NOW,
                        https=True)
    assert "Secure" in _client(secure, base_url="https://testserver").get("/login").headers["set-cookie"]


def test_next_after_sign_in_stays_on_this_site(env):
    app, _, _ = env
    desk_data.seed_staff(app.state.syndicate.db, "ed@example.org", "editor", now=NOW)
    client = _client(app)
    token = desk_data.csrf_from(client.get("/login").text)
    response = client.post("/login", data={"csrf_token": token, "email": "ed@example.org",
                                           "password": desk_data.PASSWORD, "next": "//evil.example/"},
                           follow_redirects=False)
    assert response.headers["location"] == "/desk"


def test_security_headers_and_only_the_preview_route_may_be_framed(env):
    app, _, edition_id = env
    desk_data.seed_staff(app.state.syndicate.db, "ed@example.org", "editor", now=NOW)
    client = _client(app)
    desk_data.sign_in(client, "ed@example.org")
    page = client.get(f"/desk/editions/{edition_id}")
    assert page.headers["x-frame-options"] == "DENY"
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "unsafe-inline" not in page.headers["content-security-policy"]
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "<script>" not in page.text and " style=" not in page.text  # nothing inline for the CSP to block
    frame = client.get(f"/desk/editions/{edition_id}/email.html")
    assert frame.headers["x-frame-options"] == "SAMEORIGIN"
    assert "frame-ancestors 'self'" in frame.headers["content-security-policy"]
    assert "script-src" not in frame.headers["content-security-policy"]


def test_the_address_throttle_forgets_ended_locks_when_full():
    from web.security import IpThrottle

    throttle = IpThrottle(max_addresses=3)
    for n in range(3):
        throttle.failed(f"198.51.100.{n}", NOW)
    throttle.failed("198.51.100.99", NOW)
    assert set(throttle.failures) == {"198.51.100.99"}
    for _ in range(LoginPolicy.free_failures):
        throttle.failed("198.51.100.99", NOW)
    assert throttle.locked_until("198.51.100.99", NOW) is not None
