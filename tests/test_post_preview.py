"""A post as each network shows it (compose/post_preview.py): links shortened the network's way,
hashtags and mentions picked out, the link a crawler's card previews; and the content hash that
binds an approval to each post's image, alt text and card (compose/threads.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from compose.post_preview import card_link, display_url, segments, site_name
from compose.threads import PostMedia, missing_alt_positions, missing_alt_reason, thread_hash

URL = "https://www.socitm.net/news/1-councils-join-the-digital-skills"


@pytest.mark.parametrize(("network", "shown"), [
    ("x", "socitm.net/news/1-councils…"),
    ("mastodon", "socitm.net/news/1-councils-joi…"),
    ("bluesky", "www.socitm.net/news/1-counc..."),
    ("linkedin", URL),
])
def test_each_network_shortens_a_link_its_own_way(network, shown):
    assert display_url(URL, network) == shown


def test_short_links_are_shown_whole_without_the_scheme():
    assert display_url("https://socitm.net/a", "x") == "socitm.net/a"
    assert display_url("https://www.socitm.net/", "mastodon") == "socitm.net/"
    assert display_url("https://bsky.app", "bluesky") == "bsky.app"


def test_segments_pick_out_links_hashtags_and_mentions_after_an_emoji():
    text = f"Read this 🎉 {URL} #LocalGov @socitm@mastodon.social, not #1 nor mail@example.org"
    kinds = [(s.kind, s.shown) for s in segments(text, "mastodon") if s.kind != "text"]
    assert kinds == [("link", "socitm.net/news/1-councils-joi…"), ("hashtag", "#LocalGov"),
                     ("mention", "@socitm@mastodon.social")]
    link = next(s for s in segments(text, "x") if s.kind == "link")
    assert link.href == URL


def test_the_card_a_crawler_draws_is_of_the_last_link_on_x_and_the_first_on_mastodon():
    text = "One https://a.org/1 and two https://b.org/2"
    assert card_link(text, "x") == "https://b.org/2"
    assert card_link(text, "mastodon") == "https://a.org/1"
    assert card_link(text, "bluesky") is None  # we build Bluesky's card: post.card_url says which
    assert card_link("no link here", "x") is None
    assert site_name("https://www.Socitm.net/news?x=1") == "socitm.net"


@given(st.lists(st.sampled_from(list("ab #@.:/-_é🎉\n") + ["https://", "www.", "x.org", "é"]),
                max_size=40).map("".join))
def test_segments_always_give_back_the_whole_text(text):
    parts = segments(text, "bluesky")
    assert "".join(s.href if s.kind == "link" else s.shown for s in parts) == text


def test_a_text_only_thread_hashes_as_it_always_did_and_media_changes_the_hash():
    texts = ["one", "two"]
    assert thread_hash(texts) == thread_hash(texts, [PostMedia(), None])
    with_image = thread_hash(texts, [None, PostMedia("https://x.example/a.png", None, None)])
    with_alt = thread_hash(texts, [None, PostMedia("https://x.example/a.png", "A chart", None)])
    other_alt = thread_hash(texts, [None, PostMedia("https://x.example/a.png", "A bar chart", None)])
    with_card = thread_hash(texts, [PostMedia(card_url="https://x.example/")])
    assert len({thread_hash(texts), with_image, with_alt, other_alt, with_card}) == 5
    # the image on the first post is not the image on the second
    assert thread_hash(texts, [PostMedia("u")]) != thread_hash(texts, [None, PostMedia("u")])


def test_missing_alt_names_the_posts_as_the_desk_numbers_them():
    posts = [PostMedia(), PostMedia("https://x.example/a.png", "  "), PostMedia("u", "fine"), PostMedia("v")]
    assert missing_alt_positions(posts) == [2, 4]
    assert missing_alt_reason(posts[:2]) == ("post 2 has an image without alt text: write it on the desk (Posts), "
                                             "under the post’s preview")
    assert missing_alt_reason(posts).startswith("posts 2 and 4 have images without alt text")
    assert missing_alt_reason(posts[:1]) is None
