"""Posting slots on the desk, through HTTP against a real ledger (SQLite and PostgreSQL): approving
a post puts it in the next free slot, the Posts page shows the week's slots, and staff move a post
with the form (no JavaScript needed); the move is audited and the approval stands."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from compose.config import Config
from flows.settings import parse_config
from state import ledger
from state.db import Database
from state.models import AuditRow, ThreadRow
from tests.helpers import desk_data
from web.app import create_app

NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)  # Thursday 26 November 2026, 14:00 in London (GMT)
LONDON = ZoneInfo("Europe/London")
SECRET = "test-secret-key-0123456789abcdef"
SLOTS = 'slots = ["weekdays 09:00", "weekdays 12:30", "saturday 10:00"]'


def slotted_config(tmp_path: Path, slots: str = SLOTS) -> Config:
    """The example config with the posting slots its comment suggests switched on for X."""
    text = desk_data.EXAMPLE_CONFIG.read_text(encoding="utf-8")
    text = text.replace('outbox_dir = "outbox"', f'outbox_dir = "{tmp_path / "outbox"}"')
    assert "# slots = [" in text
    text = re.sub(r"^# slots = .*$", slots, text, count=1, flags=re.M)
    return parse_config(text, origin="slotted example")


def london(*args: int) -> datetime:
    return datetime(*args, tzinfo=LONDON).astimezone(UTC)  # type: ignore[arg-type,misc]


@pytest.fixture
def desk(db: Database, tmp_path: Path):  # type: ignore[no-untyped-def]
    config = slotted_config(tmp_path)
    desk_data.seed_items(db, config, now=NOW)
    threads = desk_data.seed_threads(db, config, now=NOW)
    app = create_app(config=config, db=db, secret_key=SECRET, now=lambda: NOW, env={})
    for email, role in (("ed@example.org", "editor"), ("ap@example.org", "approver")):
        desk_data.seed_staff(db, email, role, now=NOW)
    return app, db, threads


def signed_in(app, email: str) -> TestClient:  # type: ignore[no-untyped-def]
    client = TestClient(app)
    assert desk_data.sign_in(client, email).status_code == 303
    return client


def post(client: TestClient, path: str, data: dict[str, str]):  # type: ignore[no-untyped-def]
    token = desk_data.csrf_from(client.get("/desk/threads").text)
    return client.post(path, data={**data, "csrf_token": token}, follow_redirects=False)


def scheduled(db: Database, thread_id: int) -> datetime | None:
    with db.session() as session:
        return session.get(ThreadRow, thread_id).scheduled_for  # type: ignore[union-attr]


def test_approving_puts_posts_in_the_next_free_slots_and_the_page_shows_the_week(desk) -> None:  # type: ignore[no-untyped-def]
    app, db, threads = desk
    approver = signed_in(app, "ap@example.org")
    first, second = threads[:2]
    assert post(approver, f"/desk/threads/{second}/approve", {}).status_code == 303
    assert post(approver, f"/desk/threads/{first}/approve", {}).status_code == 303
    assert scheduled(db, second) == london(2026, 11, 27, 9, 0)  # approved first: Friday 09:00
    assert scheduled(db, first) == london(2026, 11, 27, 12, 30)
    page = approver.get("/desk/threads").text
    assert "Posting slots, the week ahead" in page
    assert "Slots: weekdays 09:00, weekdays 12:30, saturday 10:00 (Europe/London time)" in page
    board = page[page.index('class="card slot-board"'):page.index('class="card thread"')]
    assert re.search(rf'data-slot="2026-11-27T09:00" data-network="x">\s*<span class="slot-time">[^<]*</span>\s*'
                     rf'<a class="slot-post" href="#thread-{second}"', board)
    assert re.search(r'data-slot="2026-11-28T10:00" data-network="x">\s*<span class="slot-time">Sat 28 Nov, 10:00'
                     r'</span>\s*<span class="muted">free</span>', board)
    assert f'id="when-{second}">\n      In the X slot of Fri 27 Nov 2026, 09:00 GMT' in page
    card = page[page.index(f'id="thread-{first}"'):]
    # the form lists the free slots, the next first, and works without JavaScript
    assert re.search(r'<option value="next">the next free slot</option>\s*<option value="2026-11-28T10:00">'
                     r'Sat 28 Nov, 10:00 GMT</option>\s*<option value="2026-11-30T09:00">', card)


def test_the_form_moves_a_post_to_a_free_slot_audited_and_still_approved(desk) -> None:  # type: ignore[no-untyped-def]
    app, db, threads = desk
    approver, editor = signed_in(app, "ap@example.org"), signed_in(app, "ed@example.org")
    moved = threads[0]
    post(approver, f"/desk/threads/{moved}/approve", {})
    response = post(editor, f"/desk/threads/{moved}/move", {"to": "2026-11-30T12:30"})
    assert response.status_code == 303 and response.headers["location"] == f"/desk/threads?done=moved#thread-{moved}"
    assert scheduled(db, moved) == london(2026, 11, 30, 12, 30)
    with db.session() as session:
        assert ledger.is_approved(session, "thread", moved)
        audit = session.scalars(select(AuditRow).where(AuditRow.action == "move")).one()
        assert audit.actor == "ed@example.org" and audit.detail["after"] == london(2026, 11, 30, 12, 30).isoformat()
    page = editor.get("/desk/threads?done=moved").text
    assert "Moved. It goes out at its new time; its approval stands" in page
    assert "In the X slot of Mon 30 Nov 2026, 12:30 GMT (moved by ed@example.org)" in page


def test_a_taken_slot_a_past_time_and_a_bad_time_are_refused_saying_why(desk) -> None:  # type: ignore[no-untyped-def]
    app, db, threads = desk
    approver = signed_in(app, "ap@example.org")
    holder, other = threads[:2]
    post(approver, f"/desk/threads/{holder}/approve", {})  # Friday 09:00
    response = post(approver, f"/desk/threads/{other}/move", {"to": "2026-11-27T09:00"})
    assert response.status_code == 409
    assert "the x slot at 2026-11-27 09:00 UTC is taken by another thread: choose a free one" in response.text
    response = post(approver, f"/desk/threads/{other}/move", {"at": "2026-11-26T09:00"})
    assert response.status_code == 409 and "has passed: choose a time ahead" in response.text
    response = post(approver, f"/desk/threads/{other}/move", {"at": "tomorrow"})
    assert response.status_code == 400 and "is not a date and time: write it as YYYY-MM-DD HH:MM" in response.text
    assert scheduled(db, other) == NOW  # as drafted: nothing moved


def test_a_time_of_your_own_is_kept_and_the_next_slot_moves_up(desk) -> None:  # type: ignore[no-untyped-def]
    app, db, threads = desk
    approver = signed_in(app, "ap@example.org")
    fixed, queued = threads[:2]
    assert post(approver, f"/desk/threads/{fixed}/move", {"at": "2026-11-26T16:45"}).status_code == 303
    post(approver, f"/desk/threads/{fixed}/approve", {})
    post(approver, f"/desk/threads/{queued}/approve", {})
    assert scheduled(db, fixed) == london(2026, 11, 26, 16, 45)
    assert scheduled(db, queued) == london(2026, 11, 27, 9, 0)
    assert "At a time ap@example.org set: Thu 26 Nov 2026, 16:45 GMT" in approver.get("/desk/threads").text


def test_without_slots_the_page_has_no_board_and_posts_go_out_when_approved(db: Database, tmp_path: Path) -> None:
    config = desk_data.example_config(tmp_path)
    desk_data.seed_items(db, config, now=NOW)
    thread = desk_data.seed_threads(db, config, now=NOW)[0]
    app = create_app(config=config, db=db, secret_key=SECRET, now=lambda: NOW, env={})
    desk_data.seed_staff(db, "ap@example.org", "approver", now=NOW)
    approver = signed_in(app, "ap@example.org")
    post(approver, f"/desk/threads/{thread}/approve", {})
    page = approver.get("/desk/threads").text
    assert "Posting slots" not in page and 'name="to"' not in page
    assert "Goes out when approved, within the daily cap and spacing" in page
    assert scheduled(db, thread) == NOW
