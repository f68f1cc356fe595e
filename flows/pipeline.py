"""Prefect flows: thin wrappers around the stage functions, for schedules, event triggers,
retries and the Prefect UI. Parameters are plain values (a config path), so every flow can be
deployed (`prefect.yaml`). Never twice lives in the ledger, so the sending tasks use NO_CACHE.

Each run publishes what it did as artifacts with stable keys (`flows.artifacts`), and a run whose
stage recorded something staff must act on ends `Failed` with the reason as its message (the
stage's summary stays the state's data). It is a returned state, not an exception: Prefect's
retries start on exceptions, and nothing here is retried by Prefect; a later run asks the ledger
what is still to do, so it never sends twice.

The flows are `async def`, and each runs its body in a worker thread (`asyncio.to_thread`, which
carries the run's context, so the tasks it calls are the run's tasks). Prefect 3.9's sync flow engine
joins its heartbeat thread when a run ends, and that thread sleeps in whole seconds: every sync run
lasted up to a second longer than its work (0.87 s of a 1.07 s overhead, measured). The async engine
keeps the heartbeats (they drive Prefect's detection of crashed runs) without that wait. The body stays
off the event loop, as Prefect advises for sync code in async flows, so its tasks are sync tasks and
Prefect's sync calls inside them stay sync. From plain code, run a flow with `asyncio.run(flow(...))`.
"""

from __future__ import annotations

import asyncio
import functools
import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from flows.prefect_env import configure

configure()

from prefect import flow, get_run_logger, task  # noqa: E402
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact  # noqa: E402
from prefect.cache_policies import NO_CACHE  # noqa: E402
from prefect.states import Failed, State  # noqa: E402

from flows.settings import load_config, network_limits, signing_key  # noqa: E402

if TYPE_CHECKING:
    from state.db import Database


def _now() -> datetime:
    return datetime.now(UTC)


def _db() -> Database:
    """The ledger, opened once per process (and URL): opening it checks its schema against the
    migration scripts, which took 0.25 s a time, three times a gather run, on a loaded 2-core machine."""
    from state.db import database_url

    return _ledger(database_url(), os.getcwd())


@functools.cache
def _ledger(url: str, cwd: str) -> Database:  # the working directory: a relative SQLite path depends on it
    from state.db import connect

    return connect(url)


def _outcome(result: Any, attention: str | None) -> Any:
    """The flow's return: its result, or a Failed state saying what staff must act on (with the result
    as its data, so `state.result(raise_on_failure=False)` still gives the summary)."""
    if attention is None:
        return result
    get_run_logger().error("needs staff: %s", attention)
    return Failed(message=attention, data=result)


def result_of(state: State) -> Any:
    """A flow run's summary whether it Completed or Failed for staff (see `_outcome`)."""
    return state.result(raise_on_failure=False)


def _api_configured() -> bool:
    """A real Prefect server is configured (not the temporary one a bare script starts)."""
    from prefect.settings import PREFECT_API_URL

    return bool(os.environ.get("PREFECT_API_URL") or PREFECT_API_URL.value())


@task(cache_policy=NO_CACHE)
def relay_task() -> dict[str, Any]:
    """Relay the ledger's pending domain events to Prefect (so triggers fire without waiting for
    `syndicate serve`'s relay loop). Never fails the flow: what cannot go out waits in the table."""
    from flows.relay import relay_events

    if not _api_configured():
        return {"skipped": "no PREFECT_API_URL: the temporary API server has no triggers to fire"}
    return relay_events(_db(), now=_now()).as_dict()


@task(cache_policy=NO_CACHE)
def gather_task(config_path: str | None, include_backlog: bool) -> dict[str, Any]:
    from flows.stages.gather import gather_sources

    db = _db()
    with db.session() as session:
        summary = gather_sources(session, load_config(config_path), now=_now(), include_backlog=include_backlog)
    return summary.as_dict()


@task(cache_policy=NO_CACHE)
def gather_artifact_task(result: dict[str, Any]) -> str | None:
    """The sources table (status, new, updated, failing, hint); returns what staff must act on."""
    from flows.artifacts import ArtifactKeys, gather_attention, gather_table

    table = gather_table(result)
    create_table_artifact(table.rows, key=ArtifactKeys.gather, description=table.description)
    return gather_attention(result)


@flow(name="gather", log_prints=True)
async def gather(config_path: str | None = None, include_backlog: bool = False) -> dict[str, Any]:
    """Fetch every source once; each new item becomes a `syndicate.item.discovered` event.
    Every source failing ends the run Failed."""
    return await asyncio.to_thread(_gather, config_path, include_backlog)


def _gather(config_path: str | None, include_backlog: bool) -> Any:
    result = gather_task(config_path, include_backlog)
    get_run_logger().info("gathered: %s new, %s updated, %s failing", result["new"], result["updated"], result["failed"])
    attention = gather_artifact_task(result)
    notify_task(config_path)
    relay_task()
    return _outcome(result, attention)


@task(cache_policy=NO_CACHE)
def draft_posts_task(config_path: str | None, item_ids: list[int] | None) -> list[int]:
    from flows.stages.cards import check_cards
    from state.threads import draft_item_posts

    config = network_limits(load_config(config_path))  # Mastodon's limit as its instance states it
    with _db().session() as session:
        drafted = draft_item_posts(session, config, now=_now(), item_ids=item_ids)
        session.commit()
        for warning in check_cards(session, config, drafted):  # staff see an empty card before approving
            get_run_logger().warning("%s", warning)
        session.commit()
        return drafted


@flow(name="social-drafts")
async def social_drafts(config_path: str | None = None, item_ids: list[int] | None = None) -> list[int]:
    """Draft a post per new item for the enabled networks (waiting for approval). With no item ids,
    every item without a post yet: a batched trigger run covers the whole burst."""
    return await asyncio.to_thread(_social_drafts, config_path, item_ids)


def _social_drafts(config_path: str | None, item_ids: list[int] | None) -> list[int]:
    drafted = draft_posts_task(config_path, item_ids)
    relay_task()
    return drafted


@task(cache_policy=NO_CACHE)
def build_task(config_path: str | None) -> dict[str, Any]:
    from flows.stages.edition import build_edition_and_threads

    with _db().session() as session:
        return build_edition_and_threads(session, load_config(config_path), now=_now())


@task(cache_policy=NO_CACHE)
def build_artifact_task(config_path: str | None, built: dict[str, Any]) -> None:
    """The edition as staff will review it, with a link to its desk page."""
    from flows.artifacts import ArtifactKeys, build_markdown

    config = load_config(config_path)
    with _db().session() as session:
        markdown = build_markdown(session, built, public_url=config.edition.public_url,
                                  budget_bytes=config.edition.size_budget_bytes, zone=config.zone)
    create_markdown_artifact(markdown.text, key=ArtifactKeys.build, description=markdown.description)


@flow(name="build-edition")
async def build_edition_flow(config_path: str | None = None) -> dict[str, Any]:
    """Compose the next edition and its roundup threads, for approval."""
    return await asyncio.to_thread(_build_edition, config_path)


def _build_edition(config_path: str | None) -> dict[str, Any]:
    built = build_task(config_path)
    build_artifact_task(config_path, built)
    relay_task()
    return built


@task(cache_policy=NO_CACHE)
def approve_task(kind: str, ident: int, by: str, note: str | None, config_path: str | None = None) -> None:
    """Approve as `by`, a member of staff with the approver or admin role (refusals are logged)."""
    from state import ledger

    config = load_config(config_path)
    database = _db()
    try:
        with database.session() as session:
            ledger.approve(session, kind, ident, by=by, now=_now(), note=note,
                           two_person_rule=config.review.two_person_rule, config=config)
    except ledger.LedgerError as exc:
        with database.session() as session:
            ledger.record_refusal(session, exc, now=_now())
        raise


@task(cache_policy=NO_CACHE)
def deliver_task(config_path: str | None, edition_id: int | None) -> list[dict[str, Any]]:
    from flows.stages.deliver import deliver_edition as deliver

    db, config = _db(), load_config(config_path)
    result = deliver(db, config, now=_now(), edition_id=edition_id, secret_key=signing_key(db, now=_now()))
    results = result if isinstance(result, list) else [result]
    return [r.as_dict() for r in results]


@task(cache_policy=NO_CACHE)
def preflight_task(config_path: str | None, edition_id: int | None) -> str | None:
    """Why the first real send may not start (the pre-flight check reports a blocker and no staff
    override stands), or None; asked only when something is due."""
    from flows.stages.deliver import due_edition_ids
    from flows.stages.preflight import FirstSendRefused, gate_first_send
    from state.roles import SYSTEM

    db = _db()
    if edition_id is None and not due_edition_ids(db, now=_now()):
        return None
    try:
        gate_first_send(load_config(config_path), db, edition_id=edition_id, override=None, by=SYSTEM, when=_now())
    except FirstSendRefused as exc:
        return str(exc)
    return None


@task(cache_policy=NO_CACHE)
def hold_task(config_path: str | None) -> dict[str, Any]:
    from flows.notify import hold_overdue_editions

    return hold_overdue_editions(_db(), load_config(config_path), now=_now()).as_dict()


@task(cache_policy=NO_CACHE)
def notify_task(config_path: str | None) -> list[str]:
    """Tell staff about failures recorded since the last notice (once each)."""
    from flows.notify import notify_failures

    return notify_failures(_db(), load_config(config_path), now=_now())


@task(cache_policy=NO_CACHE)
def schedule_sends_task() -> list[str]:
    """Inside a deployment run: schedule one run of this deployment at each approved edition's send
    time (idempotent per edition and time), so an early approval is sent at its time, not at the
    next safety-net tick. Outside a deployment there is nothing to schedule."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import StateType
    from prefect.context import FlowRunContext
    from prefect.states import Scheduled

    from flows.scheduling import send_run_key, upcoming_sends

    context = FlowRunContext.get()
    deployment_id = context.flow_run.deployment_id if context and context.flow_run else None
    if deployment_id is None:
        return []
    scheduled: list[str] = []
    with get_client(sync_client=True) as client:
        for edition_id, when in upcoming_sends(_db(), now=_now()):
            run = client.create_flow_run_from_deployment(
                deployment_id, parameters={"edition_id": None}, state=Scheduled(scheduled_time=when),
                idempotency_key=send_run_key(edition_id, when))
            if run.state_type == StateType.SCHEDULED:
                scheduled.append(f"edition {edition_id} at {when.isoformat()}: flow run {run.id}")
    return scheduled


@task(cache_policy=NO_CACHE)
def send_artifact_task(config_path: str | None, delivered: list[dict[str, Any]], held: list[int]) -> str | None:
    """The delivery figures and where to see who got it (only when the run sent or held something);
    returns what staff must act on."""
    from flows.artifacts import ArtifactKeys, desk_url, send_attention, send_table

    config = load_config(config_path)
    with _db().session() as session:
        table = send_table(session, delivered, held, public_url=config.edition.public_url)
    if table is not None:
        create_table_artifact(table.rows, key=ArtifactKeys.send, description=table.description)
        sent = [r for r in delivered if r.get("edition_id") is not None]
        if sent:
            edition_id = sent[-1]["edition_id"]
            create_link_artifact(desk_url(config.edition.public_url, f"/desk/history/editions/{edition_id}"),
                                 link_text=f"Who got edition {edition_id}", key=ArtifactKeys.send_link,
                                 description="Each recipient of the latest edition sent, with any failure and its reason")
    return send_attention(delivered)


@flow(name="deliver-edition")
async def deliver_edition_flow(config_path: str | None = None, edition_id: int | None = None) -> list[dict[str, Any]]:
    """Send approved editions that are due (or one edition now). Refuses unapproved or changed content.
    First holds drafts whose send time passed (staff are told); last, schedules a run at the send
    time of each approved edition that is not yet due. An ambiguous or refused batch ends the run Failed,
    and so does a first real send the pre-flight check holds (`syndicate doctor`)."""
    return await asyncio.to_thread(_deliver_edition, config_path, edition_id)


def _deliver_edition(config_path: str | None, edition_id: int | None) -> Any:
    held = hold_task(config_path)
    if held["held"]:
        get_run_logger().warning("held editions (not approved by their send time): %s", held["held"])
    refused = preflight_task(config_path, edition_id)
    if refused is not None:
        notify_task(config_path)
        relay_task()
        return _outcome([], refused)
    delivered = deliver_task(config_path, edition_id)
    for paused in {str(r["paused"]["said"]) for r in delivered if r.get("paused")}:
        get_run_logger().warning("paused: %s", paused)  # the run completes: a pause is not a failure
    attention = send_artifact_task(config_path, delivered, held["held"])
    if edition_id is None:
        schedule_sends_task()
    notify_task(config_path)
    relay_task()
    return _outcome(delivered, attention)


@task(cache_policy=NO_CACHE)
def publish_task(config_path: str | None) -> dict[str, Any]:
    from flows.stages.publish import publish_due_posts

    return publish_due_posts(_db().sessions, load_config(config_path), now=_now()).as_dict()


@task(cache_policy=NO_CACHE)
def publish_artifact_task(config_path: str | None, published: dict[str, Any], since: datetime) -> str | None:
    """Links to the posts made (only when the run posted or stopped something); returns what staff
    must act on."""
    from flows.artifacts import ArtifactKeys, publish_attention, publish_markdown

    config = load_config(config_path)
    with _db().session() as session:
        markdown = publish_markdown(session, published, since=since, public_url=config.edition.public_url)
    if markdown is not None:
        create_markdown_artifact(markdown.text, key=ArtifactKeys.publish, description=markdown.description)
    return publish_attention(published)


@flow(name="publish-posts")
async def publish_posts(config_path: str | None = None) -> dict[str, Any]:
    """Post approved threads that are due, within each network's quotas. A thread stopped for staff
    ends the run Failed."""
    return await asyncio.to_thread(_publish_posts, config_path)


def _publish_posts(config_path: str | None) -> Any:
    started = _now()
    published = publish_task(config_path)
    for paused in (published.get("paused") or {}).values():
        get_run_logger().warning("paused: %s", paused)  # the run completes: a pause is not a failure
    attention = publish_artifact_task(config_path, published, started)
    notify_task(config_path)
    relay_task()
    return _outcome(published, attention)


@task(cache_policy=NO_CACHE)
def weekly_note_task(config_path: str | None) -> dict[str, Any]:
    from flows.weekly_note import send_weekly_note

    return send_weekly_note(_db(), load_config(config_path), now=_now()).as_dict()


@flow(name="weekly-note")
async def weekly_note_flow(config_path: str | None = None) -> dict[str, Any]:
    """Send staff the weekly note (what went out, how it did, sources that failed, what waits) through
    the email channel, once per week: a week already sent is said and skipped, never sent twice."""
    return await asyncio.to_thread(_weekly_note, config_path)


def _weekly_note(config_path: str | None) -> dict[str, Any]:
    outcome = weekly_note_task(config_path)
    get_run_logger().info("weekly note for the week of %s: %s", outcome["week_start"], outcome["said"])
    relay_task()
    return outcome


@flow(name="demo-pipeline")
async def demo_pipeline(config_path: str, approver: str = "demo@socitm.example") -> dict[str, Any]:
    """The whole pipeline once, on the example site: gather, build, approve, deliver, publish."""
    gathered = await _result(await gather(config_path, include_backlog=True, return_state=True))
    built = await build_edition_flow(config_path)
    edition_id = built["id"]
    delivered: list[dict[str, Any]] = []
    published: dict[str, Any] = {}
    if edition_id is not None:
        await asyncio.to_thread(_demo_approvals, config_path, approver, edition_id, built.get("threads", []))
        delivered = await _result(await deliver_edition_flow(config_path, edition_id, return_state=True))
        published = await _result(await publish_posts(config_path, return_state=True))
    return {"gathered": gathered, "built": built, "delivered": delivered, "published": published}


async def _result(state: State) -> Any:
    """`result_of` inside an async flow, where Prefect's `State.result` would hand back a coroutine."""
    return await state.aresult(raise_on_failure=False)


def _demo_approvals(config_path: str, approver: str, edition_id: int, thread_ids: list[int]) -> None:
    """The demo's approver approves the edition (unless already approved) and its threads."""
    from state.ledger import SYSTEM, is_approved
    from state.staff import add_staff, find_staff

    with _db().session() as session:
        needs_approval = not is_approved(session, "edition", edition_id)
        if find_staff(session, approver) is None:  # approvals name a member of staff: the demo's approver
            add_staff(session, approver, "approver", now=_now(), by=SYSTEM)
    if needs_approval:
        approve_task(kind="edition", ident=edition_id, by=approver, note="approved by the demo",
                     config_path=config_path)
    for thread_id in thread_ids:
        approve_task(kind="thread", ident=thread_id, by=approver, note="approved by the demo",
                     config_path=config_path)
