"""Each reader gets only their sections (issue 18.1): the edition is composed once, each distinct
section set is rendered once and sent in its own batches, a reader left with nothing (or paused)
gets no email and a skipped delivery saying why; the ledger stays one delivery per reader.
Run on SQLite and PostgreSQL against the fake SendGrid."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select

from compose.segments import Segment, place, set_key
from connectors.channels.sendgrid import SendGridChannel
from flows.stages.deliver import deliver_edition
from state import deliveries, ledger
from state.models import (
    DeliveryBatchRow,
    DeliveryRow,
    DeliveryStatus,
    SubscriberRow,
    SubscriberStatus,
)
from tests.fakes.fake_sendgrid import FakeSendGrid
from tests.helpers.sectioned import (
    NOW,
    SECTIONS,
    add_items,
    add_readers,
    build_and_approve,
    every_combination,
    item_title,
    sectioned_config,
)

KEY = "SG.test-key"
SECRET = "sections-secret"
WITH_ITEMS = ("news", "blogs", "publications")  # nothing in events this week


def _sections_in(text: str) -> set[str]:
    """The sections whose stories a text part carries."""
    return {section for section in SECTIONS if item_title(section, 1) in text}


def _text_of(body: dict) -> str:
    return next(part["value"] for part in body["content"] if part["type"] == "text/plain")


def _send(db, tmp_path, edition_id, **email):
    config = sectioned_config(tmp_path / "outbox", provider="sendgrid", **email)
    with FakeSendGrid(api_key=KEY) as fake:
        summary = deliver_edition(db, config, now=NOW, edition_id=edition_id, secret_key=SECRET,
                                  channel=SendGridChannel(KEY, host=fake.url, timeout_s=10))
        return summary, list(fake.bodies), dict(fake.received)


def test_each_reader_gets_exactly_their_sections_once(db, tmp_path):
    add_items(db, WITH_ITEMS)
    choices = every_combination()  # 17: None and the 16 subsets of 4 sections
    add_readers(db, choices)
    paused = len(choices) + 1
    add_readers(db, [None, ["news"]], paused_until=[NOW + timedelta(days=14), NOW - timedelta(days=1)], start=paused)
    edition_id = build_and_approve(db, sectioned_config(tmp_path / "outbox"))
    summary, bodies, received = _send(db, tmp_path, edition_id, batch_size=3)
    expected = {}
    for ident, chosen in enumerate([*choices, None, ["news"]], start=1):
        wanted = set(WITH_ITEMS) if chosen is None else set(chosen) & set(WITH_ITEMS)
        if wanted and ident != paused:
            expected[ident] = wanted
    got = {}
    for body in bodies:
        carried = _sections_in(_text_of(body))
        for person in body["personalizations"]:
            got[int(person["custom_args"]["subscriber_id"])] = carried
    assert got == expected
    assert all(count == 1 for count in received.values())
    # each distinct set is one body: batches never mix sets
    assert len({(frozenset(_sections_in(_text_of(b)))) for b in bodies}) == len({frozenset(s) for s in expected.values()})
    with db.session() as session:
        rows = {d.subscriber_id: d for d in session.scalars(select(DeliveryRow).where(DeliveryRow.edition_id == edition_id))}
        row = ledger.get_edition(session, edition_id)
        whole = session.scalars(select(DeliveryBatchRow.content_hash).where(DeliveryBatchRow.sections.is_(None))).all()
        assert set(whole) == {row.content_hash}  # the whole edition goes exactly as approved
    assert len(rows) == len(expected) + 3  # one delivery per reader it reaches: sent or skipped
    assert rows[choices.index([]) + 1].error == "chose no sections"
    assert rows[choices.index(["events"]) + 1].error == "nothing in their sections this edition"
    assert rows[paused].status == DeliveryStatus.SKIPPED and rows[paused].error.startswith("paused until 2026-12-10")
    assert {r.status for i, r in rows.items() if i in expected} == {DeliveryStatus.ACCEPTED}
    assert summary.sent and summary.skipped == 3 and summary.accepted == len(expected)
    assert ("(3 skipped: 1 chose no sections; 1 nothing in their sections this edition; 1 paused until "
            "2026-12-10 10:00 UTC)") in summary.message


def test_the_approved_intro_and_footer_go_to_every_set(db, tmp_path):
    add_items(db, WITH_ITEMS)
    add_readers(db, [None, ["blogs"]])
    edition_id = build_and_approve(db, sectioned_config(tmp_path / "outbox"))
    _, bodies, _ = _send(db, tmp_path, edition_id)
    texts = {frozenset(_sections_in(_text_of(b))): _text_of(b) for b in bodies}
    whole, blogs = texts[frozenset(WITH_ITEMS)], texts[frozenset({"blogs"})]
    assert "News\n----" in whole and "News\n----" not in blogs and "Blogs\n-----" in blogs
    for shared in ("Hello ", "Unsubscribe: ", "1 High St, Town", "You are receiving this email"):
        assert shared in whole and shared in blogs


def test_a_resumed_send_goes_on_with_the_bodies_it_planned(db, tmp_path):
    add_items(db, WITH_ITEMS)
    add_readers(db, [["news"], ["blogs"], None])
    edition_id = build_and_approve(db, sectioned_config(tmp_path / "outbox"))
    config = sectioned_config(tmp_path / "outbox", provider="sendgrid")
    with db.session() as session:  # the send began (planned), then an item changed at its source
        row = ledger.get_edition(session, edition_id)
        ledger.mark_edition_sending(session, row)
    from flows.stages.deliver import _Bodies

    with db.session() as session:
        row = ledger.get_edition(session, edition_id)
        deliveries.plan(session, row, batch_size=10, now=NOW, channel="sendgrid",
                        bodies=_Bodies(session, row, config).content_hash)
    with db.session() as session:
        session.execute(SubscriberRow.__table__.update().values(name="Reader"))  # not content: no effect
        from state.models import ItemRow
        item = session.scalars(select(ItemRow).where(ItemRow.section == "blogs")).first()
        item.title = "Changed after approval"
    summary, bodies, _ = _send(db, tmp_path, edition_id)
    assert not bodies and not summary.sent
    assert "readers of blogs no longer renders as it did" in summary.message


# ---------------------------------------------------------------- the grouping, for any readers


_reader = st.fixed_dictionaries({
    "sections": st.one_of(st.none(), st.lists(st.sampled_from(SECTIONS), unique=True, max_size=4)),
    "tags": st.lists(st.sampled_from(["member", "cio", "supplier"]), unique=True, max_size=3),
    "paused_days": st.one_of(st.none(), st.integers(min_value=-10, max_value=10)),
    "active": st.booleans(),
})
_segment = st.builds(lambda tags, match, sections: Segment.build(tags=tags, match=match, sections=sections),
                     st.lists(st.sampled_from(["member", "cio", "supplier"]), unique=True, max_size=2),
                     st.sampled_from(["any", "all"]),
                     st.lists(st.sampled_from(SECTIONS), unique=True, max_size=2))


@pytest.fixture
def planned_edition(db, tmp_path):
    add_items(db, WITH_ITEMS)
    return db, build_and_approve(db, sectioned_config(tmp_path / "outbox"))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(readers=st.lists(_reader, max_size=30), segment=_segment, batch_size=st.integers(1, 7))
def test_every_reader_is_planned_once_with_exactly_their_sections(planned_edition, readers, segment, batch_size):
    db, edition_id = planned_edition
    with db.session() as session:
        session.execute(delete(DeliveryRow))
        session.execute(delete(DeliveryBatchRow))
        session.execute(delete(SubscriberRow))
        for i, reader in enumerate(readers):
            days = reader["paused_days"]
            session.add(SubscriberRow(email=f"r{i}@example.com", name="", created_at=NOW, consent_source="test",
                                      status=SubscriberStatus.ACTIVE if reader["active"] else SubscriberStatus.UNSUBSCRIBED,
                                      sections=reader["sections"], tags=reader["tags"],
                                      paused_until=None if days is None else NOW + timedelta(days=days)))
        session.flush()
        row = ledger.get_edition(session, edition_id)
        row.segment = segment.as_json()
        deliveries.plan(session, row, batch_size=batch_size, now=NOW, channel="sendgrid")
        planned = session.execute(select(DeliveryRow.subscriber_id, DeliveryRow.status, DeliveryBatchRow.sections,
                                         DeliveryBatchRow.size)
                                  .outerjoin(DeliveryBatchRow, DeliveryBatchRow.id == DeliveryRow.batch_id)).all()
        emails = {s.id: s.email for s in session.scalars(select(SubscriberRow))}
        session.rollback()
    by_reader = {emails[sid]: (status, sections) for sid, status, sections, _ in planned}
    assert len(by_reader) == len(planned)  # never two deliveries for one reader
    for i, reader in enumerate(readers):
        email = f"r{i}@example.com"
        days = reader["paused_days"]
        chosen = reader["sections"]
        within = set(WITH_ITEMS) if chosen is None else set(chosen) & set(WITH_ITEMS)
        if segment.sections:
            within &= set(segment.sections)
        in_segment = segment.has_tags(reader["tags"]) and (
            not segment.sections or chosen is None or bool(set(chosen) & set(segment.sections)))
        unpaused = days is None or days <= 0
        if not reader["active"] or not in_segment:
            assert email not in by_reader
        elif unpaused and within:
            status, sections = by_reader[email]
            assert status == DeliveryStatus.PLANNED
            assert (set(WITH_ITEMS) if sections is None else set(sections.split(","))) == within
        else:
            assert by_reader[email][0] == DeliveryStatus.SKIPPED
    assert all(size <= batch_size for *_, size in planned if size is not None)


def test_place_is_the_one_rule():
    edition = frozenset(WITH_ITEMS)
    everyone = Segment()
    assert place(sections=None, tags=[], paused_until=None, edition_sections=edition, segment=everyone,
                 now=NOW).sections == edition
    assert place(sections=["events"], tags=[], paused_until=None, edition_sections=edition, segment=everyone,
                 now=NOW).skip == "nothing in their sections this edition"
    cio = Segment.build(tags=["CIO"], sections=["blogs"])
    assert place(sections=["news"], tags=["cio"], paused_until=None, edition_sections=edition, segment=cio,
                 now=NOW).outside
    assert place(sections=None, tags=["cio"], paused_until=None, edition_sections=edition, segment=cio,
                 now=NOW).sections == {"blogs"}
    assert set_key({"news", "blogs"}) == "blogs,news"
    assert place(sections=None, tags=["CIO "], paused_until=None, edition_sections=edition, segment=cio,
                 now=NOW).sections == {"blogs"}  # a tag stored as another door wrote it still matches


def test_planned_deliveries_keep_the_planning_time_exactly(db, tmp_path):
    add_items(db, WITH_ITEMS)
    add_readers(db, [None, ["news"], []])
    edition_id = build_and_approve(db, sectioned_config(tmp_path / "outbox"))
    with db.session() as session:
        deliveries.plan(session, ledger.get_edition(session, edition_id), batch_size=10, now=NOW, channel="sendgrid")
    with db.session() as session:
        stamps = session.scalars(select(DeliveryRow.updated_at)).all()
        late = session.scalar(select(func.count()).select_from(DeliveryRow)
                              .where(DeliveryRow.updated_at < NOW - timedelta(seconds=1)))
    assert stamps == [NOW] * 3 and late == 0  # read back aware, and compared in SQL as times
