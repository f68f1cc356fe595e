"""Quiet time on the desk, over HTTP against a real ledger: the edition page and the threads page
show the move and its reasons before anyone approves; rescheduling into quiet time moves and says
so; only an admin sees and may use the override form (CSRF-checked, a reason required), which is
audited and shown afterwards."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from compose.config import Config
from state.db import Database
from state.models import AuditRow, EditionRow, ThreadRow
from tests.helpers import desk_data
from tests.test_quiet_flow import CHRISTMAS, build, config_with, london
from web.app import create_app

NOW = london("2027-12-17 09:00")
SECRET = "test-secret-key-0123456789abcdef"


@pytest.fixture
def quiet_desk(db: Database, tmp_path: Path) -> tuple[object, Database, int, int, Config]:
    config = config_with(tmp_path, CHRISTMAS)
    edition_id = build(db, config, london("2027-12-16 14:00"))
    with db.session() as session:
        thread_id = session.scalars(select(ThreadRow.id).where(ThreadRow.edition_id == edition_id)).one()
    for email, role in (("ed@example.org", "editor"), ("ap@example.org", "approver"), ("boss@example.org", "admin")):
        desk_data.seed_staff(db, email, role, now=NOW)
    app = create_app(config=config, db=db, secret_key=SECRET, now=lambda: NOW, env={})
    return app, db, edition_id, thread_id, config


def _as(app: object, email: str) -> TestClient:
    client = TestClient(app, base_url="http://testserver")  # type: ignore[arg-type]
    assert desk_data.sign_in(client, email).status_code == 303
    return client


def _text(html: str) -> str:
    words = " ".join(re.sub(r"<[^>]+>", " ", html).split())
    return unescape(words).replace(" .", ".").replace(" ,", ",")


def test_the_edition_page_shows_the_move_and_why_before_approval(quiet_desk) -> None:  # type: ignore[no-untyped-def]
    app, _, edition_id, _, _ = quiet_desk
    page = _as(app, "ap@example.org").get(f"/desk/editions/{edition_id}").text
    said = _text(page)
    assert 'id="quiet-edition-' in page
    assert ("Moved by quiet time (email): due Thu 23 Dec 2027, 10:00 GMT, goes out Wed 29 Dec 2027, 08:00 GMT."
            in said)
    assert "Christmas shutdown" in said and "Christmas Day (bank holiday in England)" in said
    assert page.index('id="quiet-edition-') < page.index('id="approve-button"')  # seen before approving
    assert "Override quiet time" not in page  # an approver is not an admin
    admin = _as(app, "boss@example.org").get(f"/desk/editions/{edition_id}").text
    assert "Override quiet time" in admin and "Send anyway at Thu 23 Dec 2027, 10:00 GMT (admin)" in _text(admin)


def test_the_threads_page_shows_each_threads_move(quiet_desk) -> None:  # type: ignore[no-untyped-def]
    app, _, _, thread_id, _ = quiet_desk
    page = _as(app, "ap@example.org").get("/desk/threads").text
    said = _text(page)
    assert f'id="quiet-thread-{thread_id}"' in page
    assert "Moved by quiet time (x): due Wed 29 Dec 2027, 08:00 GMT, goes out Wed 29 Dec 2027, 09:00 GMT." in said
    assert "outside x's posting hours (weekdays 09:00-17:30)" in said


def test_only_an_admin_with_a_reason_overrides_and_it_is_audited_and_shown(quiet_desk) -> None:  # type: ignore[no-untyped-def]
    app, db, edition_id, thread_id, _ = quiet_desk
    page = f"/desk/editions/{edition_id}"
    approver = _as(app, "ap@example.org")
    token = desk_data.csrf_from(approver.get(page).text)
    refused = approver.post(f"{page}/override-quiet", data={"csrf_token": token, "reason": "urgent"},
                            follow_redirects=False)
    assert refused.status_code == 403
    admin = _as(app, "boss@example.org")
    forged = admin.post(f"{page}/override-quiet", data={"csrf_token": "forged", "reason": "urgent"},
                        follow_redirects=False)
    assert forged.status_code == 403
    token = desk_data.csrf_from(admin.get(page).text)
    blank = admin.post(f"{page}/override-quiet", data={"csrf_token": token, "reason": "  "}, follow_redirects=False)
    assert blank.status_code == 409 and "needs a reason" in blank.text
    with db.session() as session:
        assert session.get(EditionRow, edition_id).scheduled_for == london("2027-12-29 08:00")  # type: ignore[union-attr]
        assert not session.scalars(select(AuditRow).where(AuditRow.action == "quiet-override")).all()
    done = admin.post(f"{page}/override-quiet", data={"csrf_token": token, "reason": "Safety notice, agreed"},
                      follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"].endswith("?done=quiet-overridden")
    shown = _text(admin.get(done.headers["location"]).text)
    assert "Quiet time overridden, with your reason" in shown
    assert ("Quiet time overridden by boss@example.org on Fri 17 Dec 2027, 09:00 GMT: “Safety notice, agreed”. "
            "It goes out Thu 23 Dec 2027, 10:00 GMT, inside quiet time.") in shown
    with db.session() as session:
        assert session.get(EditionRow, edition_id).scheduled_for == london("2027-12-23 10:00")  # type: ignore[union-attr]
        entry = session.scalars(select(AuditRow).where(AuditRow.action == "quiet-override")).one()
        assert entry.actor == "boss@example.org" and entry.detail["reason"] == "Safety notice, agreed"

    token = desk_data.csrf_from(admin.get("/desk/threads").text)
    thread = admin.post(f"/desk/threads/{thread_id}/override-quiet", data={"csrf_token": token, "reason": "With it"},
                        follow_redirects=False)
    assert thread.status_code == 303
    assert "Quiet time overridden by boss@example.org" in _text(admin.get("/desk/threads").text)


def test_rescheduling_into_quiet_time_moves_it_and_says_so(quiet_desk) -> None:  # type: ignore[no-untyped-def]
    app, db, edition_id, thread_id, _ = quiet_desk
    page = f"/desk/editions/{edition_id}"
    approver = _as(app, "ap@example.org")
    token = desk_data.csrf_from(approver.get(page).text)
    # Saturday 8 January, 10:00: outside email's hours (weekdays); moves to Monday 08:00
    moved = approver.post(f"{page}/schedule", data={"csrf_token": token, "when": "2028-01-08T10:00"},
                          follow_redirects=False)
    assert moved.headers["location"].endswith("?done=scheduled-quiet")
    said = _text(approver.get(moved.headers["location"]).text)
    assert "the time you chose is in quiet time: it moved to the next allowed moment" in said
    assert "Moved by quiet time (email): due Sat 8 Jan 2028, 10:00 GMT, goes out Mon 10 Jan 2028, 08:00 GMT." in said
    with db.session() as session:
        assert session.get(ThreadRow, thread_id).scheduled_for == london("2028-01-10 09:00")  # type: ignore[union-attr]
    # an allowed time: no move is left on the page
    plain = approver.post(f"{page}/schedule", data={"csrf_token": token, "when": "2028-01-12T11:00"},
                          follow_redirects=False)
    assert plain.headers["location"].endswith("?done=scheduled")
    page_html = approver.get(page).text
    assert 'id="quiet-edition-' not in page_html
    with db.session() as session:
        assert session.get(EditionRow, edition_id).scheduled_for == london("2028-01-12 11:00")  # type: ignore[union-attr]
        assert session.get(ThreadRow, thread_id).scheduled_for == london("2028-01-12 11:00")  # type: ignore[union-attr]
