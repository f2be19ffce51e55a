"""The dependency rules of ``docs/architecture.md``, checked on every module's imports.

Ruff's banned-api (TID251) keeps outside libraries where they belong (strawberry, typer,
starlette, stripe); the arrows between ncm's own rooms are checked here, from the source:

- a domain never imports a face (``ncm.schema``, ``ncm.cli``, ``ncm.http``, ``ncm.app``,
  ``ncm.worker``);
- ``ncm.kit`` (plumbing) imports no domain and no face;
- the CLI and the GraphQL schema never import each other;
- no import cycles between modules. Module-level imports form no cycle at all; a cycle
  that goes through an import inside a function is allowed only when that import says why
  on its line or the line above (a ``#`` comment), e.g. ``# lazy: the jobs import us``.
  Imports under ``if TYPE_CHECKING:`` do not run and are not edges.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

import ncm
from ncm.domains import DOMAINS

pytestmark = pytest.mark.backend_independent

ROOT = Path(ncm.__file__).parent
FACES = ("ncm.schema", "ncm.cli", "ncm.http", "ncm.app", "ncm.worker")
KIT = "ncm.kit"
SHARED = ("ncm.errors", "ncm.config", "ncm.domains")  # leaves every room may import


@dataclass(frozen=True)
class Import:
    source: str
    target: str
    line: int
    lazy: bool  # inside a function: runs when called, not when the module loads
    commented: bool

    def __str__(self) -> str:
        kind = "lazy " if self.lazy else ""
        return f"{self.source}:{self.line} {kind}imports {self.target}"


def _name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    return {_name(path): path for path in sorted(ROOT.rglob("*.py"))}


def _resolve(name: str) -> str | None:
    """The ncm module an imported name is (or lives in)."""
    while name and name not in modules():
        name = name.rpartition(".")[0]
    return name or None


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


@cache
def imports() -> list[Import]:
    found: list[Import] = []
    for source, path in modules().items():
        lines = path.read_text().splitlines()
        package = source if path.name == "__init__.py" else source.rpartition(".")[0]

        def commented(line: int, lines: list[str] = lines) -> bool:
            return "#" in lines[line - 1] or lines[line - 2].strip().startswith("#")

        def visit(node: ast.AST, lazy: bool, source: str = source, package: str = package) -> None:
            if isinstance(node, ast.If) and _is_type_checking(node):
                for child in node.orelse:
                    visit(child, lazy)
                return
            if isinstance(node, ast.Import | ast.ImportFrom):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                else:
                    base = node.module or ""
                    if node.level:
                        anchor = package.rsplit(".", node.level - 1)[0]
                        base = f"{anchor}.{base}" if base else anchor
                    names = [f"{base}.{alias.name}" for alias in node.names]
                for name in names:
                    target = _resolve(name) if name.startswith("ncm") else None
                    if target is not None and target != source:
                        found.append(
                            Import(source, target, node.lineno, lazy, commented(node.lineno))
                        )
                return
            inner = lazy or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            for child in ast.iter_child_nodes(node):
                visit(child, inner)

        visit(ast.parse(path.read_text()), False)
    return found


def _in(module: str, *rooms: str) -> bool:
    return any(module == room or module.startswith(room + ".") for room in rooms)


def domains() -> tuple[str, ...]:
    """Every package of ncm that is neither a face nor the kit (``ncm.domains.DOMAINS`` and
    any other, e.g. ``ncm.search``)."""
    packages = {
        name for name, path in modules().items() if path.name == "__init__.py" and name != "ncm"
    }
    top = {name for name in packages if name.count(".") == 1}
    return tuple(sorted(name for name in top if not _in(name, *FACES, KIT)))


def test_the_rooms_are_known() -> None:
    assert {f"ncm.{d}" for d in DOMAINS} <= set(domains())
    assert all(name in modules() for name in (*FACES, KIT, *SHARED))


def test_domains_never_import_a_face() -> None:
    wrong = [str(i) for i in imports() if _in(i.source, *domains()) and _in(i.target, *FACES)]
    assert wrong == []


def test_the_kit_imports_no_domain_and_no_face() -> None:
    wrong = [str(i) for i in imports() if _in(i.source, KIT) and _in(i.target, *domains(), *FACES)]
    assert wrong == []


def test_the_cli_and_the_schema_never_import_each_other() -> None:
    wrong = [
        str(i)
        for i in imports()
        if (_in(i.source, "ncm.cli") and _in(i.target, "ncm.schema"))
        or (_in(i.source, "ncm.schema") and _in(i.target, "ncm.cli"))
    ]
    assert wrong == []


def _packages_of(module: str) -> list[str]:
    """Importing ``a.b.c`` first runs ``a`` and ``a.b``."""
    parts = module.split(".")
    return [".".join(parts[:n]) for n in range(1, len(parts))]


def _cycles(edges: list[Import]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    graph: dict[str, set[str]] = {name: set() for name in modules()}
    for i in edges:
        for target in [*_packages_of(i.target), i.target]:
            if target in graph and target != i.source and target not in _packages_of(i.source):
                graph[i.source].add(target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for name in sorted(graph):
        if name not in index:
            connect(name)
    return found


def test_module_level_imports_form_no_cycle() -> None:
    assert _cycles([i for i in imports() if not i.lazy]) == []


def test_a_cycle_through_a_lazy_import_says_why() -> None:
    """Every cycle closed by imports inside functions is broken only by commented ones."""
    uncommented = [i for i in imports() if not (i.lazy and i.commented)]
    cycles = _cycles(uncommented)
    detail = [
        [str(i) for i in imports() if i.lazy and i.source in c and i.target in c] for c in cycles
    ]
    assert cycles == [], detail


def test_the_checker_sees_what_it_must() -> None:
    """The rules above would catch a violation: the parser finds these known imports."""
    found = {(i.source, i.target, i.lazy) for i in imports()}
    assert ("ncm.schema.schema", "ncm.schema.base", False) in found
    assert ("ncm.cli.stream", "ncm.stream.decision", True) in found
    there = Import("ncm.kit.db", "ncm.kit.sql", 1, False, False)
    back = Import("ncm.kit.sql", "ncm.kit.db", 1, False, False)
    assert _cycles([there, back]) == [["ncm.kit.db", "ncm.kit.sql"]]
