"""The reader's preference page (web/preferences.py): reached by the signed link in the footer, no
password; sections, name, pause and leave, each confirmed on the page and recorded with its door;
leaving wins over anything before it; an expired, altered or cross-site request changes nothing."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from compose.signing import TokenPolicy, preferences_token
from state.models import SubscriberRow
from state.subscriber_changes import changes_of
from tests.helpers import desk_data
from web.app import create_app

NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)
SECRET = "test-secret-key-0123456789abcdef"


@pytest.fixture
def site(sqlite_db, tmp_path):
    config = desk_data.example_config(tmp_path)
    clock = desk_data.Clock(NOW)
    app = create_app(config=config, db=sqlite_db, secret_key=SECRET, now=clock, env={})
    desk_data.seed_subscribers(sqlite_db, 2, now=NOW)
    return app, sqlite_db, clock


def _link(subscriber_id: int = 1, email: str = "reader1@example.org", *, now: datetime = NOW) -> str:
    return f"/preferences/{preferences_token(SECRET, subscriber_id=subscriber_id, email=email, now=now)}"


def _row(db, subscriber_id: int = 1) -> SubscriberRow:
    with db.session() as session:
        row = session.get(SubscriberRow, subscriber_id)
        session.expunge(row)
        return row


def _changes(db, subscriber_id: int = 1) -> list[tuple[str, str, object, object]]:
    with db.session() as session:
        return [(c.door, c.field, c.old, c.new) for c in changes_of(session, subscriber_id)]


def test_the_page_names_the_reader_and_shows_every_section_ticked(site):
    app, _, _ = site
    page = TestClient(app).get(_link())
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert "Hello Reader." in page.text and "reader1@example.org" in page.text
    ticked = re.findall(r'name="section" value="(\w+)" checked', page.text)
    assert ticked == ["news", "blogs", "publications"]
    assert "Unsubscribe from everything" in page.text


def test_choosing_sections_is_confirmed_stored_and_recorded(site):
    app, db, _ = site
    client = TestClient(app)
    answer = client.post(_link(), data={"action": "sections", "section": ["news", "blogs"]})
    assert answer.status_code == 200 and "Saved: you will get News and Blogs." in answer.text
    assert _row(db).sections == ["news", "blogs"] and _row(db, 2).sections is None
    assert re.findall(r'name="section" value="(\w+)" checked', answer.text) == ["news", "blogs"]
    again = client.post(_link(), data={"action": "sections", "section": ["publications", "news", "blogs"]})
    assert "Saved: you will get News, Blogs and Publications." in again.text
    assert _row(db).sections is None  # every section: new ones reach them too
    assert _changes(db) == [("preferences", "sections", None, ["news", "blogs"]),
                            ("preferences", "sections", ["news", "blogs"], None)]


@pytest.mark.parametrize(("sections", "says"), [([], "choose at least one section"),
                                                (["news", "gossip"], "there is no section gossip")])
def test_an_empty_or_unknown_choice_changes_nothing_and_says_why(site, sections, says):
    app, db, _ = site
    answer = TestClient(app).post(_link(), data={"action": "sections", "section": sections})
    assert answer.status_code == 400 and says in answer.text and "Nothing was changed" in answer.text
    assert _row(db).sections is None and _changes(db) == []


def test_name_is_changed_and_checked(site):
    app, db, _ = site
    client = TestClient(app)
    answer = client.post(_link(), data={"action": "name", "name": "  Ada   Lovelace "})
    assert "Saved: we will greet you as Ada." in answer.text and _row(db).name == "Ada Lovelace"
    refused = client.post(_link(), data={"action": "name", "name": "<script>"})
    assert refused.status_code == 400 and _row(db).name == "Ada Lovelace"
    assert _changes(db) == [("preferences", "name", "Reader 1", "Ada Lovelace")]


def test_pause_for_weeks_then_start_again(site):
    app, db, _ = site
    client = TestClient(app)
    answer = client.post(_link(), data={"action": "pause", "weeks": "4"})
    assert "Saved: no email until Thursday 24 December 2026." in answer.text
    assert _row(db).paused_until == NOW + timedelta(weeks=4)
    assert "Start again now" in answer.text
    assert client.post(_link(), data={"action": "pause", "weeks": "5"}).status_code == 400
    resumed = client.post(_link(), data={"action": "resume"})
    assert "comes again from the next edition" in resumed.text and _row(db).paused_until is None
    assert [c[1] for c in _changes(db)] == ["paused_until", "paused_until"]


def test_leave_is_one_click_and_wins_over_any_later_form(site):
    app, db, _ = site
    client = TestClient(app)
    stale_form = client.get(_link()).text  # a tab left open before leaving
    assert 'value="leave"' in stale_form
    answer = client.post(_link(), data={"action": "leave"})
    assert answer.status_code == 200 and "Saved: you have left" in answer.text
    assert _row(db).status == "unsubscribed" and "You have left" in answer.text
    for late in ({"action": "sections", "section": ["news"]}, {"action": "pause", "weeks": "1"},
                 {"action": "name", "name": "Back"}, {"action": "resume"}):
        refused = client.post(_link(), data=late)
        assert refused.status_code == 400 and "you have left" in refused.text
    assert _row(db).status == "unsubscribed" and _row(db).sections is None and _row(db).name == "Reader 1"
    assert _changes(db) == [("preferences", "status", "active", "unsubscribed")]


def test_expired_altered_and_foreign_links_change_nothing_and_say_how_to_get_a_fresh_one(site):
    app, db, clock = site
    client = TestClient(app)
    good = _link()
    clock.advance(days=TokenPolicy.preferences_max_age.days + 1)
    expired = client.post(good, data={"action": "leave"})
    assert expired.status_code == 400 and "expired" in expired.text
    clock.now = NOW
    altered = good[:-2] + ("AA" if not good.endswith("AA") else "BB")
    other_key = "/preferences/" + preferences_token("another-secret-key-0123456789", subscriber_id=1,
                                                    email="reader1@example.org", now=NOW)
    wrong_address = _link(1, "someone-else@example.org")  # an id that came to name someone else
    for bad in (altered, other_key, wrong_address):
        for method in ("GET", "POST"):
            answer = client.request(method, bad, data={"action": "leave"} if method == "POST" else None)
            assert answer.status_code == 400 and "Manage your preferences" in answer.text
            assert "Nothing was changed" in answer.text
    assert _row(db).status == "active" and _changes(db) == []


def test_a_form_posted_from_another_site_is_refused(site):
    app, db, _ = site
    client = TestClient(app)
    for headers in ({"Sec-Fetch-Site": "cross-site"}, {"Origin": "https://evil.example"},
                    {"Sec-Fetch-Site": "cross-site", "Origin": "null"}):
        answer = client.post(_link(), data={"action": "leave"}, headers=headers)
        assert answer.status_code == 403 and "another website" in answer.text
    assert _row(db).status == "active"
    same = client.post(_link(), data={"action": "leave"},
                       headers={"Sec-Fetch-Site": "same-origin", "Origin": "http://testserver"})
    assert same.status_code == 200 and _row(db).status == "unsubscribed"


def test_without_a_token_the_page_says_where_the_link_is(site):
    app, _, _ = site
    answer = TestClient(app).get("/preferences")
    assert answer.status_code == 200 and "Manage your preferences" in answer.text
    assert "does not work" not in answer.text
