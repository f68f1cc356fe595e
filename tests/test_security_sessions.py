"""Attacks from issue 13, rows 5, 6 and 8: telling accounts apart, locking staff out, keeping a
stolen session, and cookies without `Secure` behind https.

Each test reproduces the attack as reported and shows it refused: a cookie copied before
sign-out, a password change, a role change, re-adding or disabling a member of staff (CLI and
staff page) no longer signs anyone in; the fifth bad password answers like an unknown account;
an outsider cannot lock an approver out by naming their address.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from argon2 import extract_parameters
from fastapi.testclient import TestClient

from flows.cli import main
from state import staff as staff_module
from state.staff import LoginPolicy, add_staff, set_password
from tests.helpers import desk_data
from web.app import create_app
from web.security import HSTS, SESSION_COOKIE

NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)
SECRET = "test-secret-key-0123456789abcdef"


@pytest.fixture
def app(sqlite_db, tmp_path):  # type: ignore[no-untyped-def]
    config = desk_data.example_config(tmp_path)
    app = create_app(config=config, db=sqlite_db, secret_key=SECRET, now=desk_data.Clock(NOW), env={})
    desk_data.seed_staff(sqlite_db, "ed@example.org", "editor", now=NOW)
    desk_data.seed_staff(sqlite_db, "admin@example.org", "admin", now=NOW)
    return app


def _signed_in(app, email: str = "ed@example.org", ip: str = "203.0.113.5") -> TestClient:  # type: ignore[no-untyped-def]
    client = TestClient(app, client=(ip, 5000))
    assert desk_data.sign_in(client, email).status_code == 303
    assert client.get("/desk", follow_redirects=False).status_code == 200
    return client


def _thief(app, victim: TestClient) -> TestClient:  # type: ignore[no-untyped-def]
    """Another browser holding a copy of the victim's session cookie."""
    thief = TestClient(app, client=("198.51.100.66", 5000))
    thief.cookies.set(SESSION_COOKIE, victim.cookies[SESSION_COOKIE])
    assert thief.get("/desk", follow_redirects=False).status_code == 200
    return thief


def _out(client: TestClient) -> bool:
    return client.get("/desk", follow_redirects=False).status_code == 303


# --- row 6: keeping a stolen session ---------------------------------------------------------------------


def test_a_cookie_copied_before_sign_out_stops_working_after_it(app):
    victim = _signed_in(app)
    thief = _thief(app, victim)
    victim.post("/logout", data={"csrf_token": desk_data.csrf_from(victim.get("/desk").text)})
    assert _out(victim) and _out(thief)


def test_a_password_change_ends_every_session(app, sqlite_db):
    victim = _signed_in(app)
    thief = _thief(app, victim)
    with sqlite_db.session() as session:
        _, token = add_staff(session, "ed@example.org", "editor", now=NOW)
        set_password(session, token, "a brand new password", now=NOW)
    assert _out(victim) and _out(thief)
    assert desk_data.sign_in(TestClient(app), "ed@example.org").status_code == 401  # the old password is gone
    assert desk_data.sign_in(TestClient(app), "ed@example.org", "a brand new password").status_code == 303


def test_re_adding_or_changing_the_role_ends_sessions_and_the_old_password(app, sqlite_db):
    victim = _signed_in(app)
    thief = _thief(app, victim)
    admin = _signed_in(app, "admin@example.org")
    answer = admin.post("/desk/staff", data={"csrf_token": desk_data.csrf_from(admin.get("/desk/staff").text),
                                             "email": "ed@example.org", "role": "approver"})
    assert answer.status_code == 200 and "/setup/" in answer.text
    assert _out(victim) and _out(thief)
    assert desk_data.sign_in(TestClient(app), "ed@example.org").status_code == 401


def test_staff_disable_on_the_command_line_ends_every_session(app, sqlite_db, tmp_path, monkeypatch, capsys):
    victim = _signed_in(app)
    thief = _thief(app, victim)
    monkeypatch.setenv("SYNDICATE_DATABASE_URL", sqlite_db.engine.url.render_as_string(hide_password=False))
    config = tmp_path / "syndicate.toml"
    config.write_text((desk_data.EXAMPLE_CONFIG).read_text())
    assert main(["--config", str(config), "staff", "disable", "ed@example.org"]) == 0
    assert "disabled" in capsys.readouterr().out
    assert _out(victim) and _out(thief)
    refused = desk_data.sign_in(TestClient(app), "ed@example.org")
    unknown = desk_data.sign_in(TestClient(app), "nobody@example.org")
    assert refused.status_code == unknown.status_code == 401
    assert main(["--config", str(config), "staff", "disable", "nobody@example.org"]) == 1


def test_an_admin_disables_a_member_of_staff_on_the_staff_page(app):
    victim = _signed_in(app)
    admin = _signed_in(app, "admin@example.org")
    page = admin.get("/desk/staff")
    assert "Disable" in page.text
    done = admin.post("/desk/staff/disable", data={"csrf_token": desk_data.csrf_from(page.text),
                                                    "email": "ed@example.org"}, follow_redirects=False)
    assert done.status_code == 303 and _out(victim)
    assert "disabled" in admin.get("/desk/staff").text
    mine = admin.post("/desk/staff/disable", data={"csrf_token": desk_data.csrf_from(page.text),
                                                    "email": "admin@example.org"})
    assert mine.status_code == 400 and not _out(admin)
    desk_data.seed_staff(app.state.syndicate.db, "ed2@example.org", "editor", now=NOW)
    editor = _signed_in(app, "ed2@example.org")  # an editor may not: only admins reach the form
    assert editor.post("/desk/staff/disable", data={"email": "x@example.org"}).status_code == 403


# --- row 5: telling accounts apart, locking staff out ----------------------------------------------------------


def _attempts(app, email: str, n: int, ip: str) -> list[tuple[int, str]]:  # type: ignore[no-untyped-def]
    client = TestClient(app, client=(ip, 5000))
    answers = []
    for _ in range(n):
        response = desk_data.sign_in(client, email, "wrong password!")
        text = response.text.split('role="alert">', 1)[-1].split("<", 1)[0]
        answers.append((response.status_code, text))
    return answers


def test_failed_sign_ins_answer_the_same_for_known_and_unknown_accounts(app):
    n = LoginPolicy.free_failures + 3
    known = _attempts(app, "ed@example.org", n, "192.0.2.1")
    unknown = _attempts(app, "nobody@example.org", n, "192.0.2.2")
    assert known == unknown
    assert {status for status, _ in known} == {401, 429}


def test_an_unknown_account_costs_the_same_argon2_work(app, monkeypatch):
    checked: list[str] = []
    real = staff_module._verify

    def spy(password_hash: str, password: str) -> bool:
        checked.append(password_hash)
        return real(password_hash, password)

    monkeypatch.setattr(staff_module, "_verify", spy)
    desk_data.sign_in(TestClient(app), "nobody@example.org", "guess")
    desk_data.sign_in(TestClient(app), "ed@example.org", "guess")
    assert len(checked) == 2
    assert extract_parameters(checked[0]) == extract_parameters(checked[1])  # same cost parameters


def test_an_outsider_who_names_an_approver_cannot_lock_them_out(app, sqlite_db):
    desk_data.seed_staff(sqlite_db, "approver@example.org", "approver", now=NOW)
    clock = app.state.syndicate.now
    for hour in range(3):  # one burst an hour, as in the report, from wherever the outsider likes
        _attempts(app, "approver@example.org", LoginPolicy.free_failures + 2, f"198.51.100.{hour}")
        clock.advance(hours=1)
    owner = TestClient(app, client=("203.0.113.20", 5000))
    assert desk_data.sign_in(owner, "approver@example.org").status_code == 303


# --- row 8: Secure cookies and HSTS behind https ------------------------------------------------------------------


def test_cookies_are_secure_and_hsts_is_sent_whenever_the_public_url_is_https(sqlite_db, tmp_path):
    config = desk_data.example_config(tmp_path)
    config = config.model_copy(update={"edition": config.edition.model_copy(
        update={"public_url": "https://news.socitm.example"})})
    app = create_app(config=config, db=sqlite_db, secret_key=SECRET, now=lambda: NOW, env={})
    response = TestClient(app, base_url="https://testserver").get("/login")
    assert "Secure" in response.headers["set-cookie"] and "HttpOnly" in response.headers["set-cookie"]
    assert response.headers["strict-transport-security"] == HSTS
    plain = create_app(config=desk_data.example_config(tmp_path), db=sqlite_db, secret_key=SECRET, now=lambda: NOW,
                       env={})
    assert "strict-transport-security" not in TestClient(plain).get("/login").headers


def test_a_disabled_approver_cannot_approve_from_any_door(app, sqlite_db):
    from state import ledger
    from state.staff import disable_staff

    desk_data.seed_staff(sqlite_db, "approver@example.org", "approver", now=NOW)
    edition_id = desk_data.seed_edition(sqlite_db, app.state.syndicate.config, now=NOW)
    with sqlite_db.session() as session:
        disable_staff(session, "approver@example.org", now=NOW)
    with sqlite_db.session() as session, pytest.raises(ledger.LedgerError, match="disabled"):
        ledger.approve(session, "edition", edition_id, by="approver@example.org", now=NOW)
