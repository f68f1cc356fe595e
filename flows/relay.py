"""The event relay: domain events from the `events` table to Prefect, at least once, in order per resource.

Every change in the ledger writes its event row in the same transaction (`state.events`). The relay
reads the rows not yet relayed in id order, emits each to Prefect, and marks it `relayed_at` only
after the emitter returned: an emitter that raises leaves the row for a later pass (its attempt
count and error are recorded), and every later row *of the same resource* waits too, so a
resource's events reach Prefect in the order they happened. Other resources go on. An outage of
the Prefect API therefore delays events and never loses them.

Each event names its resource in words (`prefect.resource.name`: an item's title, an edition's
subject, a thread's network and what it is about) and lists the related resources with their roles
(`source`, `edition`, `item`, `network`), read from the ledger when the event is relayed, so the
Prefect UI's event feed and automations can filter by them (e.g. `syndicate.network: bluesky`).

The event id sent to Prefect is derived from the row (`event_uuid`), so a re-emit after a crash
between "emitted" and "marked" is the same event, which Prefect's trigger service recognises.

`PrefectApiEmitter` is the default emitter: it POSTs each event to the API's `/events` endpoint,
which answers 204 only after the server has taken it, and raises otherwise. (`emit_event` hands
the event to a background worker and never says whether it arrived, so it cannot carry this
guarantee; it still fits the `Emit` signature for tests and one-off scripts.)
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from state.db import Database
from state.models import EditionRow, EventRow, ItemRow, SourceRow, ThreadRow

_NAMESPACE = uuid.UUID("5b0d7a52-3f6e-4f0b-9a51-7d1f3c2e8a10")  # syndicate's uuid5 namespace for events


class Emit(Protocol):
    """Sends one event to Prefect; returns on success and raises when the event may not have arrived.
    The keyword arguments are those of `prefect.events.emit_event`."""

    def __call__(self, *, event: str, resource: dict[str, str], occurred: datetime, payload: dict[str, Any],
                 id: uuid.UUID, related: list[dict[str, str]]) -> Any: ...  # noqa: A002


class RelayLimits:
    error_chars = 500  # how much of an emitter's error is kept on the row
    label_chars = 200  # a readable name longer than this is cut (subjects and titles can be long)


@dataclass
class RelayReport:
    """What one relay pass did: how many events went out, how many wait, and why."""

    relayed: int = 0
    failed: int = 0  # emissions that raised (the row waits for the next pass)
    deferred: int = 0  # rows held back behind an earlier failure of the same resource
    errors: dict[str, str] = field(default_factory=dict)  # resource id -> last error

    @property
    def pending(self) -> int:
        return self.failed + self.deferred

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "pending": self.pending}


def event_uuid(row: EventRow) -> uuid.UUID:
    """The Prefect event id of a row: the same for every emission of that row, different across rows
    and across ledgers (the row's immutable fields are part of the name, not only its id)."""
    occurred = _utc(row.occurred_at).isoformat()
    return uuid.uuid5(_NAMESPACE, f"{row.id}|{row.name}|{row.resource_id}|{occurred}")


@dataclass(frozen=True)
class Labels:
    """What an event's resource is called and what it relates to, in words."""

    resource: dict[str, str] = field(default_factory=dict)  # extra labels of the resource itself
    related: list[dict[str, str]] = field(default_factory=list)


def prefect_resource(row: EventRow, labels: Labels | None = None) -> dict[str, str]:
    """The Prefect resource an event is about, e.g. `{"prefect.resource.id": "syndicate.item.42",
    "prefect.resource.name": "Councils and AI", ...}`."""
    return {"prefect.resource.id": row.resource_id, **(labels.resource if labels else {}),
            "syndicate.event.row": str(row.id)}


def _name(text: object) -> str:
    words = " ".join(str(text or "").split())
    limit = RelayLimits.label_chars
    return words if len(words) <= limit else words[: limit - 1] + "\u2026"


def _related(kind: str, ident: object, name: object, role: str | None = None) -> dict[str, str]:
    return {"prefect.resource.id": f"syndicate.{kind}.{ident}", "prefect.resource.role": role or kind,
            "prefect.resource.name": _name(name)}


def network_name(network: str) -> str:
    return "X" if network == "x" else network.capitalize()


def resource_labels(session: Session, rows: Sequence[EventRow]) -> dict[str, Labels]:
    """Readable labels for the resources of `rows`, by resource id, read from the ledger in one query
    per kind. A resource the ledger no longer has keeps what its event's payload says."""
    wanted: dict[str, set[int]] = {}
    for row in rows:
        kind, _, ident = row.resource_id.removeprefix("syndicate.").partition(".")
        if ident.isdigit():
            wanted.setdefault(kind, set()).add(int(ident))
    sources = {r.id: r for r in _rows(session, SourceRow, wanted.get("source"))}
    threads = {r.id: r for r in _rows(session, ThreadRow, wanted.get("thread"))}
    items = {r.id: r for r in _rows(session, ItemRow, (wanted.get("item") or set())
                                    | {t.item_id for t in threads.values() if t.item_id})}
    editions = {r.id: r for r in _rows(session, EditionRow, (wanted.get("edition") or set())
                                       | {t.edition_id for t in threads.values() if t.edition_id})}
    item_sources = {r.id: r for r in _rows(session, SourceRow, {i.source_id for i in items.values()})}
    out: dict[str, Labels] = {}
    for ident, item in items.items():
        source = item_sources.get(item.source_id)
        related = [_related("source", source.id, source.name)] if source else []
        out[f"syndicate.item.{ident}"] = Labels({"prefect.resource.name": _name(item.title),
                                                 "syndicate.section": item.section}, related)
    for ident, edition in editions.items():
        out[f"syndicate.edition.{ident}"] = Labels({"prefect.resource.name": _name(edition.subject),
                                                    "syndicate.edition.slug": edition.slug})
    for ident, source in sources.items():
        out[f"syndicate.source.{ident}"] = Labels({"prefect.resource.name": _name(source.name),
                                                   "syndicate.section": source.section})
    for ident, thread in threads.items():
        network = network_name(thread.network)
        related = [_related("network", thread.network, network)]
        about = ""
        if thread.edition_id in editions:
            edition = editions[thread.edition_id]
            related.append(_related("edition", edition.id, edition.subject))
            about = f"{network} roundup of {edition.subject}"
        elif thread.item_id in items:
            item = items[thread.item_id]
            related.append(_related("item", item.id, item.title))
            about = f"{network} thread: {item.title}"
        out[f"syndicate.thread.{ident}"] = Labels({"prefect.resource.name": _name(about or f"{network} thread"),
                                                   "syndicate.network": thread.network}, related)
    return out


def _fallback_labels(row: EventRow) -> Labels:
    """From the payload alone, for a resource the ledger does not have (or not any more)."""
    payload = row.payload or {}
    name = payload.get("slug") or payload.get("source") or payload.get("title")
    if row.resource_id == "syndicate.staff":
        name = "staff"
    labels = {"prefect.resource.name": _name(name)} if name else {}
    if network := payload.get("network"):
        labels["syndicate.network"] = str(network)
        return Labels(labels, [_related("network", network, network_name(str(network)))])
    return Labels(labels)


def _rows(session: Session, model: Any, ids: set[int] | None) -> Sequence[Any]:
    if not ids:
        return []
    return session.scalars(select(model).where(model.id.in_(sorted(ids)))).all()


def relay_events(db: Database, *, emit: Emit | None = None, batch: int = 500, now: datetime) -> RelayReport:
    """One relay pass over at most `batch` unrelayed events, oldest first. Safe to run from several
    processes at once only in the sense that nothing is lost: two relays may emit the same row twice
    (at least once), which Prefect de-duplicates by event id."""
    emit = emit or PrefectApiEmitter()
    report = RelayReport()
    blocked: set[str] = set()
    with db.session() as session:
        rows = session.scalars(select(EventRow).where(EventRow.relayed_at.is_(None))
                               .order_by(EventRow.id).limit(batch)).all()
        labels = resource_labels(session, rows)
        session.expunge_all()
    for row in rows:
        if row.resource_id in blocked:
            report.deferred += 1
            continue
        named = labels.get(row.resource_id) or _fallback_labels(row)
        try:
            emit(event=row.name, resource=prefect_resource(row, named), occurred=_utc(row.occurred_at),
                 payload=dict(row.payload or {}), id=event_uuid(row), related=named.related)
        except Exception as exc:  # noqa: BLE001  (any failure: keep the row for later, say why)
            blocked.add(row.resource_id)
            message = f"{type(exc).__name__}: {exc}"[: RelayLimits.error_chars]
            report.failed += 1
            report.errors[row.resource_id] = message
            _record(db, row.id, relayed_at=None, error=message)
            continue
        _record(db, row.id, relayed_at=now, error=None)
        report.relayed += 1
    return report


def pending_events(db: Database) -> int:
    """How many events wait to be relayed (for `syndicate status` and the desk)."""
    from sqlalchemy import func

    with db.session() as session:
        return session.scalar(select(func.count()).select_from(EventRow).where(EventRow.relayed_at.is_(None))) or 0


def _record(db: Database, row_id: int, *, relayed_at: datetime | None, error: str | None) -> None:
    values: dict[str, Any] = {"relay_attempts": EventRow.relay_attempts + 1, "relay_error": error}
    if relayed_at is not None:
        values["relayed_at"] = relayed_at
    with db.session() as session:
        session.execute(update(EventRow).where(EventRow.id == row_id).values(**values))


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class PrefectApiEmitter:
    """Emits events through the Prefect API's `POST /events`, one request per event, raising unless
    the server answered 2xx. Uses PREFECT_API_URL (and its auth) like every Prefect client."""

    def __init__(self, client_factory: Callable[[], Any] | None = None) -> None:
        self._client_factory = client_factory
        self._client: Any = None

    def __call__(self, *, event: str, resource: dict[str, str], occurred: datetime, payload: dict[str, Any],
                 id: uuid.UUID, related: list[dict[str, str]] | None = None) -> None:  # noqa: A002
        from prefect.events import Event

        # validated from plain values: pydantic turns the dict into a Resource and the datetime into
        # Prefect's DateTime, which the keyword constructor's annotations do not admit
        body = Event.model_validate({"event": event, "resource": resource, "occurred": occurred,
                                     "payload": payload, "id": id, "related": related or []})
        response = self._open().request("POST", "/events", json=[body.model_dump(mode="json")])
        response.raise_for_status()

    def _open(self) -> Any:
        if self._client is None:
            if self._client_factory is not None:
                self._client = self._client_factory()
            else:
                from prefect.client.orchestration import get_client

                self._client = get_client(sync_client=True).__enter__()
        return self._client

    def close(self) -> None:
        if self._client is not None and self._client_factory is None:
            self._client.__exit__(None, None, None)
        self._client = None
