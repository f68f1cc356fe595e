"""prefect.yaml is valid as Prefect reads it: entrypoints name flows, schedules and zones parse,
triggers build, parameters match the flow signatures, and `syndicate serve` builds the same set."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from flows.prefect_env import configure

configure()

from prefect.flows import Flow  # noqa: E402
from prefect.schedules import Cron, Schedule  # noqa: E402

from flows.scheduling import (  # noqa: E402
    PREFECT_YAML,
    build_cron,
    deployment_specs,
    load_flow,
    schedules_for,
    served_deployments,
    triggers_for,
)
from flows.settings import load_config, parse_config  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "syndicate.toml"
SPECS = deployment_specs()
EXPECTED = {"gather", "social-drafts", "build-edition", "send-edition", "publish-posts", "weekly-note"}


def test_the_deployments_of_the_issues_are_declared() -> None:
    assert {s.name for s in SPECS} == EXPECTED
    assert PREFECT_YAML.name == "prefect.yaml"


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_entrypoint_imports_a_flow_and_parameters_match_it(spec) -> None:  # type: ignore[no-untyped-def]
    flow = load_flow(spec.entrypoint)
    assert isinstance(flow, Flow)
    signature = inspect.signature(flow.fn)
    assert set(spec.parameters) <= set(signature.parameters), f"{spec.name}: unknown parameters"
    required = {n for n, p in signature.parameters.items() if p.default is inspect.Parameter.empty}
    assert required <= set(spec.parameters), f"{spec.name}: the flow needs {required - set(spec.parameters)}"
    assert "config_path" in spec.parameters and spec.tags[0] == "syndicate"
    assert spec.work_pool == {"name": "syndicate", "work_queue_name": "default"}
    assert spec.concurrency_limit == 1


def test_flow_functions_do_not_share_names_with_the_stage_functions_they_wrap() -> None:
    """`build_edition` and `deliver_edition` are stage functions; their flows are `*_flow` (issue 15)."""
    import importlib
    import pkgutil

    import flows.stages

    stage_names = {name for module in pkgutil.iter_modules(flows.stages.__path__)
                   for name in vars(importlib.import_module(f"flows.stages.{module.name}"))}
    attributes = {s.name: s.entrypoint.partition(":")[2] for s in SPECS}
    assert attributes["build-edition"] == "build_edition_flow" and attributes["send-edition"] == "deliver_edition_flow"
    assert not set(attributes.values()) & stage_names


@pytest.mark.parametrize("spec", [s for s in SPECS if s.schedules], ids=lambda s: s.name)
def test_every_schedule_parses_in_a_real_time_zone(spec) -> None:  # type: ignore[no-untyped-def]
    for schedule in spec.schedules:
        assert schedule.get("timezone"), f"{spec.name}: a cron without a time zone"
        ZoneInfo(schedule["timezone"])
        Cron(schedule["cron"], timezone=schedule["timezone"])
    assert all(isinstance(s, Schedule) and s.cron and s.timezone for s in schedules_for(spec))


@pytest.mark.parametrize("spec", [s for s in SPECS if s.triggers], ids=lambda s: s.name)
def test_every_trigger_builds_as_a_deployment_event_trigger(spec) -> None:  # type: ignore[no-untyped-def]
    (trigger,) = triggers_for(spec)
    assert trigger.expect and all(e.startswith("syndicate.") for e in trigger.expect)
    assert trigger.posture.value == "Reactive" and trigger.threshold == 1
    assert not (trigger.parameters or {}).get("edition_id"), "an approval must never send before the time"


def test_schedules_run_when_the_issue_says_in_london_time_across_the_clock_change() -> None:
    from prefect.client.schemas.schedules import CronSchedule

    by_name = {s.name: s for s in SPECS}
    assert {s.name for s in SPECS if s.triggers} == {"social-drafts", "send-edition"}
    assert by_name["social-drafts"].triggers[0]["within"] >= 30  # a burst makes one run
    assert by_name["gather"].schedules[0]["cron"] == "*/30 * * * *"
    assert by_name["publish-posts"].schedules[0]["cron"] == "*/10 * * * *"
    build = by_name["build-edition"].schedules[0]
    summer = CronSchedule(cron=build["cron"], timezone=build["timezone"])
    (first,) = _next(summer, datetime(2027, 3, 29, tzinfo=UTC))  # after the clocks went forward
    assert (first.weekday(), first.astimezone(ZoneInfo("Europe/London")).hour, first.astimezone(UTC).hour) == (3, 14, 13)
    (winter,) = _next(summer, datetime(2026, 11, 23, tzinfo=UTC))
    assert winter.astimezone(UTC).hour == 14


def _next(schedule, after: datetime) -> list[datetime]:  # type: ignore[no-untyped-def]
    from cronsim import CronSim  # what Prefect itself parses crons with

    zone = ZoneInfo(schedule.timezone)
    return [next(CronSim(schedule.cron, after.astimezone(zone)))]


def test_serve_builds_the_same_deployments_with_the_config_schedule() -> None:
    text = EXAMPLE.read_text("utf-8").replace('build_day = "thursday"', 'build_day = "wednesday"').replace(
        "build_time = 14:00:00", "build_time = 09:30:00").replace('timezone = "Europe/London"',
                                                                   'timezone = "Europe/Dublin"')
    config = parse_config(text)
    assert build_cron(config) == "30 9 * * 3"
    served = {d.name: d for d in served_deployments(config, "/srv/syndicate.toml")}
    assert set(served) == EXPECTED
    build = served["build-edition"].schedules[0].schedule
    assert (build.cron, build.timezone) == ("30 9 * * 3", "Europe/Dublin")
    assert all(s.schedule.timezone == "Europe/Dublin" for d in served.values() for s in d.schedules)
    assert all(d.parameters["config_path"] == "/srv/syndicate.toml" for d in served.values())
    assert [t.expect for t in served["send-edition"].triggers] == [{"syndicate.edition.approved"}]
    assert build_cron(load_config(EXAMPLE)) == "0 14 * * 4"  # the example config matches prefect.yaml


def test_the_automation_in_the_docs_is_one_prefect_accepts() -> None:
    """docs/operations.md shows an automation as a file for `prefect automation create --from-file`."""
    import re

    import yaml
    from prefect.automations import AutomationCore

    text = (Path(__file__).resolve().parents[1] / "docs" / "operations.md").read_text("utf-8")
    (block,) = re.findall(r"```yaml\n(name: edition-sent-to-chat\n.*?)```", text, re.S)
    automation = AutomationCore.model_validate(yaml.safe_load(block))
    assert automation.trigger.expect == {"syndicate.edition.sent"}
    assert automation.actions[0].type == "send-notification"
    assert "{{ event.resource.name }}" in automation.actions[0].body  # the edition's subject, from the relay


def test_the_weekly_note_runs_on_the_configured_day_and_time_in_the_zone() -> None:
    from flows.scheduling import weekly_note_cron

    by_name = {s.name: s for s in SPECS}
    assert by_name["weekly-note"].schedules[0]["cron"] == "0 8 * * 1"  # Monday 08:00, as [weekly_note] defaults
    assert weekly_note_cron(load_config(EXAMPLE)) == "0 8 * * 1"
    text = EXAMPLE.read_text("utf-8").replace('[weekly_note]\nenabled = true\nday = "monday"\nat = 08:00:00',
                                              '[weekly_note]\nenabled = true\nday = "friday"\nat = 16:30:00')
    assert 'day = "friday"' in text
    served = {d.name: d for d in served_deployments(parse_config(text), None)}
    note = served["weekly-note"].schedules[0].schedule
    assert (note.cron, note.timezone) == ("30 16 * * 5", "Europe/London")
