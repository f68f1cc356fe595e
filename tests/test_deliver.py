"""deliver_edition end to end on a real ledger: planning, batches, errors, refusal, outbox, resume."""

from __future__ import annotations

import email
from datetime import UTC, datetime, timedelta
from email import policy
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from compose.config import Config
from compose.signing import verify_unsubscribe
from connectors.channels.outbox_email import OutboxEmailChannel
from connectors.channels.sendgrid import SendGridChannel
from flows.stages.deliver import deliver_edition
from state import deliveries, ledger
from state.db import Database, connect
from state.models import (
    BatchStatus,
    DeliveryBatchRow,
    DeliveryRow,
    EditionRow,
    EditionStatus,
    EventRow,
    SubscriberRow,
    SubscriberStatus,
)
from state.subscribers import unsubscribe
from tests.fakes.fake_sendgrid import FakeSendGrid
from tests.fakes.server import Fault
from tests.helpers.staff import add_staff_rows

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
SECRET = "test-secret-key-not-for-production"
KEY = "SG.test-key"


def make_config(tmp_path: Path, **email_settings: object) -> Config:
    return Config.model_validate({
        "organisation": {"name": "Example Org", "site_url": "https://example.org", "postal_address": "1 High St, Town"},
        "edition": {"from_email": "news@example.org", "from_name": "Example News", "reply_to": "editors@example.org",
                    "public_url": "https://news.example.org"},
        "sections": [{"key": "news", "title": "News"}],
        "email": {"outbox_dir": str(tmp_path / "outbox"), "concurrency": 2, **email_settings},
    })


def add_subscribers(db: Database, n: int, *, now: datetime = NOW) -> None:
    rows = [{"email": f"reader{i}@example.com", "name": f"Reader {i}", "status": SubscriberStatus.ACTIVE,
             "consent_source": "test", "created_at": now} for i in range(1, n + 1)]
    with db.session() as session:
        for start in range(0, len(rows), 5000):
            session.execute(insert(SubscriberRow), rows[start:start + 5000])


def make_edition(db: Database, *, approve: bool = True, scheduled_for: datetime | None = NOW,
                 slug: str = "2026-11-26") -> int:
    with db.session() as session:
        row = EditionRow(slug=slug, title="In Our View", subject="In Our View for {{first_name}}",
                         html="<p>Hello {{first_name}}</p><a href=\"{{unsubscribe_url}}\">Unsubscribe</a>",
                         text="Hello {{first_name}}\nUnsubscribe: {{unsubscribe_url}}", content_hash="h1",
                         built_at=NOW - timedelta(hours=1), scheduled_for=scheduled_for)
        session.add(row)
        session.flush()
        if approve:
            add_staff_rows(session, {"editor@example.org": "approver"})
            ledger.approve(session, "edition", row.id, by="editor@example.org", now=NOW - timedelta(minutes=30))
        return row.id


@pytest.fixture
def ledger_db(tmp_path: Path):
    database = connect(f"sqlite:///{tmp_path}/t.db")
    yield database
    database.dispose()


@pytest.fixture
def fake():
    with FakeSendGrid(api_key=KEY) as server:
        yield server


def sendgrid(fake: FakeSendGrid, timeout_s: float = 5.0) -> SendGridChannel:
    return SendGridChannel(KEY, host=fake.url, timeout_s=timeout_s)


def test_sends_every_subscriber_once_in_batches_and_marks_sent(ledger_db, fake, tmp_path):
    add_subscribers(ledger_db, 25)
    edition = make_edition(ledger_db)
    config = make_config(tmp_path, batch_size=10)
    summary = deliver_edition(ledger_db, config, now=NOW, channel=sendgrid(fake), secret_key=SECRET)
    assert (summary.edition_id, summary.recipients, summary.accepted, summary.sent) == (edition, 25, 25, True)
    assert len(fake.server.requests_to("/v3/mail/send")) == 3
    assert fake.received == {i: 1 for i in range(1, 26)}
    person = fake.bodies[0]["personalizations"][0]
    token = person["substitutions"]["{{unsubscribe_url}}"].rsplit("/", 1)[1]
    assert verify_unsubscribe(SECRET, token, now=NOW + timedelta(days=90)) == (int(person["custom_args"]["subscriber_id"]), edition)
    with ledger_db.session() as session:
        assert ledger.get_edition(session, edition).status == EditionStatus.SENT
        assert session.scalars(select(EventRow.name).where(EventRow.name == "syndicate.edition.sent")).all()
    assert deliver_edition(ledger_db, config, now=NOW, channel=sendgrid(fake), secret_key=SECRET).message == (
        "no approved edition is due")
    again = deliver_edition(ledger_db, config, now=NOW, edition_id=edition, channel=sendgrid(fake), secret_key=SECRET)
    assert again.message == f"edition {edition} was already sent to 25 recipients" and again.sent
    assert len(fake.server.requests_to("/v3/mail/send")) == 3


def test_without_edition_id_only_due_approved_editions_go(ledger_db, fake, tmp_path):
    add_subscribers(ledger_db, 3)
    make_edition(ledger_db, scheduled_for=NOW + timedelta(days=1), slug="later")
    make_edition(ledger_db, approve=False, slug="draft")
    summary = deliver_edition(ledger_db, make_config(tmp_path), now=NOW, channel=sendgrid(fake), secret_key=SECRET)
    assert summary.message == "no approved edition is due" and fake.received == {}
    due = make_edition(ledger_db, slug="due")
    summary = deliver_edition(ledger_db, make_config(tmp_path), now=NOW, channel=sendgrid(fake), secret_key=SECRET)
    assert summary.edition_id == due and summary.accepted == 3


def test_refuses_an_unapproved_or_changed_edition(ledger_db, fake, tmp_path):
    add_subscribers(ledger_db, 3)
    draft = make_edition(ledger_db, approve=False)
    summary = deliver_edition(ledger_db, make_config(tmp_path), now=NOW, edition_id=draft, channel=sendgrid(fake),
                              secret_key=SECRET)
    assert "not approved" in summary.message and not summary.sent
    changed = make_edition(ledger_db, slug="changed")
    with ledger_db.session() as session:
        session.get(EditionRow, changed).content_hash = "h2"  # edited behind the ledger's back
    summary = deliver_edition(ledger_db, make_config(tmp_path), now=NOW, edition_id=changed, channel=sendgrid(fake),
                              secret_key=SECRET)
    assert "changed after" in summary.message
    assert fake.received == {}
    with ledger_db.session() as session:
        assert not session.scalars(select(DeliveryRow)).all()
        assert session.get(EditionRow, changed).status == EditionStatus.APPROVED


def test_unsubscribe_takes_effect_for_the_next_send_and_mid_send(ledger_db, fake, tmp_path):
    add_subscribers(ledger_db, 6)
    with ledger_db.session() as session:
        unsubscribe(session, "reader2@example.com", reason="one-click", now=NOW)
    edition = make_edition(ledger_db)
    with ledger_db.session() as session:  # planned, then reader5 leaves before their batch goes
        deliveries.plan(session, session.get(EditionRow, edition), batch_size=3, now=NOW, channel="sendgrid")
        ledger.mark_edition_sending(session, session.get(EditionRow, edition))
        unsubscribe(session, 5, reason="link", now=NOW)
    summary = deliver_edition(ledger_db, make_config(tmp_path), now=NOW, edition_id=edition, channel=sendgrid(fake),
                              secret_key=SECRET)
    assert set(fake.received) == {1, 3, 4, 6}
    assert (summary.accepted, summary.skipped, summary.sent) == (4, 1, True)


def test_400_fails_the_batch_with_the_reason_and_finishes(ledger_db, fake, tmp_path):
    add_subscribers(ledger_db, 4)
    edition = make_edition(ledger_db)
    fake.server.inject(Fault(status=400, json={"errors": [{"message": "invalid from", "field": "from"}]}))
    summary = deliver_edition(ledger_db, make_config(tmp_path, batch_size=2, concurrency=1), now=NOW,
                              channel=sendgrid(fake), secret_key=SECRET)
    assert (summary.accepted, summary.failed, summary.sent) == (2, 2, True)
    with ledger_db.session() as session:
        failed = session.scalars(select(DeliveryBatchRow).where(DeliveryBatchRow.status == BatchStatus.FAILED)).one()
        assert "invalid from" in failed.error
        assert deliveries.edition_figures(session, edition)["failed"] == 2


def test_auth_error_stops_the_send_and_nothing_is_lost(ledger_db, fake, tmp_path):
    add_subscribers(ledger_db, 4)
    edition = make_edition(ledger_db)
    config = make_config(tmp_path, batch_size=2, concurrency=1)
    wrong = SendGridChannel("SG.wrong", host=fake.url, timeout_s=2)
    summary = deliver_edition(ledger_db, config, now=NOW, channel=wrong, secret_key=SECRET)
    assert "stopped" in summary.message and "SENDGRID_API_KEY" in summary.message and not summary.sent
    assert len(fake.server.requests) == 1
    summary = deliver_edition(ledger_db, config, now=NOW, edition_id=edition, channel=sendgrid(fake), secret_key=SECRET)
    assert summary.sent and fake.received == {1: 1, 2: 1, 3: 1, 4: 1}


def test_429_waits_for_the_reset_and_retries(ledger_db, fake, tmp_path):
    add_subscribers(ledger_db, 2)
    make_edition(ledger_db)
    fake.server.inject(Fault(status=429, json={"errors": [{"message": "too many requests"}]},
                             headers={"X-RateLimit-Reset": "0"}))
    summary = deliver_edition(ledger_db, make_config(tmp_path), now=NOW, channel=sendgrid(fake), secret_key=SECRET)
    assert summary.sent and fake.received == {1: 1, 2: 1}
    assert len(fake.server.requests) == 2


@pytest.mark.parametrize("status", [500, 503])
def test_sendgrid_server_errors_are_retried_with_backoff_and_send_once(ledger_db, fake, tmp_path, status):
    add_subscribers(ledger_db, 2)
    make_edition(ledger_db)
    for _ in range(2):
        fake.server.inject(Fault(status=status, json={"errors": [{"message": "service unavailable"}]},
                                 headers={"Retry-After": "0"}))
    summary = deliver_edition(ledger_db, make_config(tmp_path), now=NOW, channel=sendgrid(fake), secret_key=SECRET)
    assert summary.sent and fake.received == {1: 1, 2: 1}
    assert len(fake.server.requests) == 3


def test_413_splits_the_batch_in_halves(ledger_db, fake, tmp_path):
    add_subscribers(ledger_db, 8)
    make_edition(ledger_db)
    fake.server.inject(Fault(status=413, json={"errors": [{"message": "content too large"}]}))
    summary = deliver_edition(ledger_db, make_config(tmp_path, batch_size=8, concurrency=1), now=NOW,
                              channel=sendgrid(fake), secret_key=SECRET)
    assert summary.sent and fake.received == {i: 1 for i in range(1, 9)}
    assert [len(b["personalizations"]) for b in fake.bodies] == [4, 4]


def test_timeout_is_held_as_ambiguous_until_staff_resolve(ledger_db, fake, tmp_path):
    add_subscribers(ledger_db, 4)
    edition = make_edition(ledger_db)
    config = make_config(tmp_path, batch_size=2, concurrency=1)
    fake.server.inject(Fault(accept=True, delay_s=3.0))
    summary = deliver_edition(ledger_db, config, now=NOW, channel=sendgrid(fake, timeout_s=1.0), secret_key=SECRET)
    assert (summary.accepted, summary.ambiguous, summary.sent) == (2, 2, False)
    assert "held for staff" in summary.message
    again = deliver_edition(ledger_db, config, now=NOW, channel=sendgrid(fake), secret_key=SECRET)
    assert again.ambiguous == 2 and sum(fake.received.values()) == 4  # nothing resent blindly
    with ledger_db.session() as session:
        [batch] = deliveries.ambiguous_batches(session, edition)
        deliveries.resolve_ambiguous(session, batch.id, action="mark_sent", by="ops@example.org", now=NOW)
    done = deliver_edition(ledger_db, config, now=NOW, channel=sendgrid(fake), secret_key=SECRET)
    assert done.sent and done.accepted == 4 and sum(fake.received.values()) == 4


def test_resend_after_staff_decision(ledger_db, fake, tmp_path):
    add_subscribers(ledger_db, 2)
    edition = make_edition(ledger_db)
    config = make_config(tmp_path)
    fake.server.inject(Fault(status=502, json={"errors": [{"message": "bad gateway"}]}))
    assert deliver_edition(ledger_db, config, now=NOW, channel=sendgrid(fake), secret_key=SECRET).ambiguous == 2
    with ledger_db.session() as session:
        [batch] = deliveries.ambiguous_batches(session, edition)
        deliveries.resolve_ambiguous(session, batch.id, action="resend", by="ops@example.org", now=NOW)
    summary = deliver_edition(ledger_db, config, now=NOW, channel=sendgrid(fake), secret_key=SECRET)
    assert summary.sent and fake.received == {1: 1, 2: 1}


def _claimed_by(ledger_db, worker: str) -> deliveries.ClaimedBatch:
    """An edition of 4 recipients in batches of 2, sending, whose first batch `worker` has claimed."""
    add_subscribers(ledger_db, 4)
    edition = make_edition(ledger_db)
    with ledger_db.session() as session:
        row = session.get(EditionRow, edition)
        ledger.mark_edition_sending(session, row)
        deliveries.plan(session, row, batch_size=2, now=NOW, channel="sendgrid")
    with ledger_db.session() as session:
        claimed = deliveries.claim_next_batch(session, edition, worker=worker, now=NOW)
    assert claimed is not None
    return claimed


def test_a_batch_left_sending_by_a_dead_worker_becomes_ambiguous(ledger_db, fake, tmp_path):
    claimed = _claimed_by(ledger_db, "local")
    summary = deliver_edition(ledger_db, make_config(tmp_path), now=NOW, channel=sendgrid(fake), secret_key=SECRET,
                              worker="local")
    assert summary.ambiguous == 2 and set(fake.received) == {3, 4}
    with ledger_db.session() as session:
        assert session.get(DeliveryBatchRow, claimed.batch_id).status == BatchStatus.AMBIGUOUS


def test_another_senders_batch_is_left_alone_until_it_is_stale(ledger_db, fake, tmp_path):
    """A batch another live sender is sending is not touched; once it has not moved for longer than a
    request can take (2 x timeout + 30 s), its sender is taken for dead and the batch is ambiguous."""
    claimed = _claimed_by(ledger_db, "host-b:4242")
    config = make_config(tmp_path)
    summary = deliver_edition(ledger_db, config, now=NOW + timedelta(seconds=5), channel=sendgrid(fake),
                              secret_key=SECRET, worker="host-a:1")
    assert summary.ambiguous == 0 and set(fake.received) == {3, 4} and not summary.sent
    with ledger_db.session() as session:
        assert session.get(DeliveryBatchRow, claimed.batch_id).status == BatchStatus.SENDING
    later = NOW + timedelta(seconds=2 * config.email.timeout_s + 31)
    summary = deliver_edition(ledger_db, config, now=later, channel=sendgrid(fake), secret_key=SECRET, worker="host-a:2")
    assert summary.ambiguous == 2 and set(fake.received) == {3, 4}


def test_outbox_is_the_default_and_writes_parseable_eml(ledger_db, tmp_path):
    add_subscribers(ledger_db, 3)
    make_edition(ledger_db)
    config = make_config(tmp_path)
    summary = deliver_edition(ledger_db, config, now=NOW, secret_key=SECRET)
    assert summary.channel == "outbox" and summary.sent
    folder = (tmp_path / "outbox" / "email" / "2026-11-26").as_posix()
    assert f"nothing was emailed: the messages were written to the outbox, in {folder}/" in summary.message
    files = sorted((tmp_path / "outbox" / "email" / "2026-11-26").glob("*.eml"))
    assert [f.name for f in files] == ["00001-e1.eml", "00002-e1.eml", "00003-e1.eml"]
    mail = email.message_from_bytes(files[0].read_bytes(), policy=policy.default)
    assert mail["To"] == "Reader 1 <reader1@example.com>" and mail["Subject"] == "In Our View for Reader"
    assert mail["From"] == "Example News <news@example.org>" and mail["Reply-To"] == "editors@example.org"
    assert mail["Message-ID"] and mail["Date"]
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    https, mailto = [part.strip(" <>") for part in mail["List-Unsubscribe"].split(",")]
    assert https.startswith("https://news.example.org/unsubscribe/") and mailto.startswith("mailto:editors@")
    assert verify_unsubscribe(SECRET, https.rsplit("/", 1)[1], now=NOW) == (1, 1)
    assert mail.get_content_type() == "multipart/alternative"
    plain, html = mail.get_body(("plain",)), mail.get_body(("html",))
    assert [p.get_content_type() for p in mail.iter_parts()] == ["text/plain", "text/html"]
    assert "Hello Reader" in plain.get_content() and https in plain.get_content()
    assert f'href="{https}"' in html.get_content() and "{{" not in html.get_content()
    assert not list((tmp_path / "outbox" / "email" / "2026-11-26").glob(".tmp-*"))


def test_outbox_channel_unicode_names(tmp_path):
    from connectors.channels.base import OutboundEmail, Recipient
    channel = OutboxEmailChannel(tmp_path, now=NOW)
    message = OutboundEmail(1, "e", "Café {{first_name}}", "<p>Zoë</p>", "Zoë", "n@example.org", "Nöws",
                            "r@example.org")
    receipt = channel.send_batch(message, [Recipient(7, "zoe@example.com", "Zoë Ångström", "https://x.example/u/1")])
    assert receipt.accepted == (7,)
    mail = email.message_from_bytes((tmp_path / "email" / "e" / "00007-e1.eml").read_bytes(), policy=policy.default)
    assert mail["Subject"] == "Café Zoë" and str(mail["To"]) == "Zoë Ångström <zoe@example.com>"
    assert mail.get_body(("plain",)).get_content().strip() == "Zoë"
