"""The LinkedIn channel against its fake (every request checked against the documented shapes in
tests/corpora/linkedin), beyond the channel contract: article previews with an uploaded thumbnail,
images with alt text, uploads resumed after a lost answer without leaving an image behind, the
failures LinkedIn answers with, little text, and how threads map onto one post."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image
from pydantic import ValidationError

from compose.config import Config
from compose.linkedin_posts import RESERVED, linkedin_roundup, little_text, plain_text
from compose.models import Edition, EditionSection, Item
from compose.post_length import LINKEDIN_RULES, rules_for, weighted_length
from compose.threads import item_networks, roundup, roundup_networks, roundup_texts, subscribe_url
from connectors.channels import post_channel
from connectors.channels.base import Attachment, LinkCard, PostImage
from connectors.channels.linkedin import LinkedInChannel
from connectors.errors import (
    AuthError,
    DuplicateContentError,
    PermanentError,
    ReplyNotAllowedError,
    TransientError,
)
from tests.fakes.fake_linkedin import FakeLinkedIn
from tests.fakes.server import FakeServer, Fault, RecordedRequest, Reply
from tests.fakes.wires import CONFIG, NOW

TOKEN = "AQX-token-under-test-91f0"


def png(width: int = 40, height: int = 30) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (11, 61, 110)).save(out, format="PNG")
    return out.getvalue()


def picture(alt: str = "A council chamber, seats in a half circle") -> PostImage:
    return PostImage(data=png(), mime_type="image/png", alt=alt, width=40, height=30,
                     source_url="https://socitm.net/a.png")


CARD = LinkCard(url="https://socitm.net/news/ai-in-councils", title="AI in councils: what works",
                description="Five councils on what they learned.", thumb=picture())


@dataclass
class Page:
    fake: FakeLinkedIn
    server: FakeServer
    journal: Path

    def channel(self, **env: str) -> LinkedInChannel:
        made = LinkedInChannel.from_env({"LINKEDIN_ACCESS_TOKEN": TOKEN, "LINKEDIN_ORGANIZATION_ID": "2414183",
                                         "LINKEDIN_API_URL": self.server.url,
                                         "LINKEDIN_UPLOAD_JOURNAL": str(self.journal), **env},
                                        config=CONFIG, timeout_s=2.0, clock=lambda: NOW)
        assert made is not None
        return made


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Page]:
    fake = FakeLinkedIn(access_token=TOKEN)
    with fake.server() as server:
        yield Page(fake, server, tmp_path / "uploads.json")
    assert not fake.violations, fake.violations


# --- posts with previews and images -------------------------------------------------------------------


def test_an_article_preview_carries_the_uploaded_thumbnail_and_its_alt_text(page: Page) -> None:
    channel = page.channel()
    attachment = Attachment(card=CARD)
    ref = channel.upload(attachment, thread_key="item:1")
    receipt = channel.publish("AI in councils #localgov https://socitm.net/news/ai-in-councils",
                              thread_key="item:1", attachment=attachment, media_ref=ref)
    [post] = page.fake.posts
    assert receipt.provider_id == post["id"] and receipt.url == f"https://www.linkedin.com/feed/update/{post['id']}/"
    assert post["content"] == {"article": {"source": CARD.url, "title": CARD.title, "description": CARD.description,
                                           "thumbnail": ref, "thumbnailAltText": CARD.thumb.alt}}
    assert post["author"] == "urn:li:organization:2414183" and post["lifecycleState"] == "PUBLISHED"
    assert post["commentary"] == "AI in councils {hashtag|\\#|localgov} https://socitm.net/news/ai-in-councils"
    assert page.fake.uploaded() == [ref] and page.fake.referenced() == {ref}
    for request in page.server.requests:
        if request.path.startswith("/rest/"):
            assert request.headers["linkedin-version"] == CONFIG.social.linkedin.api_version
            assert request.headers["x-restli-protocol-version"] == "2.0.0"
    assert not page.journal.exists() or "item:1" not in page.journal.read_text()  # dropped once published


def test_a_post_with_an_image_and_no_card_shows_the_image_with_its_alt_text(page: Page) -> None:
    channel = page.channel()
    attachment = Attachment(image=picture("Three people at a whiteboard"))
    ref = channel.upload(attachment, thread_key="item:2")
    channel.publish("A picture", thread_key="item:2", attachment=attachment, media_ref=ref)
    assert page.fake.posts[0]["content"] == {"media": {"id": ref, "altText": "Three people at a whiteboard"}}


def test_a_card_without_a_thumbnail_takes_the_posts_image_as_its_thumbnail_one_upload_only(page: Page) -> None:
    channel = page.channel()
    attachment = Attachment(image=picture("A chart"), card=replace(CARD, thumb=None))
    ref = channel.upload(attachment, thread_key="item:3")
    channel.publish("Card and image", thread_key="item:3", attachment=attachment, media_ref=ref)
    article = page.fake.posts[0]["content"]["article"]
    assert article["thumbnail"] == ref and article["thumbnailAltText"] == "A chart"
    assert page.fake.uploaded() == [ref]


def test_nothing_to_upload_gives_no_reference_and_no_request(page: Page) -> None:
    channel = page.channel()
    assert channel.upload(Attachment(card=replace(CARD, thumb=None)), thread_key="t") is None
    assert channel.upload(Attachment(), thread_key="t") is None
    assert page.server.requests == []


def test_an_image_without_its_upload_is_refused_before_anything_is_sent(page: Page) -> None:
    with pytest.raises(PermanentError, match="not uploaded"):
        page.channel().publish("text", attachment=Attachment(image=picture()), media_ref=None)
    assert page.server.requests_to("/rest/posts") == []


def test_a_reply_is_refused_linkedin_has_no_threads(page: Page) -> None:
    with pytest.raises(ReplyNotAllowedError) as caught:
        page.channel().publish("2/2", reply_to="urn:li:share:1")
    assert "one post" in (caught.value.hint or "") and page.server.requests == []


# --- uploads resumed ------------------------------------------------------------------------------------


def test_an_upload_whose_answer_was_lost_resumes_with_the_same_image(page: Page) -> None:
    """The bytes arrived but the answer did not: the next attempt asks LinkedIn and reuses the image."""
    channel = page.channel()
    attachment = Attachment(card=CARD)
    page.server.inject(Fault(accept=True, reset=True, path="/dms-uploads/"))
    with pytest.raises(TransientError):
        channel.upload(attachment, thread_key="item:4")
    ref = page.channel().upload(attachment, thread_key="item:4")  # a new process: the journal remembers
    assert len(page.server.requests_to("/rest/images", "POST")) == 1 and page.fake.uploaded() == [ref]
    page.channel().publish("Resumed", thread_key="item:4", attachment=attachment, media_ref=ref)
    assert page.fake.referenced() == set(page.fake.uploaded()) == {ref}


def test_an_upload_that_never_arrived_is_sent_again_to_the_same_image(page: Page) -> None:
    channel = page.channel()
    attachment = Attachment(card=CARD)
    page.server.inject(Fault(reset=True, path="/dms-uploads/"))  # dropped before LinkedIn took the bytes
    with pytest.raises(TransientError):
        channel.upload(attachment, thread_key="item:5")
    [waiting] = page.fake.images
    assert page.fake.images[waiting]["status"] == "WAITING_UPLOAD"
    assert channel.upload(attachment, thread_key="item:5") == waiting
    assert page.fake.uploaded() == [waiting] and len(page.server.requests_to("/rest/images", "POST")) == 1


def test_an_expired_upload_url_starts_afresh(page: Page) -> None:
    page.fake.upload_expires_at_ms = int(NOW * 1000) - 1
    channel = page.channel()
    page.server.inject(Fault(reset=True, path="/dms-uploads/"))
    with pytest.raises(TransientError):
        channel.upload(Attachment(card=CARD), thread_key="item:6")
    ref = channel.upload(Attachment(card=CARD), thread_key="item:6")
    assert len(page.server.requests_to("/rest/images", "POST")) == 2 and page.fake.uploaded() == [ref]


def test_a_different_image_for_the_same_thread_is_a_new_upload(page: Page) -> None:
    channel = page.channel()
    first = channel.upload(Attachment(card=CARD), thread_key="item:7")
    other = replace(CARD, thumb=replace(picture(), data=png(50, 50), width=50, height=50))
    assert channel.upload(Attachment(card=other), thread_key="item:7") != first


def test_the_token_never_goes_to_an_upload_url_on_another_host(page: Page) -> None:
    elsewhere: list[RecordedRequest] = []
    with FakeServer(lambda request: elsewhere.append(request) or Reply(201)) as other:
        page.fake.upload_base = other.url.replace("127.0.0.1", "localhost")
        page.channel().upload(Attachment(card=CARD), thread_key="item:8")
    assert len(elsewhere) == 1 and "authorization" not in elsewhere[0].headers


def test_an_oversized_image_is_refused_by_linkedin_as_permanent(page: Page) -> None:
    page.fake.max_upload_bytes = 100
    with pytest.raises(PermanentError) as caught:
        page.channel().upload(Attachment(card=CARD), thread_key="item:9")
    assert caught.value.status == 413 and "image" in str(caught.value)


def test_an_image_over_linkedins_limits_is_refused_before_it_is_sent(page: Page) -> None:
    huge = replace(picture(), width=7000, height=6000)
    with pytest.raises(PermanentError, match="36,152,320"):
        page.channel().upload(Attachment(image=huge), thread_key="item:10")
    assert page.server.requests == []


# --- failures -----------------------------------------------------------------------------------------


def test_an_expired_token_says_how_to_refresh_it(page: Page) -> None:
    page.fake.expired = True
    with pytest.raises(AuthError) as caught:
        page.channel().publish("hello")
    assert caught.value.status == 401 and "EXPIRED_ACCESS_TOKEN" in str(caught.value)
    assert "60 days" in caught.value.hint and "LINKEDIN_ACCESS_TOKEN" in caught.value.hint


def test_a_missing_permission_names_it(page: Page) -> None:
    page.fake.permissions = {"r_organization_social"}
    with pytest.raises(AuthError) as caught:
        page.channel().publish("hello")
    assert caught.value.status == 403 and "w_organization_social" in caught.value.hint
    page.fake.permissions = {"w_organization_social"}
    with pytest.raises(AuthError) as lookup:
        page.channel().find_post("hello")
    assert "r_organization_social" in lookup.value.hint


def test_a_duplicate_is_a_duplicate_content_error(page: Page) -> None:
    channel = page.channel()
    channel.publish("Same words")
    with pytest.raises(DuplicateContentError) as caught:
        channel.publish("Same words")
    assert caught.value.status == 422 and len(page.fake.posts) == 1


def test_a_server_error_is_transient(page: Page) -> None:
    page.server.inject(Fault(status=503, json={"status": 503, "message": "down"}, path="/rest/posts"))
    with pytest.raises(TransientError):
        page.channel().publish("hello")
    assert page.fake.posts == []


def test_find_post_reads_back_little_text(page: Page) -> None:
    channel = page.channel()
    text = "Councils & <standards> (2027) #localgov #digital_leaders: 50% [draft] *new* ~ \\o/ @socitm"
    receipt = channel.publish(text)
    assert "\\(" in page.fake.posts[0]["commentary"]
    assert channel.find_post(text) == receipt
    assert channel.find_post(text.replace("50%", "51%")) is None


def test_credentials_and_organisation_come_from_the_environment(page: Page) -> None:
    assert LinkedInChannel.from_env({"LINKEDIN_ACCESS_TOKEN": TOKEN}, config=CONFIG) is None
    channel = page.channel(LINKEDIN_ORGANIZATION_ID="urn:li:organization:2414183")
    assert channel.author == "urn:li:organization:2414183" and TOKEN not in repr(channel)
    channel.close()
    with pytest.raises(PermanentError, match="not an organisation id"):
        page.channel(LINKEDIN_ORGANIZATION_ID="socitm")
    with pytest.raises(PermanentError, match="YYYYMM"):
        LinkedInChannel(access_token=TOKEN, organization_id="1", api_version="2026-11")
    env = {"LINKEDIN_ACCESS_TOKEN": TOKEN, "LINKEDIN_ORGANIZATION_ID": "1", "LINKEDIN_API_URL": page.server.url}
    assert isinstance(post_channel("linkedin", CONFIG, env), LinkedInChannel)


def test_an_api_version_a_year_old_is_logged_as_due_for_a_move(page: Page, caplog: pytest.LogCaptureFixture) -> None:
    config = CONFIG.model_copy(update={"social": CONFIG.social.model_copy(update={
        "linkedin": CONFIG.social.linkedin.model_copy(update={"api_version": "202501"})})})
    LinkedInChannel.from_env({"LINKEDIN_ACCESS_TOKEN": TOKEN, "LINKEDIN_ORGANIZATION_ID": "1"}, config=config,
                             clock=lambda: NOW).close()
    assert "202501" in caplog.text and "retires" in caplog.text


# --- little text --------------------------------------------------------------------------------------


def test_little_text_escapes_every_reserved_character_and_makes_hashtags() -> None:
    assert little_text("a_b (c) #tag x#not") == "a\\_b \\(c\\) {hashtag|\\#|tag} x\\#not"
    assert plain_text("Hi @[Socitm](urn:li:organization:1) {hashtag|\\#|tag}") == "Hi Socitm #tag"


@given(st.text(alphabet=st.sampled_from([*RESERVED, "a", "é", " ", "\n", "#", "1", "_", "😀"]), max_size=60))
def test_little_text_reads_back_as_written(text: str) -> None:
    assert plain_text(little_text(text)) == text


# --- how threads map ----------------------------------------------------------------------------------


def _config(**linkedin: object) -> Config:
    data = CONFIG.model_dump(mode="json")
    data["social"]["linkedin"] = {"enabled": True, **linkedin}
    return Config.model_validate(data)


def _edition(count: int, title_words: int = 8) -> Edition:
    items = tuple(Item(url=f"https://socitm.net/news/{n}", title=" ".join(["Story"] * title_words) + f" {n}",
                       section="news", source="site", summary_text="Summary.") for n in range(count))
    return Edition(slug="2026-12-07", title="In Our View", issue_date=date(2026, 12, 7), subject="s", preheader="p",
                   intro_markdown="", sections=(EditionSection(key="news", title="News", items=items),),
                   web_url="https://news.example.org/e/2026-12-07")


def test_a_roundup_is_one_post_listing_every_story() -> None:
    config = _config()
    [text] = roundup_texts(config, _edition(5), "linkedin")
    assert text.count("https://socitm.net/news/") == 5 and "\N{SPOOL OF THREAD}" not in text
    assert text.startswith("This week in In Our View: 5 stories from Org")
    assert "#localgov" in text and "https://news.example.org/e/2026-12-07" in text


def test_a_roundup_shows_the_lead_storys_image_and_preview() -> None:
    edition = _edition(3)
    lead = replace(edition.items[0], image_url="https://socitm.net/lead.jpg", image_alt="A server room")
    edition = replace(edition, featured=lead)
    [post] = roundup(_config(), edition, "linkedin").posts
    assert (post.card_url, post.image_url, post.image_alt) == (lead.url, "https://socitm.net/lead.jpg", "A server room")
    [bare] = roundup(_config(images="off", cards=False), edition, "linkedin").posts
    assert (bare.card_url, bare.image_url) == (None, None)


def test_the_roundup_takes_linkedins_own_hashtags_when_it_has_some() -> None:
    [text] = roundup_texts(_config(hashtags=["#govtech", "#digital"]), _edition(2), "linkedin")
    assert text.endswith("#govtech #digital") and "#localgov" not in text
    [bare] = roundup_texts(_config(hashtags=[]), _edition(2), "linkedin")
    assert "#" not in bare


def test_a_roundup_too_long_for_one_post_leaves_the_last_stories_out_and_says_so() -> None:
    thread = roundup(_config(), _edition(60, title_words=10), "linkedin")
    [post] = thread.posts
    assert weighted_length(post.text, LINKEDIN_RULES) <= 3000 and thread.left_out
    assert "Story 59" in thread.left_out[-1] and "3,000" in thread.left_out[-1]
    assert post.text.count("https://socitm.net/news/") + len(thread.left_out) == 60
    assert thread == linkedin_roundup(_edition(60, title_words=10), config=_config(), rules=LINKEDIN_RULES,
                                      subscribe_url=subscribe_url(_config()))


@given(titles=st.lists(st.text(alphabet=st.sampled_from("ab é😀_#(\n"), min_size=1, max_size=200), max_size=60))
def test_a_roundup_always_fits_and_accounts_for_every_story(titles: list[str]) -> None:
    items = tuple(Item(url=f"https://socitm.net/news/{n}", title=title, section="news", source="site")
                  for n, title in enumerate(titles))
    edition = replace(_edition(0), sections=(EditionSection(key="news", title="News", items=items),))
    thread = roundup(_config(), edition, "linkedin")
    [post] = thread.posts
    assert weighted_length(post.text, LINKEDIN_RULES) <= LINKEDIN_RULES.max_length
    shown = [n for n in range(len(titles)) if f"https://socitm.net/news/{n}\n" in post.text + "\n"]
    assert shown == list(range(len(shown))) and len(shown) + len(thread.left_out) == len(titles)
    assert plain_text(little_text(post.text)) == post.text


def test_mode_says_whether_linkedin_gets_item_posts_or_the_roundup() -> None:
    assert "linkedin" not in item_networks(CONFIG) + roundup_networks(CONFIG)  # off by default
    assert "linkedin" in roundup_networks(_config()) and "linkedin" not in item_networks(_config())
    item_mode = _config(mode="item")
    assert "linkedin" in item_networks(item_mode) and "linkedin" not in roundup_networks(item_mode)
    assert "x" in item_networks(item_mode) and "x" in roundup_networks(item_mode)
    assert rules_for("linkedin", item_mode).max_length == 3000


def test_a_bad_api_version_names_the_key_and_the_fix() -> None:
    with pytest.raises(ValidationError, match="social.linkedin.api_version '2026-11'.*YYYYMM"):
        _config(api_version="2026-11")
    with pytest.raises(ValidationError, match="mode"):
        _config(mode="thread")
