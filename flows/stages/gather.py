"""Stage 1, gather: fetch every configured source once and record what it found."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from compose.config import Config, Source
from compose.models import FetchReport, SourceCursor
from state import websub
from state.items import cursor_of, release_backlog, store_reports, sync_sources
from state.models import WebSubSubscriptionRow

if TYPE_CHECKING:
    from connectors.sources.websub import HubClient

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
    last_success: datetime | None = None
    backlog: int = 0  # of `new`, held back as backlog (a source's first gather)


@dataclass(frozen=True, slots=True)
class PushSummary:
    """What the gather run asked of WebSub hubs."""

    requested: int = 0  # subscriptions and renewals the hubs accepted
    failed: int = 0
    unsubscribed: int = 0
    errors: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class GatherSummary:
    sources: tuple[SourceSummary, ...] = field(default_factory=tuple)
    push: PushSummary = field(default_factory=PushSummary)
    released: int = 0  # backlog of earlier gathers let in (`include_backlog`)

    @property
    def new(self) -> int:
        return sum(s.new for s in self.sources)

    @property
    def updated(self) -> int:
        return sum(s.updated for s in self.sources)

    @property
    def failed(self) -> int:
        return sum(not s.ok for s in self.sources)

    @property
    def backlog(self) -> int:
        return sum(s.backlog for s in self.sources)

    def as_dict(self) -> dict[str, object]:
        return {"new": self.new, "updated": self.updated, "failed": self.failed, "backlog": self.backlog,
                "released": self.released, "sources": [asdict(s) for s in self.sources], "push": asdict(self.push)}


def _default_fetcher(sources: Sequence[Source], cursors: Mapping[str, SourceCursor], *,
                     allow_hosts: Sequence[str] = ()) -> list[FetchReport]:
    from connectors.sources import fetch_sources

    return fetch_sources(sources, cursors, allow_hosts=allow_hosts)


def gather_sources(
    session: Session, config: Config, *, now: datetime, include_backlog: bool = False,
    fetch: Fetcher | None = None, hub: HubClient | None = None,
) -> GatherSummary:
    """Fetch every source, store items and health, then subscribe to (or renew, or leave) the WebSub
    hubs the sources advertise. One broken source never stops the others. `hub` is for tests.
    `include_backlog` treats what a new source already has as new, and lets in what earlier gathers
    held back as backlog."""
    rows = sync_sources(session, config.sources)
    due: list[Source] = []
    skipped: list[SourceSummary] = []
    for source in config.sources:
        row = rows[source.name]
        if row.retry_after and row.retry_after > now:
            skipped.append(SourceSummary(
                name=source.name, section=source.section, ok=False, status=row.last_status, not_modified=False,
                new=0, updated=0, bytes=0, elapsed_ms=0.0, error=row.last_error, hint=row.last_error_hint,
                consecutive_failures=row.consecutive_failures, last_success=row.last_success_at,
                skipped=f"the server asked us to wait until {row.retry_after:%H:%M:%S} UTC (Retry-After)"))
            continue
        due.append(source)
    cursors = {source.name: cursor_of(rows[source.name]) for source in due}
    reports = fetch(due, cursors) if fetch else _default_fetcher(due, cursors, allow_hosts=config.fetch.allow_hosts)
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
            consecutive_failures=row.consecutive_failures, last_success=row.last_success_at, backlog=stored.backlog))
    released = release_backlog(session) if include_backlog else 0
    for source, report in zip(due, reports, strict=True):
        if report.ok and report.hub_url:
            topic = report.self_url or (report.cursor.url if report.cursor else None) or str(source.url)
            websub.note_discovery(session, rows[source.name], hub=report.hub_url, topic=topic, now=now)
    push = sync_push_subscriptions(session, config, now=now, hub=hub)
    return GatherSummary(tuple(summaries + skipped), push, released=released)


def callback_base(config: Config) -> str:
    """Where hubs reach the web app: [websub] callback_url, else edition.public_url."""
    return str(config.websub.callback_url or config.edition.public_url).rstrip("/")


def sync_push_subscriptions(session: Session, config: Config, *, now: datetime,
                            hub: HubClient | None = None) -> PushSummary:
    """Subscribe to new hubs, renew leases near their end, and unsubscribe sources that left the
    config (or every source when [websub] is disabled). The ledger row is committed before each
    request leaves, so the hub's verification finds it; the outcome is committed after."""
    configured = {source.name for source in config.sources}
    plan: list[tuple[str, WebSubSubscriptionRow]] = []
    for row in websub.subscriptions(session):
        wanted = config.websub.enabled and row.source.name in configured
        if wanted and websub.needs_subscribe(row, now=now):
            plan.append(("subscribe", row))
        elif not wanted and websub.needs_unsubscribe(row):
            plan.append(("unsubscribe", row))
    if not plan:
        return PushSummary()
    if hub is None:
        from connectors.outbound import OutboundGuard
        from connectors.sources.websub import HubClient

        hub_guard = OutboundGuard.trusting([str(s.url) for s in config.sources], config.fetch.allow_hosts)
        client = HubClient(guard=hub_guard)
    else:
        client = hub
    requested = failed = unsubscribed = 0
    errors: list[str] = []
    try:
        for mode, row in plan:
            if mode == "subscribe":
                websub.mark_requested(row, lease_seconds=config.websub.lease_seconds, now=now)
            else:
                websub.mark_unsubscribing(row, now=now)
            session.commit()
            answer = client.request(row.hub_url, mode=mode, topic=row.topic_url,
                                    callback=f"{callback_base(config)}/websub/{row.token}",
                                    secret=row.secret if mode == "subscribe" else None,
                                    lease_seconds=config.websub.lease_seconds if mode == "subscribe" else None)
            session.refresh(row)  # the hub may have verified already, from another connection
            if mode == "unsubscribe":
                unsubscribed += 1
                if not answer.ok:
                    websub.mark_unsubscribed(row, now=now, error=answer.error)
            elif answer.ok:
                requested += 1
            else:
                failed += 1
                websub.mark_failed(row, answer.error or "the hub refused", answer.hint, now=now)
                errors.append(f"{row.source.name}: {answer.error}")
            session.commit()
    finally:
        if hub is None:
            client.close()
    return PushSummary(requested=requested, failed=failed, unsubscribed=unsubscribed, errors=tuple(errors))
