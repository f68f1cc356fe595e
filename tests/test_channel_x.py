"""XChannel against the fake X API at the wire (real tweepy, real requests, real sockets)."""

from __future__ import annotations

import logging
import time

import pytest

from connectors.channels.x import XChannel
from connectors.errors import (
    AmbiguousError,
    AuthError,
    DuplicateContentError,
    PermanentError,
    ReplyNotAllowedError,
    TransientError,
)
from tests.fakes import fake_x
from tests.fakes.fake_x import FakeX
from tests.fakes.server import closed_port_url

SECRETS = {"X_API_KEY": "ck-public-key-1", "X_API_SECRET": "cs-SECRET-5f2a9e",
           "X_ACCESS_TOKEN": "12345-at-TOKEN-77c1", "X_ACCESS_TOKEN_SECRET": "ats-SECRET-d41d8c"}
NOW = 1_800_000_000.0


@pytest.fixture
def fake():
    state = FakeX(consumer_key=SECRETS["X_API_KEY"], access_token=SECRETS["X_ACCESS_TOKEN"])
    with state.server() as server:
        yield state, server


@pytest.fixture
def channel(fake):
    _, server = fake
    channel = XChannel.from_env({**SECRETS, "X_API_BASE_URL": server.url}, timeout_s=0.5, clock=lambda: NOW)
    yield channel
    channel.close()


def test_from_env_without_credentials_gives_none():
    assert XChannel.from_env({}) is None
    assert XChannel.from_env({**SECRETS, "X_ACCESS_TOKEN_SECRET": ""}) is None


def test_limits_are_class_data():
    assert XChannel.max_weighted_length == 280 and XChannel.rules.name == "x"


def test_a_three_post_thread_lands_as_a_reply_chain(fake, channel):
    state, server = fake
    ids, previous = [], None
    for text in ("1/3 This week in In Our View", "2/3 Councils adopt standards https://socitm.net/a", "3/3 Subscribe"):
        receipt = channel.publish(text, reply_to=previous, thread_key="2026-11-26-x")
        ids.append(receipt.provider_id)
        previous = receipt.provider_id
    assert [p["in_reply_to"] for p in state.posts] == [None, ids[0], ids[1]]
    assert [p["id"] for p in state.posts] == ids and state.invalid_bodies == []
    bodies = [r.json() for r in server.requests_to("/2/tweets", "POST")]
    assert bodies[1] == {"text": state.posts[1]["text"], "reply": {"in_reply_to_tweet_id": ids[0]}}
    assert all(r.headers["authorization"].startswith("OAuth ") for r in server.requests)


def test_the_fake_rejects_a_body_the_spec_forbids(fake, channel):
    state, _ = fake
    with pytest.raises(PermanentError) as caught:
        channel.publish("reply to nothing", reply_to="not-a-number")
    assert caught.value.status == 400 and "does not match" in state.invalid_bodies[0]


@pytest.mark.parametrize(("fault", "error", "status"), [
    (fake_x.duplicate(), DuplicateContentError, 403),
    (fake_x.reply_not_allowed(), ReplyNotAllowedError, 403),
    (fake_x.unauthorized(), AuthError, 401),
    (fake_x.server_error(500), TransientError, 500),
    (fake_x.server_error(503), TransientError, 503),
])
def test_errors_map_to_our_tree(fake, channel, fault, error, status):
    _, server = fake
    server.inject(fault)
    with pytest.raises(error) as caught:
        channel.publish("hello")
    assert type(caught.value) is error and caught.value.status == status and caught.value.hint


def test_a_real_duplicate_is_refused(fake, channel):
    channel.publish("same words")
    with pytest.raises(DuplicateContentError):
        channel.publish("same words")


def test_wrong_credentials_are_an_auth_error(fake):
    _, server = fake
    channel = XChannel.from_env({**SECRETS, "X_ACCESS_TOKEN": "someone-else", "X_API_BASE_URL": server.url})
    with pytest.raises(AuthError):
        channel.publish("hello")


def test_429_waits_until_the_reset_header(fake, channel):
    _, server = fake
    server.inject(fake_x.rate_limited(reset_at=int(NOW) + 120))
    with pytest.raises(TransientError) as caught:
        channel.publish("hello")
    assert caught.value.retry_after_s == 120 and caught.value.status == 429


def test_429_without_reset_header_waits_conservatively_and_sends_once(fake, channel):
    _, server = fake
    server.inject(fake_x.rate_limited())
    with pytest.raises(TransientError) as caught:
        channel.publish("hello")
    assert caught.value.retry_after_s == XChannel.default_rate_limit_wait_s == 900
    assert len(server.requests) == 1  # tweepy's wait_on_rate_limit would retry in a hot loop


def test_timeout_after_the_post_was_accepted_is_ambiguous(fake, channel):
    state, server = fake
    server.inject(fake_x.accepted_but_slow(delay_s=1.5))
    started = time.monotonic()
    with pytest.raises(AmbiguousError):
        channel.publish("slow")
    assert time.monotonic() - started < 1.4  # our timeout (0.5 s) applied: tweepy sets none
    assert [p["text"] for p in state.posts] == ["slow"]


def test_connection_reset_mid_request_is_ambiguous(fake, channel):
    _, server = fake
    server.inject(fake_x.accepted_then_reset())
    with pytest.raises(AmbiguousError):
        channel.publish("reset")


def test_connection_refused_is_transient():
    channel = XChannel(api_key="a", api_secret="b", access_token="c", access_token_secret="d",
                       base_url=closed_port_url(), timeout_s=0.5)
    with pytest.raises(TransientError, match="could not connect"):
        channel.publish("hello")


def test_secrets_never_in_repr_or_logs(fake, channel, caplog):
    _, server = fake
    caplog.set_level(logging.DEBUG)
    channel.publish("logged post")
    server.inject(fake_x.unauthorized())
    with pytest.raises(AuthError) as caught:
        channel.publish("refused post")
    shown = repr(channel) + str(channel) + caplog.text + str(caught.value)
    assert "published post" in caplog.text
    for name in ("X_API_SECRET", "X_ACCESS_TOKEN", "X_ACCESS_TOKEN_SECRET"):
        assert SECRETS[name] not in shown, name


def test_find_post_finds_a_reply_by_text_and_parent_as_x_serves_it(fake, channel):
    state, server = fake
    text = "Councils & <standards> https://socitm.net/a?x=1&y=2 #localgov"
    first = channel.publish(text)
    second = channel.publish("2/2 more", reply_to=first.provider_id)
    served = [r for r in server.requests if r.method == "GET"]
    assert served == []
    assert channel.find_post(text, reply_to=None) == first
    assert channel.find_post("2/2 more", reply_to=first.provider_id) == second
    assert channel.find_post("2/2 more", reply_to=None) is None  # same text, not a reply: not ours
    assert channel.find_post("never posted", reply_to=second.provider_id) is None
    reads = server.requests_to(f"/2/users/{state.user_id}/tweets", "GET")
    assert reads and all(r.headers["authorization"].startswith("OAuth ") for r in reads)
    assert reads[1].query["since_id"] == [first.provider_id] and state.invalid_bodies == []
    assert len(server.requests_to("/2/users/me", "GET")) == 1  # the account id is asked once


def test_find_post_pages_through_the_timeline(fake, channel, monkeypatch):
    state, _ = fake
    monkeypatch.setattr(XChannel, "lookup_page_size", 5)
    oldest = channel.publish("the oldest post")
    for n in range(9):
        channel.publish(f"filler {n}")
    assert channel.find_post("the oldest post") == oldest
    assert state.reads == 2


def test_the_fake_validates_reads_against_the_spec():
    assert fake_x.validate_read("/2/users/1/tweets", {"max_results": ["500"]}, "OAuth x")
    assert fake_x.validate_read("/2/users/1/tweets", {"since_id": ["abc"]}, "OAuth x")
    assert fake_x.validate_read("/2/users/1/tweets", {"max_results": ["100"]}, "OAuth x") is None


@pytest.mark.parametrize(("fault", "error"), [
    (fake_x.server_error(503), TransientError),
    (fake_x.unauthorized(), AuthError),
    (fake_x.accepted_then_reset(), TransientError),
])
def test_a_failed_lookup_raises_and_never_says_not_found(fake, channel, fault, error):
    _, server = fake
    fault.path = "/2/users/"
    server.inject(fault)
    with pytest.raises(error):
        channel.find_post("anything")
