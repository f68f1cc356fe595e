"""The desk's pause switch through HTTP against a real ledger (SQLite and PostgreSQL): approvers pause,
admins resume, every desk page shows the pause in a banner (who, since when, why), public pages do
not, and a bad form (no CSRF token, an unknown channel, no reason, a role that may not) is refused
with a clear message and changes nothing."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from state import pauses
from state.models import AuditRow, EventRow, PauseRow
from tests.helpers import desk_data
from web.app import create_app

NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)
SECRET = "test-secret-key-0123456789abcdef"
REASON = "a story in this edition is wrong: hold everything until it is corrected"
DESK_PAGES = ("/desk", "/desk/threads", "/desk/history", "/desk/sources", "/desk/audit", "/desk/pause", "/desk/staff",
              "/desk/subscribers")


@pytest.fixture
def desk(db, tmp_path):
    config = desk_data.example_config(tmp_path)
    edition_id = desk_data.seed_edition(db, config, now=NOW)
    app = create_app(config=config, db=db, secret_key=SECRET, now=lambda: NOW, env={})
    for email, role in (("ed@example.org", "editor"), ("ap@example.org", "approver"), ("boss@example.org", "admin")):
        desk_data.seed_staff(db, email, role, now=NOW)
    return app, db, edition_id


def _as(app, email) -> TestClient:
    client = TestClient(app)
    assert desk_data.sign_in(client, email).status_code == 303
    return client


def _post(client, path, data, page="/desk/pause"):
    token = desk_data.csrf_from(client.get(page).text)
    return client.post(path, data={**data, "csrf_token": token}, follow_redirects=False)


def _state(db) -> tuple[int, int, int, list[str]]:
    with db.session() as session:
        return (session.scalar(select(func.count()).select_from(PauseRow)) or 0,
                session.scalar(select(func.count()).select_from(AuditRow).where(AuditRow.subject_kind == "pause")) or 0,
                session.scalar(select(func.count()).select_from(EventRow)) or 0,
                [p.channel for p in pauses.active(session)])


def _banner(page: str) -> str | None:
    found = re.search(r'<aside class="paused-banner".*?</aside>', page, re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", found.group(0))).split()) if found else None


def test_an_approver_pauses_x_and_every_desk_page_says_who_since_when_and_why(desk):
    app, db, edition_id = desk
    approver = _as(app, "ap@example.org")
    assert _banner(approver.get("/desk").text) is None
    response = _post(approver, "/desk/pause", {"channel": "x", "reason": REASON})
    assert response.status_code == 303 and response.headers["location"] == "/desk/pause?done=paused"
    assert "Paused: nothing goes out on it until an admin resumes it." in approver.get(response.headers["location"]).text
    assert _state(db)[3] == ["x"]
    for client in (approver, _as(app, "ed@example.org"), _as(app, "boss@example.org")):
        for path in (*DESK_PAGES, f"/desk/editions/{edition_id}"):
            page = client.get(path)
            if page.status_code == 403:  # an editor's or approver's view of an admin page
                continue
            assert page.status_code == 200, path
            banner = _banner(page.text)
            assert banner is not None, f"no pause banner on {path}"
            assert "Paused: nothing goes out on X." in banner
            assert f"X is paused by ap@example.org since Thu 26 Nov 2026, 14:00 GMT: {REASON}" in banner, banner
    public = TestClient(app)
    for path in ("/editions", "/subscribe", "/login"):
        assert _banner(public.get(path).text) is None and REASON not in public.get(path).text


def test_the_desk_home_pauses_everything_and_an_admin_resumes_it(desk):
    app, db, _ = desk
    approver, boss = _as(app, "ap@example.org"), _as(app, "boss@example.org")
    home = approver.get("/desk").text
    assert 'action="/desk/pause"' in home and "Pause everything" in home
    assert _post(approver, "/desk/pause", {"channel": "all", "reason": REASON}, page="/desk").status_code == 303
    assert _state(db)[3] == ["all"]
    assert "Everything is paused by ap@example.org" in _banner(boss.get("/desk/sources").text)
    assert 'action="/desk/resume"' not in approver.get("/desk/pause").text  # only admins see Resume
    refused = _post(approver, "/desk/resume", {"channel": "all"})
    assert refused.status_code == 403 and "only admins may resume everything" in refused.text
    assert _state(db)[3] == ["all"]
    assert 'action="/desk/resume"' in boss.get("/desk/pause").text
    done = _post(boss, "/desk/resume", {"channel": "all"})
    assert done.status_code == 303 and done.headers["location"] == "/desk/pause?done=resumed"
    assert _state(db)[3] == [] and _banner(boss.get("/desk").text) is None
    history = boss.get("/desk/pause").text
    assert "Nothing is paused" in history and "boss@example.org" in history and REASON in history
    audit = boss.get("/desk/audit").text
    assert "pause" in audit and "resume" in audit and REASON in html.unescape(audit)


def test_resuming_one_channel_on_the_desk_keeps_the_others_paused(desk):
    app, db, _ = desk
    boss = _as(app, "boss@example.org")
    _post(boss, "/desk/pause", {"channel": "all", "reason": REASON})
    assert _post(boss, "/desk/resume", {"channel": "email"}).status_code == 303
    assert _state(db)[3] == [c for c in pauses.known_channels() if c != "email"]
    banner = _banner(boss.get("/desk").text)
    assert "Paused: nothing goes out on X, Mastodon, Bluesky, LinkedIn." in banner and "email" not in banner.lower()


@pytest.mark.parametrize(("who", "data", "status", "says"), [
    ("ed@example.org", {"channel": "all", "reason": REASON}, 403,
     "ed@example.org is an editor: only approvers or admins may pause everything"),
    ("ap@example.org", {"channel": "telegram", "reason": REASON}, 400,
     "unknown channel &#39;telegram&#39;: use one of email, x, mastodon, bluesky, linkedin"),
    ("ap@example.org", {"channel": "x", "reason": "   "}, 400, "a pause needs a reason staff will read"),
    ("ap@example.org", {"channel": "x"}, 400, "a pause needs a reason staff will read"),
    ("ap@example.org", {"channel": "x", "reason": "y" * 501}, 400, "keep it under 500"),
])
def test_a_bad_pause_form_is_refused_clearly_and_changes_nothing(desk, who, data, status, says):
    app, db, _ = desk
    before = _state(db)
    response = _post(_as(app, who), "/desk/pause", data)
    assert response.status_code == status and says in response.text
    assert _state(db) == before


def test_without_a_csrf_token_or_signed_out_nothing_changes(desk):
    app, db, _ = desk
    before = _state(db)
    approver = _as(app, "ap@example.org")
    forged = approver.post("/desk/pause", data={"channel": "all", "reason": REASON, "csrf_token": "forged"},
                           follow_redirects=False)
    assert forged.status_code == 403
    anonymous = TestClient(app).post("/desk/pause", data={"channel": "all", "reason": REASON}, follow_redirects=False)
    assert anonymous.status_code == 401
    assert TestClient(app).get("/desk/pause", follow_redirects=False).status_code == 303
    assert _state(db) == before


def test_an_editor_sees_the_pause_but_no_switch(desk):
    app, db, _ = desk
    _post(_as(app, "ap@example.org"), "/desk/pause", {"channel": "email", "reason": REASON})
    editor = _as(app, "ed@example.org")
    page = editor.get("/desk/pause").text
    assert 'action="/desk/pause"' not in page and 'action="/desk/resume"' not in page
    assert "An admin resumes it." in page and "Email is paused by ap@example.org" in _banner(page)
    assert "Pause everything" not in editor.get("/desk").text
