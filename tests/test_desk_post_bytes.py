"""The desk holds staff-edited posts to every limit the network states: on Bluesky 300
graphemes and 3,000 bytes, in the live counter and on save."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from compose.post_length import BLUESKY_RULES, X_RULES, has_invalid_characters, is_valid, weighted_length
from compose.threads import thread_hash
from state.models import PostRow, PostStatus, ThreadRow, ThreadStatus
from tests.helpers import desk_data
from web.app import create_app
from web.threads import measure

NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)
SECRET = "test-secret-key-0123456789abcdef"
FAMILY = "\U0001F468\u200D\U0001F469\u200D\U0001F467\u200D\U0001F466"  # one grapheme, 25 bytes


def test_a_post_under_300_graphemes_but_over_3000_bytes_is_over() -> None:
    text = FAMILY * 130
    assert weighted_length(text, BLUESKY_RULES) == 130
    measured = measure(text, BLUESKY_RULES)
    assert measured["over"] and measured["bytes"] == 3250
    assert measured["why"] == "3,250 bytes, 250 over the network's 3,000-byte limit"


@given(st.lists(st.sampled_from(["a", " ", "é", FAMILY, "\u4e2d", "\U0001F600", "https://x.org/"]), max_size=400))
def test_measure_agrees_with_the_rules_the_ledger_and_publisher_use(pieces: list[str]) -> None:
    text = "".join(pieces)
    for rules in (BLUESKY_RULES, X_RULES):
        refused_otherwise = rules.counts == "weighted" and has_invalid_characters(text)
        if text.strip() and weighted_length(text, rules) > 0 and not refused_otherwise:
            assert measure(text, rules)["over"] == (not is_valid(text, rules))


def _bluesky_thread(db) -> tuple[int, int]:
    texts = ("A short opening post", "A second post")
    with db.session() as session:
        row = ThreadRow(network="bluesky", key="item:9", kind="item", status=ThreadStatus.DRAFT,
                        content_hash=thread_hash(texts), created_at=NOW - timedelta(hours=1), scheduled_for=NOW)
        row.posts = [PostRow(position=i, text=text, status=PostStatus.PENDING, attempts=0) for i, text in enumerate(texts)]
        session.add(row)
        session.flush()
        return row.id, row.posts[1].id


def test_the_desk_refuses_to_save_a_post_over_the_byte_limit_and_the_counter_flags_it(db, tmp_path) -> None:
    config = desk_data.example_config(tmp_path)
    thread_id, post_id = _bluesky_thread(db)
    desk_data.seed_staff(db, "ed@example.org", "editor", now=NOW)
    client = TestClient(create_app(config=config, db=db, secret_key=SECRET, now=lambda: NOW, env={}))
    assert desk_data.sign_in(client, "ed@example.org").status_code == 303
    counted = client.get("/desk/api/count", params={"network": "bluesky", "text": FAMILY * 130}).json()
    assert counted["over"] and counted["length"] == 130 and counted["max_bytes"] == 3000
    assert "250 over the network's 3,000-byte limit" in counted["why"]
    token = desk_data.csrf_from(client.get("/desk/threads").text)
    reply = client.post(f"/desk/threads/{thread_id}/edit", data={f"post-{post_id}": FAMILY * 130, "csrf_token": token},
                        follow_redirects=False)
    assert reply.status_code == 400
    page = " ".join(reply.text.split())
    assert "Not saved: on BLUESKY post 2 is 130 / 300: 3,250 bytes, 250 over the network&#39;s 3,000-byte limit" in page
    with db.session() as session:
        assert session.get(ThreadRow, thread_id).posts[1].text == "A second post"
    fits = client.get("/desk/api/count", params={"network": "bluesky", "text": FAMILY * 100}).json()
    assert not fits["over"] and fits["why"] == ""
