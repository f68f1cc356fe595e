"""The "many machines" path of docs/operations.md, end to end, as a new operator would run it.

On this machine, all from the documented commands: a Prefect server (`prefect server start`) on a
throwaway PostgreSQL database, the ledger on another, `prefect work-pool create` + `prefect deploy
--all` with the project's prefect.yaml, and two `prefect worker start --pool syndicate` processes
whose flow runs send through a loopback fake SendGrid (slowed, so batches overlap). The
`send-edition` deployment is triggered twice at the same moment:

- as deployed (`concurrency_limit: 1`): the two runs never overlap, both complete, and every
  subscriber gets the edition exactly once;
- with the limit lifted (what a lost concurrency lease looks like): the two runs send the same
  edition at the same time on the two workers, their claims interleave (`claimed_by` differs), and
  still every subscriber gets it exactly once.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from flows.prefect_env import configure
from state.db import Database, connect
from state.models import (
    BatchStatus,
    DeliveryBatchRow,
    DeliveryRow,
    DeliveryStatus,
    EditionRow,
    EditionStatus,
    SubscriberRow,
)
from tests.fakes.fake_sendgrid import FakeSendGrid
from tests.helpers.postgres import ThrowawayPostgres

pytestmark = [pytest.mark.prefect, pytest.mark.postgres, pytest.mark.timeout(300)]

REPO = Path(__file__).resolve().parents[1]
PREFECT = [sys.executable, "-m", "prefect"]  # the `prefect` command of this venv
KEY = "SG.many-machines-key"
SECRET = "many-machines-secret-0123456789abcdef"
WORKERS = ("worker-a", "worker-b")


class Limits:
    """How big and how patient the rehearsal is."""

    subscribers = 1_000
    batch_size = 50  # 20 batches: enough for two senders to interleave
    send_concurrency = 2  # requests in flight per run
    fake_delay_s = 0.6  # each SendGrid answer takes this long, so one run alone sends for about 6 s
    server_start_s = 120.0
    run_timeout_s = 120.0
    stop_grace_s = 15.0
    slot_wait_s = 1  # server: a run refused a concurrency slot retries after this (default 30 s)


@dataclass
class Cluster:
    """The running rehearsal: server, workers, fake SendGrid, the ledger, and the measured timings."""

    api_url: str
    ledger_url: str
    fake: FakeSendGrid
    logs: Path
    timings: dict[str, float] = field(default_factory=dict)

    def worker_log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text("utf-8", errors="replace")


# --- the environment ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any Prefect server it may point at, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "PREFECT_SERVER_DATABASE_CONNECTION_URL")}
    env.update({"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1", "PREFECT_UI_ENABLED": "false"})
    env.update(extra)
    return env


def _stop(process: subprocess.Popen[bytes], grace_s: float) -> None:
    """SIGTERM this process (and the flow-run children in its session), SIGKILL after the grace period."""
    if process.poll() is not None:
        return
    with _ignore_gone():
        os.killpg(process.pid, signal.SIGTERM)  # the group we created with start_new_session
    try:
        process.wait(grace_s)
    except subprocess.TimeoutExpired:
        with _ignore_gone():
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


class _ignore_gone:  # noqa: N801  (a tiny context manager)
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> bool:
        return kind is ProcessLookupError


def _start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def _wait_healthy(api_url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + Limits.server_start_s
    while time.monotonic() < deadline:
        assert server.poll() is None, f"prefect server exited {server.returncode}:\n{log.read_text()[-3000:]}"
        try:
            if httpx.get(f"{api_url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail(f"prefect server not healthy after {Limits.server_start_s} s:\n{log.read_text()[-3000:]}")


def _cli(*args: str, env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([*PREFECT, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"prefect {' '.join(args)} -> {done.returncode}\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
    return done


def _config(tmp: Path) -> Path:
    """examples/syndicate.toml, sending through SendGrid in small batches, outboxes in tmp."""
    example = (REPO / "examples" / "syndicate.toml").read_text("utf-8")
    email = (f'[email]\nprovider = "sendgrid"\nbatch_size = {Limits.batch_size}\n'
             f'concurrency = {Limits.send_concurrency}\n')
    config = example.replace('[email]\nprovider = "outbox"\n', email).replace(
        'outbox_dir = "outbox"', f'outbox_dir = "{tmp / "outbox"}"')
    assert 'provider = "sendgrid"' in config, "examples/syndicate.toml no longer starts [email] with provider"
    path = tmp / "syndicate.toml"
    path.write_text(config, "utf-8")
    return path


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    tmp = tmp_path_factory.mktemp("many-machines")
    databases = ThrowawayPostgres()
    processes: list[subprocess.Popen[bytes]] = []
    fake = FakeSendGrid(api_key=KEY, delay_s=Limits.fake_delay_s, validate=False)
    timings: dict[str, float] = {}
    started = time.monotonic()
    try:
        prefect_db = databases.create("syndicate_prefect")
        ledger_url = databases.url(databases.create("syndicate_ledger"), "postgresql+psycopg")
        connect(ledger_url).dispose()  # migrate once, before two workers race to do it

        port = _free_port()
        api_url = f"http://127.0.0.1:{port}/api"
        server_env = _clean_env(
            PREFECT_HOME=str(tmp / "server-home"),
            PREFECT_SERVER_DATABASE_CONNECTION_URL=databases.url(prefect_db, "postgresql+asyncpg"),
            PREFECT_SERVER_UI_API_URL=api_url, PREFECT_UI_ENABLED="true",
            PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS=str(Limits.slot_wait_s))
        t0 = time.monotonic()
        processes.append(_start([*PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port),
                                 "--analytics-off"], server_env, tmp / "server.log"))
        _wait_healthy(api_url, processes[0], tmp / "server.log")
        timings["server start (fresh PostgreSQL)"] = time.monotonic() - t0

        client_env = _clean_env(PREFECT_API_URL=api_url, PREFECT_HOME=str(tmp / "client-home"), SYNDICATE_HOME=str(REPO))
        t0 = time.monotonic()
        _cli("work-pool", "create", "syndicate", "--type", "process", "--overwrite", env=client_env)
        _cli("--no-prompt", "deploy", "--all", env=client_env)
        timings["work-pool create + deploy --all"] = time.monotonic() - t0
        _only_triggered_runs(api_url)

        fake.__enter__()
        worker_env = _clean_env(
            PREFECT_API_URL=api_url, PREFECT_HOME=str(tmp / "worker-home"), PREFECT_WORKER_QUERY_SECONDS="1",
            PREFECT_LOGGING_LEVEL="INFO", SYNDICATE_HOME=str(REPO), SYNDICATE_DATABASE_URL=ledger_url,
            SYNDICATE_CONFIG=str(_config(tmp)), SYNDICATE_SECRET_KEY=SECRET,
            SENDGRID_API_KEY=KEY, SENDGRID_API_HOST=fake.url)
        for name in WORKERS:
            env = {**worker_env, "SYNDICATE_WORKER_NAME": name}
            processes.append(_start([*PREFECT, "worker", "start", "--pool", "syndicate", "--name", name, "--limit", "1"],
                                    env, tmp / f"{name}.log"))
        timings["setup total"] = time.monotonic() - started
        yield Cluster(api_url, ledger_url, fake, tmp, timings)
    finally:
        t0 = time.monotonic()
        for process in processes[1:]:  # the workers first, so no flow run is left talking to the server
            _stop(process, Limits.stop_grace_s)
        if processes:
            _stop(processes[0], Limits.stop_grace_s)
        fake.__exit__()
        databases.drop_all()
        timings["teardown"] = time.monotonic() - t0
        print("\nmany machines timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))


def _only_triggered_runs(api_url: str) -> None:
    """Switch off every schedule (a gather would fetch the example's real feeds) and automation (each
    approval would start a third send-edition run), so the workers run only what the tests trigger."""
    configure()
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: api_url}), get_client(sync_client=True) as prefect:
        for deployment in prefect.read_deployments():
            for schedule in prefect.read_deployment_schedules(deployment.id):
                prefect.update_deployment_schedule(deployment.id, schedule.id, active=False)
        for automation in prefect.read_automations():
            prefect.pause_automation(automation.id)


@pytest.fixture
def client(cluster: Cluster) -> Iterator[Any]:
    """A sync Prefect client on the cluster's server; Prefect's log and event workers drained after."""
    configure()
    from prefect.client.orchestration import get_client
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: cluster.api_url}), get_client(sync_client=True) as prefect:
        try:
            yield prefect
        finally:
            APILogWorker.drain_all()
            EventsWorker.drain_all()


# --- seeding and triggering -----------------------------------------------------------------------


def _seed_edition(db: Database, slug: str) -> int:
    """An approved edition due now, for every active subscriber (added the first time)."""
    from tests.test_deliver import add_subscribers, make_edition

    with db.session() as session:
        existing = session.scalar(select(func.count()).select_from(SubscriberRow))
    if not existing:
        add_subscribers(db, Limits.subscribers)
        _override_the_doctor(db)
    return make_edition(db, slug=slug, scheduled_for=datetime.now(UTC) - timedelta(minutes=1))


def _override_the_doctor(db: Database) -> None:
    """An admin's standing override of the pre-flight check (`syndicate doctor --override`): these
    machines have no DNS for the From domain and no public web app, so the first real send through the
    SendGrid fake would otherwise be held (tests/test_doctor_cli.py checks that hold)."""
    from compose.doctor import DoctorReport
    from state.doctor import record_override

    with db.session() as session:
        record_override(session, reason="the many-machines test cluster: no DNS, no public web app",
                        by="admin@example.org", edition_id=None, report=DoctorReport.of([]), now=datetime.now(UTC))
        session.commit()


def _send_deployment(client: Any) -> Any:
    return client.read_deployment_by_name("deliver-edition/send-edition")


def _limit(deployment: Any) -> int | None:
    """The deployment's concurrency limit (3.9 reports it as a global concurrency limit)."""
    held = deployment.global_concurrency_limit
    return held.limit if held is not None and held.active else None


def _trigger_twice_and_wait(client: Any, deployment_id: Any) -> list[Any]:
    """Two runs of send-edition created at the same moment; both awaited to a final state."""
    runs = [client.create_flow_run_from_deployment(deployment_id, tags=["many-machines"]) for _ in range(2)]
    deadline = time.monotonic() + Limits.run_timeout_s
    while time.monotonic() < deadline:
        runs = [client.read_flow_run(run.id) for run in runs]
        if all(run.state and run.state.is_final() for run in runs):
            return runs
        time.sleep(0.5)
    pytest.fail(f"send-edition runs not final after {Limits.run_timeout_s} s: {[r.state for r in runs]}")


def _who_ran(cluster: Cluster, run_id: Any) -> list[str]:
    """The workers whose log shows the run's own output (its engine prints the run's URL)."""
    return [name for name in WORKERS if f"flow-run/{run_id}" in cluster.worker_log(name)]


def _assert_sent_once(cluster: Cluster, db: Database, edition_id: int, received: dict[int, int]) -> dict[str, int]:
    """Every subscriber received exactly one message, the ledger agrees, the edition is SENT."""
    with db.session() as session:
        statuses = dict(session.execute(select(DeliveryRow.subscriber_id, DeliveryRow.status)
                                        .where(DeliveryRow.edition_id == edition_id)).all())
        batches = session.execute(select(DeliveryBatchRow.status, DeliveryBatchRow.claimed_by)
                                  .where(DeliveryBatchRow.edition_id == edition_id)).all()
        edition = session.get(EditionRow, edition_id)
    assert len(statuses) == Limits.subscribers
    states = Counter(f"{status}/{worker}" for status, worker in batches)
    staff_notices = received.pop(0, 0)  # a staff notice (flows.notify) carries subscriber id 0
    notices = [b["content"][0]["value"] for b in cluster.fake.bodies if "staff-notice" in b.get("categories", ())]
    assert staff_notices == 0, f"staff were told: {notices}; batches (status/claimed_by): {states}"
    twice = {s: n for s, n in received.items() if n != 1}
    assert not twice, f"{len(twice)} subscribers received the edition other than once: {list(twice.items())[:5]}"
    assert set(received) == set(statuses), "someone was planned and never sent to, or sent to and never planned"
    assert set(statuses.values()) == {DeliveryStatus.ACCEPTED}
    assert {status for status, _ in batches} == {BatchStatus.ACCEPTED}
    assert len(batches) == Limits.subscribers // Limits.batch_size
    assert edition.status == EditionStatus.SENT
    by_worker: dict[str, int] = {}
    for _, worker in batches:
        by_worker[worker] = by_worker.get(worker, 0) + 1
    return by_worker


def _overlap(runs: list[Any]) -> float:
    """Seconds during which both runs were running (negative: the gap between them)."""
    first, second = sorted(runs, key=lambda r: r.start_time)
    return (min(first.end_time, second.end_time) - second.start_time).total_seconds()


# --- the tests ------------------------------------------------------------------------------------


def test_as_deployed_two_triggers_complete_one_after_the_other_and_send_once(cluster: Cluster, client: Any) -> None:
    db = connect(cluster.ledger_url)
    edition_id = _seed_edition(db, "as-deployed")
    deployment = _send_deployment(client)
    assert _limit(deployment) == 1 and deployment.work_pool_name == "syndicate"
    with cluster.fake.lock:
        cluster.fake.received.clear()
        cluster.fake.bodies.clear()
    started = time.monotonic()
    runs = _trigger_twice_and_wait(client, deployment.id)
    cluster.timings["as deployed: two runs final"] = time.monotonic() - started
    assert [run.state.type.value for run in runs] == ["COMPLETED", "COMPLETED"], [run.state for run in runs]
    assert _overlap(runs) <= 0, "concurrency_limit: 1 let two send-edition runs overlap"
    by_worker = _assert_sent_once(cluster, db, edition_id, dict(cluster.fake.received))
    assert sum(by_worker.values()) == Limits.subscribers // Limits.batch_size
    print(f"\nas deployed: runs picked by {[_who_ran(cluster, r.id) for r in runs]}, batches by {by_worker}, "
          f"gap {-_overlap(runs):.1f} s")
    db.dispose()


def test_two_workers_sending_the_same_edition_at_once_never_send_a_batch_twice(cluster: Cluster, client: Any) -> None:
    from prefect.client.schemas.actions import DeploymentUpdate

    db = connect(cluster.ledger_url)
    edition_id = _seed_edition(db, "overlapping")
    deployment = _send_deployment(client)
    client.update_deployment(deployment.id, DeploymentUpdate(concurrency_limit=2))  # as if a lease were lost
    assert _limit(_send_deployment(client)) == 2
    with cluster.fake.lock:
        cluster.fake.received.clear()
        cluster.fake.bodies.clear()
    started = time.monotonic()
    try:
        runs = _trigger_twice_and_wait(client, deployment.id)
    finally:
        client.update_deployment(deployment.id, DeploymentUpdate(concurrency_limit=1))
    cluster.timings["overlapping: two runs final"] = time.monotonic() - started
    picked = [_who_ran(cluster, run.id) for run in runs]
    assert [run.state.type.value for run in runs] == ["COMPLETED", "COMPLETED"], [run.state for run in runs]
    assert sorted(sum(picked, [])) == sorted(WORKERS), f"each worker should have run one send: {picked}"
    print(f"\noverlapping: runs {[(r.start_time.time(), r.end_time.time()) for r in runs]}")
    assert _overlap(runs) > 0, "the two send-edition runs did not overlap"
    by_worker = _assert_sent_once(cluster, db, edition_id, dict(cluster.fake.received))
    print(f"\noverlapping: overlap {_overlap(runs):.1f} s, batches by {by_worker}")
    assert len(by_worker) == 2 and all(by_worker.values()), f"both senders should have claimed batches: {by_worker}"
    db.dispose()
