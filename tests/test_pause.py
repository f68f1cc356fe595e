"""The pause switch in the ledger (`state.pauses`), on SQLite and PostgreSQL: who may pause and resume,
the audit rows and events written in the same transaction, one channel or everything, resuming one
channel while everything is paused, and bad input that changes nothing. A random run of pauses and
resumes is checked against a model of what each channel should be."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from compose.post_length import RULES_BY_NETWORK
from state import pauses
from state.db import Database
from state.errors import LedgerError, NotAllowed, NotStaff
from state.models import AuditRow, EventRow, PauseRow, StaffRow
from tests.helpers.staff import add_staff_rows

NOW = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
LONDON = ZoneInfo("Europe/London")
TEAM = {"ap@example.org": "approver", "boss@example.org": "admin", "ed@example.org": "editor",
        "gone@example.org": "admin"}
REASON = "our X account was compromised: nothing goes out until it is secured"


@pytest.fixture
def team(db: Database) -> Database:
    with db.session() as session:
        add_staff_rows(session, TEAM)
        session.scalars(select(StaffRow).where(StaffRow.email == "gone@example.org")).one().disabled_at = NOW
    return db


def _counts(db: Database) -> tuple[int, int, int]:
    with db.session() as session:
        return (session.scalar(select(func.count()).select_from(PauseRow)) or 0,
                session.scalar(select(func.count()).select_from(AuditRow)) or 0,
                session.scalar(select(func.count()).select_from(EventRow)) or 0)


def _stopped(db: Database) -> dict[str, bool]:
    with db.session() as session:
        return {channel: pauses.stopping(session, channel) is not None for channel in pauses.known_channels()}


def test_the_channels_are_the_email_and_every_network_compose_knows() -> None:
    assert pauses.known_channels() == ("email", *RULES_BY_NETWORK)
    assert {"x", "mastodon", "bluesky"} <= set(pauses.known_channels())


def test_an_approver_pauses_everything_and_an_admin_resumes_it_with_audit_and_events(team: Database) -> None:
    with team.session() as session:
        result = pauses.pause(session, reason=f"  {REASON}\n", by="AP@example.org", now=NOW)
    assert [(p.channel, p.by, p.reason, p.since) for p in result.started] == [("all", "ap@example.org", REASON, NOW)]
    assert _stopped(team) == dict.fromkeys(pauses.known_channels(), True)
    with team.session() as session:
        said = pauses.active(session)[0].describe(LONDON)
        assert said == f"everything is paused by ap@example.org since Thu 3 Dec 2026, 10:00 GMT: {REASON}"
        audit = session.scalars(select(AuditRow).where(AuditRow.subject_kind == "pause")).one()
        assert (audit.actor, audit.action, audit.detail) == ("ap@example.org", "pause", {"channel": "all",
                                                                                         "reason": REASON})
        event = session.scalars(select(EventRow)).one()
        assert (event.name, event.resource_id) == ("syndicate.paused", "syndicate.channel.all")
        assert event.payload["by"] == "ap@example.org" and event.payload["reason"] == REASON
    later = NOW + timedelta(hours=2)
    with team.session() as session:
        ended = pauses.resume(session, by="boss@example.org", now=later)
    assert [p.channel for p in ended.ended] == ["all"] and ended.kept == []
    assert _stopped(team) == dict.fromkeys(pauses.known_channels(), False)
    with team.session() as session:
        row = session.scalars(select(PauseRow)).one()
        assert (row.resumed_by, row.resumed_at, row.paused_by) == ("boss@example.org", later, "ap@example.org")
        names = session.scalars(select(EventRow.name).order_by(EventRow.id)).all()
        assert names == ["syndicate.paused", "syndicate.resumed"]
        actions = session.scalars(select(AuditRow.action).where(AuditRow.subject_kind == "pause")
                                  .order_by(AuditRow.id)).all()
        assert actions == ["pause", "resume"]


def test_a_pause_that_rolls_back_leaves_no_row_no_audit_and_no_event(team: Database) -> None:
    before = _counts(team)
    with team.sessions() as session:
        pauses.pause(session, reason=REASON, by="boss@example.org", now=NOW)
        session.rollback()
    assert _counts(team) == before and not any(_stopped(team).values())


def test_one_channel_alone_stops_only_that_channel(team: Database) -> None:
    with team.session() as session:
        pauses.pause(session, channels=["X", "email"], reason=REASON, by="ap@example.org", now=NOW)
    stopped = _stopped(team)
    assert stopped["x"] and stopped["email"] and not stopped["mastodon"] and not stopped["bluesky"]
    with team.session() as session:
        assert [p.channel for p in pauses.active(session)] == ["email", "x"]
        pauses.resume(session, channels=["email"], by="boss@example.org", now=NOW)
    assert [c for c, s in _stopped(team).items() if s] == ["x"]


def test_pausing_what_is_already_paused_changes_nothing_and_says_by_whom(team: Database) -> None:
    with team.session() as session:
        pauses.pause(session, reason=REASON, by="ap@example.org", now=NOW)
    before = _counts(team)
    with team.session() as session:
        again = pauses.pause(session, reason="another reason", by="boss@example.org", now=NOW + timedelta(hours=1))
        one = pauses.pause(session, channels=["x"], reason="only x", by="boss@example.org", now=NOW)
    assert again.started == [] and [p.by for p in again.already] == ["ap@example.org"]
    assert one.started == [] and one.already[0].everything
    assert _counts(team) == before


def test_resuming_one_channel_while_everything_is_paused_keeps_the_others_paused_as_they_were(team: Database) -> None:
    with team.session() as session:
        pauses.pause(session, reason=REASON, by="ap@example.org", now=NOW)
    with team.session() as session:
        result = pauses.resume(session, channels=["email"], by="boss@example.org", now=NOW + timedelta(hours=1))
    assert [p.channel for p in result.ended] == ["all"]
    assert [p.channel for p in result.kept] == [c for c in pauses.known_channels() if c != "email"]
    assert {(p.by, p.since, p.reason) for p in result.kept} == {("ap@example.org", NOW, REASON)}
    assert [c for c, s in _stopped(team).items() if not s] == ["email"]
    with team.session() as session:
        kept = session.scalars(select(AuditRow).where(AuditRow.action == "pause", AuditRow.actor == "boss@example.org")).all()
        assert {a.detail["channel"] for a in kept} == {p.channel for p in result.kept}
        ended = session.scalars(select(AuditRow).where(AuditRow.action == "resume")).one()
        assert ended.detail["resumed"] == ["email"] and set(ended.detail["kept"]) == {p.channel for p in result.kept}


def test_resuming_when_nothing_is_paused_changes_nothing(team: Database) -> None:
    before = _counts(team)
    with team.session() as session:
        assert pauses.resume(session, by="boss@example.org", now=NOW).ended == []
        assert pauses.resume(session, channels=["x"], by="boss@example.org", now=NOW).ended == []
    assert _counts(team) == before


@pytest.mark.parametrize(("call", "error", "says"), [
    (lambda s: pauses.pause(s, channels=["telegram"], reason=REASON, by="ap@example.org", now=NOW), LedgerError,
     "unknown channel 'telegram': use one of email, x, mastodon, bluesky, linkedin"),
    (lambda s: pauses.pause(s, reason="   ", by="ap@example.org", now=NOW), LedgerError, "a pause needs a reason"),
    (lambda s: pauses.pause(s, reason=None, by="ap@example.org", now=NOW), LedgerError, "a pause needs a reason"),
    (lambda s: pauses.pause(s, reason="x" * 501, by="ap@example.org", now=NOW), LedgerError, "keep it under 500"),
    (lambda s: pauses.pause(s, reason=REASON, by="ed@example.org", now=NOW), NotAllowed,
     "ed@example.org is an editor: only approvers or admins may pause everything"),
    (lambda s: pauses.pause(s, reason=REASON, by="stranger@example.org", now=NOW), NotStaff, "is not a member of staff"),
    (lambda s: pauses.pause(s, reason=REASON, by="gone@example.org", now=NOW), NotAllowed, "is disabled"),
    (lambda s: pauses.resume(s, by="ap@example.org", now=NOW), NotAllowed,
     "ap@example.org is an approver: only admins may resume everything"),
    (lambda s: pauses.resume(s, channels=["fax"], by="boss@example.org", now=NOW), LedgerError, "unknown channel 'fax'"),
    (lambda s: pauses.resume(s, channels=["x"], by="ed@example.org", now=NOW), NotAllowed, "may resume X"),
])
def test_bad_input_is_refused_with_a_clear_message_and_changes_nothing(team: Database, call, error, says) -> None:
    with team.session() as session:
        pauses.pause(session, channels=["mastodon"], reason="already here", by="boss@example.org", now=NOW)
    before, stopped = _counts(team), _stopped(team)
    with pytest.raises(error) as raised, team.session() as session:
        call(session)
    assert says in str(raised.value)
    assert _counts(team) == before and _stopped(team) == stopped


_OPS = st.lists(st.tuples(st.sampled_from(["pause", "resume"]),
                          st.one_of(st.none(), st.lists(st.sampled_from(pauses.known_channels()), min_size=1,
                                                        max_size=3))), max_size=8)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=_OPS)
def test_any_run_of_pauses_and_resumes_stops_exactly_what_the_model_says(team: Database, ops) -> None:
    """Everything paused or not, and each channel's own pause: resuming some channels while everything is
    paused leaves every other channel paused."""
    known = set(pauses.known_channels())
    everything, own = False, set()
    with team.sessions() as session:
        try:
            for step, (op, channels) in enumerate(ops):
                when = NOW + timedelta(minutes=step)
                if op == "pause":
                    pauses.pause(session, channels=channels, reason=f"step {step}", by="ap@example.org", now=when)
                    if channels is None:
                        everything = True
                    elif not everything:
                        own |= set(channels)
                else:
                    pauses.resume(session, channels=channels, by="boss@example.org", now=when)
                    if channels is None:
                        everything, own = False, set()
                    else:
                        own = (known if everything else own) - set(channels)
                        everything = False
                for channel in known:
                    assert (pauses.stopping(session, channel) is not None) == (everything or channel in own), (
                        step, channel)
                active = pauses.active(session)
                assert len({p.channel for p in active}) == len(active), "one pause per channel at most"
        finally:
            session.rollback()


@settings(max_examples=60, deadline=None)
@given(reason=st.text(max_size=600), channel=st.text(max_size=12))
def test_any_reason_and_channel_is_kept_tidied_or_refused_by_name(reason: str, channel: str) -> None:
    """The checks are pure: a reason is kept with its spaces tidied, or refused saying what a reason is;
    a channel is one we know, or refused naming the ones we know."""
    try:
        kept = pauses.check_reason(reason)
    except LedgerError as exc:
        assert "reason" in str(exc)
        assert not reason.split() or len(" ".join(reason.split())) > pauses.MAX_REASON
    else:
        assert kept == " ".join(reason.split()) and 0 < len(kept) <= pauses.MAX_REASON
    try:
        asked = pauses.check_channels([channel])
    except LedgerError as exc:
        assert "use one of email, x" in str(exc)
    else:
        assert asked == () if channel.strip().lower() == "all" else asked == (channel.strip().lower(),)
