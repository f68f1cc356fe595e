"""state.figures on SQLite and PostgreSQL: per-edition figures from the SendGrid events the wire
fake's messages draw, counters that match the deliveries' stamps, frozen status counts, totals
over a span, list size by week; and the rate arithmetic (hypothesis)."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, insert, select, update

from compose.figures import rate
from connectors.channels.sendgrid import SendGridChannel
from flows.stages.deliver import deliver_edition
from state import figures, provider_events
from state.figures import STAMPS, EditionFigures
from state.models import (
    DeliveryRow,
    DeliveryStatus,
    EditionCountersRow,
    EditionRow,
    SubscriberRow,
    SubscriberStatus,
)
from tests.fakes.fake_sendgrid import FakeSendGrid
from tests.fakes.sendgrid_events import EventMaker
from tests.test_deliver import KEY, NOW, SECRET, add_subscribers, make_config, make_edition

T = int(NOW.timestamp())
#: event kind -> the delivery stamp it sets (a bounce of type "blocked" sets blocked_at)
STAMP_OF = {"delivered": "delivered_at", "bounce": "bounced_at", "dropped": "dropped_at", "deferred": "deferred_at",
            "spamreport": "complained_at", "unsubscribe": "unsubscribed_at", "group_unsubscribe": "unsubscribed_at",
            "open": "opened_at", "click": "clicked_at"}


@pytest.fixture
def fake():
    with FakeSendGrid(api_key=KEY) as server:
        yield server


def send(db, fake, tmp_path, n, *, slug="2026-11-26", now=NOW):
    add_subscribers(db, n) if slug == "2026-11-26" else None
    edition = make_edition(db, slug=slug, scheduled_for=now)
    summary = deliver_edition(db, make_config(tmp_path, batch_size=50), now=now, edition_id=edition,
                              channel=SendGridChannel(KEY, host=fake.url), secret_key=SECRET)
    assert summary.sent
    return edition


def counted_from_deliveries(session, edition_id):
    """The figures counted straight from the deliveries' stamps and statuses (the test's own count)."""
    d = DeliveryRow
    stamps = session.execute(select(*(func.count(getattr(d, c)) for c in STAMPS.values()))
                             .where(d.edition_id == edition_id)).one()
    statuses = dict(session.execute(select(d.status, func.count()).where(d.edition_id == edition_id)
                                    .group_by(d.status)).all())
    return dict(zip(STAMPS, stamps, strict=True)) | {
        "recipients": sum(statuses.values()), "accepted": statuses.get(DeliveryStatus.ACCEPTED, 0),
        "failed": statuses.get(DeliveryStatus.FAILED, 0), "skipped": statuses.get(DeliveryStatus.SKIPPED, 0)}


def test_an_edition_never_sent_has_zero_figures(db):
    edition = make_edition(db)
    with db.session() as session:
        got = figures.edition_figures(session, edition)
    assert got == EditionFigures(edition)
    assert (got.bounce_rate, got.complaint_rate, got.unsubscribe_rate) == (0.0, 0.0, 0.0)


def test_events_from_the_wire_roll_up_per_edition_once_each(db, fake, tmp_path):
    edition = send(db, fake, tmp_path, 40)
    maker = EventMaker(start=T + 60)
    chosen = random.Random(17)
    events = []
    for person, body in maker.people(fake.bodies):
        for kind in chosen.sample(list(STAMP_OF), k=chosen.randint(0, 4)):
            extra = {"type": chosen.choice(["bounce", "blocked"])} if kind == "bounce" else {}
            events.append(maker.event(kind, person, body, **extra))
    # SendGrid may send an event twice, and the same happening again under a new id
    repeats = [dict(e) for e in events[:10]] + [dict(e, sg_event_id=e["sg_event_id"] + "-again") for e in events[10:20]]
    with db.session() as session:
        report = provider_events.apply_provider_events(session, events, now=NOW)
    with db.session() as session:
        again = provider_events.apply_provider_events(session, repeats, now=NOW)
    assert (report.applied, report.unmatched) == (len(events), 0)
    assert (again.duplicates, again.applied) == (10, 10)
    with db.session() as session:
        got = figures.edition_figures(session, edition).as_dict()
        expected = counted_from_deliveries(session, edition)
        assert {k: got[k] for k in expected} == expected
        assert got["recipients"] == 40 and got["delivered"] > 0 and got["bounced"] + got["blocked"] > 0
        # the counters agree with a recount from the stamps
        assert figures.recount(session, edition, now=NOW).as_dict() == got


def test_a_blocked_bounce_counts_as_blocked_not_bounced(db, fake, tmp_path):
    edition = send(db, fake, tmp_path, 3)
    maker = EventMaker(start=T + 60)
    (p1, b1), (p2, b2), _ = maker.people(fake.bodies)
    with db.session() as session:
        provider_events.apply_provider_events(session, [maker.event("bounce", p1, b1, type="blocked"),
                                                        maker.event("bounce", p2, b2)], now=NOW)
    with db.session() as session:
        got = figures.edition_figures(session, edition)
    assert (got.bounced, got.blocked) == (1, 1)
    assert got.bounce_rate == pytest.approx(1 / 3)


def test_status_counts_are_frozen_when_the_edition_is_sent(db, fake, tmp_path):
    edition = send(db, fake, tmp_path, 7)
    with db.session() as session:
        row = session.get(EditionCountersRow, edition)
        assert row is not None and row.settled_at is not None
        assert (row.recipients, row.accepted) == (7, 7)
        # reading a sent edition does not count its deliveries: a change behind the ledger's back
        # (never done by syndicate) is not seen, which proves the frozen row is what is read
        session.execute(update(DeliveryRow).where(DeliveryRow.edition_id == edition, DeliveryRow.subscriber_id == 1)
                        .values(status=DeliveryStatus.FAILED))
        assert figures.edition_figures(session, edition).accepted == 7
        session.rollback()


def test_a_sending_edition_is_counted_live(db, tmp_path):
    add_subscribers(db, 5)
    edition = make_edition(db)
    with db.session() as session:
        row = session.get(EditionRow, edition)
        from state import deliveries
        deliveries.plan(session, row, batch_size=2, now=NOW, channel="sendgrid")
    with db.session() as session:
        got = figures.edition_figures(session, edition)
    assert (got.recipients, got.pending, got.accepted) == (5, 5, 0)


def test_rolling_figures_add_up_the_editions_sent_in_the_span(db, fake, tmp_path):
    first = send(db, fake, tmp_path, 6)
    second = send(db, fake, tmp_path, 6, slug="second", now=NOW + timedelta(days=3))
    third = send(db, fake, tmp_path, 6, slug="third", now=NOW + timedelta(days=9))
    maker = EventMaker(start=T + 60)
    people = maker.people(fake.bodies)
    events = [maker.event("delivered", p, b) for p, b in people] + [maker.event("spamreport", *people[0]),
                                                                       maker.event("spamreport", *people[7])]
    with db.session() as session:
        provider_events.apply_provider_events(session, events, now=NOW)
    with db.session() as session:
        week = figures.rolling_figures(session, since=NOW + timedelta(days=9, hours=1) - timedelta(days=7),
                                       until=NOW + timedelta(days=9, hours=1))
        each = [figures.edition_figures(session, e) for e in (first, second, third)]
        everything = figures.rolling_figures(session, since=NOW - timedelta(days=1), until=NOW + timedelta(days=30))
    assert week.edition_id is None and week.editions == 2
    assert week == each[1] + each[2]
    assert everything.editions == 3 and everything.delivered == 18 and everything.complaints == 2
    assert everything.complaint_rate == pytest.approx(2 / 18)
    with db.session() as session:  # two queries whatever the number of editions: the same answer
        assert figures.many_figures(session, [first, second, third]) == dict(zip((first, second, third), each,
                                                                                 strict=True))


def test_list_size_history_counts_who_was_active_each_week(db):
    start = NOW - timedelta(weeks=4)
    with db.session() as session:
        session.execute(insert(SubscriberRow), [
            {"email": f"r{i}@example.com", "status": SubscriberStatus.ACTIVE, "consent_source": "test",
             "created_at": start + timedelta(weeks=i), "confirmed_at": start + timedelta(weeks=i)} for i in range(4)])
        session.execute(insert(SubscriberRow), [
            {"email": "gone@example.com", "status": SubscriberStatus.UNSUBSCRIBED, "consent_source": "test",
             "created_at": start, "confirmed_at": start, "status_changed_at": start + timedelta(weeks=2, days=1)},
            {"email": "waiting@example.com", "status": SubscriberStatus.PENDING, "consent_source": "test",
             "created_at": start}])
    with db.session() as session:
        history = figures.list_size_history(session, until=NOW, weeks=5)
    # week ends: start, +1w, +2w, +3w, +4w; r0..r3 arrive at start+iw; gone@ leaves after +2w
    assert [n for _, n in history] == [2, 3, 4, 4, 4]
    assert [d for d, _ in history] == sorted(d for d, _ in history) and history[-1][0] == NOW.date()
    with db.session() as session:
        assert figures.list_size_history(session, until=NOW, weeks=0) == []


def test_counters_refuse_an_unknown_name(db):
    edition = make_edition(db)
    with db.session() as session, pytest.raises(ValueError, match="not an event counter"):
        figures.count_stamps(session, edition, {"sends": 1}, now=NOW)


# --- the arithmetic ---------------------------------------------------------------------------------

counts = st.integers(min_value=0, max_value=10**9)


@given(counts, counts)
def test_a_rate_is_a_fraction_and_never_divides_by_zero(part, whole):
    value = rate(part, whole)
    assert 0.0 <= value <= 1.0
    if whole == 0:
        assert value == 0.0
    elif part <= whole:
        assert value == part / whole


@given(counts, counts, st.integers(min_value=0, max_value=1000))
def test_a_rate_grows_with_its_part_and_shrinks_with_its_whole(part, whole, more):
    assert rate(part + more, whole) >= rate(part, whole)
    if part <= whole and whole:
        assert rate(part, whole + more) <= rate(part, whole)


def test_negative_counts_are_refused():
    with pytest.raises(ValueError, match="negative"):
        rate(-1, 10)


@given(st.builds(EditionFigures, st.none(), *(counts for _ in range(15))),
       st.builds(EditionFigures, st.none(), *(counts for _ in range(15))))
def test_totals_add_every_count_and_rates_stay_fractions(a, b):
    total = a + b
    assert total.delivered == a.delivered + b.delivered and total.editions == a.editions + b.editions
    for value in (total.bounce_rate, total.complaint_rate, total.unsubscribe_rate, total.delivery_rate):
        assert 0.0 <= value <= 1.0


def test_an_unsubscribe_through_our_link_counts_once_with_the_provider_s(db, fake, tmp_path):
    from state.subscribers import unsubscribe

    edition = send(db, fake, tmp_path, 4)
    maker = EventMaker(start=T + 60)
    person, body = maker.people(fake.bodies)[1]
    sid = int(person["custom_args"]["subscriber_id"])
    with db.session() as session:
        unsubscribe(session, sid, reason="unsubscribe link", now=NOW, edition_id=edition)
        unsubscribe(session, sid, reason="unsubscribe link", now=NOW, edition_id=edition)  # clicked twice
    with db.session() as session:
        provider_events.apply_provider_events(session, [maker.event("unsubscribe", person, body)], now=NOW)
    with db.session() as session:
        got = figures.edition_figures(session, edition)
        assert got.unsubscribes == 1 and got.unsubscribe_rate == pytest.approx(1 / 4)
        assert figures.recount(session, edition, now=NOW).unsubscribes == 1


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_the_migration_fills_counters_and_suppressions_from_what_the_ledger_knew(backend, tmp_path):
    """A ledger at 0004_calendar_feeds with a sent edition, stamps and people who left, upgraded."""
    from alembic import command
    from sqlalchemy import create_engine, text

    from state.db import _alembic_config, connect
    from tests.helpers.postgres import ThrowawayPostgres

    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
        databases = None
    else:
        databases = ThrowawayPostgres()
        url = databases.url(databases.create("syndicate_migration"))
    engine = create_engine(url)
    config = _alembic_config(url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0004_calendar_feeds")
    with engine.begin() as c:
        c.execute(text("INSERT INTO editions (id, slug, title, status, subject, preheader, intro_markdown, html, text, "
                       "content_hash, html_bytes, warnings, built_at, sent_at) VALUES (1, 'old', 'Old', 'sent', 's', "
                       "'', '', '<p/>', 't', 'h', 0, '[]', :t, :t)"), {"t": NOW})
        for n, status in enumerate(["active", "bounced", "complained", "unsubscribed"], start=1):
            c.execute(text("INSERT INTO subscribers (id, email, name, status, consent_source, status_reason, "
                           "status_changed_at, created_at) VALUES (:n, :e, '', :s, 'x', :r, :t, :t)"),
                      {"n": n, "e": f"Reader{n}@Example.org", "s": status, "r": f"provider event {status}", "t": NOW})
            c.execute(text("INSERT INTO deliveries (edition_id, subscriber_id, status, updated_at, delivered_at, "
                           "bounced_at, complained_at) VALUES (1, :n, 'accepted', :t, :d, :b, :c)"),
                      {"n": n, "t": NOW, "d": NOW if n != 2 else None, "b": NOW if n == 2 else None,
                       "c": NOW if n == 3 else None})
    engine.dispose()
    db = connect(url)  # migrates to the head
    try:
        with db.session() as session:
            got = figures.edition_figures(session, 1)
            suppressed = subscribers_suppressed(session)
        assert (got.recipients, got.accepted, got.delivered, got.bounced, got.complaints) == (4, 4, 3, 1, 1)
        assert suppressed == [("reader2@example.org", "bounce"), ("reader3@example.org", "complaint")]
    finally:
        db.dispose()
        if databases is not None:
            databases.drop_all()


def subscribers_suppressed(session):
    from state.models import SuppressionRow

    return [(r.email, r.kind) for r in session.scalars(select(SuppressionRow).order_by(SuppressionRow.email))]
