"""SendGridChannel against a fake SendGrid at the wire (the real `sendgrid` library runs)."""

from __future__ import annotations

import pytest

from compose.config import Config
from connectors.channels.base import OutboundEmail, Recipient
from connectors.channels.sendgrid import SendGridChannel
from connectors.errors import AmbiguousError, AuthError, PermanentError, TransientError
from tests.fakes.fake_sendgrid import FakeSendGrid, mail_send_validator
from tests.fakes.server import Fault

KEY = "SG.test-key"
MESSAGE = OutboundEmail(
    edition_id=7, edition_slug="2026-11-26", subject="In Our View: {{first_name}}",
    html="<p>Hello {{first_name}}</p><a href='{{unsubscribe_url}}'>Unsubscribe</a>",
    text="Hello {{first_name}}\nUnsubscribe: {{unsubscribe_url}}", from_email="news@example.org",
    from_name="Example News", reply_to="editors@example.org", categories=("in-our-view",),
    list_unsubscribe_mailto="mailto:editors@example.org?subject=unsubscribe",
)


def people(n: int, start: int = 1) -> list[Recipient]:
    return [Recipient(i, f"person{i}@example.com", f"Person {i}", f"https://news.example.org/unsubscribe/t{i}",
                      preferences_url=f"https://news.example.org/preferences/p{i}")
            for i in range(start, start + n)]


@pytest.fixture
def fake():
    with FakeSendGrid(api_key=KEY) as server:
        yield server


@pytest.fixture
def channel(fake):
    ch = SendGridChannel(KEY, host=fake.url, timeout_s=2.0)
    yield ch
    ch.close()


def test_one_request_per_batch_with_a_personalization_each(fake, channel):
    recipients = [*people(2), Recipient(9, "PERSON1@example.com", "", "https://news.example.org/unsubscribe/t9")]
    receipt = channel.send_batch(MESSAGE, recipients)
    assert receipt.accepted == (1, 2)
    assert 9 in receipt.rejected and "same address" in receipt.rejected[9]
    assert receipt.provider_id
    [request] = fake.server.requests_to("/v3/mail/send")
    assert request.headers["authorization"] == f"Bearer {KEY}"
    body = request.json()
    assert not list(mail_send_validator().iter_errors(body))
    first = body["personalizations"][0]
    assert first["to"] == [{"email": "person1@example.com", "name": "Person 1"}]
    assert first["substitutions"] == {"{{first_name}}": "Person",
                                      "{{unsubscribe_url}}": "https://news.example.org/unsubscribe/t1",
                                      "{{first_name_html}}": "Person",
                                      "{{unsubscribe_url_html}}": "https://news.example.org/unsubscribe/t1",
                                      "{{preferences_url}}": "https://news.example.org/preferences/p1",
                                      "{{preferences_url_html}}": "https://news.example.org/preferences/p1"}
    assert first["headers"] == {
        "List-Unsubscribe": "<https://news.example.org/unsubscribe/t1>, <mailto:editors@example.org?subject=unsubscribe>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
    assert first["custom_args"] == {"edition_id": "7", "subscriber_id": "1"}
    assert body["tracking_settings"]["subscription_tracking"] == {"enable": False}
    assert body["mail_settings"]["sandbox_mode"] == {"enable": False}
    assert [c["type"] for c in body["content"]] == ["text/plain", "text/html"]
    assert body["categories"] == ["in-our-view"]
    assert fake.received == {1: 1, 2: 1}


def test_the_class_limits_are_the_specs(fake, channel):
    """`max_batch_size` and `max_categories` are SendGrid's own maxItems; a full batch is one valid
    request (a larger one is refused locally: tests/test_contract_channels.py)."""
    schema = mail_send_validator().schema["properties"]
    assert SendGridChannel.max_batch_size == schema["personalizations"]["maxItems"] == 1000
    assert SendGridChannel.max_categories == schema["categories"]["maxItems"]
    assert len(channel.send_batch(MESSAGE, people(1000)).accepted) == 1000
    assert len(fake.server.requests_to("/v3/mail/send")) == 1
    many = OutboundEmail(**{**{f: getattr(MESSAGE, f) for f in MESSAGE.__slots__},
                            "categories": tuple(f"c{n}" for n in range(SendGridChannel.max_categories + 5))})
    channel.send_batch(many, people(1))
    assert len(fake.server.requests[-1].json()["categories"]) == SendGridChannel.max_categories


def test_sandbox_mode_comes_from_config(fake):
    config = Config.model_validate({
        "organisation": {"name": "Org", "site_url": "https://example.org", "postal_address": "1 Road, Town"},
        "edition": {"from_email": "a@example.org", "from_name": "A", "reply_to": "b@example.org"},
        "sections": [{"key": "news", "title": "News"}], "email": {"provider": "sendgrid", "sandbox_mode": True},
    })
    assert SendGridChannel.from_env({}, config=config) is None
    ch = SendGridChannel.from_env({"SENDGRID_API_KEY": KEY, "SENDGRID_API_HOST": fake.url}, config=config)
    assert ch is not None and ch.host == fake.url and ch._client.client.timeout == 30.0
    ch.send_batch(MESSAGE, people(1))
    assert fake.server.requests[-1].json()["mail_settings"]["sandbox_mode"] == {"enable": True}


def test_400_is_permanent_with_sendgrids_message(fake, channel):
    fake.server.inject(Fault(status=400, json={"errors": [{"message": "The from address does not match a verified "
                                                                      "Sender Identity", "field": "from"}]}))
    with pytest.raises(PermanentError) as caught:
        channel.send_batch(MESSAGE, people(2))
    assert caught.value.status == 400 and "verified Sender Identity" in caught.value.provider_message
    assert "(field from)" in caught.value.provider_message


def test_a_body_the_spec_refuses_is_a_400_from_the_fake(fake, channel):
    bad = OutboundEmail(**{**{f: getattr(MESSAGE, f) for f in MESSAGE.__slots__}, "subject": ""})
    with pytest.raises(PermanentError) as caught:
        channel.send_batch(bad, people(1))
    assert caught.value.status == 400 and "subject" in caught.value.provider_message
    assert fake.received == {}


def test_403_is_an_auth_error(fake, channel):
    fake.server.inject(Fault(status=403, json={"errors": [{"message": "access forbidden"}]}))
    with pytest.raises(AuthError):
        channel.send_batch(MESSAGE, people(1))


def test_413_asks_for_a_split(fake, channel):
    fake.max_bytes = 2_000
    with pytest.raises(PermanentError) as caught:
        channel.send_batch(MESSAGE, people(50))
    assert caught.value.status == 413


@pytest.mark.parametrize("status", [500, 503])
def test_sendgrid_server_errors_mean_not_processed_and_are_retried_later(fake, channel, status):
    fake.server.inject(Fault(status=status, json={"errors": [{"message": "service unavailable"}]},
                             headers={"Retry-After": "2"}))
    with pytest.raises(TransientError) as caught:
        channel.send_batch(MESSAGE, people(3))
    assert caught.value.status == status and caught.value.retry_after_s == 2.0
    assert sum(fake.received.values()) == 0
    channel.send_batch(MESSAGE, people(3))  # the retry goes through once
    assert fake.received == {1: 1, 2: 1, 3: 1}


@pytest.mark.parametrize("status", [502, 504])
def test_gateway_5xx_after_the_body_left_is_ambiguous(fake, channel, status):
    fake.server.inject(Fault(status=status, json={"errors": [{"message": "internal server error"}]}, accept=True))
    with pytest.raises(AmbiguousError) as caught:
        channel.send_batch(MESSAGE, people(3))
    assert caught.value.status == status
    assert sum(fake.received.values()) == 3  # the case that makes a blind retry dangerous
