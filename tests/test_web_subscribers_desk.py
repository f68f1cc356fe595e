"""Subscribers and sources on the desk: import a CSV with a preview and a confirm step (the CLI's
row checks, Mailchimp and listmonk headers), add or unsubscribe one person, sources with their
health and retired ones out of "needs attention". Through HTTP against a real ledger."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from compose.models import FetchReport
from compose.subscribers import parse_subscriber_csv
from state.items import store_report, sync_sources
from state.models import AuditRow, SourceRow, SubscriberRow, SubscriberStatus
from tests.helpers import desk_data
from web.app import create_app

NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)
SECRET = "test-secret-key-0123456789abcdef"
MAILCHIMP = ("Email Address,First Name,Last Name,MEMBER_RATING,OPTIN_TIME\n"
             "new.person@example.org,Nia,Okafor,2,2026-01-01\n"
             "reader1@example.org,Reader,Renamed,1,2026-01-01\n"
             "reader2@example.org,Reader,2,1,2026-01-01\n"
             "gone@example.org,Gone,Away,1,2026-01-01\n")


@pytest.fixture
def desk(db, tmp_path):
    config = desk_data.example_config(tmp_path)
    app = create_app(config=config, db=db, secret_key=SECRET, now=lambda: NOW, env={})
    for email, role in (("ed@example.org", "editor"), ("boss@example.org", "admin")):
        desk_data.seed_staff(db, email, role, now=NOW)
    desk_data.seed_subscribers(db, 2, now=NOW)
    with db.session() as session:
        session.add(SubscriberRow(email="gone@example.org", name="Gone", status=SubscriberStatus.UNSUBSCRIBED,
                                  consent_source="x", created_at=NOW))
    return app, db, config


def _as(app, email) -> TestClient:
    client = TestClient(app)
    assert desk_data.sign_in(client, email).status_code == 303
    return client


def _token(client, page="/desk/subscribers") -> str:
    return desk_data.csrf_from(client.get(page).text)


def _count(db) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(SubscriberRow)) or 0


def test_import_previews_then_imports_only_when_confirmed(desk):
    app, db, _ = desk
    boss = _as(app, "boss@example.org")
    token = _token(boss, "/desk/subscribers/import")
    preview = boss.post("/desk/subscribers/import", data={"csrf_token": token},
                        files={"file": ("mailchimp.csv", MAILCHIMP.encode(), "text/csv")})
    assert preview.status_code == 200
    text = preview.text
    assert "New (1)" in text and "new.person@example.org" in text and "Nia Okafor" in text
    assert "Updated (1)" in text and "&#39;Reader 1&#39; becomes &#39;Reader Renamed&#39;" in text
    assert "Unchanged (1)" in text and "Refused (1)" in text
    assert "gone@example.org is unsubscribed" in text
    assert _count(db) == 3  # nothing written yet
    confirm = boss.post("/desk/subscribers/import", data={
        "csrf_token": desk_data.csrf_from(text), "confirm": "yes", "filename": "mailchimp.csv",
        "csv": MAILCHIMP}, follow_redirects=False)
    assert confirm.status_code == 303
    assert "1 added" in boss.get(confirm.headers["location"]).text
    with db.session() as session:
        added = session.scalars(select(SubscriberRow).where(SubscriberRow.email == "new.person@example.org")).one()
        assert (added.status, added.name, added.consent_source) == ("active", "Nia Okafor", "import:mailchimp.csv")
        gone = session.scalars(select(SubscriberRow).where(SubscriberRow.email == "gone@example.org")).one()
        assert gone.status == "unsubscribed"
        entry = session.scalars(select(AuditRow).where(AuditRow.action == "import")).one()
        assert entry.actor == "boss@example.org"


def test_a_bad_line_stops_the_import_and_is_named(desk):
    app, db, _ = desk
    boss = _as(app, "boss@example.org")
    bad = "email,name\nok@example.org,Ok\nnot-an-address,Bad\nok@example.org,Twice\n"
    preview = boss.post("/desk/subscribers/import", data={"csrf_token": _token(boss, "/desk/subscribers/import")},
                        files={"file": ("x.csv", bad.encode(), "text/csv")})
    assert preview.status_code == 400
    assert "Line 3: &#39;not-an-address&#39; is not a valid email address" in preview.text
    assert "Line 4: ok@example.org is a duplicate of line 2" in preview.text
    assert 'name="confirm"' not in preview.text
    forced = boss.post("/desk/subscribers/import", data={"csrf_token": desk_data.csrf_from(preview.text),
                                                         "confirm": "yes", "csv": bad})
    assert forced.status_code == 400 and _count(db) == 3


@pytest.mark.parametrize("upload, why", [
    (b"\xff\xfe\x00bad", "not UTF-8"),
    (b"email\n" + b"a@example.org\n" * 80_000, "over 1,000,000 bytes"),
])
def test_an_unreadable_or_huge_file_is_refused_with_what_to_do(desk, upload, why):
    app, db, _ = desk
    boss = _as(app, "boss@example.org")
    answer = boss.post("/desk/subscribers/import", data={"csrf_token": _token(boss, "/desk/subscribers/import")},
                       files={"file": ("x.csv", upload, "text/csv")})
    assert answer.status_code == 400 and why in answer.text
    assert _count(db) == 3


def test_only_admins_import_add_or_unsubscribe(desk):
    app, _, _ = desk
    editor = _as(app, "ed@example.org")
    assert editor.get("/desk/subscribers/import").status_code == 403
    token = _token(editor, "/desk")  # the subscriber list itself is admin-only (issue 13.6)
    for path in ("/desk/subscribers/import", "/desk/subscribers/add", "/desk/subscribers/unsubscribe"):
        assert editor.post(path, data={"csrf_token": token, "email": "x@example.org"}).status_code == 403
    assert editor.get("/desk/subscribers").status_code == 403


def test_add_one_person_and_unsubscribe_one_person(desk):
    app, db, _ = desk
    boss = _as(app, "boss@example.org")
    added = boss.post("/desk/subscribers/add", data={"csrf_token": _token(boss), "email": "Ada@Example.ORG",
                                                      "name": "  Ada   Lovelace "}, follow_redirects=True)
    assert "Ada@example.org is subscribed." in added.text
    again = boss.post("/desk/subscribers/add", data={"csrf_token": _token(boss), "email": "ada@example.org"},
                      follow_redirects=True)
    assert "already in the list" in again.text
    left = boss.post("/desk/subscribers/add", data={"csrf_token": _token(boss), "email": "gone@example.org"})
    assert left.status_code == 400 and "only they can subscribe again" in left.text
    bad = boss.post("/desk/subscribers/add", data={"csrf_token": _token(boss), "email": "nope"})
    assert bad.status_code == 400 and "not a valid email address" in bad.text
    gone = boss.post("/desk/subscribers/unsubscribe", data={"csrf_token": _token(boss), "email": "ADA@example.org"},
                     follow_redirects=True)
    assert "Ada@example.org is unsubscribed" in gone.text
    unknown = boss.post("/desk/subscribers/unsubscribe", data={"csrf_token": _token(boss), "email": "who@x.org"})
    assert unknown.status_code == 400 and "there is no subscriber who@x.org" in unknown.text
    with db.session() as session:
        ada = session.scalars(select(SubscriberRow).where(SubscriberRow.email == "Ada@example.org")).one()
        assert ada.status == "unsubscribed" and ada.name == "Ada Lovelace"
        assert "boss@example.org" in ada.status_reason
        actions = set(session.scalars(select(AuditRow.action).where(AuditRow.actor == "boss@example.org")))
        assert {"import", "subscriber.unsubscribe"} <= actions


def test_retired_sources_show_as_retired_and_leave_needs_attention(desk):
    app, db, config = desk
    with db.session() as session:
        rows = sync_sources(session, config.sources)
        failing = config.sources[0].name
        store_report(session, rows[failing], FetchReport(source=failing, error="the server returned 404",
                                                         hint="the server returned 404: check the URL"), now=NOW)
        session.add(SourceRow(name="Old blog", kind="feed", url="https://old.example.org/feed", section="news",
                              consecutive_failures=7, last_error="could not connect", last_bytes=0,
                              last_elapsed_ms=0.0, last_items_new=0, last_items_updated=0))
    editor = _as(app, "ed@example.org")
    desk_page = editor.get("/desk").text
    assert f"Source “{failing}” is failing" in desk_page and "Old blog" not in desk_page
    assert desk_page.count("the server returned 404") == 1  # the error is not repeated inside its hint
    sources = editor.get("/desk/sources").text
    assert "Old blog" in sources and "retired" in sources and "failing" in sources
    assert sources.count("the server returned 404") == 1


@settings(max_examples=60, deadline=None)
@given(first=st.text(alphabet=st.characters(categories=("L",)), min_size=1, max_size=12),
       last=st.text(alphabet=st.characters(categories=("L",)), max_size=12),
       header=st.sampled_from(["Email Address", "email", "E-mail", "EMAIL ADDRESS"]))
def test_mailchimp_names_join_first_and_last(first, last, header):
    rows, problems = parse_subscriber_csv(f"{header},First Name,Last Name\na@example.org,{first},{last}\n")
    assert not problems
    assert rows[0].name == " ".join(part for part in (first.strip(), last.strip()) if part)


def test_the_cli_import_accepts_a_mailchimp_export_too(db):
    from state.subscribers import import_csv

    with db.session() as session:
        report = import_csv(session, MAILCHIMP, filename="mailchimp.csv", now=NOW)
    assert (report.added, report.unchanged) == (4, 0)
    with db.session() as session:
        names = dict(session.execute(select(SubscriberRow.email, SubscriberRow.name)).all())
    assert names["new.person@example.org"] == "Nia Okafor" and names["reader2@example.org"] == "Reader 2"


def test_a_crafted_link_cannot_put_words_on_the_subscribers_page(desk):
    app, _, _ = desk
    boss = _as(app, "boss@example.org")
    page = boss.get("/desk/subscribers", params={"done": "added", "who": "Your password expired, call 0800"}).text
    assert "call 0800" not in page
    page = boss.get("/desk/subscribers", params={"done": "imported", "added": "all", "activated": "1",
                                                 "unchanged": "1"}).text
    assert "Imported:" not in page


def test_a_file_with_nothing_new_offers_no_import(desk):
    app, db, _ = desk
    boss = _as(app, "boss@example.org")
    same = "email,name\nreader1@example.org,Reader 1\ngone@example.org,Gone\n"
    preview = boss.post("/desk/subscribers/import", data={"csrf_token": _token(boss, "/desk/subscribers/import")},
                        files={"file": ("same.csv", same.encode(), "text/csv")})
    assert preview.status_code == 200 and "Nothing to import" in preview.text
    assert 'name="confirm"' not in preview.text and "Unchanged (1)" in preview.text and "Refused (1)" in preview.text
