"""Subscriber CSV checking and import, consent, unsubscribe and suppression; signed tokens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from compose.signing import (
    ExpiredToken,
    ForgedToken,
    confirm_token,
    confirm_url,
    unsubscribe_token,
    unsubscribe_url,
    verify_confirm,
    verify_unsubscribe,
)
from compose.subscribers import parse_subscriber_csv
from state.db import connect
from state.models import SubscriberRow, SubscriberStatus
from state.subscribers import (
    CsvRejected,
    confirm,
    counts_by_status,
    import_csv,
    import_subscribers,
    list_subscribers,
    subscribe_pending,
    suppress,
    unsubscribe,
)

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
SECRET = "s3cret-for-tests"
GOOD = "email,name\nalex@Example.ORG,Alex Morgan\npriya@example.com,Priya Shah\n"


@pytest.fixture
def db(tmp_path):
    database = connect(f"sqlite:///{tmp_path}/t.db")
    yield database
    database.dispose()


def test_csv_reports_every_bad_row_with_its_line_number():
    text = ("email,name\n"
            "good@example.com,Good\n"
            "not-an-email,Bad\n"
            ",Empty\n"
            "GOOD@example.com,Dup\n"
            "x@example.com,too,many\n"
            "\n"
            "ok@example.org\n")
    rows, problems = parse_subscriber_csv(text)
    assert [r.email for r in rows] == ["good@example.com"]
    assert [(p.line, p.reason.split(":")[0]) for p in problems] == [
        (3, "'not-an-email' is not a valid email address"), (4, "the email is empty"),
        (5, "GOOD@example.com is a duplicate of line 2"), (6, "expected 2 columns, found 3"),
        (8, "expected 2 columns, found 1")]
    assert str(problems[0]).startswith("line 3: ")


def test_csv_header_and_normalisation():
    assert parse_subscriber_csv("name\nAlex\n")[1][0].line == 1
    assert "no `email` column" in parse_subscriber_csv("name\nAlex\n")[1][0].reason
    assert parse_subscriber_csv("")[1][0].reason.startswith("the file is empty")
    rows, problems = parse_subscriber_csv("\ufeffEmail\n  alex@EXAMPLE.org \n")
    assert not problems and rows[0].email == "alex@example.org" and rows[0].name == ""


def test_import_is_all_or_nothing(db):
    with db.session() as session, pytest.raises(CsvRejected) as caught:
        import_csv(session, GOOD + "broken,Someone\n", filename="members.csv", now=NOW)
    assert "line 4" in str(caught.value) and "nothing imported" in str(caught.value)
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(SubscriberRow)) == 0


def test_import_is_idempotent_and_records_consent(db):
    with db.session() as session:
        report = import_csv(session, GOOD, filename="members.csv", now=NOW)
    assert (report.added, report.unchanged) == (2, 0)
    with db.session() as session:
        again = import_csv(session, GOOD, filename="members.csv", now=NOW)
        rows = list_subscribers(session)
    assert (again.added, again.unchanged) == (0, 2)
    assert [(r.email, r.status, r.consent_source) for r in rows] == [
        ("alex@example.org", SubscriberStatus.ACTIVE, "import:members.csv"),
        ("priya@example.com", SubscriberStatus.ACTIVE, "import:members.csv")]


@pytest.mark.parametrize("leave", ["unsubscribe", SubscriberStatus.BOUNCED, SubscriberStatus.COMPLAINED])
def test_someone_who_left_is_never_reactivated_by_an_import(db, leave):
    with db.session() as session:
        import_csv(session, GOOD, filename="a.csv", now=NOW)
    with db.session() as session:
        if leave == "unsubscribe":
            unsubscribe(session, "ALEX@example.org", reason="one-click", now=NOW)
        else:
            suppress(session, 1, leave, reason="provider", now=NOW)
    with db.session() as session:
        report = import_csv(session, GOOD.replace("alex@Example.ORG", "Alex@example.org"), filename="b.csv", now=NOW)
        assert report.left_alone == ("alex@example.org",) and "had left" in report.message
        assert session.get(SubscriberRow, 1).status != SubscriberStatus.ACTIVE
        assert counts_by_status(session)["active"] == 1


def test_double_opt_in(db):
    with db.session() as session:
        row = subscribe_pending(session, "New@Example.com", name="New", source="web form", now=NOW)
        token = confirm_token(SECRET, subscriber_id=row.id, email=row.email, now=NOW)
        assert row.status == SubscriberStatus.PENDING
    link = confirm_url("https://news.example.org/", token)
    assert link == f"https://news.example.org/confirm/{token}"
    subscriber_id, email = verify_confirm(SECRET, token, now=NOW + timedelta(days=6))
    with db.session() as session:
        assert confirm(session, subscriber_id, email, now=NOW).status == SubscriberStatus.ACTIVE
    with pytest.raises(ExpiredToken):
        verify_confirm(SECRET, token, now=NOW + timedelta(days=8))


def test_unsubscribe_tokens_last_for_months_and_reject_forgeries():
    token = unsubscribe_token(SECRET, subscriber_id=42, edition_id=7, now=NOW)
    assert unsubscribe_url("https://news.example.org", token).endswith(f"/unsubscribe/{token}")
    assert verify_unsubscribe(SECRET, token, now=NOW + timedelta(days=365)) == (42, 7)
    with pytest.raises(ForgedToken):
        verify_unsubscribe("another-key", token, now=NOW)
    with pytest.raises(ForgedToken):
        verify_unsubscribe(SECRET, token[:-2] + ("AA" if not token.endswith("AA") else "BB"), now=NOW)
    with pytest.raises(ForgedToken):  # a confirmation token is not an unsubscribe token
        verify_unsubscribe(SECRET, confirm_token(SECRET, subscriber_id=42, email="a@b.c", now=NOW), now=NOW)
    with pytest.raises(ExpiredToken):
        verify_unsubscribe(SECRET, token, now=NOW + timedelta(days=800))


def test_import_subscribers_takes_checked_rows(db):
    rows, problems = parse_subscriber_csv(GOOD)
    with db.session() as session:
        report = import_subscribers(session, rows, source="import:x.csv", now=NOW)
        assert report.added == 2 and session.get(SubscriberRow, 1).consent_source == "import:x.csv"
