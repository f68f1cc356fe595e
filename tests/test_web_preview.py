"""The edition page's previews are the email a sample subscriber receives: both tabs personalised
as the channels personalise them, with the same fallback when there is no name."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

from fastapi.testclient import TestClient

from compose.signing import verify_click, verify_preferences, verify_unsubscribe
from connectors.channels.base import OutboundEmail, Recipient
from connectors.channels.outbox_email import OutboxEmailChannel
from state import clicks
from state.models import SubscriberRow
from tests.helpers import desk_data
from web.app import create_app

NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)
SECRET = "test-secret-key-0123456789abcdef"


def _desk(db, tmp_path, *, subscribers: int):
    config = desk_data.example_config(tmp_path)
    edition_id = desk_data.seed_edition(db, config, now=NOW)
    desk_data.seed_subscribers(db, subscribers, now=NOW)
    desk_data.seed_staff(db, "ed@example.org", "editor", now=NOW)
    client = TestClient(create_app(config=config, db=db, secret_key=SECRET, now=lambda: NOW, env={}))
    assert desk_data.sign_in(client, "ed@example.org").status_code == 303
    return client, edition_id


def _plain(page: str) -> str:
    found = re.search(r'<pre class="plain">(.*?)</pre>', page, re.S)
    assert found
    return html.unescape(found.group(1))


def _as_received(db, edition_id: int, name: str, tmp_path) -> str:
    """The text part exactly as the outbox channel writes it for a recipient called `name`, its
    article links (the click redirect, `state.clicks.as_sent`) replaced by where they lead."""
    row = desk_data.edition(db, edition_id)
    config = desk_data.example_config(tmp_path)
    html_part, text_part = clicks.as_sent(row, config, secret_key=SECRET)
    channel = OutboxEmailChannel(tmp_path / "received", now=NOW)
    message = OutboundEmail(edition_id=row.id, edition_slug=row.slug, subject=row.subject, html=html_part,
                            text=text_part, from_email="a@example.org", from_name="A", reply_to="a@example.org")
    mail = channel.render(message, Recipient(subscriber_id=1, email="r@example.org", name=name,
                                             unsubscribe_url="https://unsubscribe.example/x",
                                             preferences_url="https://preferences.example/x"))
    with db.session() as session:
        targets = clicks.link_targets(session, edition_id, config)

    def destination(found: re.Match[str]) -> str:
        edition, item, _ = verify_click(SECRET, found[1])
        assert edition == edition_id
        return targets[item]

    return re.sub(r"http://127\.0\.0\.1:8000/r/(\S+)", destination, mail.get_body(("plain",)).get_content())


def test_both_tabs_greet_the_sample_subscriber_by_name(db, tmp_path):
    client, edition_id = _desk(db, tmp_path, subscribers=2)
    page = client.get(f"/desk/editions/{edition_id}").text
    assert "{{first_name}}" not in page and "{{unsubscribe_url}}" not in page
    text = _plain(page)
    assert "Hello Reader," in text
    own = re.search(r"Manage your preferences: (\S+)", text).group(1)
    assert text.replace(re.search(r"Unsubscribe: (\S+)", text).group(1), "https://unsubscribe.example/x").replace(
        own, "https://preferences.example/x") == _as_received(db, edition_id, "Reader 1", tmp_path).replace("\r\n", "\n")
    assert verify_preferences(SECRET, own.rsplit("/", 1)[1], email="reader1@example.org", now=NOW) == 1
    assert "As Reader 1 (reader1@example.org) receives it" in page
    frame = client.get(f"/desk/editions/{edition_id}/email.html").text
    assert "Hello Reader," in frame and "{{" not in frame
    # the unsubscribe link is the sample subscriber's own, signed for this edition
    link = re.search(r'href="([^"]*/unsubscribe/[^"]+)"', frame).group(1)
    assert verify_unsubscribe(SECRET, link.rsplit("/", 1)[1], now=NOW)[1] == edition_id
    with db.session() as session:
        assert verify_unsubscribe(SECRET, link.rsplit("/", 1)[1], now=NOW)[0] == \
            session.query(SubscriberRow).filter_by(email="reader1@example.org").one().id


def test_without_a_name_both_tabs_use_the_channels_fallback(db, tmp_path):
    client, edition_id = _desk(db, tmp_path, subscribers=0)
    page = client.get(f"/desk/editions/{edition_id}").text
    assert "Hello there," in _plain(page)
    assert _plain(page) == _as_received(db, edition_id, "", tmp_path).replace(
        "https://unsubscribe.example/x", "http://127.0.0.1:8000/subscribe").replace(
        "https://preferences.example/x", "http://127.0.0.1:8000/preferences").replace("\r\n", "\n")
    assert "Hello there," in client.get(f"/desk/editions/{edition_id}/email.html").text


def test_a_subscriber_list_can_still_be_previewed_as_someone_with_no_name(db, tmp_path):
    client, edition_id = _desk(db, tmp_path, subscribers=2)
    page = client.get(f"/desk/editions/{edition_id}", params={"as": "noname"}).text
    assert "Hello there," in _plain(page) and "Hello Reader," not in _plain(page)
    assert f'src="/desk/editions/{edition_id}/email.html?as=noname"' in page
    assert "Hello there," in client.get(f"/desk/editions/{edition_id}/email.html", params={"as": "noname"}).text
