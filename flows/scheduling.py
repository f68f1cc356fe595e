"""The deployments of `prefect.yaml`, as Prefect objects, for `syndicate serve` and the checks.

`prefect.yaml` is the one definition of what runs when: `prefect deploy --all` reads it for work
pools, and `served_deployments` reads the same file to serve the deployments in-process. When a
config is given, every cron takes the edition's time zone and the weekly build takes its
`build_day`/`build_time`, so the schedule a user sets in `syndicate.toml` is the one that runs.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from compose.config import Config
from compose.schedule import cron_weekday

REPO = Path(__file__).resolve().parent.parent
PREFECT_YAML = REPO / "prefect.yaml"


@dataclass(frozen=True)
class DeploymentSpec:
    """One deployment as `prefect.yaml` declares it."""

    name: str
    entrypoint: str
    description: str = ""
    tags: tuple[str, ...] = ()
    parameters: Mapping[str, Any] = field(default_factory=dict)
    schedules: tuple[Mapping[str, Any], ...] = ()
    triggers: tuple[Mapping[str, Any], ...] = ()
    concurrency_limit: int | None = None
    work_pool: Mapping[str, Any] = field(default_factory=dict)


def deployment_specs(path: Path = PREFECT_YAML) -> list[DeploymentSpec]:
    """Every deployment in `prefect.yaml`, in file order."""
    data = yaml.safe_load(path.read_text("utf-8"))
    return [DeploymentSpec(name=d["name"], entrypoint=d["entrypoint"], description=d.get("description", ""),
                           tags=tuple(d.get("tags") or ()), parameters=dict(d.get("parameters") or {}),
                           schedules=tuple(d.get("schedules") or ()), triggers=tuple(d.get("triggers") or ()),
                           concurrency_limit=d.get("concurrency_limit"), work_pool=dict(d.get("work_pool") or {}))
            for d in data.get("deployments") or ()]


def load_flow(entrypoint: str) -> Any:
    """The Prefect flow an entrypoint names (`flows/pipeline.py:gather` -> `flows.pipeline.gather`)."""
    path, _, attribute = entrypoint.partition(":")
    module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    return getattr(module, attribute)


def build_cron(config: Config) -> str:
    """The weekly build as a cron line, from the edition's `build_day` and `build_time`."""
    at = config.edition.build_time
    return f"{at.minute} {at.hour} * * {cron_weekday(config.edition.build_day)}"


def weekly_note_cron(config: Config) -> str:
    """The weekly note as a cron line, from `[weekly_note] day` and `at`."""
    at = config.weekly_note.at
    return f"{at.minute} {at.hour} * * {cron_weekday(config.weekly_note.day)}"


_CONFIG_CRONS = {"build-edition": build_cron, "weekly-note": weekly_note_cron}


def schedules_for(spec: DeploymentSpec, config: Config | None = None) -> list[Any]:
    """Prefect schedules for a deployment; with a config, in its time zone (and its build time)."""
    from prefect.schedules import Cron, Interval

    out: list[Any] = []
    for schedule in spec.schedules:
        zone = config.edition.timezone if config else schedule.get("timezone", "UTC")
        if "cron" in schedule:
            cron = _CONFIG_CRONS[spec.name](config) if config and spec.name in _CONFIG_CRONS else schedule["cron"]
            out.append(Cron(cron, timezone=zone, active=schedule.get("active", True)))
        elif "interval" in schedule:
            out.append(Interval(schedule["interval"], timezone=zone, active=schedule.get("active", True)))
        else:
            raise ValueError(f"deployment {spec.name!r}: a schedule needs `cron` or `interval`, got {dict(schedule)}")
    return out


def triggers_for(spec: DeploymentSpec) -> list[Any]:
    """`DeploymentEventTrigger`s for a deployment's `triggers:` entries."""
    from prefect.events import DeploymentEventTrigger

    out = []
    for trigger in spec.triggers:
        values = {k: v for k, v in trigger.items() if k != "type"}
        if trigger.get("type", "event") != "event":
            raise ValueError(f"deployment {spec.name!r}: only `type: event` triggers are used, got {trigger['type']!r}")
        out.append(DeploymentEventTrigger(**values))
    return out


def served_deployments(config: Config | None, config_path: str | None,
                       specs: Sequence[DeploymentSpec] | None = None) -> list[Any]:
    """RunnerDeployments for `prefect.serve`, built from `prefect.yaml` (parameters get the config path)."""
    out = []
    for spec in specs if specs is not None else deployment_specs():
        parameters = {**spec.parameters}
        if config_path is not None:
            parameters["config_path"] = config_path
        out.append(load_flow(spec.entrypoint).to_deployment(
            name=spec.name, description=spec.description, tags=list(spec.tags), parameters=parameters,
            schedules=schedules_for(spec, config), triggers=triggers_for(spec),
            concurrency_limit=spec.concurrency_limit))
    return out


def upcoming_sends(db: Any, *, now: Any) -> list[tuple[int, Any]]:
    """Approved editions whose send time is still ahead: (edition id, scheduled_for), soonest first.
    The send-edition flow schedules one run of itself at each of these times."""
    from sqlalchemy import select

    from state.models import EditionRow, EditionStatus

    with db.session() as session:
        rows = session.execute(select(EditionRow.id, EditionRow.scheduled_for).where(
            EditionRow.status == EditionStatus.APPROVED, EditionRow.scheduled_for > now)
            .order_by(EditionRow.scheduled_for, EditionRow.id)).all()
    return [(ident, when) for ident, when in rows]


def send_run_key(edition_id: int, when: Any) -> str:
    """The idempotency key of the run that sends an edition at its time: one run per edition and time."""
    return f"send-edition:{edition_id}:{when.isoformat()}"
