"""What became of an edition's messages, as counts, and the rates read from them: the one
definition of each rate, for the desk, the reports, the weekly note and the reputation guard.

Pure: `state.figures` reads the counts from the ledger; here they are values.

Rates (properties of `DeliveryRates`, each 0.0 when there is nothing to divide by):
- `bounce_rate` = bounced / accepted: of the messages the provider took, how many came back
  for good (a blocked bounce is temporary and is not counted: see docs/operations.md).
- `complaint_rate` = complaints / delivered, or over accepted while nothing is reported delivered
  yet (the convention of Gmail's Postmaster Tools: spam reports over messages delivered).
- `unsubscribe_rate` = unsubscribes / delivered (or accepted), the same way.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


def rate(part: int, whole: int) -> float:
    """`part` out of `whole` as a fraction in [0, 1]: 0.0 when `whole` is zero (nothing to divide
    by is nothing wrong yet), clamped to 1.0 when counts disagree (late events may outnumber what
    a partial read saw). Negative counts are refused."""
    if part < 0 or whole < 0:
        raise ValueError(f"counts cannot be negative (got {part} of {whole})")
    if whole == 0:
        return 0.0
    return min(1.0, part / whole)


class DeliveryRates:
    """The rates of anything with the counts `accepted`, `delivered`, `bounced`, `complaints` and
    `unsubscribes` (an edition's figures, a reading of the reputation guard)."""

    __slots__ = ()
    accepted: int
    delivered: int
    bounced: int
    complaints: int
    unsubscribes: int

    @property
    def reached(self) -> int:
        """What complaint and unsubscribe rates are taken over: delivered, or accepted while no
        delivery is reported yet."""
        return self.delivered or self.accepted

    @property
    def bounce_rate(self) -> float:
        return rate(self.bounced, self.accepted)

    @property
    def complaint_rate(self) -> float:
        return rate(self.complaints, self.reached)

    @property
    def unsubscribe_rate(self) -> float:
        return rate(self.unsubscribes, self.reached)

    @property
    def delivery_rate(self) -> float:
        return rate(self.delivered, self.accepted)


@dataclass(frozen=True, slots=True)
class EditionFigures(DeliveryRates):
    """An edition's figures, or totals over several (`edition_id` None, `editions` how many)."""

    edition_id: int | None
    recipients: int = 0
    accepted: int = 0
    delivered: int = 0
    bounced: int = 0
    dropped: int = 0
    deferred: int = 0
    complaints: int = 0
    unsubscribes: int = 0
    failed: int = 0
    blocked: int = 0
    opened: int = 0
    clicked: int = 0
    ambiguous: int = 0
    skipped: int = 0
    pending: int = 0
    editions: int = 1

    def as_dict(self) -> dict[str, Any]:
        """Every count, the rates, and "complained" (the name the desk's templates used before)."""
        out: dict[str, Any] = asdict(self)
        out["complained"] = self.complaints
        out.update(bounce_rate=self.bounce_rate, complaint_rate=self.complaint_rate,
                   unsubscribe_rate=self.unsubscribe_rate, delivery_rate=self.delivery_rate)
        return out

    def __add__(self, other: EditionFigures) -> EditionFigures:
        counts = {f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)
                  if f.name != "edition_id"}
        return EditionFigures(None, **counts)
