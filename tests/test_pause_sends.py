"""A pause stops a send under way at its next batch or post, and the first run after the resume goes on
where it stopped, never twice: on SQLite and PostgreSQL, with the real SendGrid and X client
libraries talking to the loopback fakes. The pause lands from another connection while a request is
in flight (the fake's handler writes it to the ledger before it answers), as a member of staff's
click would land mid-send."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import select

from flows.stages.deliver import deliver_edition
from state import pauses
from state.db import Database
from state.models import DeliveryRow, DeliveryStatus, EditionRow, EditionStatus, PostStatus, ThreadStatus
from tests.fakes import fake_x
from tests.fakes.fake_sendgrid import FakeSendGrid
from tests.fakes.server import FakeServer, RecordedRequest, Reply
from tests.helpers.staff import add_staff_rows
from tests.test_deliver import KEY, NOW, SECRET, add_subscribers, make_config, make_edition, sendgrid
from tests.test_publish import NOW as POST_NOW
from tests.test_publish import THREE, add_thread, post_requests, posts_of, publish, thread_of
from tests.test_publish import make_config as publish_config

STAFF = {"ap@example.org": "approver", "boss@example.org": "admin"}
REASON = "a story in this edition is wrong: hold everything"


def _pause(db: Database, channels: list[str] | None, *, at=NOW) -> None:
    with db.session() as session:
        add_staff_rows(session, STAFF)
        pauses.pause(session, channels=channels, reason=REASON, by="ap@example.org", now=at)


def _resume(db: Database, *, at=NOW + timedelta(hours=1)) -> None:
    with db.session() as session:
        pauses.resume(session, by="boss@example.org", now=at)


def _pause_during(server: FakeServer, path: str, nth: int, pause: Callable[[], None]) -> dict[str, int]:
    """Run `pause` while the `nth` request to `path` is being answered (after the service took it);
    returns how many requests to `path` had arrived when the pause was committed."""
    app, seen, record = server.app, [0], {"arrived_by_pause": -1}

    def answer(request: RecordedRequest) -> Reply:
        reply = app(request)
        if request.path == path and reply.status < 300:
            seen[0] += 1
            if seen[0] == nth:
                pause()
                record["arrived_by_pause"] = len(server.requests_to(path))
        return reply

    server.app = answer
    return record


# --- email ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("channel", [["email"], None])
def test_a_pause_between_two_batches_stops_the_edition_and_the_resume_sends_everyone_else_once(db, tmp_path, channel):
    add_subscribers(db, 35)
    edition = make_edition(db)
    config = make_config(tmp_path, batch_size=10, concurrency=1)
    with FakeSendGrid(api_key=KEY) as fake:
        _pause_during(fake.server, "/v3/mail/send", 2, lambda: _pause(db, channel))
        first = deliver_edition(db, config, now=NOW, channel=sendgrid(fake), secret_key=SECRET)
        assert (first.accepted, first.sent) == (20, False)
        assert first.paused is not None and first.paused["by"] == "ap@example.org" and first.paused["reason"] == REASON
        assert "is paused by ap@example.org since Thu 26 Nov 2026, 10:00 GMT" in first.message
        assert REASON in first.message and "syndicate resume --by EMAIL" in first.message
        with db.session() as session:
            assert session.get(EditionRow, edition).status == EditionStatus.SENDING
            left = session.scalars(select(DeliveryRow.subscriber_id).where(
                DeliveryRow.status == DeliveryStatus.PLANNED).order_by(DeliveryRow.subscriber_id)).all()
        assert left == list(range(21, 36))

        waiting = deliver_edition(db, config, now=NOW + timedelta(minutes=30), channel=sendgrid(fake), secret_key=SECRET)
        assert waiting.edition_id == edition and waiting.paused is not None and waiting.accepted == 20
        assert "was not sent" in waiting.message and REASON in waiting.message
        assert len(fake.server.requests_to("/v3/mail/send")) == 2

        _resume(db)
        done = deliver_edition(db, config, now=NOW + timedelta(hours=1), channel=sendgrid(fake), secret_key=SECRET)
        assert (done.accepted, done.recipients, done.sent, done.paused) == (35, 35, True, None)
        assert fake.received == {i: 1 for i in range(1, 36)}
        assert len(fake.server.requests_to("/v3/mail/send")) == 4
    with db.session() as session:
        assert session.get(EditionRow, edition).status == EditionStatus.SENT


def test_with_several_senders_a_pause_lets_only_the_batches_in_flight_finish_and_nobody_gets_two(db, tmp_path):
    add_subscribers(db, 60)
    make_edition(db)
    config = make_config(tmp_path, batch_size=10, concurrency=2)
    with FakeSendGrid(api_key=KEY) as fake:
        record = _pause_during(fake.server, "/v3/mail/send", 2, lambda: _pause(db, ["email"]))
        first = deliver_edition(db, config, now=NOW, channel=sendgrid(fake), secret_key=SECRET)
        assert first.paused is not None and 20 <= first.accepted < 60 and not first.sent
        # after the pause is in the ledger, only a batch another sender claimed before it may still leave
        assert len(fake.server.requests_to("/v3/mail/send")) - record["arrived_by_pause"] <= 1
        _resume(db)
        done = deliver_edition(db, config, now=NOW + timedelta(hours=1), channel=sendgrid(fake), secret_key=SECRET)
        assert done.sent and fake.received == {i: 1 for i in range(1, 61)}


def test_a_pause_before_the_send_time_keeps_the_edition_approved_and_plans_nothing(db, tmp_path):
    add_subscribers(db, 5)
    edition = make_edition(db)
    _pause(db, ["email"], at=NOW - timedelta(hours=1))
    config = make_config(tmp_path)
    with FakeSendGrid(api_key=KEY) as fake:
        held = deliver_edition(db, config, now=NOW, channel=sendgrid(fake), secret_key=SECRET)
        assert held.edition_id == edition and held.accepted == 0 and held.paused["channel"] == "email"
        assert "since Thu 26 Nov 2026, 09:00 GMT" in held.message
        assert fake.server.requests_to("/v3/mail/send") == []
        with db.session() as session:
            assert session.get(EditionRow, edition).status == EditionStatus.APPROVED
            assert not session.scalars(select(DeliveryRow)).all()
        _resume(db)
        assert deliver_edition(db, config, now=NOW + timedelta(hours=1), channel=sendgrid(fake),
                               secret_key=SECRET).sent
        assert fake.received == {i: 1 for i in range(1, 6)}


def test_pausing_a_network_does_not_stop_the_email(db, tmp_path):
    add_subscribers(db, 3)
    make_edition(db)
    _pause(db, ["x", "mastodon", "bluesky"])
    with FakeSendGrid(api_key=KEY) as fake:
        summary = deliver_edition(db, make_config(tmp_path), now=NOW, channel=sendgrid(fake), secret_key=SECRET)
        assert summary.sent and summary.paused is None and fake.received == {1: 1, 2: 1, 3: 1}


# --- posts ----------------------------------------------------------------------------------------


@pytest.fixture
def x_fake():
    state = fake_x.FakeX(consumer_key="ck-publish", access_token="at-publish")
    with state.server() as server:
        yield state, server


@pytest.mark.parametrize("channel", [["x"], None])
def test_a_pause_between_two_posts_of_a_thread_stops_it_and_the_resume_posts_the_rest_once_in_order(
        db, x_fake, tmp_path, channel):
    state, server = x_fake
    config = publish_config(tmp_path)
    thread_id = add_thread(db)
    _pause_during(server, "/2/tweets", 1, lambda: _pause(db, channel, at=POST_NOW))
    first = publish(db, config, server)
    assert first.posted == 1 and first.threads_done == []
    assert first.held == [f"thread {thread_id} (x): paused after 1 of 3 post(s)"]
    assert "1 X thread(s) wait: " in first.message and "is paused by ap@example.org" in first.message
    assert REASON in first.message and first.paused["x"].startswith(("X is paused", "everything is paused"))
    assert [p.status for p in posts_of(db, thread_id)] == [PostStatus.POSTED, PostStatus.PENDING, PostStatus.PENDING]
    assert thread_of(db, thread_id).status == ThreadStatus.PUBLISHING

    still = publish(db, config, server, now=POST_NOW + timedelta(minutes=30))
    assert still.posted == 0 and still.held == [f"thread {thread_id} (x): paused before it started"]
    assert len(post_requests(server)) == 1

    _resume(db, at=POST_NOW + timedelta(minutes=45))
    done = publish(db, config, server, now=POST_NOW + timedelta(hours=1))
    assert done.posted == 2 and done.threads_done == [thread_id] and done.paused == {}
    sent = [request.json() for request in post_requests(server)]
    assert [body["text"] for body in sent] == list(THREE)
    rows = posts_of(db, thread_id)
    assert [p["in_reply_to"] for p in state.posts] == [None, rows[0].provider_id, rows[1].provider_id]
    assert thread_of(db, thread_id).status == ThreadStatus.PUBLISHED


def test_a_pause_while_a_post_waits_to_be_retried_stops_the_retry(db, x_fake, tmp_path):
    state, server = x_fake
    thread_id = add_thread(db, ("one post",))
    server.inject(fake_x.server_error(503))

    class PauseWhileWaiting(list[float]):  # the run's sleep: a member of staff pauses X while the retry waits
        def append(self, seconds: float) -> None:
            super().append(seconds)
            _pause(db, ["x"], at=POST_NOW)

    waits = PauseWhileWaiting()
    summary = publish(db, publish_config(tmp_path), server, sleeps=waits)
    assert waits == [1.0] and summary.posted == 0 and summary.held == [f"thread {thread_id} (x): paused after 0 of 1 post(s)"]
    assert len(post_requests(server)) == 1 and state.posts == []
    _resume(db, at=POST_NOW + timedelta(minutes=45))
    assert publish(db, publish_config(tmp_path), server, now=POST_NOW + timedelta(hours=1)).threads_done == [thread_id]
    assert len(state.posts) == 1


def test_pausing_the_email_or_another_network_does_not_stop_x(db, x_fake, tmp_path):
    state, server = x_fake
    thread_id = add_thread(db)
    _pause(db, ["email", "mastodon"], at=POST_NOW)
    summary = publish(db, publish_config(tmp_path), server)
    assert summary.threads_done == [thread_id] and summary.paused == {} and len(state.posts) == 3


def test_a_paused_network_waits_while_another_goes(db, x_fake, tmp_path):
    state, server = x_fake
    x_thread = add_thread(db)
    other = add_thread(db, ("to the outbox",), key="item:2", network="mastodon")
    _pause(db, ["x"], at=POST_NOW)
    config = publish_config(tmp_path)
    summary = publish(db, config, server)
    assert summary.threads_done == [other] and summary.held == [f"thread {x_thread} (x): paused before it started"]
    assert post_requests(server) == []


# --- what the flow runs record ----------------------------------------------------------------------


def test_the_flow_artifacts_say_paused_by_whom_since_when_and_why_and_the_run_needs_no_staff(db, x_fake, tmp_path):
    from flows.artifacts import publish_attention, publish_markdown, send_attention, send_table

    add_subscribers(db, 2)
    make_edition(db)
    add_thread(db)
    _pause(db, None, at=NOW - timedelta(hours=1))
    with FakeSendGrid(api_key=KEY) as fake:
        delivered = [deliver_edition(db, make_config(tmp_path), now=NOW, channel=sendgrid(fake),
                                     secret_key=SECRET).as_dict()]
    _, server = x_fake
    published = publish(db, publish_config(tmp_path), server).as_dict()
    with db.session() as session:
        table = send_table(session, delivered, [], public_url="https://news.example.org")
        markdown = publish_markdown(session, published, since=POST_NOW, public_url="https://news.example.org")
    assert table is not None and table.rows[0]["outcome"] == (
        f"paused: everything is paused by ap@example.org since Thu 26 Nov 2026, 09:00 GMT: {REASON}")
    assert markdown is not None and "## Paused" in markdown.text and REASON in markdown.text
    assert "thread 1 (x): paused before it started" in markdown.text and "1 network(s) paused" in markdown.description
    assert send_attention(delivered) is None and publish_attention(published) is None
