"""Prefect settings that make it work offline and on a cold machine. Call `configure()` before
importing prefect. Each value is a default: the environment (or prefect.toml) still wins."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",  # else "Failed to send telemetry" errors offline
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",  # cold migrations take ~25 s on 2 cores
    "PREFECT_UI_ENABLED": "false",
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore",
    "PREFECT_TASKS_RUNNER_THREAD_POOL_MAX_WORKERS": "8",
}


def configure(home: str | os.PathLike[str] | None = None) -> None:
    os.environ.setdefault("PREFECT_HOME", str(Path(home or ".prefect").resolve()))
    for key, value in DEFAULTS.items():
        os.environ.setdefault(key, value)
