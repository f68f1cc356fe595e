"""BlueskyChannel against the fake PDS at the wire (real atproto SDK and httpx): link cards, images
with alt text, facets for links, hashtags and mentions, the reused session, the points budget, and
every request checked against the official lexicons."""

from __future__ import annotations

import json
import logging
import os
import stat
import struct
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.channels.base import Attachment, LinkCard, PostImage
from connectors.channels.bluesky import BlueskyChannel, facet_spans
from connectors.channels.bluesky_session import PointsBudget, default_session_file
from connectors.errors import AmbiguousError, AuthError, PermanentError, ReplyNotAllowedError, TransientError
from tests.fakes.fake_bluesky import CREATE_RECORD, UPLOAD_BLOB, FakeBluesky, rate_limited
from tests.fakes.lexicon import CORPUS, LexiconError, Lexicons
from tests.fakes.server import Fault

HANDLE, PASSWORD = "socitm.bsky.social", "abcd-SECRET-efgh-ijkl"
NOW = 1_800_000_000.0
ALICE = "did:plc:alice00000000000000000000"


def png(width: int = 4, height: int = 3, *, padding: int = 0) -> bytes:
    """A real PNG of `width` x `height` grey pixels; `padding` bytes of incompressible ancillary data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    extra = chunk(b"prVt", os.urandom(padding)) if padding else b""
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + extra + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def image(alt: str = "Delegates at the Socitm conference", **kwargs: int) -> PostImage:
    return PostImage(data=png(**kwargs), mime_type="image/png", alt=alt, width=kwargs.get("width", 4),
                     height=kwargs.get("height", 3))


CARD = LinkCard(url="https://socitm.net/a", title="Councils adopt standards",
                description="What the new standards mean for local government.", thumb=image("unused"))


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake():
    state = FakeBluesky(handle=HANDLE, app_password=PASSWORD, handles={"alice.bsky.social": ALICE})
    with state.server() as server:
        yield state, server


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def make(fake, tmp_path, clock):
    _, server = fake
    built: list[BlueskyChannel] = []

    def build(session_file: Path | None = None) -> BlueskyChannel:
        env = {"BLUESKY_HANDLE": HANDLE, "BLUESKY_APP_PASSWORD": PASSWORD, "BLUESKY_SERVICE_URL": server.url,
               "BLUESKY_SESSION_FILE": str(session_file or tmp_path / "var" / "bluesky-session.json")}
        channel = BlueskyChannel.from_env(env, timeout_s=2.0, clock=clock)
        assert channel is not None
        built.append(channel)
        return channel

    yield build
    for channel in built:
        channel.close()


@pytest.fixture
def channel(make):
    return make()


# --- facets --------------------------------------------------------------------------------------------

def test_facets_count_utf8_bytes():
    text = "héllo 👩‍👩‍👧 https://socitm.net/x #localgov"
    spans = facet_spans(text)
    encoded = text.encode("utf-8")
    assert [(encoded[s:e].decode(), kind, value) for s, e, kind, value in spans] == [
        ("https://socitm.net/x", "link", "https://socitm.net/x"), ("#localgov", "tag", "localgov")]
    assert spans[0][0] == 26  # 26 bytes, though only 14 characters, precede the link


FILLER = st.lists(st.sampled_from(list("éàüñçøß 東京都大阪語中文한국어") + ["👩‍👩‍👧", "🇬🇧", "😀", "e\u0301"]),
                  max_size=12).map("".join)  # accents, CJK, Hangul, emoji (ZWJ sequences, flags), combining marks
LINK = st.builds(lambda host, path: f"https://{host}/{path}", st.sampled_from(["socitm.net", "gov.uk", "bsky.app"]),
                 st.from_regex(r"[a-z0-9-]{1,12}", fullmatch=True))
TAG = st.from_regex(r"[A-Za-z]([A-Za-z0-9_]{0,14}[A-Za-z0-9])?", fullmatch=True).map(lambda t: f"#{t}")  # "_" ends none
MENTION = st.sampled_from(["@alice.bsky.social", "@nobody.example.com"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(FILLER, st.one_of(LINK, TAG, MENTION)), min_size=1, max_size=6), FILLER)
def test_every_facet_slice_is_exactly_its_link_tag_or_mention_in_non_ascii_text(parts, tail):
    text = "".join(f"{filler} {entity} " for filler, entity in parts) + tail
    dids = {"alice.bsky.social": ALICE, "nobody.example.com": None}
    spans = facet_spans(text, dids)
    encoded = text.encode("utf-8")
    found = []
    for start, end, kind, value in spans:
        piece = encoded[start:end].decode("utf-8")  # never splits a character
        if kind == "link":
            assert piece == value
        elif kind == "tag":
            assert piece == f"#{value}"
        else:
            assert kind == "mention" and dids[piece[1:]] == value
        found.append(piece)
    assert found == [e for _, e in parts if e != "@nobody.example.com"], "every entity, in order, and nothing else"


def test_mentions_resolve_to_dids_and_unknown_handles_stay_plain_text(fake, channel):
    state, server = fake
    text = "Thanks @alice.bsky.social and @nobody.example.com — and @Alice.bsky.social again ✨"
    channel.publish(text)
    facets = state.posts[0]["facets"]
    encoded = text.encode("utf-8")
    assert [(encoded[f["index"]["byteStart"]:f["index"]["byteEnd"]].decode(), f["features"][0]) for f in facets] == [
        ("@alice.bsky.social", {"$type": "app.bsky.richtext.facet#mention", "did": ALICE}),
        ("@Alice.bsky.social", {"$type": "app.bsky.richtext.facet#mention", "did": ALICE})]
    assert len(server.requests_to("/xrpc/com.atproto.identity.resolveHandle")) == 2  # once per handle


# --- threads, errors, lookups ------------------------------------------------------------------------

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
    (Fault(status=401, json={"error": "AuthenticationRequired", "message": "Bad app password"}), AuthError, 401),
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


def test_a_refused_reply_is_reply_not_allowed(fake, channel):
    state, _ = fake
    first = channel.publish("1/2 opening")
    state.refuse_replies = True
    with pytest.raises(ReplyNotAllowedError):
        channel.publish("2/2 reply", reply_to=first.provider_id)


def test_a_lost_answer_is_ambiguous_and_find_post_then_finds_the_post(fake, channel):
    state, server = fake
    first = channel.publish("1/2 opening")
    server.inject(Fault(accept=True, reset=True, path=CREATE_RECORD))
    with pytest.raises(AmbiguousError):
        channel.publish("2/2 reply ✨", reply_to=first.provider_id)
    found = channel.find_post("2/2 reply ✨", reply_to=first.provider_id)
    assert found is not None and found.provider_id.startswith(state.posts[1]["uri"]) and len(state.posts) == 2


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


# --- link cards and images ---------------------------------------------------------------------------

def test_a_link_card_is_an_external_embed_with_its_uploaded_thumbnail(fake, channel):
    state, server = fake
    attachment = Attachment(card=CARD)
    media_ref = channel.upload(attachment)
    assert media_ref is not None and len(state.blobs) == 1
    channel.publish("Councils adopt standards https://socitm.net/a", attachment=attachment, media_ref=media_ref)
    embed = state.posts[0]["embed"]
    assert embed["$type"] == "app.bsky.embed.external"
    external = embed["external"]
    assert (external["uri"], external["title"], external["description"]) == (CARD.url, CARD.title, CARD.description)
    assert external["thumb"]["ref"]["$link"] in state.blobs and external["thumb"]["mimeType"] == "image/png"
    assert len(server.requests_to(UPLOAD_BLOB)) == 1  # publish used the reference, it did not upload again
    assert state.referenced_blobs() == set(state.blobs)


def test_an_image_is_embedded_with_its_alt_text_and_aspect_ratio(fake, channel):
    state, _ = fake
    attachment = Attachment(image=image("A chart of cloud adoption by council, rising from 20% to 65%",
                                        width=16, height=9), card=CARD)
    media_ref = channel.upload(attachment)
    channel.publish("Cloud adoption https://socitm.net/a", attachment=attachment, media_ref=media_ref)
    embed = state.posts[0]["embed"]
    assert embed["$type"] == "app.bsky.embed.images"
    [picture] = embed["images"]
    assert picture["alt"] == "A chart of cloud adoption by council, rising from 20% to 65%"
    assert (picture["aspectRatio"]["width"], picture["aspectRatio"]["height"]) == (16, 9)
    assert set(state.blobs) == {picture["image"]["ref"]["$link"]}, "one embed a post: the card's thumb is not uploaded"
    assert state.posts[0]["facets"][0]["features"][0]["uri"] == "https://socitm.net/a"  # the link stays clickable


def test_a_card_without_a_thumbnail_uploads_nothing_and_publish_uploads_what_was_not(fake, channel):
    state, _ = fake
    bare = Attachment(card=LinkCard(url="https://socitm.net/b", title="Briefing"))
    assert channel.upload(bare) is None
    channel.publish("Briefing https://socitm.net/b", attachment=bare)
    external = state.posts[0]["embed"]["external"]
    assert (external["uri"], external["title"], external["description"]) == ("https://socitm.net/b", "Briefing", "")
    assert "thumb" not in external and not state.blobs
    channel.publish("Picture", attachment=Attachment(image=image()))  # no media_ref: uploaded on the way
    assert state.posts[1]["embed"]["images"][0]["image"]["ref"]["$link"] in state.blobs


def test_uploading_the_same_image_twice_gives_the_same_blob(fake, channel):
    state, _ = fake
    attachment = Attachment(image=image())
    assert channel.upload(attachment) == channel.upload(attachment) and len(state.blobs) == 1


def test_an_oversized_image_is_refused_before_anything_is_sent(fake, channel):
    _, server = fake
    big = PostImage(data=png(padding=1_000_001), mime_type="image/png", alt="x", width=4, height=3)
    with pytest.raises(PermanentError, match="at most 1,000,000"):
        channel.upload(Attachment(image=big))
    assert not server.requests_to(UPLOAD_BLOB)


def test_a_blob_the_pds_finds_too_large_is_a_permanent_error(fake, channel, monkeypatch):
    state, _ = fake
    monkeypatch.setattr(BlueskyChannel, "image_limits", BlueskyChannel.image_limits.__class__(
        max_bytes=2_000_000, max_edge_px=2000, mime_types=("image/png",)))
    big = Attachment(image=PostImage(data=png(padding=1_100_000), mime_type="image/png", alt="x", width=4, height=3))
    with pytest.raises(PermanentError, match="too large") as caught:
        channel.publish("Too big", attachment=big, media_ref=channel.upload(big))
    assert "BlobTooLarge" in (caught.value.provider_message or "") and not state.posts


def test_a_blob_dropped_by_the_pds_before_the_post_is_uploaded_again(fake, channel):
    state, server = fake
    attachment = Attachment(image=image())
    media_ref = channel.upload(attachment)
    state.drop_unreferenced_blobs()  # the PDS deletes blobs no record used within its window
    assert not state.blobs
    channel.publish("Resumed later", attachment=attachment, media_ref=media_ref)
    assert len(server.requests_to(UPLOAD_BLOB)) == 2 and state.referenced_blobs() == set(state.blobs)


# --- the session -----------------------------------------------------------------------------------------

def test_the_session_is_kept_private_and_reused_across_runs(fake, make, tmp_path, caplog):
    state, _ = fake
    caplog.set_level(logging.DEBUG)
    make().publish("first run")
    path = tmp_path / "var" / "bluesky-session.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    session = json.loads(path.read_text())["session"]
    make().publish("second run")
    make().publish("third run")
    assert state.sessions == 1 and len(state.posts) == 3
    tokens = session.split(":::")[2:4]
    assert all(token not in caplog.text for token in tokens) and PASSWORD not in caplog.text
    assert all(token not in repr(make()) for token in tokens)


def test_an_expired_access_token_is_refreshed_not_recreated(fake, channel):
    state, _ = fake
    channel.publish("before")
    state.expire_access_tokens()
    channel.publish("after")
    assert (state.sessions, state.refreshes, len(state.posts)) == (1, 1, 2)


def test_a_refused_refresh_token_creates_a_new_session_and_the_next_run_uses_it(fake, make):
    state, _ = fake
    make().publish("before")
    state.expire_access_tokens()
    state.expire_refresh_tokens()
    make().publish("after")
    make().publish("next run")
    assert (state.sessions, state.refreshes, len(state.posts)) == (2, 0, 3)


def test_a_session_file_others_can_read_is_not_trusted(fake, make, tmp_path, caplog):
    state, _ = fake
    make().publish("first")
    path = tmp_path / "var" / "bluesky-session.json"
    path.chmod(0o644)
    make().publish("second")
    assert state.sessions == 2 and "could be read by other users" in caplog.text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_session_file_lives_beside_a_sqlite_ledger_or_in_var():
    assert default_session_file({"SYNDICATE_DATABASE_URL": "sqlite:////srv/news/ledger.db"}) == \
        Path("/srv/news/bluesky-session.json")
    assert default_session_file({"SYNDICATE_DATABASE_URL": "postgresql://db/news"}) == Path("var/bluesky-session.json")
    assert default_session_file({}) == Path("var/bluesky-session.json")
    assert default_session_file({"BLUESKY_SESSION_FILE": "/run/s.json"}) == Path("/run/s.json")


# --- rate limits ---------------------------------------------------------------------------------------

def test_posts_are_deferred_before_the_points_budget_is_spent(fake, channel, clock, monkeypatch):
    state, server = fake
    monkeypatch.setattr(BlueskyChannel, "budget", PointsBudget(per_hour=10, margin=0.0))
    for n in range(3):
        clock.now += 60
        channel.publish(f"post {n}")
    with pytest.raises(TransientError, match="budget") as caught:
        channel.publish("post 3")
    assert caught.value.retry_after_s == 3600 - 120  # when the first post's 3 points leave the hour
    assert len(server.requests_to(CREATE_RECORD)) == 3
    clock.now += 3600 - 120
    channel.publish("post 3")
    assert len(state.posts) == 4


def test_a_429_waits_until_ratelimit_reset_and_later_runs_wait_too(fake, make, clock):
    _, server = fake
    channel = make()
    channel.publish("warm up")
    server.inject(rate_limited(reset_at=int(NOW) + 1200))
    with pytest.raises(TransientError) as caught:
        channel.publish("limited")
    assert caught.value.retry_after_s == 1200 and caught.value.status == 429
    with pytest.raises(TransientError, match="budget"):
        make().publish("another run, same machine")
    assert len(server.requests_to(CREATE_RECORD)) == 2


def test_the_fake_pds_spends_points_and_answers_429_with_its_reset(fake, channel, clock):
    state, _ = fake
    state.points_per_hour, state.clock = 6, clock
    channel.publish("one")
    channel.publish("two")
    with pytest.raises(TransientError) as caught:
        channel.publish("three")
    assert caught.value.retry_after_s == 3600 and len(state.posts) == 2


# --- the lexicons ------------------------------------------------------------------------------------

POST = {"$type": "app.bsky.feed.post", "text": "hi https://socitm.net", "createdAt": "2026-12-07T12:00:00Z",
        "facets": [{"index": {"byteStart": 3, "byteEnd": 21},
                    "features": [{"$type": "app.bsky.richtext.facet#link", "uri": "https://socitm.net"}]}]}


@pytest.mark.parametrize(("change", "where"), [
    (lambda r: r.pop("createdAt"), "record/createdAt"),
    (lambda r: r.__setitem__("text", "é" * 301), "record/text"),
    (lambda r: r["facets"][0]["features"][0].__setitem__("uri", "not a uri"), "record/facets/0/features/0/uri"),
    (lambda r: r["facets"][0]["features"][0].__setitem__("$type", "app.bsky.richtext.facet#bold"),
     "record/facets/0/features/0"),
    (lambda r: r.__setitem__("embed", {"$type": "app.bsky.embed.images", "images": [{"image": {
        "$type": "blob", "ref": {"$link": "bafkreiabc123"}, "mimeType": "image/png", "size": 10}}]}),
     "record/embed/images/0/alt"),
    (lambda r: r.__setitem__("embed", {"$type": "app.bsky.embed.external", "external": {
        "uri": "https://x.org", "title": "t", "description": "", "thumb": {
            "$type": "blob", "ref": {"$link": "bafkreiabc123"}, "mimeType": "text/html", "size": 10}}}),
     "record/embed/external/thumb/mimeType"),
    (lambda r: r.__setitem__("embed", {"$type": "app.bsky.embed.video", "video": {}}), "record/embed"),
    (lambda r: r.__setitem__("langs", ["en", "fr", "de", "cy"]), "record/langs"),
])
def test_the_lexicon_validator_refuses_what_bluesky_would(change, where):
    record = json.loads(json.dumps(POST))
    Lexicons.load().validate_record("app.bsky.feed.post", record)
    change(record)
    with pytest.raises(LexiconError) as caught:
        Lexicons.load().validate_record("app.bsky.feed.post", record)
    assert caught.value.path == where


def test_the_fake_refuses_a_request_off_its_lexicon(fake):
    _, server = fake
    import httpx

    answer = httpx.post(f"{server.url}/xrpc/com.atproto.server.createSession", json={"identifier": HANDLE})
    assert answer.status_code == 400 and "input/password: is required" in answer.json()["message"]
    answer = httpx.get(f"{server.url}/xrpc/com.atproto.repo.listRecords",
                       params={"repo": HANDLE, "collection": "app.bsky.feed.post", "limit": "500"})
    assert answer.status_code == 400 and "at most 100" in answer.json()["message"]


def test_the_lexicon_corpus_keeps_its_licence_and_names_every_file():
    provenance = (CORPUS / "PROVENANCE.md").read_text("utf-8")
    assert (CORPUS / "LICENSE").is_file() and "MIT" in (CORPUS / "LICENSE").read_text("utf-8")
    files = {str(p.relative_to(CORPUS)) for p in CORPUS.rglob("*.json")}
    named = {line.split("`")[1] for line in provenance.splitlines() if line.startswith("| `")}
    assert files == named


def test_a_resumed_run_without_the_image_bytes_says_the_dropped_upload_must_be_redone(fake, channel):
    state, _ = fake
    media_ref = channel.upload(Attachment(image=image()))
    state.drop_unreferenced_blobs()
    recorded_only = Attachment(image=PostImage(data=b"", mime_type="", alt="Delegates", width=0, height=0))
    with pytest.raises(PermanentError, match="expired before the post went out"):
        channel.publish("Resumed much later", attachment=recorded_only, media_ref=media_ref)
    assert not state.posts


def test_the_alt_text_in_the_ledger_wins_over_the_one_recorded_at_upload(fake, channel):
    state, _ = fake
    media_ref = channel.upload(Attachment(image=image("first draft")))
    edited = Attachment(image=PostImage(data=b"", mime_type="", alt="Delegates voting at the AGM", width=0, height=0))
    channel.publish("With edited alt text", attachment=edited, media_ref=media_ref)
    assert state.posts[0]["embed"]["images"][0]["alt"] == "Delegates voting at the AGM"
    assert state.posts[0]["embed"]["images"][0]["aspectRatio"]["width"] == 4  # the size recorded at upload


def test_a_token_near_its_expiry_is_refreshed_before_the_request_and_the_new_one_kept(fake, make, tmp_path):
    state, server = fake
    state.access_lifetime_s = 60  # the SDK refreshes a token within 15 minutes of its expiry, before using it
    make().publish("first")
    before = json.loads((tmp_path / "var" / "bluesky-session.json").read_text())["session"]
    make().publish("second run")
    after = json.loads((tmp_path / "var" / "bluesky-session.json").read_text())["session"]
    assert state.sessions == 1 and state.refreshes >= 1 and before != after
    assert len(server.requests_to("/xrpc/com.atproto.server.refreshSession")) == state.refreshes
