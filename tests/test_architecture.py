"""Imports point one way: compose/ is pure; connectors/ and state/ import compose/, not each other;
only flows/ (and web/) wire everything together."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FORBIDDEN = {
    "compose": {"connectors", "state", "flows", "web", "prefect", "sqlalchemy", "httpx", "requests", "sendgrid", "tweepy"},
    "connectors": {"state", "flows", "web", "prefect"},
    "state": {"connectors", "flows", "web", "prefect"},
    "web": {"flows.pipeline", "prefect"},
}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_point_one_way(package: str) -> None:
    files = sorted((REPO / package).rglob("*.py"))
    assert files, f"no python files under {package}/"
    offences = []
    for path in files:
        if "migrations" in path.parts:
            continue
        for name in _imports(path):
            for banned in FORBIDDEN[package]:
                if name == banned or name.startswith(banned + "."):
                    offences.append(f"{path.relative_to(REPO)} imports {name}")
    assert not offences, "\n".join(offences)

