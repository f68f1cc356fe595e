"""A fuzz run over every route of the web app (issue 13, point 7): hypothesis drives the TestClient
with odd path segments (markup, huge and negative numbers, unicode digits, dots), query strings
and form fields, anonymously and as a signed-in admin with a valid CSRF token. No answer may be a
500 (the TestClient raises any server exception), and no HTML answer may carry the markup sent.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import quote

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from state.db import connect
from tests.helpers import desk_data
from web.app import ROUTERS, create_app

NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)
SECRET = "test-secret-key-0123456789abcdef"
MARKUP = '"><img src=x onerror=alert(1)><script>alert(2)</script>'
FIELDS = ("email", "name", "password", "password_again", "next", "subject", "preheader", "intro", "note", "action",
          "role", "q", "status", "when", "text", "featured", "remove", "List-Unsubscribe", "reason", "channel",
          "placement", "at", "to")

hostile = st.sampled_from([MARKUP, "99999999999999999999", "2147483648", "-1", "0", "²", "..", "%00", "\u202e", ""])
payloads = st.one_of(
    hostile,
    st.sampled_from([MARKUP, "99999999999999999999", "2147483648", "-1", "0", "1", "²", "..", "%00", "\u202e", "",
                     "a" * 5000, "admin@example.org", "2026-11-26T10:00", "resend", "sent", "admin"]),
    st.text(max_size=40),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
)


def _routes(routes):  # type: ignore[no-untyped-def]
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif getattr(route, "original_router", None) is not None:
            yield from _routes(route.original_router.routes)


@pytest.fixture(scope="module")
def site(tmp_path_factory):  # type: ignore[no-untyped-def]
    tmp = tmp_path_factory.mktemp("fuzz")
    db = connect(f"sqlite:///{tmp / 'ledger.db'}")
    config = desk_data.example_config(tmp)
    desk_data.seed_edition(db, config, now=NOW)
    desk_data.seed_threads(db, config, now=NOW)
    desk_data.seed_subscribers(db, 3, now=NOW)
    desk_data.seed_staff(db, "admin@example.org", "admin", now=NOW)
    app = create_app(config=config, db=db, secret_key=SECRET, now=lambda: NOW, env={})
    anonymous = TestClient(app, client=("192.0.2.1", 5000))
    admin = TestClient(app, client=("192.0.2.2", 5000))
    assert desk_data.sign_in(admin, "admin@example.org").status_code == 303
    token = desk_data.csrf_from(admin.get("/desk").text)
    assert {(m, r.path) for r in _routes(app.routes) for m in r.methods - {"HEAD"}} == set(ROUTES)
    yield app, anonymous, admin, token
    db.dispose()


ROUTES = sorted({(method, route.path) for module in ROUTERS
                 for route in module.router.routes if isinstance(route, APIRoute)
                 for method in route.methods - {"HEAD"}})


def _fill(template: str, values: list[str]) -> str:
    parts = iter(values)
    return re.sub(r"\{[^}]+\}", lambda _: quote(next(parts, "1"), safe="") or "1", template)


@pytest.mark.parametrize("who", ["anonymous", "admin"])
@pytest.mark.parametrize(("method", "template"), ROUTES)
@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(data=st.data())
def test_no_route_answers_500_or_reflects_markup(site, method, template, who, data):  # type: ignore[no-untyped-def]
    app, anonymous, admin, token = site
    signed_in = who == "admin" and template != "/logout"
    client = admin if signed_in else anonymous
    path = _fill(template, data.draw(st.lists(payloads, min_size=3, max_size=3), label="path values"))
    query = data.draw(st.dictionaries(st.sampled_from(["page", "q", "status", "kind", "done", "next", "error_id"]),
                                      payloads, max_size=3), label="query")
    if method == "GET":
        response = client.get(path, params=query, follow_redirects=False)
    else:
        form = data.draw(st.dictionaries(st.sampled_from(FIELDS), payloads, max_size=5), label="form")
        if signed_in or data.draw(st.booleans(), label="with csrf"):
            form["csrf_token"] = token if signed_in else desk_data.csrf_from(anonymous.get("/login").text)
        response = client.request(method, path, params=query, data=form, follow_redirects=False)
    assert response.status_code < 500, (method, path, response.status_code)
    if response.headers.get("content-type", "").startswith("text/html"):
        assert "<img src=x onerror" not in response.text and "<script>alert(2)" not in response.text, (method, path)
