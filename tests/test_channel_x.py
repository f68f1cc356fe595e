"""XChannel against the fake X API at the wire (real tweepy, real requests, real sockets)."""

from __future__ import annotations

import dataclasses
import logging

import pytest

from connectors.channels.x import XChannel
from connectors.errors import (
    AuthError,
    DuplicateContentError,
    PermanentError,
    ReplyNotAllowedError,
    TransientError,
)
from tests.fakes import fake_x
from tests.fakes.fake_x import FakeX
from tests.fakes.server import Fault
from tests.helpers.channel_images import card_attachment, image_attachment

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


# --- images ------------------------------------------------------------------------------------------


@pytest.fixture
def pauses():
    return []


@pytest.fixture
def media_channel(fake, pauses):
    _, server = fake
    env = {**SECRETS, "X_API_BASE_URL": server.url}
    channel = XChannel(api_key=env["X_API_KEY"], api_secret=env["X_API_SECRET"], access_token=env["X_ACCESS_TOKEN"],
                       access_token_secret=env["X_ACCESS_TOKEN_SECRET"], base_url=server.url, timeout_s=2.0,
                       clock=lambda: NOW, sleep=pauses.append)
    yield channel
    channel.close()


def media_paths(server) -> list[str]:
    return [f"{r.method} {r.path}" for r in server.requests if "/2/media" in r.path]


def test_images_are_class_data_and_cards_are_left_to_x():
    assert XChannel.builds_cards is False
    assert XChannel.image_limits.max_bytes == 5 * 1024 * 1024 and XChannel.image_limits.max_alt_chars == 1000
    assert set(XChannel.image_limits.mime_types) == {"image/jpeg", "image/png", "image/webp", "image/gif"}


def test_a_small_image_is_uploaded_in_one_request_with_its_alt_text(fake, media_channel):
    state, server = fake
    attachment = image_attachment()
    media_id = media_channel.upload(attachment, thread_key="t")
    receipt = media_channel.publish("1/2 Councils adopt standards", attachment=attachment, media_ref=media_id,
                                    thread_key="t")
    assert media_paths(server) == ["POST /2/media/upload", "POST /2/media/metadata"]
    upload = state.media[media_id]
    assert upload["data"] == attachment.image.data and upload["alt"] == attachment.image.alt
    assert state.post(receipt.provider_id)["media_ids"] == [media_id] and state.invalid_bodies == []
    signed = [r.headers["authorization"] for r in server.requests if "/2/media" in r.path]
    assert all(h.startswith("OAuth ") and "oauth_signature=" in h for h in signed)
    assert server.requests_to("/2/tweets", "POST")[0].json()["media"] == {"media_ids": [media_id]}


def test_a_large_image_goes_in_chunks_and_waits_for_processing(fake, media_channel, pauses):
    state, server = fake
    state.processing_rounds = 2
    attachment = image_attachment(700, 520, noise=True)
    size = len(attachment.image.data)
    assert XChannel.chunk_bytes < size <= XChannel.image_limits.max_bytes
    media_id = media_channel.upload(attachment)
    chunks = -(-size // XChannel.chunk_bytes)
    assert media_paths(server) == (["POST /2/media/upload/initialize"]
                                   + [f"POST /2/media/upload/{media_id}/append"] * chunks
                                   + [f"POST /2/media/upload/{media_id}/finalize", "GET /2/media/upload",
                                      "GET /2/media/upload", "POST /2/media/metadata"])
    assert state.media[media_id]["data"] == attachment.image.data and state.media[media_id]["state"] == "succeeded"
    assert pauses == [1.0, 1.0] and state.invalid_bodies == []  # X's check_after_secs, never a hot loop
    assert server.requests_to("/2/media/upload", "GET")[0].query == {"command": ["STATUS"], "media_id": [media_id]}
    media_channel.publish("with a big picture", attachment=attachment, media_ref=media_id)


def test_an_image_still_processing_after_the_wait_is_transient(fake, media_channel, monkeypatch):
    state, _ = fake
    state.processing_rounds = 50
    monkeypatch.setattr(XChannel, "media_processing_wait_s", 3.0)
    with pytest.raises(TransientError, match="still processing") as caught:
        media_channel.upload(image_attachment(700, 520, noise=True))
    assert caught.value.retry_after_s == 3.0


def test_a_card_is_not_uploaded_x_builds_it(fake, media_channel):
    _, server = fake
    assert media_channel.upload(card_attachment()) is None
    assert server.requests == []


def test_an_image_over_the_limit_is_refused_before_sending(fake, media_channel, monkeypatch):
    _, server = fake
    with pytest.raises(PermanentError, match="does not take this image") as caught:
        media_channel.upload(image_attachment(1400, 1300, noise=True))
    assert "5242880" in caught.value.hint and server.requests == []


def test_x_refusing_an_oversized_image_is_permanent(fake, media_channel, monkeypatch):
    state, server = fake
    bigger = dataclasses.replace(XChannel.image_limits, max_bytes=10 * 1024 * 1024)
    monkeypatch.setattr(XChannel, "image_limits", bigger)  # our check off: the fake's own refusal
    with pytest.raises(PermanentError) as caught:
        media_channel.upload(image_attachment(1400, 1300, noise=True))
    assert caught.value.status == 400 and "exceeds" in caught.value.provider_message
    assert media_paths(server) == ["POST /2/media/upload/initialize"] and state.media == {}


@pytest.mark.parametrize(("fault", "error", "status"), [
    (fake_x.unauthorized(), AuthError, 401),
    (fake_x.rate_limited(reset_at=int(NOW) + 300), TransientError, 429),
    (fake_x.server_error(503), TransientError, 503),
    (fake_x.oversized_image(), PermanentError, 400),
])
def test_upload_errors_map_to_our_tree(fake, media_channel, fault, error, status):
    _, server = fake
    fault.path = "/2/media/upload"
    server.inject(fault)
    with pytest.raises(error) as caught:
        media_channel.upload(image_attachment())
    assert type(caught.value) is error and caught.value.status == status and caught.value.hint
    if status == 429:
        assert caught.value.retry_after_s == pytest.approx(300)


def test_an_upload_that_lost_its_answer_is_made_again_safely(fake, media_channel):
    state, server = fake
    server.inject(Fault(accept=True, reset=True, path="/2/media/upload"))
    attachment = image_attachment()
    with pytest.raises(TransientError, match="no answer") as caught:
        media_channel.upload(attachment)
    assert "safe" in caught.value.hint and len(state.media) == 1  # an orphan X lets expire, never shown
    media_id = media_channel.upload(attachment)
    receipt = media_channel.publish("after a lost upload", attachment=attachment, media_ref=media_id)
    assert state.post(receipt.provider_id)["media_ids"] == [media_id] and len(state.posts) == 1


def test_a_post_with_media_x_does_not_know_is_refused(fake, media_channel):
    state, _ = fake
    with pytest.raises(PermanentError) as caught:
        media_channel.publish("with a stranger's image", attachment=image_attachment(), media_ref="1234567")
    assert caught.value.status == 400 and state.posts == []
    with pytest.raises(PermanentError, match="not uploaded"):
        media_channel.publish("image never uploaded", attachment=image_attachment(), media_ref=None)


def test_an_image_without_alt_text_is_never_uploaded(fake, media_channel):
    _, server = fake
    with pytest.raises(PermanentError, match="alt text"):
        media_channel.upload(image_attachment(alt="  "))
    assert server.requests == []


def test_the_fake_validates_media_requests_against_the_spec():
    complaint, _ = fake_x.validate_media("POST", "/2/media/upload/initialize", b'{"media_type": "image/png", '
                                         b'"total_bytes": 10, "media_category": "banner"}', "application/json", {},
                                         "OAuth x")
    assert complaint and "banner" in complaint
    complaint, _ = fake_x.validate_media("POST", "/2/media/metadata", b'{"id": "1", "metadata": {"alt_text": '
                                         b'{"text": "' + b"a" * 1001 + b'"}}}', "application/json", {}, "OAuth x")
    assert complaint
    complaint, body = fake_x.validate_media("POST", "/2/media/metadata", b'{"id": "1", "metadata": {"alt_text": '
                                            b'{"text": "a chart"}}}', "application/json", {}, "OAuth x")
    assert complaint is None and body["metadata"]["alt_text"]["text"] == "a chart"


def test_an_upload_never_shows_a_secret_in_debug_logs(fake, media_channel, caplog):
    with caplog.at_level(logging.DEBUG):
        media_channel.upload(image_attachment(700, 520, noise=True))
    assert caplog.records and "oauth" in caplog.text.lower()  # the signing is logged, redacted
    for name in ("X_API_SECRET", "X_ACCESS_TOKEN", "X_ACCESS_TOKEN_SECRET"):
        assert SECRETS[name] not in caplog.text
