"""The guard's arithmetic and its configuration, pure: verdicts are monotone in the counts and the
thresholds, never divide by zero, give no verdict under the minimum sample; bad `[reputation]`
values are refused with a message that names the key and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from compose.config import Reputation
from compose.reputation import Level, Reading, judge, percent
from flows.settings import ConfigError, parse_config

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "syndicate.toml"

counts = st.integers(min_value=0, max_value=10**7)
complaint_fractions = st.floats(min_value=1e-6, max_value=0.01, allow_nan=False)
bounce_fractions = st.floats(min_value=1e-6, max_value=0.2, allow_nan=False)


@st.composite
def readings(draw: st.DrawFn, below: int | None = None) -> Reading:
    """Any reading; with `below`, one of fewer messages than that (drawn so, not filtered)."""
    accepted = draw(counts if below is None else st.integers(min_value=0, max_value=below - 1))
    delivered = draw(st.integers(min_value=0, max_value=accepted))
    return Reading("edition 1", accepted=accepted, delivered=delivered, bounced=draw(st.integers(0, accepted)),
                   complaints=draw(st.integers(0, max(delivered, accepted))))


@st.composite
def thresholds(draw: st.DrawFn) -> Reputation:
    cw, cs = sorted((draw(complaint_fractions), draw(complaint_fractions)))
    bw, bs = sorted((draw(bounce_fractions), draw(bounce_fractions)))
    return Reputation(complaint_rate_warn=cw, complaint_rate_stop=cs, bounce_rate_warn=bw, bounce_rate_stop=bs,
                      min_sample=draw(st.integers(1, 5000)))


@given(readings(), thresholds())
def test_every_reading_gets_a_verdict_without_dividing_by_zero(reading, settings):
    verdict = judge(reading, settings)
    assert verdict.level in Level
    assert 0.0 <= reading.complaint_rate <= 1.0 and 0.0 <= reading.bounce_rate <= 1.0
    if verdict.level is not Level.OK:
        assert verdict.crossed and all("%" in line for line in verdict.crossed)
        assert reading.scope in verdict.said()


@given(readings(), thresholds(), st.integers(1, 1000))
def test_more_complaints_or_bounces_never_lower_the_level(reading, settings, more):
    base = judge(reading, settings).level
    worse_complaints = Reading(reading.scope, reading.accepted, reading.delivered, reading.bounced,
                               min(reading.complaints + more, max(reading.delivered, reading.accepted)))
    worse_bounces = Reading(reading.scope, reading.accepted, reading.delivered,
                            min(reading.bounced + more, reading.accepted), reading.complaints)
    assert judge(worse_complaints, settings).level >= base
    assert judge(worse_bounces, settings).level >= base


@given(readings(), thresholds(), st.floats(min_value=1.0, max_value=50.0))
def test_higher_thresholds_never_raise_the_level(reading, settings, factor):
    ceilings = {"complaint_rate_warn": 0.01, "complaint_rate_stop": 0.01, "bounce_rate_warn": 0.2,
                "bounce_rate_stop": 0.2}
    looser = Reputation(**{**settings.model_dump(),
                           **{key: min(top, getattr(settings, key) * factor) for key, top in ceilings.items()}})
    assert judge(reading, looser).level <= judge(reading, settings).level


@given(thresholds(), st.data())
def test_under_the_minimum_sample_there_is_no_verdict(settings, data):
    reading = data.draw(readings(below=settings.min_sample))
    verdict = judge(reading, settings)
    assert verdict.level is Level.OK and verdict.too_few


def test_one_complaint_in_ten_stops_nothing_by_default():
    assert judge(Reading("a small send", 10, 10, 0, 1), Reputation()).level is Level.OK
    # and at the default sample, the Gmail and Yahoo limit: 2 in 500 (0.4%) stops, 1 in 500 (0.2%) warns
    assert judge(Reading("edition", 500, 500, 0, 2), Reputation()).level is Level.STOP
    assert judge(Reading("edition", 500, 500, 0, 1), Reputation()).level is Level.WARN


def test_the_sentence_carries_the_numbers():
    verdict = judge(Reading("edition 7", 1000, 990, 60, 4), Reputation())
    assert verdict.level is Level.STOP
    assert verdict.crossed == (
        "complaint rate 0.40% (4 spam reports of 990 delivered) reached the stop threshold 0.30%",
        "bounce rate 6.00% (60 hard bounces of 1,000 sent) reached the stop threshold 5.00%")
    assert percent(0.0042) == "0.42%"


@pytest.mark.parametrize(("table", "expected"), [
    ("complaint_rate_stop = 0.3", "reputation.complaint_rate_stop: 0.3 is 30%, above the most this threshold may be "
                                  "(0.01, 1%): mailbox providers refuse a sender long before; for 0.3% write 0.003"),
    ("bounce_rate_stop = 0.5", "reputation.bounce_rate_stop: 0.5 is 50%, above the most this threshold may be (0.2"),
    ("complaint_rate_stop = 3", "3.0% is written 0.03"),
    ("bounce_rate_stop = 0", "reputation.bounce_rate_stop: must be a fraction between 0 and 1"),
    ("bounce_rate_warn = -0.01", "reputation.bounce_rate_warn: must be a fraction between 0 and 1"),
    ('complaint_rate_warn = "high"', "reputation.complaint_rate_warn: must be a number"),
    ("complaint_rate_warn = true", "reputation.complaint_rate_warn: must be a number"),
    ("complaint_rate_warn = 0.004", "complaint_rate_warn (0.004) is above reputation.complaint_rate_stop (0.003): "
                                    "staff must be warned before email is paused"),
    ("bounce_rate_warn = 0.06", "bounce_rate_warn (0.06) is above reputation.bounce_rate_stop (0.05)"),
    ("min_sample = 0", "reputation.min_sample: must be at least 1 message"),
    ("window_days = 400", "reputation.window_days: must be between 1 and 90 days"),
    ("complaint_rate = 0.001", "reputation.complaint_rate"),  # a typo is an error that names the key
])
def test_bad_reputation_settings_are_refused_with_the_key_and_the_fix(table, expected):
    text = EXAMPLE.read_text("utf-8") + f"\n[reputation]\n{table}\n"
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    assert expected in str(caught.value)


def test_the_defaults_and_a_good_table_load():
    assert parse_config(EXAMPLE.read_text("utf-8")).reputation == Reputation()
    text = EXAMPLE.read_text("utf-8") + "\n[reputation]\ncomplaint_rate_warn = 0.0005\nmin_sample = 2000\n"
    settings = parse_config(text).reputation
    assert (settings.complaint_rate_warn, settings.complaint_rate_stop, settings.min_sample) == (0.0005, 0.003, 2000)
