"""The docs stay true: README names every environment variable the code reads, and says what
`make lint` runs. The reads are found in the code itself (`os.environ[...]`, `os.environ.get`,
`os.getenv`, and `env.get` on the mappings that stand for the environment), so a new variable
fails here until README names it."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("compose", "connectors", "state", "flows", "web")
README = (REPO / "README.md").read_text("utf-8")
ENV_RECEIVERS = {"environ", "env", "source"}  # os.environ, and the `env` mappings that default to it


def _module_strings(tree: ast.Module) -> dict[str, tuple[str, ...]]:
    """Module-level names bound to a string or a tuple of strings."""
    found: dict[str, tuple[str, ...]] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            values = _strings(node.value, found)
            for target in targets:
                if isinstance(target, ast.Name) and values is not None:
                    found[target.id] = values
    return found


def _strings(node: ast.expr, known: dict[str, tuple[str, ...]]) -> tuple[str, ...] | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return (node.value,)
    if isinstance(node, ast.Name):
        return known.get(node.id)
    if isinstance(node, ast.Starred):
        return _strings(node.value, known)
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        out: list[str] = []
        for element in node.elts:
            part = _strings(element, known)
            if part is None:
                return None
            out += part
        return tuple(out)
    return None


def _loop_targets(tree: ast.Module, known: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    """Loop and comprehension variables that run over tuples of strings (`for key in _ENV_KEYS`)."""
    found: dict[str, tuple[str, ...]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.For | ast.comprehension) and isinstance(node.target, ast.Name):
            values = _strings(node.iter, known)
            if values is not None:
                found[node.target.id] = found.get(node.target.id, ()) + values
    return found


def _receiver_is_environment(node: ast.expr) -> bool:
    if isinstance(node, ast.Name):
        return node.id in ENV_RECEIVERS
    return isinstance(node, ast.Attribute) and node.attr in ENV_RECEIVERS


def environment_reads() -> Iterator[tuple[str, str]]:
    """(variable, where) for every read of the environment in the product's code."""
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            tree = ast.parse(path.read_text("utf-8"))
            known = _module_strings(tree)
            known = {**known, **_loop_targets(tree, known)}
            for node in ast.walk(tree):
                key: ast.expr | None = None
                if isinstance(node, ast.Call) and node.args:
                    func = node.func
                    if isinstance(func, ast.Attribute) and (
                            (func.attr == "get" and _receiver_is_environment(func.value)) or func.attr == "getenv"):
                        key = node.args[0]
                elif (isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load)
                      and _receiver_is_environment(node.value)):
                    key = node.slice
                if key is None:
                    continue
                where = f"{path.relative_to(REPO)}:{node.lineno}"
                names = _strings(key, known)
                assert names is not None, f"{where} reads an environment variable this test cannot name: use a constant"
                for name in names:
                    yield name, where


def test_the_scan_finds_the_reads_it_should() -> None:
    found = {name for name, _ in environment_reads()}
    assert {"SYNDICATE_DATABASE_URL", "SYNDICATE_SECRET_KEY", "X_API_KEY", "X_ACCESS_TOKEN_SECRET",
            "MASTODON_ACCESS_TOKEN", "BLUESKY_APP_PASSWORD", "SENDGRID_WEBHOOK_PUBLIC_KEY"} <= found


def test_readme_names_every_environment_variable_the_code_reads() -> None:
    undocumented = sorted({f"{name} ({where})" for name, where in environment_reads()
                           if not re.search(rf"`{re.escape(name)}`", README)})
    assert not undocumented, "README.md does not name: " + ", ".join(undocumented)


def test_readme_says_what_make_lint_runs() -> None:
    makefile = (REPO / "Makefile").read_text("utf-8")
    lint = makefile.split("\nlint:", 1)[1].split("\n\n", 1)[0]
    assert "ruff" in lint and "mypy" in lint
    assert re.search(r"`make lint` \(ruff and mypy", README), "README should say `make lint` runs ruff and mypy"
