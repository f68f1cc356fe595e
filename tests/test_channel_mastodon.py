"""MastodonChannel against the fake instance at the wire (real Mastodon.py and requests)."""

from __future__ import annotations

import time

import pytest

from connectors.channels.mastodon import MastodonChannel, idempotency_key
from connectors.errors import AmbiguousError, AuthError, PermanentError, TransientError
from tests.fakes.fake_mastodon import FakeMastodon
from tests.fakes.server import Fault

TOKEN = "mastodon-TOKEN-secret-93b1"
NOW = 1_800_000_000.0


@pytest.fixture
def fake():
    state = FakeMastodon(access_token=TOKEN)
    with state.server() as server:
        yield state, server


@pytest.fixture
def channel(fake):
    _, server = fake
    env = {"MASTODON_ACCESS_TOKEN": TOKEN, "MASTODON_API_BASE_URL": server.url}
    channel = MastodonChannel.from_env(env, timeout_s=2.0, clock=lambda: NOW)
    yield channel
    channel.close()


def test_construction_makes_no_request(fake, channel):
    _, server = fake
    assert server.requests == []  # version check off: Mastodon.py calls nothing at init


def test_a_three_post_thread_lands_as_a_reply_chain(fake, channel):
    state, server = fake
    ids, previous = [], None
    for text in ("This week in In Our View", "Councils adopt standards https://socitm.net/a", "Subscribe"):
        previous = channel.publish(text, reply_to=previous, thread_key="2026-11-26-mastodon").provider_id
        ids.append(previous)
    assert [s["in_reply_to_id"] for s in state.statuses] == [None, ids[0], ids[1]]
    keys = [r.headers["idempotency-key"] for r in server.requests_to("/api/v1/statuses", "POST")]
    assert len(set(keys)) == 3 and keys[1] == idempotency_key(state.texts[ids[1]], reply_to=ids[0],
                                                             thread_key="2026-11-26-mastodon")


def test_a_retry_after_an_unanswered_request_does_not_duplicate(fake, channel):
    state, server = fake
    server.inject(Fault(accept=True, delay_s=5.0))
    started = time.monotonic()
    with pytest.raises(AmbiguousError):
        channel.publish("slow post", thread_key="t")
    assert time.monotonic() - started < 4.5  # our 2 s timeout, not Mastodon.py's 300 s
    receipt = channel.publish("slow post", thread_key="t")
    assert len(state.statuses) == 1 and receipt.provider_id == state.statuses[0]["id"]


@pytest.mark.parametrize(("fault", "error", "status"), [
    (Fault(status=403, json={"error": "This action is not allowed"}), AuthError, 403),
    (Fault(status=500, json={"error": "Internal"}), TransientError, 500),
    (Fault(status=503, json={"error": "Unavailable"}), TransientError, 503),
    (Fault(status=422, json={"error": "Validation failed: Text can't be blank"}), PermanentError, 422),
])
def test_errors_map_to_our_tree(fake, channel, fault, error, status):
    _, server = fake
    server.inject(fault)
    with pytest.raises(error) as caught:
        channel.publish("hello")
    assert type(caught.value) is error and caught.value.status == status


def test_too_long_and_reply_to_unknown_are_permanent(fake, channel):
    with pytest.raises(PermanentError, match="422"):
        channel.publish("x" * 501)
    with pytest.raises(PermanentError, match="404"):
        channel.publish("hello", reply_to="999")


def test_configured_instance_limit_and_url(fake):
    from tests.test_posts import _config

    _, server = fake
    config = _config(social={"mastodon": {"max_characters": 1000, "instance_url": server.url}})
    channel = MastodonChannel.from_env({"MASTODON_ACCESS_TOKEN": TOKEN}, config=config)
    assert channel.max_weighted_length == 1000 and channel.api_base_url == server.url
    assert MastodonChannel.max_weighted_length == 500


def test_find_post_reads_the_text_back_from_the_status_html(fake, channel):
    _, server = fake
    text = "Councils & <standards>\n\nRead https://socitm.net/a-long-path/that-goes-on?x=1&y=2 #localgov\nbye"
    first = channel.publish(text, thread_key="t")
    second = channel.publish("2/2", reply_to=first.provider_id, thread_key="t")
    assert channel.find_post(text, reply_to=None) == first
    assert channel.find_post("2/2", reply_to=first.provider_id) == second
    assert channel.find_post("2/2", reply_to=None) is None
    assert channel.find_post("never posted", reply_to=second.provider_id) is None
    reads = server.requests_to("/api/v1/accounts/109000000000000001/statuses", "GET")
    assert reads[1].query["since_id"] == [first.provider_id]
