"""The pre-flight check's findings (`syndicate doctor`, the desk's doctor page), and its pure checks.

A finding is one check's verdict: `blocker` (a real send must not start while it stands), `warning`
(it can go, but something should be fixed) or `ok`, with what was found and exactly what to change.
The checks that ask the outside world (DNS, the web app at public_url, SendGrid) live in
`connectors.preflight`; those that read the ledger in `state.doctor`; both return findings, and the
CLI and the desk show the same `DoctorReport`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, Literal

Level = Literal["blocker", "warning", "ok"]
LEVELS: tuple[Level, ...] = ("blocker", "warning", "ok")

# Gmail clips a message whose HTML is over about 102 KB ("[Message clipped] View entire message"),
# hiding the footer with the unsubscribe link and postal address. Industry measurements put the
# limit between 102,000 and 105,000 bytes (notes/email-and-x.md §1); we count the lower one.
GMAIL_CLIP_BYTES = 102_000
CLIP_MARGIN_BYTES = 4_000  # per-subscriber substitutions (unsubscribe links) add to what we measure


@dataclass(frozen=True, slots=True)
class Finding:
    """One check's verdict. `fix` says exactly what to change (empty when nothing needs changing);
    `private` marks details only admins see on the desk (key origins, API hosts)."""

    check: str  # a stable id: "spf", "dkim:s1", "dmarc", "unsubscribe", "secret-key", "scopes", ...
    level: Level
    title: str  # what was found, one line
    detail: str = ""
    fix: str = ""
    private: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class DoctorReport:
    """Every finding, worst first (the order of the checks kept within a level)."""

    findings: tuple[Finding, ...]

    @classmethod
    def of(cls, findings: Iterable[Finding]) -> DoctorReport:
        listed = list(findings)
        return cls(tuple(sorted(listed, key=lambda f: LEVELS.index(f.level))))

    @property
    def blockers(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.level == "blocker")

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.level == "warning")

    def counts(self) -> dict[str, int]:
        return {level: sum(1 for f in self.findings if f.level == level) for level in LEVELS}

    def summary(self) -> str:
        counts = self.counts()
        if counts["blocker"]:
            return (f"{counts['blocker']} blocker(s), {counts['warning']} warning(s): fix the blockers before the "
                    "first real send")
        if counts["warning"]:
            return f"no blocker, {counts['warning']} warning(s): a real send may go, but fix the warnings"
        return "every check passed"

    def as_dict(self) -> dict[str, Any]:
        return {"ok": not self.blockers, "summary": self.summary(), "counts": self.counts(),
                "findings": [f.as_dict() for f in self.findings]}


def clip_finding(html_bytes: int, *, which: str) -> Finding:
    """Whether the HTML of an edition (`which` names it: "edition 12 (2026-12-03)") stays under Gmail's clip."""
    limit = GMAIL_CLIP_BYTES
    size = f"{html_bytes:,} bytes of HTML"
    if html_bytes > limit:
        return Finding("clip", "blocker", f"{which} is over Gmail's clip: {size} (limit {limit:,})",
                       detail="Gmail cuts the message and hides the footer, with the unsubscribe link and your "
                              "postal address, behind \"View entire message\".",
                       fix=f"remove items or shorten summaries until it is under {limit - CLIP_MARGIN_BYTES:,} "
                           "bytes (lower [sections] limits or [edition] size_budget_bytes), then build again")
    if html_bytes > limit - CLIP_MARGIN_BYTES:
        return Finding("clip", "warning", f"{which} is close to Gmail's clip: {size} (limit {limit:,})",
                       detail="each subscriber's unsubscribe link adds a little: it may be clipped for some.",
                       fix=f"keep it under {limit - CLIP_MARGIN_BYTES:,} bytes: remove an item or lower [edition] "
                           "size_budget_bytes")
    return Finding("clip", "ok", f"{which} is under Gmail's clip: {size} (limit {limit:,})")
