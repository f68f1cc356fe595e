"""Publishing threads to X at the wire (real tweepy against the fake X), on SQLite and PostgreSQL:
approval bound to the exact text, daily cap and spacing, every way X refuses a post, and the
reconciliation of a post an interrupted run left `posting`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from compose.config import Config
from compose.threads import thread_hash
from connectors.channels.outbox_posts import OutboxPostChannel
from connectors.channels.x import XChannel
from connectors.errors import PermanentError
from flows.stages.publish import PublishSummary, publish_due_posts
from state import ledger
from state.db import Database
from state.models import ItemRow, PostRow, PostStatus, SourceRow, ThreadRow, ThreadStatus
from state.threads import draft_item_posts
from tests.fakes import fake_x
from tests.fakes.fake_x import FakeX
from tests.fakes.server import FakeServer, Fault
from tests.helpers.staff import add_staff_rows

NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)
CREDENTIALS = {"X_API_KEY": "ck-publish", "X_API_SECRET": "cs-secret", "X_ACCESS_TOKEN": "at-publish",
               "X_ACCESS_TOKEN_SECRET": "ats-secret"}
THREE = ("1/3 This week in In Our View", "2/3 Councils adopt standards https://socitm.net/a", "3/3 Subscribe")


def make_config(tmp_path: Path, *, sources: list[dict] | None = None, **x_settings: object) -> Config:
    return Config.model_validate({
        "organisation": {"name": "Example Org", "site_url": "https://example.org", "postal_address": "1 High St"},
        "edition": {"from_email": "news@example.org", "from_name": "Example News", "reply_to": "ed@example.org",
                    "public_url": "https://news.example.org"},
        "sections": [{"key": "news", "title": "News"}],
        "sources": sources or [],
        "social": {"outbox_dir": str(tmp_path / "outbox"), "x": x_settings},
    })


def add_thread(db: Database, texts: tuple[str, ...] = THREE, *, key: str = "item:1", network: str = "x",
               approve: bool = True, scheduled_for: datetime | None = NOW) -> int:
    """A thread as drafted (posts pending), approved by a member of staff unless told not to."""
    with db.session() as session:
        row = ThreadRow(network=network, key=key, kind="item", status=ThreadStatus.DRAFT,
                        content_hash=thread_hash(texts), created_at=NOW - timedelta(hours=1),
                        scheduled_for=scheduled_for)
        row.posts = [PostRow(position=i, text=text, status=PostStatus.PENDING, attempts=0)
                     for i, text in enumerate(texts)]
        session.add(row)
        session.flush()
        add_staff_rows(session, {"comms@example.org": "admin"})
        if approve:
            ledger.approve(session, "thread", row.id, by="comms@example.org", now=NOW - timedelta(minutes=30))
        return row.id


def x_channels(server: FakeServer, *, timeout_s: float = 2.0, clock: datetime = NOW,
               outbox_dir: str | Path | None = None) -> Callable[[str], object]:
    """X through the fake; any other network to the outbox (the config's, in the test's tmp_path)."""
    def channel_for(network: str):
        if network == "x":
            return XChannel.from_env({**CREDENTIALS, "X_API_BASE_URL": server.url}, timeout_s=timeout_s,
                                     clock=lambda: clock.timestamp())
        assert outbox_dir is not None, f"this test has no outbox for {network}"
        return OutboxPostChannel(network, outbox_dir)
    return channel_for


def publish(db: Database, config: Config, server: FakeServer, *, now: datetime = NOW,
            sleeps: list[float] | None = None, **kwargs: object) -> PublishSummary:
    sleeps = [] if sleeps is None else sleeps
    kwargs.setdefault("channel_for", x_channels(server, clock=now, outbox_dir=config.social.outbox_dir))
    return publish_due_posts(db.sessions, config, now=now, sleep=sleeps.append, **kwargs)


def posts_of(db: Database, thread_id: int) -> list[PostRow]:
    with db.session() as session:
        return list(session.scalars(select(PostRow).where(PostRow.thread_id == thread_id).order_by(PostRow.position)))


def thread_of(db: Database, thread_id: int) -> ThreadRow:
    with db.session() as session:
        return session.get(ThreadRow, thread_id)


def post_requests(server: FakeServer) -> list:
    return server.requests_to("/2/tweets", "POST")


@pytest.fixture
def fake() -> Iterator[tuple[FakeX, FakeServer]]:
    state = FakeX(consumer_key=CREDENTIALS["X_API_KEY"], access_token=CREDENTIALS["X_ACCESS_TOKEN"])
    with state.server() as server:
        yield state, server


def test_a_thread_goes_out_as_one_reply_chain_and_never_twice(db, fake, tmp_path):
    state, server = fake
    thread_id = add_thread(db)
    summary = publish(db, make_config(tmp_path), server)
    assert summary.posted == 3 and summary.threads_done == [thread_id]
    rows = posts_of(db, thread_id)
    assert [p.provider_id for p in rows] == [p["id"] for p in state.posts]
    assert [p["in_reply_to"] for p in state.posts] == [None, rows[0].provider_id, rows[1].provider_id]
    assert thread_of(db, thread_id).status == ThreadStatus.PUBLISHED
    again = publish(db, make_config(tmp_path), server, now=NOW + timedelta(hours=1))
    assert again.posted == 0 and len(post_requests(server)) == 3


def test_approval_is_bound_to_the_exact_text(db, fake, tmp_path):
    _, server = fake
    config = make_config(tmp_path)
    unapproved = add_thread(db, ("waiting for staff",), key="item:2", approve=False)
    thread_id = add_thread(db)
    with db.session() as session:  # a post edited after approval, behind the review desk's back
        session.scalars(select(PostRow).where(PostRow.thread_id == thread_id, PostRow.position == 1)).one().text = (
            "2/3 Councils adopt something else entirely")
    summary = publish(db, config, server)
    assert summary.posted == 0 and post_requests(server) == []
    assert any("changed after approval" in line for line in summary.failed)
    assert thread_of(db, thread_id).status == ThreadStatus.DRAFT  # back in the approval queue
    assert thread_of(db, unapproved).status == ThreadStatus.DRAFT
    with db.session() as session:
        assert not ledger.is_approved(session, "thread", thread_id)
        ledger.approve(session, "thread", thread_id, by="comms@example.org", now=NOW)
    assert publish(db, config, server).posted == 3
    assert [r.json()["text"] for r in post_requests(server)][1] == "2/3 Councils adopt something else entirely"


def test_auto_approved_sources_publish_without_staff(db, fake, tmp_path):
    _, server = fake
    config = make_config(tmp_path, sources=[
        {"name": "trusted", "kind": "feed", "url": "https://example.org/a.xml", "section": "news", "auto_approve": True},
        {"name": "other", "kind": "feed", "url": "https://example.org/b.xml", "section": "news"}])
    with db.session() as session:
        for n, name in enumerate(("trusted", "other"), start=1):
            source = SourceRow(name=name, kind="feed", url=f"https://example.org/{n}.xml", section="news")
            session.add(source)
            session.flush()
            session.add(ItemRow(key=f"https://example.org/{name}", url=f"https://example.org/{name}",
                                title=f"Story from {name}", section="news", source_id=source.id, content_hash=name,
                                published_at=NOW - timedelta(hours=2), first_seen_at=NOW - timedelta(hours=2)))
        session.flush()
        drafted = draft_item_posts(session, config, now=NOW - timedelta(minutes=10))
    assert len(drafted) == 2
    summary = publish(db, config, server)
    assert summary.posted == 1 and summary.threads_done == [drafted[0]]
    assert "Story from trusted" in post_requests(server)[0].json()["text"]
    assert thread_of(db, drafted[1]).status == ThreadStatus.DRAFT  # the other source waits for staff


def test_daily_cap_keeps_threads_whole_and_a_long_thread_resumes_the_chain_next_day(db, fake, tmp_path):
    state, server = fake
    config = make_config(tmp_path, daily_cap=4, min_spacing_minutes=0)
    first = add_thread(db)
    second = add_thread(db, ("a", "b", "c"), key="item:2")
    summary = publish(db, config, server)
    assert summary.threads_done == [first] and "would pass the daily cap of 4" in summary.waiting[0]
    assert len(state.posts) == 3
    long = add_thread(db, tuple(f"long {n}" for n in range(6)), key="item:3")
    day2 = publish(db, config, server, now=NOW + timedelta(days=1, minutes=1))
    assert day2.threads_done == [second] and day2.posted == 4 and "daily cap of 4 posts reached" in day2.waiting[0]
    assert publish(db, config, server, now=NOW + timedelta(days=2, minutes=2)).posted == 4
    day4 = publish(db, config, server, now=NOW + timedelta(days=3, minutes=3))
    assert day4.threads_done == [long] and day4.posted == 1
    chain = [p for p in state.posts if p["text"].startswith("long")]
    assert [p["in_reply_to"] for p in chain[1:]] == [p["id"] for p in chain[:-1]]


def test_minimum_spacing_between_threads(db, fake, tmp_path):
    state, server = fake
    config = make_config(tmp_path, min_spacing_minutes=5)
    add_thread(db, ("one",), key="item:1")
    add_thread(db, ("two",), key="item:2")
    summary = publish(db, config, server)
    assert summary.posted == 1 and "minimum spacing of 5 minutes" in summary.waiting[0]
    assert publish(db, config, server, now=NOW + timedelta(minutes=4)).posted == 0
    assert publish(db, config, server, now=NOW + timedelta(minutes=5)).posted == 1
    assert [p["text"] for p in state.posts] == ["one", "two"]


def test_refused_replies_fall_back_to_standalone_posts(db, fake, tmp_path):
    state, server = fake
    thread_id = add_thread(db)
    state.refuse_replies = True
    summary = publish(db, make_config(tmp_path, reply_fallback="standalone"), server)
    assert summary.threads_done == [thread_id] and summary.posted == 3
    assert [p["in_reply_to"] for p in state.posts] == [None, None, None]
    assert len(post_requests(server)) == 4  # one refused reply, then the rest standalone without asking again
    assert all(p.status == PostStatus.POSTED for p in posts_of(db, thread_id))


def test_refused_replies_stop_the_thread_for_staff(db, fake, tmp_path):
    state, server = fake
    thread_id = add_thread(db)
    state.refuse_replies = True
    summary = publish(db, make_config(tmp_path, reply_fallback="stop"), server)
    assert "replies refused" in summary.failed[0] and len(state.posts) == 1
    assert [p.status for p in posts_of(db, thread_id)] == [PostStatus.POSTED, PostStatus.FAILED, PostStatus.PENDING]
    assert thread_of(db, thread_id).status == ThreadStatus.FAILED
    assert publish(db, make_config(tmp_path), server, now=NOW + timedelta(hours=1)).posted == 0


def test_401_stops_the_network_and_the_thread_resumes_with_new_credentials(db, fake, tmp_path):
    state, server = fake
    config = make_config(tmp_path, min_spacing_minutes=0)
    first = add_thread(db, ("one",), key="item:1")
    add_thread(db, ("two",), key="item:2")
    elsewhere = add_thread(db, ("on mastodon",), key="item:3", network="mastodon")
    server.inject(fake_x.unauthorized())
    summary = publish(db, config, server)
    assert "credentials refused" in summary.failed[0] and len(post_requests(server)) == 1  # no second X thread
    assert summary.threads_done == [elsewhere]  # other networks go on
    assert posts_of(db, first)[0].status == PostStatus.FAILED and thread_of(db, first).status == ThreadStatus.APPROVED
    assert publish(db, config, server, now=NOW + timedelta(minutes=10)).posted == 2
    assert [p["text"] for p in state.posts] == ["one", "two"]


def test_403_duplicate_is_recorded_and_not_retried(db, fake, tmp_path):
    _, server = fake
    thread_id = add_thread(db)
    server.inject(fake_x.duplicate())
    summary = publish(db, make_config(tmp_path), server)
    assert "duplicate content, not retried" in summary.failed[0]
    assert posts_of(db, thread_id)[0].status == PostStatus.DUPLICATE
    assert publish(db, make_config(tmp_path), server, now=NOW + timedelta(days=1)).posted == 0
    assert len(post_requests(server)) == 1


def test_a_refusal_without_a_row_of_its_own_fails_the_thread_for_staff_unretried(db, fake, tmp_path):
    """A 400 (`PermanentError`) has no row in the refusal table: its nearest base class's
    (`DeliveryError`) says what it means. No retry in the run, none in the next."""
    _, server = fake
    thread_id = add_thread(db)
    server.inject(Fault(status=400, json={"title": "Invalid Request", "detail": "One or more parameters to your "
                                          "request was invalid.", "type": "about:blank", "status": 400}))
    sleeps: list[float] = []
    summary = publish(db, make_config(tmp_path), server, sleeps=sleeps)
    assert summary.failed == [f"thread {thread_id} (x): x: post refused (400) (hint: fix the post; retrying it "
                              "unchanged will fail again)"] and sleeps == [] and summary.waiting == []
    assert [p.status for p in posts_of(db, thread_id)] == [PostStatus.FAILED, PostStatus.PENDING, PostStatus.PENDING]
    assert thread_of(db, thread_id).status == ThreadStatus.FAILED
    assert publish(db, make_config(tmp_path), server, now=NOW + timedelta(hours=1)).posted == 0
    assert len(post_requests(server)) == 1


@pytest.mark.parametrize(("reset_in_s", "expected_wait_s"), [(120, 120), (None, XChannel.default_rate_limit_wait_s)])
def test_429_moves_the_networks_threads_past_the_reset_without_a_hot_loop(db, fake, tmp_path, reset_in_s,
                                                                          expected_wait_s):
    state, server = fake
    config = make_config(tmp_path, min_spacing_minutes=0)
    first = add_thread(db)
    second = add_thread(db, ("another",), key="item:2")
    server.inject(fake_x.rate_limited(reset_at=None if reset_in_s is None else int(NOW.timestamp()) + reset_in_s))
    sleeps: list[float] = []
    summary = publish(db, config, server, sleeps=sleeps)
    assert "rate limited until" in summary.waiting[0] and len(post_requests(server)) == 1 and sleeps == []
    not_before = NOW + timedelta(seconds=expected_wait_s)
    assert thread_of(db, first).scheduled_for == not_before == thread_of(db, second).scheduled_for
    early = publish(db, config, server, now=not_before - timedelta(seconds=1))
    assert early.posted == 0 and len(post_requests(server)) == 1
    assert publish(db, config, server, now=not_before).posted == 4
    assert [p["in_reply_to"] for p in state.posts][:3] == [None, state.posts[0]["id"], state.posts[1]["id"]]


def test_5xx_is_retried_with_backoff_then_left_for_the_next_run(db, fake, tmp_path):
    state, server = fake
    config = make_config(tmp_path)
    thread_id = add_thread(db)
    server.inject(fake_x.server_error(503), fake_x.server_error(500))
    sleeps: list[float] = []
    assert publish(db, config, server, sleeps=sleeps).posted == 3 and sleeps == [1.0, 2.0]
    assert posts_of(db, thread_id)[0].attempts == 3
    other = add_thread(db, ("still down",), key="item:2")
    server.inject(*[fake_x.server_error(503) for _ in range(4)])
    sleeps.clear()
    later = NOW + timedelta(hours=1)
    summary = publish(db, config, server, now=later, sleeps=sleeps)
    assert sleeps == [1.0, 2.0, 4.0] and "retried next run" in summary.waiting[0]
    assert posts_of(db, other)[0].status == PostStatus.FAILED and thread_of(db, other).status == ThreadStatus.APPROVED
    assert publish(db, config, server, now=later + timedelta(hours=1)).threads_done == [other]
    assert len(state.posts) == 4


def test_a_lost_answer_is_looked_up_not_resent(db, fake, tmp_path):
    state, server = fake
    thread_id = add_thread(db)
    server.inject(fake_x.Fault(accept=True, delay_s=3.0, path="/2/tweets"))  # post 0 lands, its answer is lost
    summary = publish(db, make_config(tmp_path), server, channel_for=x_channels(server, timeout_s=1.0))
    assert summary.threads_done == [thread_id] and len(state.posts) == 3 and len(post_requests(server)) == 3
    assert [p.provider_id for p in posts_of(db, thread_id)] == [p["id"] for p in state.posts]


def _left_posting(db: Database, thread_id: int, position: int) -> None:
    """What a run killed mid-request leaves: posts before `position` posted, this one `posting`."""
    with db.session() as session:
        thread = session.get(ThreadRow, thread_id)
        for post in thread.posts[:position + 1]:
            ledger.mark_post_posting(session, post)
            if post.position < position:
                ledger.mark_post_posted(session, post, provider_id=f"{1_700_000_000_000_000_000 + post.position}",
                                        url=None, now=NOW)


@pytest.mark.parametrize("landed", [True, False])
def test_a_post_left_posting_is_reconciled_with_the_network(db, fake, tmp_path, landed):
    state, server = fake
    thread_id = add_thread(db)
    if landed:  # the network accepted post 0 before the run died
        channel = x_channels(server)("x")
        channel.publish(THREE[0])
        channel.close()
    _left_posting(db, thread_id, 0)
    summary = publish(db, make_config(tmp_path), server)
    assert summary.threads_done == [thread_id] and summary.reconciled == int(landed)
    assert [p["text"] for p in state.posts] == list(THREE)  # no duplicate, nothing missing
    assert [p["in_reply_to"] for p in state.posts] == [None, state.posts[0]["id"], state.posts[1]["id"]]


def test_a_post_whose_fate_cannot_be_learnt_is_held_for_staff(db, fake, tmp_path):
    state, server = fake
    thread_id = add_thread(db)
    _left_posting(db, thread_id, 0)
    server.inject(*[fake_x.Fault(status=503, json={"title": "down"}, path="/2/users/") for _ in range(4)])
    sleeps: list[float] = []
    summary = publish(db, make_config(tmp_path), server, sleeps=sleeps)
    assert "ambiguous post: held for staff" in summary.failed[0] and sleeps == [1.0, 2.0, 4.0]
    assert posts_of(db, thread_id)[0].status == PostStatus.AMBIGUOUS
    assert thread_of(db, thread_id).status == ThreadStatus.FAILED and post_requests(server) == []


def test_a_channel_that_cannot_look_up_holds_the_post(db, tmp_path):
    class BlindChannel:
        name = "x"
        max_weighted_length = 280

        def publish(self, text, *, reply_to=None, thread_key=""):
            raise AssertionError("a post left posting must never be resent blind")

        def find_post(self, text, *, reply_to=None, thread_key=""):
            raise PermanentError("x: the network's search is switched off for this account", status=403)

        def close(self) -> None:
            pass

    thread_id = add_thread(db)
    _left_posting(db, thread_id, 1)
    summary = publish_due_posts(db.sessions, make_config(tmp_path), now=NOW, channel_for=lambda n: BlindChannel())
    assert "held for staff" in summary.failed[0]
    assert [p.status for p in posts_of(db, thread_id)] == [PostStatus.POSTED, PostStatus.AMBIGUOUS, PostStatus.PENDING]


def test_a_post_over_the_limit_now_is_not_published(db, fake, tmp_path):
    """Approved at 280, published under a lower `max_characters`: nothing is sent, staff are told."""
    _, server = fake
    thread_id = add_thread(db, ("A" * 120, "B" * 90))
    summary = publish(db, make_config(tmp_path, max_characters=100), server)
    assert summary.posted == 0 and post_requests(server) == []
    assert any("post 1 is 120 / 100 (20 over)" in line for line in summary.failed)
    thread = thread_of(db, thread_id)
    assert thread.status == ThreadStatus.FAILED and "20 over" in (thread.error or "")
    assert [p.status for p in posts_of(db, thread_id)] == [PostStatus.FAILED, PostStatus.PENDING]


def test_the_summary_says_where_posts_went_a_network_or_the_outbox_folder(db, fake, tmp_path):
    _, server = fake
    config = make_config(tmp_path)
    add_thread(db, key="item:1", network="x")
    add_thread(db, key="item:2", network="mastodon")
    summary = publish(db, config, server)
    folder = (Path(config.social.outbox_dir) / "mastodon").as_posix()
    assert summary.where == {"x": "posted to X", "mastodon": f"written to the outbox, not posted ({folder}/)"}
    assert summary.message.endswith(f"Mastodon: written to the outbox, not posted ({folder}/); X: posted to X")
    assert summary.as_dict()["message"] == summary.message
    assert publish(db, config, server, now=NOW + timedelta(hours=1)).message == "0 post(s) published, 0 thread(s) complete"
