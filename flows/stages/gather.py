"""Stage 1, gather: fetch every configured source once and record what it found."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from compose.config import Config, Source
from compose.models import FetchReport, SourceCursor
from state.items import cursor_of, store_reports, sync_sources  # noqa: F401  (sync_sources re-exported)

Fetcher = Callable[[Sequence[Source], Mapping[str, SourceCursor]], list[FetchReport]]


@dataclass(frozen=True, slots=True)
class SourceSummary:
    name: str
    section: str
    ok: bool
    status: int | None
    not_modified: bool
    new: int
    updated: int
    bytes: int
    elapsed_ms: float
    error: str | None = None
    hint: str | None = None
    moved_to: str | None = None
    consecutive_failures: int = 0
    skipped: str | None = None


@dataclass(frozen=True, slots=True)
class GatherSummary:
    sources: tuple[SourceSummary, ...] = field(default_factory=tuple)

    @property
    def new(self) -> int:
        return sum(s.new for s in self.sources)

    @property
    def updated(self) -> int:
        return sum(s.updated for s in self.sources)

    @property
    def failed(self) -> int:
        return sum(not s.ok for s in self.sources)

    def as_dict(self) -> dict[str, object]:
        return {"new": self.new, "updated": self.updated, "failed": self.failed,
                "sources": [asdict(s) for s in self.sources]}


def _default_fetcher(sources: Sequence[Source], cursors: Mapping[str, SourceCursor]) -> list[FetchReport]:
    from connectors.sources import fetch_sources

    return fetch_sources(sources, cursors)


def gather_sources(
    session: Session, config: Config, *, now: datetime, include_backlog: bool = False,
    fetch: Fetcher | None = None,
) -> GatherSummary:
    """Fetch every source, store items and health. One broken source never stops the others."""
    rows = sync_sources(session, config.sources)
    due: list[Source] = []
    skipped: list[SourceSummary] = []
    for source in config.sources:
        row = rows[source.name]
        if row.retry_after and row.retry_after > now:
            skipped.append(SourceSummary(
                name=source.name, section=source.section, ok=False, status=row.last_status, not_modified=False,
                new=0, updated=0, bytes=0, elapsed_ms=0.0, error=row.last_error, hint=row.last_error_hint,
                consecutive_failures=row.consecutive_failures,
                skipped=f"the server asked us to wait until {row.retry_after:%H:%M:%S} UTC (Retry-After)"))
            continue
        due.append(source)
    cursors = {source.name: cursor_of(rows[source.name]) for source in due}
    reports = (fetch or _default_fetcher)(due, cursors)
    stored_by_source = store_reports(session, [(rows[s.name], r) for s, r in zip(due, reports, strict=True)],
                                     now=now, include_backlog=include_backlog)
    summaries: list[SourceSummary] = []
    for source, report in zip(due, reports, strict=True):
        row = rows[source.name]
        stored = stored_by_source[row.id]
        summaries.append(SourceSummary(
            name=source.name, section=source.section, ok=report.ok, status=report.status,
            not_modified=report.not_modified, new=stored.new, updated=stored.updated, bytes=report.bytes,
            elapsed_ms=report.elapsed_ms, error=report.error, hint=report.hint, moved_to=report.moved_to,
            consecutive_failures=row.consecutive_failures))
    return GatherSummary(tuple(summaries + skipped))
