"""Attacks from issue 13, rows 1-2: outside data never becomes markup or a header.

Each test reproduces the attack as it was reported against main and shows it refused: a name
holding live HTML posted through /subscribe for an active subscriber's address, `{{first_name}}`
in the HTML part (outbox and SendGrid alike), a CSV name `<script>`, a CR/LF in a name or a
subject that used to break a whole batch, and a public-form name with a newline that answered 500.
"""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compose.subscribers import NameRefused, check_name, parse_subscriber_csv
from connectors.channels.base import OutboundEmail, Recipient, personal_value, personalise
from connectors.channels.outbox_email import OutboxEmailChannel
from connectors.channels.sendgrid import SendGridChannel
from state.models import SubscriberRow, SubscriberStatus
from state.subscribers import subscribe_pending
from tests.helpers import desk_data
from web.app import create_app

NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)
SECRET = "test-secret-key-0123456789abcdef"
LIVE_HTML = '<a href="https://evil.example/">Claim</a><img src="https://evil.example/p.gif">'


def _message(subject: str = "Hello {{first_name}}") -> OutboundEmail:
    return OutboundEmail(edition_id=7, edition_slug="2026-11-26", subject=subject,
                         html="<p>Hello {{first_name}},</p><a href=\"{{unsubscribe_url}}\">Unsubscribe</a>",
                         text="Hello {{first_name}},\nUnsubscribe: {{unsubscribe_url}}\n",
                         from_email="news@socitm.example", from_name="In Our View", reply_to="editors@socitm.example")


@pytest.fixture
def site(sqlite_db, tmp_path):
    config = desk_data.example_config(tmp_path)
    app = create_app(config=config, db=sqlite_db, secret_key=SECRET, now=desk_data.Clock(NOW), env={})
    desk_data.seed_subscribers(sqlite_db, 1, now=NOW)  # reader1@example.org, "Reader 1", active
    return app, sqlite_db


def _row(db, email_address: str) -> SubscriberRow | None:
    with db.session() as session:
        row = session.query(SubscriberRow).filter_by(email=email_address).one_or_none()
        if row is not None:
            session.expunge(row)
        return row


def _subscribe(client: TestClient, address: str, name: str):  # type: ignore[no-untyped-def]
    token = desk_data.csrf_from(client.get("/subscribe").text)
    return client.post("/subscribe", data={"csrf_token": token, "email": address, "name": name})


# --- row 1: live HTML into another subscriber's newsletter ----------------------------------------------


def test_the_public_form_cannot_put_markup_into_an_active_subscribers_name(site):
    app, db = site
    client = TestClient(app)
    refused = _subscribe(client, "reader1@example.org", LIVE_HTML)
    assert refused.status_code == 400 and "angle brackets" in refused.text
    assert "<img src=\"https://evil.example" not in refused.text  # not reflected either
    assert _row(db, "reader1@example.org").name == "Reader 1"


def test_the_public_form_never_changes_a_known_subscriber_until_they_confirm(site):
    app, db = site
    response = _subscribe(TestClient(app), "reader1@example.org", "Mallory")
    assert response.status_code == 200 and "Check your inbox" in response.text
    row = _row(db, "reader1@example.org")
    assert row.name == "Reader 1" and row.status == SubscriberStatus.ACTIVE
    with db.session() as session:  # the ledger function the form calls, straight
        subscribe_pending(session, "reader1@example.org", name="Eve", source="web:/subscribe", now=NOW)
    assert _row(db, "reader1@example.org").name == "Reader 1"


def test_a_name_given_on_the_form_is_applied_only_when_its_owner_confirms(site):
    app, db = site
    client = TestClient(app)
    with db.session() as session:
        session.add(SubscriberRow(email="left@example.org", name="Old Name", status=SubscriberStatus.UNSUBSCRIBED,
                                  consent_source="import:test", consent_at=NOW, status_changed_at=NOW, created_at=NOW))
    assert _subscribe(client, "left@example.org", "New Name").status_code == 200
    assert _row(db, "left@example.org").name == "Old Name"
    outbox = Path(app.state.syndicate.config.email.outbox_dir) / "email" / "confirmations"
    mail = email.message_from_bytes(next(outbox.glob("*.eml")).read_bytes(), policy=email.policy.default)
    link = "/confirm/" + mail.get_body(("plain",)).get_content().split("/confirm/", 1)[1].split()[0]
    page = client.get(link)
    client.post(link, data={"csrf_token": desk_data.csrf_from(page.text)})
    row = _row(db, "left@example.org")
    assert row.status == SubscriberStatus.ACTIVE and row.name == "New Name"


def test_first_name_is_html_escaped_in_the_html_part_and_plain_in_the_text_part_of_the_outbox(tmp_path):
    # a name stored before names were checked: escaping at the output must still hold
    channel = OutboxEmailChannel(tmp_path)
    person = Recipient(1, "reader1@example.org", "<b>Bob</b><script>alert(1)</script>", "https://x.example/u/t?a=1&b=2")
    mail = channel.render(_message(), person)
    html = mail.get_body(("html",)).get_content()
    text = mail.get_body(("plain",)).get_content()
    assert "<b>" not in html and "<script>" not in html and "&lt;b&gt;Bob&lt;/b&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'href="https://x.example/u/t?a=1&amp;b=2"' in html
    assert "Hello <b>Bob</b><script>alert(1)</script>," in text  # plain text is plain: nothing to escape


def test_first_name_is_html_escaped_in_sendgrid_substitutions_for_the_html_part():
    channel = SendGridChannel("SG.test", host="http://127.0.0.1:9")
    body, rejected = channel.request_body(_message(), [Recipient(1, "reader1@example.org", LIVE_HTML, "https://u.example/t")])
    assert not rejected
    html = next(part["value"] for part in body["content"] if part["type"] == "text/html")
    text = next(part["value"] for part in body["content"] if part["type"] == "text/plain")
    assert "{{first_name}}" not in html and "{{first_name_html}}" in html and "{{first_name}}" in text
    values = body["personalizations"][0]["substitutions"]
    assert values["{{first_name_html}}"] == personal_value(values["{{first_name}}"], "html")
    assert "<" not in values["{{first_name_html}}"] and values["{{first_name}}"].startswith("<a")


def test_a_csv_name_with_markup_or_a_line_break_is_refused_with_its_line():
    rows, problems = parse_subscriber_csv('email,name\nok@example.org,Ada\nx@example.org,<script>alert(1)</script>\n'
                                          'y@example.org,"Line\r\nBreak"\n')
    assert [p.line for p in problems] == [3, 5]
    assert "angle brackets" in problems[0].reason and "control character" in problems[1].reason
    assert [r.email for r in rows] == ["ok@example.org"]


# --- row 2: a newline breaks a whole batch ----------------------------------------------------------------


def test_a_name_with_a_line_break_no_longer_breaks_a_batch_of_six(tmp_path):
    channel = OutboxEmailChannel(tmp_path)
    people = [Recipient(n, f"r{n}@example.org", f"Reader {n}", f"https://u.example/{n}") for n in range(1, 6)]
    people.append(Recipient(6, "r6@example.org", "Evil\r\nBcc: victim@example.org", "https://u.example/6"))
    receipt = channel.send_batch(_message(), people)
    assert sorted(receipt.accepted) == [1, 2, 3, 4, 5, 6] and not receipt.rejected
    evil = email.message_from_bytes(channel.path_for(_message(), people[5]).read_bytes(), policy=email.policy.default)
    assert evil["Bcc"] is None and "\n" not in str(evil["To"])


def test_one_recipient_no_message_can_be_written_for_is_recorded_and_the_rest_go(tmp_path):
    channel = OutboxEmailChannel(tmp_path)
    people = [Recipient(n, f"r{n}@example.org", "", "") for n in range(1, 6)]
    people.insert(2, Recipient(99, "bad\r\nBcc: x@example.org", "", ""))
    receipt = channel.send_batch(_message(), people)
    assert sorted(receipt.accepted) == [1, 2, 3, 4, 5] and set(receipt.rejected) == {99}
    assert "no message could be written" in receipt.rejected[99]


def test_a_subject_with_a_line_break_is_refused_at_the_desk_and_changes_nothing(site):
    app, db = site
    edition_id = desk_data.seed_edition(db, app.state.syndicate.config, now=NOW)
    desk_data.seed_staff(db, "ed@example.org", "editor", now=NOW)
    client = TestClient(app)
    desk_data.sign_in(client, "ed@example.org")
    page = client.get(f"/desk/editions/{edition_id}")
    before = desk_data.edition(db, edition_id).subject
    response = client.post(f"/desk/editions/{edition_id}/edit",
                           data={"csrf_token": desk_data.csrf_from(page.text), "subject": "Hi\r\nBcc: all@example.org",
                                 "preheader": "", "intro": ""})
    assert response.status_code == 409 and "line break" in response.text
    assert desk_data.edition(db, edition_id).subject == before


def test_a_subject_with_a_line_break_from_an_older_ledger_cannot_add_a_header(tmp_path):
    channel = OutboxEmailChannel(tmp_path)
    mail = channel.render(_message("Hi {{first_name}}\r\nBcc: all@example.org"), Recipient(1, "a@example.org", "Ann"))
    assert mail["Bcc"] is None and mail["Subject"] == "Hi Ann Bcc: all@example.org"


def test_a_public_form_name_with_a_newline_is_refused_and_nothing_is_stored(site):
    app, db = site
    response = _subscribe(TestClient(app), "new@example.org", "Ann\r\nBcc: x@example.org")
    assert response.status_code == 400 and "control character" in response.text
    assert _row(db, "new@example.org") is None


@pytest.mark.parametrize("key", ["from_name", "title"])
def test_the_sender_name_and_subject_refuse_control_characters_in_the_config(tmp_path, key):
    config = desk_data.example_config(tmp_path)
    data = config.model_dump(mode="json")
    data["edition"][key] = "In Our View\r\nBcc: all@example.org"
    with pytest.raises(ValueError, match="control character"):
        type(config).model_validate(data)


# --- properties: any name, any part --------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_any_name_is_either_refused_or_printable_one_line_text_without_brackets(name):
    try:
        checked = check_name(name)
    except NameRefused as exc:
        assert str(exc)
        return
    assert "<" not in checked and ">" not in checked and "\n" not in checked and "\r" not in checked
    assert checked == checked.strip()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text(max_size=60))
def test_any_stored_name_renders_without_markup_or_extra_headers(tmp_path, name):
    import tempfile

    channel = OutboxEmailChannel(tempfile.mkdtemp(dir=tmp_path))  # a fresh outbox per example: this name's file
    person = Recipient(1, "reader@example.org", name, "https://u.example/t")
    receipt = channel.send_batch(_message(), [person])
    assert receipt.accepted == (1,) or set(receipt.rejected) == {1}
    if receipt.accepted:
        html = personalise("{{first_name}}", person, "html")
        assert "<" not in html and ">" not in html
        mail = email.message_from_bytes(channel.path_for(_message(), person).read_bytes(), policy=email.policy.default)
        assert set(mail.keys()) <= {"From", "To", "Reply-To", "Subject", "Date", "Message-ID", "List-Unsubscribe",
                                    "List-Unsubscribe-Post", "MIME-Version", "Content-Type", "X-Categories",
                                    "X-Syndicate-Fingerprint"}


def test_a_name_typed_on_the_desk_is_checked_like_every_other_door(site):
    app, db = site
    desk_data.seed_staff(db, "admin@example.org", "admin", now=NOW)
    client = TestClient(app)
    desk_data.sign_in(client, "admin@example.org")
    token = desk_data.csrf_from(client.get("/desk/subscribers").text)
    refused = client.post("/desk/subscribers/add", data={"csrf_token": token, "email": "new@example.org",
                                                          "name": "<script>alert(1)</script>"})
    assert refused.status_code == 400 and "angle brackets" in refused.text and "<script>alert" not in refused.text
    assert _row(db, "new@example.org") is None
