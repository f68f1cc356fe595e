"""One error tree: every exception class of compose, connectors, state, flows and web is under
`compose.errors.SyndicateError` and drawn, where it really sits, in that module's docstring.

The classes are found by importing every module of the five packages (nothing is listed by
hand), so a new exception, a moved one or a changed base fails here until the drawing says so.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from dataclasses import dataclass
from types import ModuleType

import pytest

import compose.errors
from compose.errors import SyndicateError

PACKAGES = ("compose", "connectors", "state", "flows", "web")
SKIPPED = ("state.migrations",)  # Alembic scripts run their migration context on import

# one drawn class: tree prefix, name, optional (SecondBase), optional " *" (carries a hint),
# optional [module] (else the parent's module), then what it means
_ROW = re.compile(
    r"^    (?P<prefix>(?:[│ ]   )*(?:[├└]── )?)(?P<name>[A-Z]\w*)(?:\((?P<extra>\w+)\))?(?P<hint> \*)?"
    r" {2,}(?:\[(?P<module>[\w.]+)\] )?(?P<meaning>\S.*)$"
)


@dataclass(frozen=True)
class Drawn:
    name: str
    module: str
    parent: str | None
    extra_base: str | None
    hint: bool
    meaning: str


def _drawing() -> dict[tuple[str, str], Drawn]:
    doc = compose.errors.__doc__ or ""
    drawn: dict[tuple[str, str], Drawn] = {}
    path: list[Drawn] = []  # the last drawn class at each depth
    for line in doc.splitlines():
        match = _ROW.match(line)
        if match is None:
            continue
        depth = len(match["prefix"]) // 4
        parent = path[depth - 1] if depth else None
        module = match["module"] or (parent.module if parent else "")
        row = Drawn(match["name"], module, parent.name if parent else None, match["extra"], bool(match["hint"]),
                    match["meaning"])
        assert (module, row.name) not in drawn, f"{row.name} is drawn twice"
        drawn[(module, row.name)] = row
        path[depth:] = [row]
    return drawn


def _modules() -> list[ModuleType]:
    modules = []
    for package_name in PACKAGES:
        package = importlib.import_module(package_name)
        modules.append(package)
        for info in pkgutil.walk_packages(package.__path__, prefix=f"{package_name}."):
            if info.name.startswith(SKIPPED):
                continue
            modules.append(importlib.import_module(info.name))
    return modules


def _exceptions(modules: list[ModuleType]) -> list[type[BaseException]]:
    found = {
        value
        for module in modules
        for value in vars(module).values()
        if inspect.isclass(value) and issubclass(value, BaseException) and value.__module__ == module.__name__
    }
    return sorted(found, key=lambda cls: (cls.__module__, cls.__qualname__))


@pytest.fixture(scope="module")
def exceptions() -> list[type[BaseException]]:
    return _exceptions(_modules())


def test_the_drawing_is_read(exceptions: list[type[BaseException]]) -> None:
    drawn = _drawing()
    assert ("compose.errors", "SyndicateError") in drawn
    assert drawn[("compose.errors", "SyndicateError")].parent is None
    assert len(drawn) >= 30, "the drawing holds every family: fewer rows were read than classes exist"
    assert len(exceptions) >= len(drawn)


def test_every_public_exception_is_under_the_root_and_drawn_where_it_sits(
        exceptions: list[type[BaseException]]) -> None:
    drawn = _drawing()
    problems = []
    for cls in exceptions:
        if cls.__name__.startswith("_"):
            continue
        where = f"{cls.__module__}.{cls.__qualname__}"
        if not issubclass(cls, SyndicateError):
            problems.append(f"{where} is not under compose.errors.SyndicateError")
        row = drawn.get((cls.__module__, cls.__name__))
        if row is None:
            problems.append(f"{where} is not drawn in compose.errors' docstring (as [{cls.__module__}])")
            continue
        names = [base.__name__ for base in cls.__bases__]
        if row.parent is not None and row.parent not in names:
            problems.append(f"{where} is drawn under {row.parent}, but its bases are {names}")
        if row.extra_base is not None and row.extra_base not in names:
            problems.append(f"{where} is drawn with the second base {row.extra_base}, but its bases are {names}")
        undrawn = [name for name in names if name not in (row.parent, row.extra_base, "Exception")]
        if undrawn:
            problems.append(f"{where} has bases {undrawn} that its row does not draw")
    assert not problems, "\n".join(problems)


def test_every_drawn_class_exists(exceptions: list[type[BaseException]]) -> None:
    real = {(cls.__module__, cls.__name__) for cls in exceptions}
    missing = [f"{module}.{name}" for module, name in _drawing() if (module, name) not in real]
    assert not missing, f"drawn in compose.errors but not defined there: {missing}"


def _sets_hint(cls: type) -> bool:
    return any("self.hint" in inspect.getsource(klass) for klass in cls.__mro__
               if klass.__module__.split(".")[0] in PACKAGES and klass is not SyndicateError)


def test_the_hint_marks_are_true(exceptions: list[type[BaseException]]) -> None:
    """`*` in the drawing exactly where an error sets `hint` (itself or through a parent)."""
    drawn = _drawing()
    wrong = [
        f"{cls.__module__}.{cls.__name__}: drawn {'with' if row.hint else 'without'} `*`"
        for cls in exceptions
        if (row := drawn.get((cls.__module__, cls.__name__))) is not None and row.hint != _sets_hint(cls)
    ]
    assert not wrong, "\n".join(wrong)


def test_a_private_exception_is_caught_in_its_own_module(exceptions: list[type[BaseException]]) -> None:
    """A class named `_X` is control flow left out of the tree: it must not leave its module."""
    private = [cls for cls in exceptions if cls.__name__.startswith("_")]
    escaping = []
    for cls in private:
        source = inspect.getsource(importlib.import_module(cls.__module__))
        if not re.search(rf"except\*?\s*\(?[\w\s,.]*\b{cls.__name__}\b", source):
            escaping.append(f"{cls.__module__}.{cls.__name__}")
    assert not escaping, f"private exceptions never caught in their own module (draw them, public): {escaping}"


def test_the_root_catches_every_family_and_the_old_bases_still_catch() -> None:
    from compose.signing import ExpiredToken
    from connectors.errors import ConnectorError, TransientError
    from state.errors import TwoPersonRule

    for error in (ExpiredToken("expired"), TransientError("later", hint="wait"), TwoPersonRule("no")):
        with pytest.raises(SyndicateError):
            raise error
    with pytest.raises(ValueError):  # TokenError was a ValueError and stays one
        raise ExpiredToken("expired")
    assert str(TransientError("later", hint="wait")) == "later (hint: wait)"
    assert issubclass(TransientError, ConnectorError)
