"""MastodonChannel against the fake instance at the wire (real Mastodon.py and requests)."""

from __future__ import annotations

import logging
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compose.post_length import rules_for
from connectors.channels.base import ImageLimits
from connectors.channels.mastodon import (
    MastodonChannel,
    idempotency_key,
    instance_limits,
    with_instance_limits,
)
from connectors.channels.mastodon_instance import (
    CACHE_TTL_S,
    DEFAULT_LIMITS,
    InstanceLimits,
    cache_file,
    parse_instance,
)
from connectors.errors import AmbiguousError, AuthError, PermanentError, TransientError
from tests.fakes.fake_mastodon import FakeMastodon, expired_token, rate_limited, schema_complaint
from tests.fakes.server import Fault, closed_port_url
from tests.helpers.channel_images import card_attachment, image_attachment
from tests.test_posts import _config

TOKEN = "mastodon-TOKEN-secret-93b1"
NOW = 1_800_000_000.0


@pytest.fixture
def fake():
    state = FakeMastodon(access_token=TOKEN)
    with state.server() as server:
        yield state, server


@pytest.fixture
def pauses():
    return []


@pytest.fixture
def channel(fake, tmp_path, pauses):
    _, server = fake
    channel = MastodonChannel(api_base_url=server.url, access_token=TOKEN, timeout_s=2.0, clock=lambda: NOW,
                              cache_dir=tmp_path / "cache", sleep=pauses.append)
    yield channel
    channel.close()


def test_construction_makes_no_request(fake, tmp_path):
    _, server = fake
    env = {"MASTODON_ACCESS_TOKEN": TOKEN, "MASTODON_API_BASE_URL": server.url}
    channel = MastodonChannel.from_env(env, config=_config(social={"mastodon": {"enabled": True}}), timeout_s=2.0,
                                       cache_dir=tmp_path)
    assert channel is not None and channel.max_weighted_length == 500
    assert server.requests == []  # version check off, the instance cache only read: nothing asked at init
    channel.close()


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


# --- the instance's limits ----------------------------------------------------------------------------


def test_the_instance_limits_are_read_once_a_day_and_cached(fake, tmp_path):
    state, server = fake
    state.max_characters, state.image_size_limit = 1000, 8 * 1024 * 1024
    clock = [NOW]
    limits = instance_limits(server.url, cache_dir=tmp_path, clock=lambda: clock[0])
    assert (limits.max_characters, limits.characters_reserved_per_url, limits.max_media_attachments) == (1000, 23, 4)
    assert limits.image == ImageLimits(max_bytes=8 * 1024 * 1024, max_edge_px=5760,  # isqrt(7680 x 4320)
                                       mime_types=("image/jpeg", "image/png", "image/webp", "image/gif"),
                                       max_alt_chars=1500)
    assert limits.source == "instance" and cache_file(server.url, tmp_path).exists()
    clock[0] += CACHE_TTL_S - 1
    assert instance_limits(server.url, cache_dir=tmp_path, clock=lambda: clock[0]).source == "cache"
    assert state.instance_reads == 1
    state.max_characters = 5000
    clock[0] += 2  # a day old: read again
    assert instance_limits(server.url, cache_dir=tmp_path, clock=lambda: clock[0]).max_characters == 5000
    assert state.instance_reads == 2 and [r.path for r in server.requests] == ["/api/v2/instance"] * 2


def test_a_failed_read_falls_back_with_a_warning(fake, tmp_path, caplog):
    state, server = fake
    unreachable = closed_port_url()
    with caplog.at_level(logging.WARNING):
        limits = instance_limits(unreachable, cache_dir=tmp_path, clock=lambda: NOW, timeout_s=2.0)
    assert limits == DEFAULT_LIMITS and "using the default limits" in caplog.text
    state.max_characters = 1000
    instance_limits(server.url, cache_dir=tmp_path, clock=lambda: NOW)
    server.inject(Fault(status=503, json={"error": "down"}, path="/api/v2/instance"))
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        stale = instance_limits(server.url, cache_dir=tmp_path, clock=lambda: NOW + 3 * CACHE_TTL_S)
    assert stale.max_characters == 1000 and stale.source == "stale cache"
    assert "HTTP 503" in caplog.text and "read 72 h ago" in caplog.text


@pytest.mark.parametrize(("configured", "instance", "drafted"), [
    (None, 1000, 1000),  # the instance allows more: posts are drafted for it
    (None, 500, 500),
    (300, 1000, 300),  # a shorter house style stands
    (5000, 1000, 1000),  # more than the instance takes: lowered (it would refuse those posts)
])
def test_drafting_measures_with_the_instances_limit(fake, tmp_path, configured, instance, drafted):
    state, server = fake
    state.max_characters = instance
    config = _config(social={"mastodon": {"enabled": True, "max_characters": configured}})
    env = {"MASTODON_ACCESS_TOKEN": TOKEN, "MASTODON_API_BASE_URL": server.url}
    drafting = with_instance_limits(config, env, cache_dir=tmp_path, clock=lambda: NOW)
    assert drafting.social.mastodon.max_characters == drafted
    assert rules_for("mastodon", drafting).max_length == drafted
    # the desk, the ledger and the channel read the cached value without asking the instance again
    assert with_instance_limits(config, env, cache_dir=tmp_path, clock=lambda: NOW, refresh=False) == drafting
    channel = MastodonChannel.from_env(env, config=config, cache_dir=tmp_path)
    assert channel.max_weighted_length == drafted and state.instance_reads == 1
    channel.close()


def test_without_mastodon_credentials_the_config_is_left_alone(fake, tmp_path):
    _, server = fake
    config = _config(social={"mastodon": {"enabled": True, "instance_url": server.url}})
    assert with_instance_limits(config, {}, cache_dir=tmp_path) is config  # the outbox measures as configured
    off = _config(social={"mastodon": {"enabled": False, "instance_url": server.url}})
    assert with_instance_limits(off, {"MASTODON_ACCESS_TOKEN": TOKEN}, cache_dir=tmp_path) is off
    assert server.requests == []


# --- images --------------------------------------------------------------------------------------------


def test_an_image_is_uploaded_with_its_alt_text_and_attached(fake, channel):
    state, server = fake
    attachment = image_attachment()
    media_id = channel.upload(attachment, thread_key="t")
    receipt = channel.publish("Councils adopt standards", attachment=attachment, media_ref=media_id, thread_key="t")
    upload = server.requests_to("/api/v2/media", "POST")[0]
    assert upload.headers["content-type"].startswith("multipart/form-data")
    assert state.media[media_id]["data"] == attachment.image.data
    assert state.media[media_id]["description"] == attachment.image.alt
    status = state.statuses[0]
    assert status["id"] == receipt.provider_id and [m["id"] for m in status["media_attachments"]] == [media_id]
    assert status["media_attachments"][0]["description"] == attachment.image.alt
    posted = server.requests_to("/api/v1/statuses", "POST")[0]
    assert posted.form()["media_ids[]"] == [media_id]
    assert posted.headers["idempotency-key"] == idempotency_key("Councils adopt standards", reply_to=None,
                                                                thread_key="t", media_ref=media_id)
    assert state.invalid_requests == []
    assert [r.path for r in server.requests if r.path.endswith("instance")] == ["/api/v2/instance"]


def test_an_image_still_processing_is_polled_until_it_has_its_url(fake, channel, pauses):
    state, server = fake
    state.processing_rounds = 3
    attachment = image_attachment()
    media_id = channel.upload(attachment)
    polls = server.requests_to(f"/api/v1/media/{media_id}", "GET")
    assert len(polls) == 3 and pauses == [1.0, 1.0, 1.0]  # 202, then 206, 206, 200
    channel.publish("processed", attachment=attachment, media_ref=media_id)
    assert state.statuses[0]["media_attachments"][0]["url"] and state.invalid_requests == []


def test_an_image_processing_too_long_is_transient(fake, channel, monkeypatch):
    state, _ = fake
    state.processing_rounds = 100
    monkeypatch.setattr(MastodonChannel, "media_processing_wait_s", 3.0)
    with pytest.raises(TransientError, match="still processing"):
        channel.upload(image_attachment())


def test_a_post_whose_image_is_not_processed_yet_is_retried_later(fake, channel):
    state, _ = fake
    attachment = image_attachment()
    media_id = channel.upload(attachment)
    state.media[media_id]["rounds"] = 1  # the instance went back to processing it
    with pytest.raises(TransientError, match="still being processed") as caught:
        channel.publish("too soon", attachment=attachment, media_ref=media_id)
    assert caught.value.status == 422 and caught.value.retry_after_s == MastodonChannel.unprocessed_media_wait_s
    state.media[media_id]["rounds"] = 0
    channel.publish("too soon", attachment=attachment, media_ref=media_id)
    assert len(state.statuses) == 1


def test_an_image_over_the_instances_limit_is_refused_before_sending(fake, channel):
    state, server = fake
    state.image_size_limit = 1000
    with pytest.raises(PermanentError, match="does not take this image") as caught:
        channel.upload(image_attachment(200, 200, noise=True))
    assert "1000 bytes" in caught.value.hint and server.requests_to("/api/v2/media") == []


def test_the_instance_refusing_an_oversized_image_is_permanent(fake, tmp_path):
    state, server = fake
    state.image_size_limit = 1000
    believed = InstanceLimits(500, 23, 4, ImageLimits(max_bytes=10**7, max_edge_px=4096,
                                                      mime_types=("image/png",)))  # a stale belief
    channel = MastodonChannel(api_base_url=server.url, access_token=TOKEN, timeout_s=2.0, limits=believed,
                              cache_dir=None)
    with pytest.raises(PermanentError, match=r"image refused \(422\)") as caught:
        channel.upload(image_attachment(200, 200, noise=True))
    assert "file size" in caught.value.provider_message and state.media == {}
    channel.close()


@pytest.mark.parametrize(("fault", "error", "status"), [
    (expired_token("/api/v2/media"), AuthError, 401),
    (rate_limited(reset_at="2027-01-15T08:05:00Z", path="/api/v2/media"), TransientError, 429),
    (Fault(status=503, json={"error": "Unavailable"}, path="/api/v2/media"), TransientError, 503),
])
def test_upload_errors_map_to_our_tree(fake, channel, fault, error, status):
    _, server = fake
    channel.image_limits  # noqa: B018 (the instance read first: the fault is for the upload)
    server.inject(fault)
    with pytest.raises(error) as caught:
        channel.upload(image_attachment())
    assert type(caught.value) is error and caught.value.status == status and caught.value.hint
    if status == 429:
        assert caught.value.retry_after_s == pytest.approx(300)


def test_an_upload_that_lost_its_answer_is_made_again(fake, channel):
    state, server = fake
    channel.image_limits  # noqa: B018
    server.inject(Fault(accept=True, reset=True, path="/api/v2/media"))
    attachment = image_attachment()
    with pytest.raises(TransientError, match="no answer") as caught:
        channel.upload(attachment)
    assert "safe" in caught.value.hint
    media_id = channel.upload(attachment)
    channel.publish("after a lost upload", attachment=attachment, media_ref=media_id)
    assert [m["status_id"] is not None for m in state.media.values()] == [False, True]  # one orphan, never shown


def test_a_retried_post_with_an_image_is_not_duplicated(fake, channel):
    state, server = fake
    attachment = image_attachment()
    media_id = channel.upload(attachment, thread_key="t")
    server.inject(Fault(accept=True, reset=True, path="/api/v1/statuses"))
    with pytest.raises(AmbiguousError):
        channel.publish("lost answer", attachment=attachment, media_ref=media_id, thread_key="t")
    receipt = channel.publish("lost answer", attachment=attachment, media_ref=media_id, thread_key="t")
    assert len(state.statuses) == 1 and receipt.provider_id == state.statuses[0]["id"]
    keys = {r.headers["idempotency-key"] for r in server.requests_to("/api/v1/statuses", "POST")}
    assert len(keys) == 1


def test_a_card_is_left_to_the_instance(fake, channel):
    _, server = fake
    assert MastodonChannel.builds_cards is False
    assert channel.upload(card_attachment()) is None and server.requests == []
    with pytest.raises(PermanentError, match="not uploaded"):
        channel.publish("image never uploaded", attachment=image_attachment(), media_ref=None)
    with pytest.raises(PermanentError, match="alt text"):
        channel.upload(image_attachment(alt=""))


def test_the_fake_checks_requests_against_the_documented_parameters():
    assert schema_complaint("POST /api/v1/statuses", "form", {"status": "hi", "visibility": "everyone"})
    assert schema_complaint("POST /api/v1/statuses", "form", {"status": "hi", "media_id": "1"})  # not a parameter
    assert schema_complaint("POST /api/v1/statuses", "form", {"visibility": "public"})  # neither text nor media
    assert schema_complaint("POST /api/v1/statuses", "form", {"media_ids[]": ["1"]}) is None
    assert schema_complaint("GET /api/v1/accounts/:id/statuses", "query", {"limit": "41"})
    assert schema_complaint("POST /api/v2/media", "form", {"description": "no file"})
    assert schema_complaint("POST /api/v1/statuses", "headers", {"authorization": "Token abc"})


def test_loading_the_config_applies_the_cached_limit_and_drafting_refreshes_it(fake, tmp_path, monkeypatch):
    from flows.settings import load_config, network_limits

    state, server = fake
    state.max_characters = 1000
    monkeypatch.chdir(tmp_path)  # the cache lives under ./var/mastodon/
    monkeypatch.setenv("MASTODON_ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("MASTODON_API_BASE_URL", server.url)
    (tmp_path / "syndicate.toml").write_text("""
[organisation]
name = "Socitm"
site_url = "https://socitm.net"
postal_address = "1 High St, Northampton"
[edition]
from_email = "news@socitm.net"
from_name = "Socitm"
reply_to = "hello@socitm.net"
[[sections]]
key = "news"
title = "News"
[social.mastodon]
enabled = true
""", "utf-8")
    config = load_config(tmp_path / "syndicate.toml")
    assert config.social.mastodon.max_characters is None and state.instance_reads == 0  # never read: as configured
    drafting = network_limits(config)
    assert drafting.social.mastodon.max_characters == 1000 and state.instance_reads == 1
    assert (tmp_path / "var" / "mastodon").is_dir()
    assert load_config(tmp_path / "syndicate.toml").social.mastodon.max_characters == 1000  # from the cache
    assert state.instance_reads == 1


def test_an_upload_never_shows_the_token_in_debug_logs(fake, channel, caplog):
    with caplog.at_level(logging.DEBUG):
        media_id = channel.upload(image_attachment())
        channel.publish("with an image", attachment=image_attachment(), media_ref=media_id)
    assert caplog.records and TOKEN not in caplog.text and TOKEN not in repr(channel)


_JSON = st.recursive(st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=False)
                     | st.text(max_size=20),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
                     max_leaves=12)
_FIELD = st.one_of(_JSON, st.integers(-5, 10**9))


@settings(max_examples=300, deadline=None)
@given(statuses=st.dictionaries(st.sampled_from(["max_characters", "characters_reserved_per_url",
                                                 "max_media_attachments", "other"]), _FIELD, max_size=4) | _JSON,
       media=st.dictionaries(st.sampled_from(["image_size_limit", "image_matrix_limit", "supported_mime_types",
                                              "description_limit"]),
                             _FIELD | st.lists(st.sampled_from(["image/png", "image/heic", "video/mp4", "x"])),
                             max_size=4) | _JSON)
def test_any_instance_answer_gives_usable_limits_or_a_clear_refusal(statuses, media):
    """Whatever an instance answers, the limits are positive numbers and known image types, or
    the answer is refused with ValueError (the caller then falls back with a warning)."""
    try:
        limits = parse_instance({"configuration": {"statuses": statuses, "media_attachments": media}}, now=NOW)
    except ValueError:
        return
    assert limits.max_characters > 0 and limits.characters_reserved_per_url > 0 and limits.max_media_attachments > 0
    assert limits.image.max_bytes > 0 and limits.image.max_edge_px > 0 and limits.image.max_alt_chars > 0
    assert limits.image.mime_types and set(limits.image.mime_types) <= set(DEFAULT_LIMITS.image.mime_types)
