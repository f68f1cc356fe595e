"""`make bench` compares each figure with the last run on the same machine (bench/record.py):
by its ratio to the in-run baseline where both runs measured one, else by value, and calls more
than 20% worse a regression."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import record  # noqa: E402
from record import Figure  # noqa: E402


def test_a_slower_figure_regresses_by_value_when_it_has_no_baseline() -> None:
    [change] = record.compare("gather", [Figure("cold_s", 2.6, "s")], {"cold_s": 2.0})
    assert change.regressed and not change.by_baseline
    assert change.ratio == pytest.approx(1.3)


def test_a_slower_figure_on_a_slower_machine_is_no_regression_in_ratio_to_its_baseline() -> None:
    now = [Figure("loop_s", 60.0, "s"), Figure("cold_s", 3.0, "s", baseline="loop_s")]
    [_, cold] = record.compare("gather", now, {"loop_s": 40.0, "cold_s": 2.0})
    assert cold.by_baseline and not cold.regressed
    assert cold.ratio == pytest.approx(1.0)


def test_higher_is_better_figures_regress_when_they_fall() -> None:
    [change] = record.compare("clicks", [Figure("per_s", 1500, "/s", better="higher")], {"per_s": 2000})
    assert change.regressed
    [steady] = record.compare("clicks", [Figure("per_s", 1900, "/s", better="higher")], {"per_s": 2000})
    assert not steady.regressed


def test_a_first_run_or_a_new_figure_is_not_judged() -> None:
    [change] = record.compare("startup", [Figure("help_s", 0.2, "s")], None)
    assert change.ratio is None and not change.regressed
    [new] = record.compare("startup", [Figure("help_s", 0.2, "s")], {"status_s": 0.3})
    assert new.ratio is None


def test_the_history_is_kept_per_machine_and_the_last_run_wins(tmp_path: Path) -> None:
    history = tmp_path / "history.jsonl"
    record.remember("send", [Figure("wall_s", 9.0, "s")], "machine A", history)
    record.remember("send", [Figure("wall_s", 8.0, "s")], "machine B", history)
    record.remember("send", [Figure("wall_s", 7.0, "s")], "machine A", history)
    assert record.last_run("machine A", history) == {"send": {"wall_s": 7.0}}
    assert record.last_run("machine C", history) == {}


def test_write_refuses_a_baseline_that_was_not_measured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(record, "RESULTS", tmp_path)
    with pytest.raises(ValueError, match="baselines that are not figures"):
        record.write("gather", [Figure("cold_s", 2.0, "s", baseline="reader_s")])
    path = record.write("gather", [Figure("reader_s", 9.0, "s"), Figure("cold_s", 2.0, "s", baseline="reader_s",
                                                                        target=2.5)])
    bench, figures = record.read(path)
    assert bench == "gather" and figures[1].meets_target() is True
    assert json.loads(path.read_text())["machine"]["fingerprint"]


def test_the_report_names_targets_missed_and_regressions() -> None:
    changes = record.compare("startup", [Figure("help_s", 0.4, "s", target=0.25)], {"help_s": 0.3})
    [line] = record.report(changes)
    assert "MISSED" in line and "REGRESSED" in line and "+33%" in line


@given(st.floats(0.01, 1e6), st.floats(0.01, 1e6), st.floats(0.01, 1e6))
def test_a_figure_moving_with_its_baseline_never_regresses(value: float, base: float, scale: float) -> None:
    before = {"base": base, "x": value}
    now = [Figure("base", base * scale, "s"), Figure("x", value * scale, "s", baseline="base")]
    [_, x] = record.compare("b", now, before)
    assert x.by_baseline and not x.regressed
