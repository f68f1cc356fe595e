"""XChannel against the fake X API at the wire (real tweepy, real requests, real sockets)."""

from __future__ import annotations

import pytest

from connectors.channels.x import XChannel
from connectors.errors import (
    DuplicateContentError,
    PermanentError,
    ReplyNotAllowedError,
    TransientError,
)
from tests.fakes import fake_x
from tests.fakes.fake_x import FakeX

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
    channel = XChannel.from_env({**SECRETS, "X_API_BASE_URL": server.url}, timeout_s=2.0, clock=lambda: NOW)
    yield channel
    channel.close()


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
