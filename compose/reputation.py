"""The arithmetic of the sender's reputation: rates, and whether they cross the configured thresholds.

Pure: counts in, a verdict out. `state.reputation` reads the counts from the ledger and acts on
the verdict (a pause, a notice to staff).
"""

from __future__ import annotations


def rate(part: int, whole: int) -> float:
    """`part` out of `whole` as a fraction in [0, 1]: 0.0 when `whole` is zero (nothing to divide
    by is nothing wrong yet), clamped to 1.0 when counts disagree (late events may outnumber what
    a partial read saw). Negative counts are refused."""
    if part < 0 or whole < 0:
        raise ValueError(f"counts cannot be negative (got {part} of {whole})")
    if whole == 0:
        return 0.0
    return min(1.0, part / whole)
