"""The Prefect wiring, against one real Prefect server per test session (`tests.prefect_fixtures`).

The stage logic is tested without Prefect elsewhere; here: the flows run on a tiny config and the
example site served on loopback, their events reach Prefect through the relay, an emitted
`syndicate.item.discovered` burst starts exactly one served `social-drafts` run, and
`prefect deploy --all` accepts prefect.yaml.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from flows.demo import demo_config, import_sample_subscribers, serve_site
from tests.helpers.staff import add_staff_rows
from tests.prefect_fixtures import prefect_api  # noqa: F401  (the session server)

pytestmark = pytest.mark.prefect
REPO = Path(__file__).resolve().parents[1]
EVENT_TO_RUN_TIMEOUT_S = 90


@pytest.fixture
def site_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefect_api: str) -> Iterator[str]:  # noqa: F811
    """The example config pointed at the example site on 127.0.0.1, a fresh ledger, sample subscribers."""
    monkeypatch.setenv("SYNDICATE_DATABASE_URL", f"sqlite:///{tmp_path / 'ledger.db'}")
    monkeypatch.setenv("SYNDICATE_SECRET_KEY", "test-secret-key-0123456789abcdef")
    import_sample_subscribers(datetime.now(UTC))
    with serve_site() as origin:
        text = demo_config(origin, tmp_path).read_text("utf-8")
        text = text.replace('outbox_dir = "outbox"', f'outbox_dir = "{tmp_path / "outbox"}"')
        path = tmp_path / "syndicate.toml"
        path.write_text(text if "outbox_dir" in text else text + f'\n[email]\noutbox_dir = "{tmp_path / "outbox"}"\n',
                        "utf-8")
        yield str(path)


def _timed(label: str, call):  # type: ignore[no-untyped-def]
    started = time.monotonic()
    result = call()
    print(f"{label}: {time.monotonic() - started:.2f} s")
    return result


def test_flows_run_end_to_end_and_their_events_reach_prefect(site_config: str, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # outbox and any relative path stay in the test's folder
    from prefect.client.orchestration import get_client
    from prefect.events.filters import EventFilter, EventNameFilter, EventOccurredFilter

    from flows.pipeline import build_edition_flow, deliver_edition_flow, gather, publish_posts, result_of
    from flows.relay import pending_events
    from state import ledger
    from state.db import connect
    from state.models import DeliveryBatchRow, EditionRow

    # The Prefect server is shared by the session's tests, whose ledgers number editions from 1 too:
    # this test reads only the events that occurred since it started.
    started = datetime.now(UTC) - timedelta(seconds=1)
    gathered_state = _timed("gather flow", lambda: asyncio.run(gather(site_config, include_backlog=True, return_state=True)))
    assert gathered_state.is_completed(), gathered_state.message
    gathered = result_of(gathered_state)
    assert gathered["new"] > 0 and gathered["failed"] == 0
    built_state = _timed("build-edition flow", lambda: asyncio.run(build_edition_flow(site_config, return_state=True)))
    built = result_of(built_state)
    assert built["built"] and built["id"] is not None
    db = connect()
    now = datetime.now(UTC)
    with db.session() as session:
        add_staff_rows(session, {"approver@socitm.example": "approver"})
        ledger.approve(session, "edition", built["id"], by="approver@socitm.example", now=now)
        for thread_id in built["threads"]:
            ledger.approve(session, "thread", thread_id, by="approver@socitm.example", now=now)
        overdue = EditionRow(slug="overdue-draft", title="In Our View", subject="Overdue", html="<p>x</p>", text="x",
                             content_hash="h" * 64, built_at=now, scheduled_for=now - timedelta(minutes=1))
        session.add(overdue)
    sent_state = _timed("deliver-edition flow", lambda: asyncio.run(deliver_edition_flow(
        site_config, built["id"], return_state=True)))
    assert sent_state.is_completed(), sent_state.message
    delivered = result_of(sent_state)
    assert delivered[0]["sent"] and delivered[0]["accepted"] == delivered[0]["recipients"] > 0
    assert list((tmp_path / "outbox" / "email").glob("staff-notice-held-overdue-draft/*.eml"))
    published_state = _timed("publish-posts flow", lambda: asyncio.run(publish_posts(site_config, return_state=True)))
    assert isinstance(result_of(published_state), dict)
    with db.session() as session:
        assert session.get(EditionRow, overdue.id).status == "held"
        assert session.scalar(select(func.count()).select_from(DeliveryBatchRow)) >= 1
        edition = session.get(EditionRow, built["id"])
        subject, slug = edition.subject, edition.slug
    assert pending_events(db) == 0  # every flow relayed the ledger's events to the server
    with get_client(sync_client=True) as client:
        page = client.read_events(EventFilter(occurred=EventOccurredFilter(since=started),
                                              event=EventNameFilter(name=["syndicate.edition.sent",
                                                                          "syndicate.edition.held"])), limit=50)
    names = {(e.event, e.resource.id) for e in page.events}
    assert ("syndicate.edition.sent", f"syndicate.edition.{built['id']}") in names
    assert ("syndicate.edition.held", f"syndicate.edition.{overdue.id}") in names
    (sent,) = [e for e in page.events if e.event == "syndicate.edition.sent" and e.resource.id.endswith(f".{built['id']}")]
    assert sent.resource.name == subject and sent.resource["syndicate.edition.slug"] == slug  # readable in the feed

    artifacts = _artifacts_of(gathered_state, built_state, sent_state, published_state)
    sources = json.loads(artifacts["gather-sources"].data)
    assert {"source", "status", "new", "updated", "failing", "hint"} <= set(sources[0])
    assert sum(row["new"] for row in sources) == gathered["new"] and {r["status"] for r in sources} == {"ok"}
    review = artifacts["build-edition"].data
    assert review.startswith(f"# {subject}") and f"/desk/editions/{built['id']})" in review
    assert "-byte budget" in review and "item(s)" in review
    figures = json.loads(artifacts["send-edition"].data)
    by_edition = {row["edition"]: row for row in figures}
    assert by_edition[slug]["accepted"] == delivered[0]["accepted"] and by_edition[slug]["ambiguous"] == 0
    assert by_edition[slug]["who_got_it"].endswith(f"/desk/history/editions/{built['id']}")
    assert by_edition["overdue-draft"]["held"] == 1
    assert f"/desk/history/editions/{built['id']})" in artifacts["send-edition-who-got-it"].data
    if "publish-posts" in artifacts:  # the example's networks post to the outbox when their threads are due
        assert "post(s) published" in artifacts["publish-posts"].data


def _artifacts_of(*states) -> dict:  # type: ignore[no-untyped-def]
    """The artifacts the flow runs of these states published, by key (each key once per run)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    runs = [state.state_details.flow_run_id for state in states]
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=runs)))
    keys = [a.key for a in found]
    assert len(keys) == len(set(keys)), keys
    return {a.key: a for a in found}


def test_a_run_whose_every_source_failed_ends_failed_with_the_reason(site_config: str, tmp_path: Path) -> None:
    from flows.pipeline import gather, result_of
    from flows.serve import free_port

    (tmp_path / "down").mkdir()
    down = demo_config(f"http://127.0.0.1:{free_port()}", tmp_path / "down")  # nothing listens there
    state = asyncio.run(gather(str(down), return_state=True))
    assert state.is_failed() and state.type.value == "FAILED" and state.name == "Failed"
    assert state.message.startswith("every source failed"), state.message
    summary = result_of(state)  # the summary is kept as the state's data
    assert summary["new"] == 0 and summary["failed"] == len(summary["sources"]) > 0
    rows = json.loads(_artifacts_of(state)["gather-sources"].data)
    assert all(row["status"].startswith("failing") and row["failing"] >= 1 for row in rows)


class _ServedRunner:
    """A Prefect Runner serving deployments in a thread, stopped cleanly by `stop()`."""

    def __init__(self, deployments) -> None:  # type: ignore[no-untyped-def]
        from prefect.runner import Runner

        self.runner = Runner(pause_on_shutdown=False, query_seconds=1, limit=2)
        self.deployments, self.ids = deployments, []
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self._main(),), daemon=True)

    async def _main(self) -> None:
        for deployment in self.deployments:
            self.ids.append(await self.runner.add_deployment(deployment))
        self.ready.set()
        await self.runner.start()

    def __enter__(self) -> _ServedRunner:
        self.thread.start()
        assert self.ready.wait(60), "the runner did not register its deployments"
        return self

    def __exit__(self, *_: object) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.astop(), self.loop).result(30)
        self.thread.join(30)
        assert not self.thread.is_alive()


def test_an_item_discovered_burst_starts_one_social_drafts_run(site_config: str) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    from flows.pipeline import gather_task
    from flows.relay import relay_events
    from flows.scheduling import deployment_specs, served_deployments
    from state.db import connect
    from state.models import EventRow, ThreadRow

    gathered = gather_task.fn(site_config, True)  # the stage alone: its events stay in the ledger
    assert gathered["new"] >= 5
    (spec,) = [s for s in deployment_specs() if s.name == "social-drafts"]
    name = f"social-drafts-test-{uuid.uuid4().hex[:8]}"  # the session database outlives this test
    deployment = served_deployments(None, site_config, [replace(spec, name=name)])
    db = connect()
    with _ServedRunner(deployment) as served, _removed_afterwards(served.ids, name):
        started = time.monotonic()
        report = relay_events(db, now=datetime.now(UTC))
        with db.session() as session:
            discovered = session.scalar(select(func.count()).select_from(EventRow)
                                        .where(EventRow.name == "syndicate.item.discovered"))
        assert report.relayed >= discovered == gathered["new"] and report.pending == 0
        ids = DeploymentFilter(id=DeploymentFilterId(any_=served.ids))
        with get_client(sync_client=True) as client:
            runs = []
            while time.monotonic() - started < EVENT_TO_RUN_TIMEOUT_S:
                runs = client.read_flow_runs(deployment_filter=ids)
                if runs and all(r.state and r.state.is_final() for r in runs):
                    break
                time.sleep(0.5)
            latency = time.monotonic() - started
            print(f"{discovered} discovered events -> social-drafts run completed in {latency:.1f} s")
            time.sleep(3)  # any second run the burst would start has been created by now
            runs = client.read_flow_runs(deployment_filter=ids)
    assert len(runs) == 1, f"a burst of {discovered} events made {len(runs)} runs"
    assert runs[0].state.is_completed(), runs[0].state
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(ThreadRow).where(ThreadRow.kind == "item")) >= 1


@contextmanager
def _removed_afterwards(deployment_ids: list, name: str) -> Iterator[None]:  # type: ignore[type-arg]
    """Delete the test's deployments and their automations, so no later session fires them."""
    from prefect.client.orchestration import get_client

    try:
        yield
    finally:
        with get_client(sync_client=True) as client:
            for automation in client.read_automations():
                if automation.name.startswith(name):
                    client.delete_automation(automation.id)
            for ident in deployment_ids:
                client.delete_deployment(ident)


def test_prefect_deploy_all_accepts_prefect_yaml(prefect_api: str, tmp_path: Path) -> None:  # noqa: F811
    from prefect.client.orchestration import get_client

    env = {**os.environ, "PREFECT_API_URL": prefect_api, "SYNDICATE_HOME": str(REPO), "PREFECT_HOME": str(tmp_path)}
    prefect = [sys.executable, "-m", "prefect"]
    started = time.monotonic()
    subprocess.run([*prefect, "work-pool", "create", "syndicate", "--type", "process", "--overwrite"],
                   cwd=REPO, env=env, check=True, capture_output=True, timeout=120)
    deployed = subprocess.run([*prefect, "--no-prompt", "deploy", "--all"], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=180)
    print(f"work-pool create + deploy --all: {time.monotonic() - started:.1f} s")
    assert deployed.returncode == 0, deployed.stdout[-2000:] + deployed.stderr[-2000:]
    with get_client(sync_client=True) as client:
        try:
            deployments = {d.name: d for d in client.read_deployments() if d.work_pool_name == "syndicate"}
            assert set(deployments) >= {"gather", "social-drafts", "build-edition", "send-edition", "publish-posts"}
            build = deployments["build-edition"].schedules[0].schedule
            assert (build.cron, build.timezone) == ("0 14 * * 4", "Europe/London")
            assert deployments["send-edition"].parameters == {"config_path": None, "edition_id": None}
            automations = [a for a in client.read_automations()
                           if a.name.startswith(("social-drafts", "send-edition"))]
            assert len(automations) >= 2
        finally:
            for automation in client.read_automations():
                if automation.name.startswith(("social-drafts__", "send-edition__")):
                    client.delete_automation(automation.id)
            for deployment in deployments.values():
                client.delete_deployment(deployment.id)
            client.delete_work_pool("syndicate")


def test_every_flow_is_async_so_a_run_does_not_wait_on_its_heartbeat_thread() -> None:
    """Prefect 3.9's sync flow engine joins its heartbeat thread (which sleeps in whole seconds) when
    a run ends, up to a second per run; the async engine keeps the heartbeats without that wait. Each
    flow's body runs in a worker thread (flows.pipeline's docstring), so its tasks stay sync."""
    import inspect

    from prefect import Flow

    import flows.pipeline as pipeline

    flows = {name: value for name, value in vars(pipeline).items() if isinstance(value, Flow)}
    assert len(flows) == 7, sorted(flows)
    assert [name for name, value in flows.items() if not inspect.iscoroutinefunction(value.fn)] == []
    assert [name for name, value in vars(pipeline).items()
            if isinstance(value, type(pipeline.gather_task)) and inspect.iscoroutinefunction(value.fn)] == []
