"""The arithmetic of the sender's reputation: rates, and whether they cross the configured thresholds.

Pure: counts in, a verdict out. `state.reputation` reads the counts from the ledger and acts on
the verdict (a pause, a notice to staff).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from compose.config import Reputation
from compose.figures import DeliveryRates


@dataclass(frozen=True, slots=True)
class Reading(DeliveryRates):
    """The counts one verdict is taken on: one send, or the editions sent over a span."""

    scope: str  # as staff read it: "edition 12 (2026-12-03)", "the last 7 days (3 editions)"
    accepted: int  # messages the provider took
    delivered: int  # reported delivered
    bounced: int  # hard bounces
    complaints: int  # spam reports
    unsubscribes: int = 0


class Level(IntEnum):
    """How a reading stands: ordered, so the worse of two is their max."""

    OK = 0
    WARN = 1
    STOP = 2


@dataclass(frozen=True, slots=True)
class Verdict:
    """A reading judged against the thresholds: its level and, for each threshold crossed, a
    sentence with the numbers."""

    reading: Reading
    level: Level
    crossed: tuple[str, ...] = ()
    too_few: bool = False  # under the minimum sample: no verdict on this reading

    def said(self) -> str:
        """One sentence for staff: the scope, then each threshold crossed with the numbers."""
        if not self.crossed:
            return f"{self.reading.scope}: {figures_line(self.reading)}"
        return f"{self.reading.scope}: " + "; ".join(self.crossed)


def percent(fraction: float) -> str:
    """0.0042 -> "0.42%" (two decimals: thresholds are tenths of a percent)."""
    return f"{fraction * 100:.2f}%"


def figures_line(reading: Reading) -> str:
    return (f"complaint rate {percent(reading.complaint_rate)} ({reading.complaints} of {reading.reached:,}), "
            f"bounce rate {percent(reading.bounce_rate)} ({reading.bounced} of {reading.accepted:,})")


def judge(reading: Reading, thresholds: Reputation) -> Verdict:
    """The verdict on `reading`: STOP when a rate reaches its stop threshold, WARN when it reaches
    its warning, else OK. A rate over fewer than `min_sample` messages gives no verdict (OK,
    `too_few`): one complaint in a few hundred is noise, not a trend."""
    crossed: list[str] = []
    level = Level.OK
    too_few = True
    checks = (("complaint rate", reading.complaint_rate, reading.complaints, reading.reached, "spam reports",
               "delivered", thresholds.complaint_rate_warn, thresholds.complaint_rate_stop),
              ("bounce rate", reading.bounce_rate, reading.bounced, reading.accepted, "hard bounces", "sent",
               thresholds.bounce_rate_warn, thresholds.bounce_rate_stop))
    for name, value, part, whole, part_name, whole_name, warn, stop in checks:
        if whole < thresholds.min_sample:
            continue
        too_few = False
        found = Level.STOP if value >= stop else Level.WARN if value >= warn else Level.OK
        if found is Level.OK:
            continue
        threshold = stop if found is Level.STOP else warn
        crossed.append(f"{name} {percent(value)} ({part} {part_name} of {whole:,} {whole_name}) reached the "
                       f"{'stop' if found is Level.STOP else 'warning'} threshold {percent(threshold)}")
        level = max(level, found)
    return Verdict(reading, level, tuple(crossed), too_few=too_few)
