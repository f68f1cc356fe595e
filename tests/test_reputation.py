"""The reputation guard end to end, on SQLite and PostgreSQL: editions go out through the SendGrid
wire fake, SendGrid-shaped events come back as signed webhook posts, the figures move, the guard
pauses email through the pauses ledger (by the system, the numbers in the reason), the next send
stops like a staff pause, staff are emailed the numbers, and only an admin's resume lets it go."""

from __future__ import annotations

import email
from email import policy
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from compose.config import Config, Reputation
from connectors.channels.outbox_email import OutboxEmailChannel
from connectors.channels.sendgrid import SendGridChannel
from flows.notify import notify_failures
from flows.stages.deliver import deliver_edition
from state import events, figures, pauses
from state.db import Database
from state.models import AuditRow, EventRow, ReputationTripRow, SubscriberRow, SubscriberStatus
from state.roles import SYSTEM
from tests.fakes.fake_sendgrid import FakeSendGrid
from tests.fakes.sendgrid_events import EventMaker
from tests.helpers.desk_data import Clock
from tests.helpers.staff import add_staff_rows
from tests.test_deliver import KEY, NOW, SECRET, add_subscribers, make_config, make_edition
from web.app import create_app

ADMIN, APPROVER = "admin@socitm.example", "approver@socitm.example"


def config_with(tmp_path: Path, **reputation: object) -> Config:
    base = make_config(tmp_path, batch_size=10)
    return base.model_copy(update={"reputation": Reputation.model_validate({"min_sample": 20, **reputation})})


class World:
    """A ledger, the SendGrid fake, the web app receiving the webhook, and a clock."""

    def __init__(self, db: Database, fake: FakeSendGrid, tmp_path: Path, config: Config) -> None:
        self.db, self.fake, self.tmp_path, self.config = db, fake, tmp_path, config
        self.clock = Clock(NOW)
        self.maker = EventMaker(start=int(NOW.timestamp()))
        self.client = TestClient(create_app(config=config, db=db, secret_key=SECRET, now=self.clock,
                                            env={"SENDGRID_WEBHOOK_PUBLIC_KEY": self.maker.public_key}))
        with db.session() as session:
            add_staff_rows(session)

    def send(self, slug: str) -> tuple[int, object]:
        edition = make_edition(self.db, slug=slug, scheduled_for=self.clock.now)
        summary = deliver_edition(self.db, self.config, now=self.clock.now, edition_id=edition,
                                  channel=SendGridChannel(KEY, host=self.fake.url), secret_key=SECRET)
        return edition, summary

    def people(self, edition: int) -> list[tuple[dict, dict]]:
        return [(p, b) for p, b in self.maker.people(self.fake.bodies)
                if p["custom_args"]["edition_id"] == str(edition)]

    def post(self, batch: list[dict]) -> dict:
        raw, headers = self.maker.sign(batch, timestamp=int(self.clock.now.timestamp()))
        response = self.client.post("/webhooks/sendgrid", content=raw, headers=headers)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def fake():
    with FakeSendGrid(api_key=KEY) as server:
        yield server


def staff_notice(tmp_path: Path, db: Database, config: Config, now) -> str:
    outbox = OutboxEmailChannel(tmp_path / "staff-outbox", now=now)
    told = notify_failures(db, config, now=now, channel=outbox)
    assert told
    mails = sorted((tmp_path / "staff-outbox" / "email").glob("*/*.eml"))
    return email.message_from_bytes(mails[-1].read_bytes(), policy=policy.default).get_body(("plain",)).get_content()


def test_complaints_over_the_stop_threshold_pause_email_until_an_admin_resumes(db, fake, tmp_path):
    world = World(db, fake, tmp_path, config_with(tmp_path))
    add_subscribers(db, 40)
    first, summary = world.send("first")
    assert summary.sent and summary.accepted == 40
    people = world.people(first)
    delivered = [world.maker.event("delivered", p, b) for p, b in people]
    assert world.post(delivered)["reputation"] == "ok"
    with db.session() as session:
        assert pauses.stopping(session, pauses.EMAIL) is None
    # 1 spam report of 40 delivered is 2.5%: over 0.3%
    answer = world.post([world.maker.event("spamreport", *people[0])])
    assert answer["reputation"] == "stop"
    with db.session() as session:
        pause = pauses.stopping(session, pauses.EMAIL)
        shown = figures.edition_figures(session, first)
        assert session.get(SubscriberRow, int(people[0][0]["custom_args"]["subscriber_id"])).status == \
            SubscriberStatus.COMPLAINED
        audit = session.scalars(select(AuditRow).where(AuditRow.action == "pause")).one()
    assert pause is not None and pause.by == SYSTEM and pause.channel == pauses.EMAIL
    assert (shown.delivered, shown.complaints) == (40, 1)
    assert "complaint rate 2.50% (1 spam reports of 40 delivered)" in pause.reason
    assert "stop threshold 0.30%" in pause.reason and audit.actor == SYSTEM
    # staff are told, with the numbers, through the staff notice path
    text = staff_notice(tmp_path, db, world.config, world.clock.now)
    assert "complaint rate 2.50%" in text and "PAUSED" in text and "syndicate resume" in text

    # the next edition stops exactly like a staff pause: nothing leaves
    requests = len(fake.server.requests_to("/v3/mail/send"))
    world.clock.advance(days=1)
    second, summary = world.send("second")
    assert not summary.sent and summary.paused is not None and summary.paused["by"] == SYSTEM
    assert len(fake.server.requests_to("/v3/mail/send")) == requests
    # more events about the same numbers do not pause again once an admin resumed
    with db.session() as session:
        pauses.resume(session, channels=["email"], by=ADMIN, now=world.clock.now)
    world.post([world.maker.event("open", *people[1])])
    with db.session() as session:
        assert pauses.stopping(session, pauses.EMAIL) is None
    # the admin's resume covers the edition that waited in the pause: it goes, never to the complainer
    summary = deliver_edition(db, world.config, now=world.clock.now, edition_id=second,
                              channel=SendGridChannel(KEY, host=fake.url), secret_key=SECRET)
    assert summary.sent and summary.accepted == 39
    # a new edition while the last 7 days are still over the stop threshold: paused before its first batch
    requests = len(fake.server.requests_to("/v3/mail/send"))
    world.clock.advance(days=1)
    third, summary = world.send("third")
    assert not summary.sent and summary.paused is not None and "the last 7 days" in str(summary.paused["reason"])
    assert len(fake.server.requests_to("/v3/mail/send")) == requests
    with db.session() as session:
        pauses.resume(session, channels=["email"], by=ADMIN, now=world.clock.now)
    summary = deliver_edition(db, world.config, now=world.clock.now, edition_id=third,
                              channel=SendGridChannel(KEY, host=fake.url), secret_key=SECRET)
    assert summary.sent and summary.accepted == 39
    with db.session() as session:
        keys = sorted((t.key, t.level) for t in session.scalars(select(ReputationTripRow)))
    assert keys == [(f"edition-{first}", "stop"), (f"window-{first}", "stop"), (f"window-{second}", "stop"),
                    (f"window-{third}", "stop")]


def test_a_warning_tells_staff_and_pauses_nothing(db, fake, tmp_path):
    world = World(db, fake, tmp_path, config_with(tmp_path, complaint_rate_warn=0.01, complaint_rate_stop=0.05))
    add_subscribers(db, 50)
    edition, _ = world.send("first")
    people = world.people(edition)
    # 1 of 50 is 2%: over the 1% warning, under the 5% stop
    answer = world.post([world.maker.event("delivered", p, b) for p, b in people]
                        + [world.maker.event("spamreport", *people[3])])
    assert answer["reputation"] == "warn"
    with db.session() as session:
        assert pauses.stopping(session, pauses.EMAIL) is None
        warned = session.scalars(select(EventRow).where(EventRow.name == events.REPUTATION_WARNED)).all()
    assert {e.payload["key"] for e in warned} == {f"edition-{edition}", f"window-{edition}"}
    text = staff_notice(tmp_path, db, world.config, world.clock.now)
    assert "warning" in text and "complaint rate 2.00% (1 spam reports of 50 delivered)" in text
    assert "nothing is paused" in text
    # told once: the same numbers again tell nobody
    world.post([world.maker.event("open", *people[4])])
    assert notify_failures(db, world.config, now=world.clock.now,
                           channel=OutboxEmailChannel(tmp_path / "again", now=NOW)) == []


def test_one_complaint_in_a_small_send_stops_nothing(db, fake, tmp_path):
    world = World(db, fake, tmp_path, config_with(tmp_path, min_sample=500))
    add_subscribers(db, 10)
    edition, _ = world.send("first")
    people = world.people(edition)
    answer = world.post([world.maker.event("delivered", p, b) for p, b in people]
                        + [world.maker.event("spamreport", *people[0])])
    assert answer["reputation"] == "ok"
    with db.session() as session:
        assert pauses.stopping(session, pauses.EMAIL) is None
        assert session.scalars(select(ReputationTripRow)).all() == []
        # the complaint still suppresses the address for good, and counts
        assert figures.edition_figures(session, edition).complaints == 1


def test_hard_bounces_over_the_bounce_threshold_pause_and_suppress(db, fake, tmp_path):
    world = World(db, fake, tmp_path, config_with(tmp_path))
    add_subscribers(db, 30)
    edition, _ = world.send("first")
    people = world.people(edition)
    # 2 hard bounces of 30 sent is 6.7% (stop at 5%); blocks are not bounces
    batch = ([world.maker.event("bounce", *people[i]) for i in (0, 1)]
             + [world.maker.event("bounce", *people[i], type="blocked", bounce_classification="Reputation")
                for i in (2, 3, 4)]
             + [world.maker.event("delivered", p, b) for p, b in people[5:]])
    assert world.post(batch)["reputation"] == "stop"
    with db.session() as session:
        pause = pauses.stopping(session, pauses.EMAIL)
        shown = figures.edition_figures(session, edition)
        statuses = [session.get(SubscriberRow, int(p["custom_args"]["subscriber_id"])).status for p, _ in people[:5]]
    assert (shown.bounced, shown.blocked, shown.delivered) == (2, 3, 25)
    assert pause is not None and "bounce rate 6.67% (2 hard bounces of 30 sent)" in pause.reason
    assert statuses == [SubscriberStatus.BOUNCED] * 2 + [SubscriberStatus.ACTIVE] * 3


def test_a_pause_already_in_force_is_left_alone_and_the_trip_still_told(db, fake, tmp_path):
    world = World(db, fake, tmp_path, config_with(tmp_path))
    add_subscribers(db, 30)
    edition, _ = world.send("first")
    with db.session() as session:
        pauses.pause(session, reason="staff checking the template", by=APPROVER, now=world.clock.now)
    people = world.people(edition)
    world.post([world.maker.event("delivered", p, b) for p, b in people] + [world.maker.event("spamreport", *people[0])])
    with db.session() as session:
        active = pauses.active(session)
        stopped = session.scalars(select(EventRow).where(EventRow.name == events.REPUTATION_STOPPED)).all()
    assert [p.by for p in active] == [APPROVER]  # one pause, the staff one
    assert stopped and all(e.payload["pause_id"] is None for e in stopped)
    assert "email was already paused" in staff_notice(tmp_path, db, world.config, world.clock.now)


def test_the_guard_runs_before_each_batch(db, fake, tmp_path):
    """A send under way stops at its next batch when the window crosses the threshold mid-send:
    here the events of the previous edition arrive while the next is being sent, recorded straight
    in the ledger between two batches (a webhook post would pause it the same way, and sooner)."""
    world = World(db, fake, tmp_path, config_with(tmp_path))
    add_subscribers(db, 30)
    first, _ = world.send("first")
    people = world.people(first)
    from state import provider_events

    class Interrupting(SendGridChannel):
        sent = 0

        def send_batch(self, message, recipients):  # type: ignore[no-untyped-def]
            receipt = super().send_batch(message, recipients)
            Interrupting.sent += 1
            if Interrupting.sent == 1:
                with db.session() as session:
                    provider_events.apply_provider_events(
                        session, [world.maker.event("delivered", p, b) for p, b in people]
                        + [world.maker.event("spamreport", *people[0])], now=world.clock.now)
            return receipt

    config = world.config.model_copy(update={"email": world.config.email.model_copy(update={"concurrency": 1})})
    world.clock.advance(hours=1)
    second = make_edition(db, slug="second", scheduled_for=world.clock.now)
    summary = deliver_edition(db, config, now=world.clock.now, edition_id=second,
                              channel=Interrupting(KEY, host=fake.url), secret_key=SECRET)
    assert Interrupting.sent == 1 and not summary.sent and summary.paused is not None
    assert summary.paused["by"] == SYSTEM and summary.accepted == 10
