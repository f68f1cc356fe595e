"""BlueskyChannel against the fake PDS at the wire (real atproto SDK and httpx)."""

from __future__ import annotations

import pytest

from connectors.channels.bluesky import BlueskyChannel, facet_spans
from connectors.errors import AuthError, PermanentError, TransientError
from tests.fakes.fake_bluesky import FakeBluesky
from tests.fakes.server import Fault

HANDLE, PASSWORD = "socitm.bsky.social", "abcd-SECRET-efgh-ijkl"
NOW = 1_800_000_000.0


@pytest.fixture
def fake():
    state = FakeBluesky(handle=HANDLE, app_password=PASSWORD)
    with state.server() as server:
        yield state, server


@pytest.fixture
def channel(fake):
    _, server = fake
    env = {"BLUESKY_HANDLE": HANDLE, "BLUESKY_APP_PASSWORD": PASSWORD, "BLUESKY_SERVICE_URL": server.url}
    channel = BlueskyChannel.from_env(env, timeout_s=2.0, clock=lambda: NOW)
    yield channel
    channel.close()


def test_facets_count_utf8_bytes():
    text = "héllo 👩‍👩‍👧 https://socitm.net/x #localgov"
    spans = facet_spans(text)
    encoded = text.encode("utf-8")
    assert [(encoded[s:e].decode(), kind, value) for s, e, kind, value in spans] == [
        ("https://socitm.net/x", "link", "https://socitm.net/x"), ("#localgov", "tag", "localgov")]
    assert spans[0][0] == 26  # 26 bytes, though only 14 characters, precede the link


def test_a_three_post_thread_lands_as_a_reply_chain_with_root_and_parent(fake, channel):
    state, _ = fake
    previous = None
    for text in ("This week in In Our View 🧵", "Councils adopt standards https://socitm.net/a #localgov", "Subscribe"):
        previous = channel.publish(text, reply_to=previous, thread_key="2026-11-26-bluesky").provider_id
    root = {"uri": state.posts[0]["uri"], "cid": state.posts[0]["cid"]}
    assert [p["parent"] for p in state.posts] == [None, state.posts[0]["uri"], state.posts[1]["uri"]]
    assert [p["root"] for p in state.posts] == [None, root, root]
    assert state.posts[1]["facets"][0]["features"][0]["uri"] == "https://socitm.net/a"
    assert previous.split("|")[2:] == [root["uri"], root["cid"]] and state.sessions == 1


def test_a_bad_reply_reference_is_permanent(fake, channel):
    with pytest.raises(PermanentError, match="not a post reference"):
        channel.publish("hello", reply_to="just-an-id")


@pytest.mark.parametrize(("fault", "error", "status"), [
    (Fault(status=401, json={"error": "ExpiredToken", "message": "Token has expired"}), AuthError, 401),
    (Fault(status=500, json={"error": "InternalServerError", "message": "x"}), TransientError, 500),
    (Fault(status=502, json={"error": "UpstreamFailure", "message": "x"}), TransientError, 502),
    (Fault(status=400, json={"error": "InvalidRequest", "message": "bad record"}), PermanentError, 400),
])
def test_errors_map_to_our_tree(fake, channel, fault, error, status):
    _, server = fake
    channel.publish("warm up: logs in")
    server.inject(fault)
    with pytest.raises(error) as caught:
        channel.publish("hello")
    assert type(caught.value) is error and caught.value.status == status


def test_find_post_finds_records_with_their_reply_references(fake, channel, monkeypatch):
    state, _ = fake
    first = channel.publish("1/3 In Our View https://socitm.net/a #localgov")
    second = channel.publish("2/3 more", reply_to=first.provider_id)
    third = channel.publish("3/3 end", reply_to=second.provider_id)
    assert channel.find_post("1/3 In Our View https://socitm.net/a #localgov") == first
    assert channel.find_post("2/3 more", reply_to=first.provider_id) == second
    found = channel.find_post("3/3 end", reply_to=second.provider_id)
    assert found == third and found.provider_id.split("|")[2] == state.posts[0]["uri"]  # root kept for the next reply
    assert channel.find_post("3/3 end", reply_to=None) is None
    monkeypatch.setattr(BlueskyChannel, "lookup_limit", 1)
    assert channel.find_post("1/3 In Our View https://socitm.net/a #localgov") == first  # three pages
    monkeypatch.setattr(BlueskyChannel, "lookup_pages", 2)
    assert channel.find_post("1/3 In Our View https://socitm.net/a #localgov") is None  # beyond the window
