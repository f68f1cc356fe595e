"""What `syndicate status` and the review desk show: sources, pending approvals, schedule, failures.

`status_report` gathers it all in one dict (the JSON of `syndicate --json status`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from compose.config import Config, Source, retired
from compose.schedule import next_slot
from state.editions import candidate_count, last_sent_edition
from state.items import backlog_counts
from state.models import (
    BatchStatus,
    DeliveryBatchRow,
    EditionItemRow,
    EditionRow,
    EditionStatus,
    EventRow,
    PostRow,
    PostStatus,
    SourceRow,
    SubscriberRow,
    ThreadRow,
    ThreadStatus,
    WebSubSubscriptionRow,
)
from state.pauses import active as active_pauses


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _push(row: WebSubSubscriptionRow | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {"hub": row.hub_url, "state": row.state, "expires_at": _iso(row.expires_at), "pushes": row.pushes,
            "rejected_pushes": row.rejected_pushes, "last_error": row.last_error, "hint": row.last_error_hint}


def _never_gathered(source: Source) -> dict[str, Any]:
    return {"name": source.name, "kind": source.kind, "section": source.section, "url": str(source.url),
            "moved_to": None, "last_success": None, "last_attempt": None, "last_error": None, "hint": None,
            "consecutive_failures": 0, "http_status": None, "bytes": 0, "elapsed_ms": 0.0, "items_new": 0,
            "items_updated": 0, "push": None}


def sources_health(session: Session, config: Config | None = None) -> list[dict[str, Any]]:
    """Each source's health; with `config`, configured sources not gathered yet appear too ("never"),
    and each row says whether the source is `retired` (gathered once, gone from the config)."""
    pushes = {row.source_id: row for row in session.scalars(select(WebSubSubscriptionRow))}
    rows: list[dict[str, Any]] = [
        {"name": s.name, "kind": s.kind, "section": s.section, "url": s.url, "moved_to": s.moved_to,
         "last_success": _iso(s.last_success_at), "last_attempt": _iso(s.last_attempt_at),
         "last_error": s.last_error, "hint": s.last_error_hint, "consecutive_failures": s.consecutive_failures,
         "http_status": s.last_status, "bytes": s.last_bytes, "elapsed_ms": round(s.last_elapsed_ms or 0.0, 1),
         "items_new": s.last_items_new, "items_updated": s.last_items_updated, "push": _push(pushes.get(s.id))}
        for s in session.scalars(select(SourceRow).order_by(SourceRow.name))
    ]
    if config is not None:
        known = {row["name"] for row in rows}
        rows += [_never_gathered(source) for source in config.sources if source.name not in known]
        for row in rows:
            row["retired"] = retired(str(row["name"]), config)
        rows.sort(key=lambda row: (row["retired"], str(row["name"])))
    return rows


def backlog(session: Session, by_source: dict[str, int] | None = None) -> dict[str, Any]:
    """What first gathers held back (`by_source`: `backlog_counts`, if the caller has them), and the
    command that lets it in."""
    by_source = backlog_counts(session) if by_source is None else by_source
    return {"items": sum(by_source.values()), "by_source": by_source,
            "release": "syndicate backlog release [--source NAME] [--since DATE]"}


def pending(session: Session) -> list[dict[str, Any]]:
    """Editions and threads waiting for a decision by staff."""
    out: list[dict[str, Any]] = []
    for row in session.scalars(select(EditionRow).where(EditionRow.status.in_(
            [EditionStatus.DRAFT, EditionStatus.HELD])).order_by(EditionRow.id)):
        out.append({"kind": "edition", "id": row.id, "slug": row.slug, "status": row.status,
                    "scheduled_for": _iso(row.scheduled_for), "warnings": row.warnings})
    for thread in session.scalars(select(ThreadRow).where(ThreadRow.status == ThreadStatus.DRAFT).order_by(ThreadRow.id)
                                  .options(selectinload(ThreadRow.posts))):
        out.append({"kind": "thread", "id": thread.id, "network": thread.network, "key": thread.key,
                    "posts": len(thread.posts), "status": thread.status})
    return out


def schedule(session: Session, config: Config, *, now: datetime) -> dict[str, Any]:
    """The next build, the next send and the editions scheduled, in the organisation's zone.

    `next_send` is when the next email goes out: the earliest edition waiting for its send time, else
    the send slot of the edition the next build will make (an edition built on `build_day` goes out on
    the following `send_day`), never a send slot with nothing to send."""
    waiting = list(session.scalars(select(EditionRow).where(EditionRow.status.in_(
        [EditionStatus.DRAFT, EditionStatus.APPROVED])).order_by(EditionRow.scheduled_for)))
    upcoming = [{"kind": "edition", "id": row.id, "slug": row.slug, "status": row.status,
                 "scheduled_for": _iso(row.scheduled_for)} for row in waiting]
    build = next_slot(now, day=config.edition.build_day, at=config.edition.build_time, zone=config.zone)
    due = [row.scheduled_for for row in waiting if row.scheduled_for is not None and row.scheduled_for >= now]
    send = due[0] if due else next_slot(build, day=config.edition.send_day, at=config.edition.send_time,
                                        zone=config.zone)
    return {"timezone": config.edition.timezone, "next_build": _iso(build), "next_send": _iso(send),
            "scheduled": upcoming}


def failures(session: Session, config: Config | None = None) -> list[dict[str, Any]]:
    """What needs a person: failing sources (not retired ones, with `config`), failed or ambiguous
    batches and posts, held editions."""
    out: list[dict[str, Any]] = []
    for s in session.scalars(select(SourceRow).where(SourceRow.consecutive_failures > 0).order_by(SourceRow.name)):
        if config is not None and retired(s.name, config):
            continue
        out.append({"kind": "source", "name": s.name, "error": s.last_error, "hint": s.last_error_hint,
                    "consecutive_failures": s.consecutive_failures})
    for batch in session.scalars(select(DeliveryBatchRow).where(
            DeliveryBatchRow.status.in_([BatchStatus.AMBIGUOUS, BatchStatus.FAILED]))):
        out.append({"kind": f"batch-{batch.status}", "id": batch.id, "edition_id": batch.edition_id,
                    "size": batch.size, "error": batch.error})
    for post in session.scalars(select(PostRow).where(PostRow.status.in_(
            [PostStatus.FAILED, PostStatus.AMBIGUOUS, PostStatus.DUPLICATE]))):
        out.append({"kind": f"post-{post.status}", "id": post.id, "thread_id": post.thread_id, "error": post.error})
    for thread in session.scalars(select(ThreadRow).where(
            ThreadRow.status.in_([ThreadStatus.APPROVED, ThreadStatus.PUBLISHING]),
            ThreadRow.posts.any(PostRow.image_url.is_not(None) & (func.coalesce(func.trim(PostRow.image_alt), "") == "")
                                & PostRow.status.in_([PostStatus.PENDING, PostStatus.FAILED]))).order_by(ThreadRow.id)):
        out.append({"kind": "thread-no-alt", "id": thread.id, "network": thread.network,
                    "error": thread.error or "a post carries an image without alt text: it is not published until "
                                             "staff write it on the desk"})
    for edition in session.scalars(select(EditionRow).where(EditionRow.status == EditionStatus.HELD)):
        out.append({"kind": "edition-held", "id": edition.id, "error": "its send time came before it was approved"})
    return out


def editions(session: Session, *, limit: int = 10) -> list[dict[str, Any]]:
    """The latest editions, newest first, with their delivery figures."""
    from state.figures import many_figures

    rows = session.scalars(select(EditionRow).order_by(EditionRow.id.desc()).limit(limit)).all()
    ids = [row.id for row in rows]
    items = {edition: count for edition, count in session.execute(select(EditionItemRow.edition_id, func.count())
                                                                   .where(EditionItemRow.edition_id.in_(ids))
                                                                   .group_by(EditionItemRow.edition_id))}
    figures = many_figures(session, ids)  # two queries for them all, not two per edition
    return [{"id": row.id, "slug": row.slug, "status": row.status, "subject": row.subject,
             "items": items.get(row.id, 0), "html_bytes": row.html_bytes, "scheduled_for": _iso(row.scheduled_for),
             "sent_at": _iso(row.sent_at), "figures": figures[row.id].as_dict()} for row in rows]


def next_edition_outlook(session: Session, *, now: datetime, held: int | None = None) -> str:
    """Why there is, or is not, something for the next edition (`held`: how many backlog items, if
    the caller counted them)."""
    count = candidate_count(session, now=now)
    last = last_sent_edition(session)
    since = f"since edition {last.slug} was built" if last else "so far"
    held = sum(backlog_counts(session).values()) if held is None else held
    held_back = f" ({held} more held back as backlog)" if held else ""
    if count == 0:
        return f"no new items {since}{held_back}: the next build will not make an edition"
    return f"{count} new item(s) {since} for the next edition{held_back}"


def status_report(session: Session, config: Config, *, now: datetime) -> dict[str, Any]:
    """Everything `syndicate status` shows, as one JSON-ready dict."""
    subscribers = dict(session.execute(select(SubscriberRow.status, func.count()).group_by(SubscriberRow.status)).all())
    unrelayed = session.scalar(select(func.count()).select_from(EventRow).where(EventRow.relayed_at.is_(None))) or 0
    held = backlog(session)  # counted once for the report and the outlook: 5,000 held items cost ~15-40 ms on PostgreSQL
    return {
        "now": now.isoformat(),
        "paused": [pause.as_dict() | {"said": pause.describe(config.zone)} for pause in active_pauses(session)],
        "sources": sources_health(session, config),
        "backlog": held,
        "pending": pending(session),
        "schedule": schedule(session, config, now=now),
        "next_edition": next_edition_outlook(session, now=now, held=held["items"]),
        "editions": editions(session),
        "failures": failures(session, config),
        "subscribers": {str(k): v for k, v in subscribers.items()},
        "events_waiting_for_relay": unrelayed,
        "quiet": _quiet(session, config),
    }


def _quiet(session: Session, config: Config) -> list[dict[str, Any]]:
    """Editions and threads not yet out that quiet time moved, holds or an admin let through."""
    from compose.calendar import QuietCalendar
    from state.quiet import open_notes

    calendar = QuietCalendar.from_config(config)
    return [{**note.as_dict(), "said": note.sentence(config.zone)} for note in open_notes(session, calendar)]
