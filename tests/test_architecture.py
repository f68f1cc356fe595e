"""Imports point one way, as the layout table in the design says, and no module imports itself
back through others.

Each package has an allow-list: the first-party packages and third-party libraries it may
import, and (for compose/) the standard-library modules it may not. Every import counts: at the
top, inside functions, under `TYPE_CHECKING`, and relative ones (resolved to the module they
name). Anything not on the list fails, naming file:line and the import.

    compose/     stdlib without I/O, pure libraries
    connectors/  compose, pure libraries, the client libraries of the services they talk to
    state/       compose, pure libraries, SQLAlchemy, Alembic, argon2
    web/         compose, state, connectors, pure libraries, FastAPI/Starlette, uvicorn, SQLAlchemy
    flows/       everything

The cycle test builds the import graph of those five packages (module to module, every import)
and fails on any strongly connected component, printing it.
"""

from __future__ import annotations

import ast
import functools
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("compose", "connectors", "state", "flows", "web")

# Libraries that do no I/O: what compose/ may use, and so every other package too.
PURE = frozenset({
    "email_validator",  # used with check_deliverability=False: syntax only, no DNS
    "itsdangerous",  # HMAC signing of tokens
    "holidays",  # public holiday tables, computed in memory
    "icalendar",  # writes iCalendar text (web/calendar_feed.py), in memory
    "jinja2", "markdown_it", "markupsafe", "mjml", "nh3", "pydantic", "regex", "twitter_text",
})
# Standard-library modules that reach the network, a database, other processes or the clock:
# compose/ takes all of these as arguments instead.
IO_STDLIB = frozenset({
    "asyncio", "concurrent", "ftplib", "http", "imaplib", "multiprocessing", "poplib", "select", "selectors",
    "smtplib", "socket", "socketserver", "sqlite3", "ssl", "subprocess", "telnetlib", "threading", "time",
    "urllib.request", "urllib.error", "xmlrpc",
})


@dataclass(frozen=True)
class Allowed:
    """What one package may import besides the standard library."""

    first_party: frozenset[str]
    third_party: frozenset[str]
    stdlib_banned: frozenset[str] = frozenset()


ALLOWED = {
    "compose": Allowed(frozenset({"compose"}), PURE, IO_STDLIB),
    "connectors": Allowed(frozenset({"compose", "connectors"}), PURE | {
        "aiohttp", "certifi", "feedparser", "selectolax",  # sources
        "httpx", "httpcore", "anyio", "requests", "urllib3",  # HTTP clients and what they raise
        "sendgrid", "python_http_client", "tweepy", "mastodon", "atproto", "atproto_client",  # channels
        "dns",  # dnspython: the From domain's SPF, DKIM and DMARC (connectors/dns_check.py)
        "PIL",  # Pillow: post images fitted to each network (connectors/images.py)
    }),
    "state": Allowed(frozenset({"compose", "state"}), PURE | {"sqlalchemy", "alembic", "argon2"}),
    "web": Allowed(frozenset({"compose", "state", "connectors", "web"}), PURE | {
        "fastapi", "starlette", "uvicorn",
        "sqlalchemy",  # queries over state's models
        "pygal",  # web/charts.py: the reports' SVG charts, drawn in memory
    }),
}
FIRST_PARTY = frozenset(PACKAGES)

# Offences and cycles other helpers remove on their own branches. TEMPORARY: the lead empties
# these sets when merging those branches; the tests fail if an entry is no longer true, so
# nothing stale stays.
_PENDING_CYCLES: set[frozenset[str]] = set()
_PENDING_OFFENCES: set[str] = set()


@dataclass(frozen=True)
class Import:
    file: str
    line: int
    module: str  # absolute, as written (relative imports resolved)
    names: tuple[str, ...]  # for `from module import a, b`; () for `import module`

    def __str__(self) -> str:
        what = f"from {self.module} import {', '.join(self.names)}" if self.names else f"import {self.module}"
        return f"{self.file}:{self.line}: {what}"


def _module_name(path: Path, root: Path = REPO) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@functools.cache
def _imports(path: Path, root: Path = REPO) -> tuple[Import, ...]:
    """Every import in the file, wherever it stands (in functions, under `TYPE_CHECKING`), in
    line order; relative ones resolved against the file's package."""
    found = []
    file = path.relative_to(root).as_posix()
    package = _module_name(path, root).split(".")
    if path.name != "__init__.py":
        package.pop()
    nodes = ast.walk(ast.parse(path.read_text("utf-8"), filename=str(path)))
    for node in sorted((n for n in nodes if isinstance(n, ast.Import | ast.ImportFrom)), key=lambda n: n.lineno):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append(Import(file, node.lineno, alias.name, ()))
        else:
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.append(Import(file, node.lineno, module, tuple(alias.name for alias in node.names)))
    return tuple(found)


def _files(package: str) -> list[Path]:
    return sorted((REPO / package).rglob("*.py"))


def _offence(package: str, found: Import) -> bool:
    allowed = ALLOWED[package]
    top = found.module.split(".")[0]
    if top == "__future__":
        return False
    if top in sys.stdlib_module_names:
        return any(found.module == banned or found.module.startswith(banned + ".") for banned in allowed.stdlib_banned)
    if top in FIRST_PARTY:
        return top not in allowed.first_party
    return top not in allowed.third_party


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_each_package_imports_only_what_the_design_allows(package: str) -> None:
    files = _files(package)
    assert files, f"no python files under {package}/"
    offences = [str(found) for path in files for found in _imports(path) if _offence(package, found)]
    unexpected = [line for line in offences if line not in _PENDING_OFFENCES]
    gone = [line for line in _PENDING_OFFENCES if line.startswith(f"{package}/") and line not in offences]
    assert not gone, f"no longer offences: remove them from _PENDING_OFFENCES: {gone}"
    assert not unexpected, f"{package}/ may import only what the layout table in the design allows:\n" + "\n".join(
        unexpected)


def test_the_allow_list_catches_imports_in_functions_and_relative_ones(tmp_path: Path) -> None:
    """The walker sees what a top-level scan would miss (checked on a file written for it)."""
    sample = tmp_path / "web" / "desk_sample.py"
    sample.parent.mkdir()
    sample.write_text("from . import render\nfrom .render import page\n\n\ndef f():\n"
                      "    from flows import cli\n    if True:\n        import prefect.flows\n", "utf-8")
    found = list(_imports(sample, tmp_path))
    assert [(i.line, i.module, i.names) for i in found] == [
        (1, "web", ("render",)), (2, "web.render", ("page",)), (6, "flows", ("cli",)), (8, "prefect.flows", ())]
    assert [_offence("web", i) for i in found] == [False, False, True, True]
    assert str(found[2]) == "web/desk_sample.py:6: from flows import cli"
    assert _offence("compose", Import("compose/x.py", 1, "urllib.request", ("urlopen",)))
    assert not _offence("compose", Import("compose/x.py", 1, "urllib.parse", ("urlsplit",)))
    assert _offence("state", Import("state/x.py", 1, "connectors.errors", ("AuthError",)))


# --- cycles --------------------------------------------------------------------------------------


def _graph() -> dict[str, set[str]]:
    """Module -> the first-party modules it imports (the most specific module each import names:
    `from a.b import c` is a.b.c when that is a module, else a.b)."""
    paths = {_module_name(path): path for package in PACKAGES for path in _files(package)
             if "migrations" not in path.parts}
    graph: dict[str, set[str]] = {name: set() for name in paths}
    for name, path in paths.items():
        for found in _imports(path):
            targets = [f"{found.module}.{n}" for n in found.names if f"{found.module}.{n}" in paths]
            if len(targets) < len(found.names) or not found.names:
                targets.append(found.module)
            for target in targets:
                while target and target not in paths:  # `import a.b.c` of a name inside a.b
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _shown(component: frozenset[str], graph: dict[str, set[str]]) -> str:
    return "\n".join(f"  {name} -> {', '.join(sorted(graph[name] & component))}" for name in sorted(component))


def test_no_module_imports_itself_back_through_others() -> None:
    graph = _graph()
    assert "flows.cli" in graph and "web.app" in graph and "connectors.sources" in graph
    cycles = _cycles(graph)
    unexpected = [c for c in cycles if c not in _PENDING_CYCLES]
    assert not unexpected, "import cycles:\n" + "\n\n".join(_shown(c, graph) for c in unexpected)
    gone = [sorted(c) for c in _PENDING_CYCLES if c not in cycles]
    assert not gone, f"no longer cycles: remove them from _PENDING_CYCLES: {gone}"


def test_the_cycle_finder_finds_a_cycle_and_only_that() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert _cycles(graph) == [frozenset({"a", "b", "c"})]
