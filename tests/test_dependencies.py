"""Dependencies are declared where they are used: what the application imports is in
`[project].dependencies`, what only the tests, benchmarks and tools import is in the `test`
extra, and nothing is declared that nothing imports (but for the few listed below, with why).

Imports are read from the source (every `import`, inside functions too) and mapped to the
installed distributions that provide them (`importlib.metadata.packages_distributions`).
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from collections.abc import Iterable
from functools import cache
from importlib.metadata import packages_distributions
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
APPLICATION = ("compose", "connectors", "state", "flows", "web")
SUPPORT = ("tests", "bench", "tools")
SKIPPED_DIRS = {"corpora", "node_modules"}  # third-party files kept byte for byte

#: Declared, never imported by our code, and why they are needed all the same.
USED_WITHOUT_IMPORT = {
    "runtime": {
        "psycopg": "SQLAlchemy loads the driver a postgresql+psycopg:// URL names",
        "python-multipart": "FastAPI parses the desk's form posts with it",
        "httptools": "uvicorn parses HTTP with it when installed (the click redirect's throughput, docs/clicks.md)",
        "uvloop": "uvicorn runs its event loop on it when installed (the click redirect's p99, docs/clicks.md)",
    },
    "test": {
        "pytest-timeout": "a pytest plugin (timeout = 300 in [tool.pytest.ini_options])",
        "sgmllib3k": "reader's vendored feedparser imports sgmllib (bench/bench_gather.py's peer); reader does not require it",
        "ruff": "`make lint`",
        "mypy": "`make lint`",
    },
}


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
    assert match, f"cannot read the name of {requirement!r}"
    return _normal(match.group())


@cache
def _declared() -> dict[str, set[str]]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))["project"]
    return {
        "runtime": {_requirement_name(r) for r in project["dependencies"]},
        "test": {_requirement_name(r) for r in project["optional-dependencies"]["test"]},
    }


def _local_names() -> set[str]:
    """Top-level names that are our own code: the packages, and modules the tests and tools import
    by their own folder (`helpers`, `fakes`, `feedfarm`, ...)."""
    names = set(APPLICATION) | set(SUPPORT)
    for folder in SUPPORT:
        for path in (REPO / folder).rglob("*"):
            if not SKIPPED_DIRS & set(path.parts) and (path.suffix == ".py" or path.is_dir()):
                names.add(path.stem)
    return names


def _third_party_imports(folders: Iterable[str]) -> dict[str, set[str]]:
    """Top-level module name -> the files that import it, for every import that is not the
    standard library's or ours."""
    local = _local_names()
    found: dict[str, set[str]] = {}
    for folder in folders:
        for path in sorted((REPO / folder).rglob("*.py")):
            if SKIPPED_DIRS & set(path.relative_to(REPO).parts):
                continue
            for node in ast.walk(ast.parse(path.read_text("utf-8"))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top not in sys.stdlib_module_names and top not in local and top != "__future__":
                        found.setdefault(top, set()).add(str(path.relative_to(REPO)))
    return found


@cache
def _providers() -> dict[str, list[str]]:
    return packages_distributions()  # reads every installed distribution's file list: once


def _distributions(module: str) -> set[str]:
    return {_normal(name) for name in _providers().get(module, ())}


def _undeclared(imports: dict[str, set[str]], allowed: set[str]) -> list[str]:
    problems = []
    for module, files in sorted(imports.items()):
        providers = _distributions(module)
        if not providers:
            problems.append(f"{module} (imported by {sorted(files)[0]}) comes from no installed distribution")
        elif not providers & allowed:
            problems.append(f"{module} (imported by {', '.join(sorted(files)[:3])}) is provided by "
                            f"{' or '.join(sorted(providers))}, which is not declared there")
    return problems


def test_what_the_application_imports_is_a_runtime_dependency() -> None:
    problems = _undeclared(_third_party_imports(APPLICATION), _declared()["runtime"])
    assert not problems, "add to [project].dependencies:\n" + "\n".join(problems)


def test_what_tests_benchmarks_and_tools_import_is_declared() -> None:
    declared = _declared()
    problems = _undeclared(_third_party_imports(SUPPORT), declared["runtime"] | declared["test"])
    assert not problems, "add to [project.optional-dependencies].test:\n" + "\n".join(problems)


def _imported_distributions(folders: Iterable[str]) -> set[str]:
    return {dist for module in _third_party_imports(folders) for dist in _distributions(module)}


def test_every_runtime_dependency_is_used_by_the_application() -> None:
    """A runtime dependency only a test imports belongs in the test extra."""
    unused = _declared()["runtime"] - _imported_distributions(APPLICATION) - set(USED_WITHOUT_IMPORT["runtime"])
    assert not unused, f"declared in [project].dependencies but not imported by {', '.join(APPLICATION)}: {unused}"


def test_every_test_dependency_is_used_by_the_tests() -> None:
    declared = _declared()
    unused = declared["test"] - _imported_distributions(SUPPORT) - set(USED_WITHOUT_IMPORT["test"])
    assert not unused, f"declared in the test extra but imported by no test, benchmark or tool: {unused}"
    both = declared["test"] & declared["runtime"]
    assert not both, f"declared twice (runtime and test): {both}"


def test_the_exceptions_are_declared() -> None:
    """The names listed as used without an import are still declared where they are said to be."""
    declared = _declared()
    for kind, names in USED_WITHOUT_IMPORT.items():
        assert set(names) <= declared[kind], f"{kind}: {set(names) - declared[kind]} listed but no longer declared"
