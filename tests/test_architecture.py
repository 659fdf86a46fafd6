"""The package's layout keeps its rules (docs/architecture.md).

Every module of the package is parsed with :mod:`ast`, nothing imported:
the imports it makes (at module level and inside functions, but not under
``if TYPE_CHECKING:``, which never runs) are the edges of a graph, and

* the graph has no cycle;
* the request path (``_base_client`` and ``_http``) imports nothing of the
  bulk engine, the journal, polling, the command line or the sandbox: what
  it needs from them is passed in;
* no module is over 600 lines.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import decisiontelecom_async

PACKAGE = "decisiontelecom_async"
ROOT = Path(decisiontelecom_async.__file__).parent
MAX_LINES = 600


def _module_name(path: Path) -> str:
    parts = [PACKAGE, *path.relative_to(ROOT).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES: dict[str, Path] = {_module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement under ``node``, skipping ``if TYPE_CHECKING:`` bodies."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for other in child.orelse:
                yield from _imports_of_statement(other)
            continue
        yield from _imports_of_statement(child)


def _imports_of_statement(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    if isinstance(node, ast.Import | ast.ImportFrom):
        yield node
    else:
        yield from _imports(node)


def _resolve(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    is_package = MODULES[module].name == "__init__.py"
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _edges(module: str) -> set[str]:
    """The package's modules that ``module`` imports when it runs."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in _imports(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            source = _resolve(module, node)
            # ``from pkg import sub`` imports the submodule pkg.sub.
            targets = [
                f"{source}.{alias.name}" if f"{source}.{alias.name}" in MODULES else source
                for alias in node.names
            ]
        found.update(target for target in targets if target in MODULES and target != module)
    return found


GRAPH: dict[str, set[str]] = {module: _edges(module) for module in MODULES}


def _reachable_in(graph: dict[str, set[str]], module: str) -> set[str]:
    seen: set[str] = set()
    pending = [module]
    while pending:
        for target in graph[pending.pop()]:
            if target not in seen:
                seen.add(target)
                pending.append(target)
    return seen


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that import each other, directly or not."""
    reach = {module: _reachable_in(graph, module) for module in graph}
    groups = {
        tuple(sorted({module} | {other for other in reach[module] if module in reach[other]}))
        for module in graph
        if module in reach[module]
    }
    return sorted(list(group) for group in groups)


def test_the_graph_sees_the_package() -> None:
    # Guards the checks below against passing on an empty or broken graph.
    assert f"{PACKAGE}._base_client" in MODULES
    assert f"{PACKAGE}._http" in MODULES
    assert f"{PACKAGE}._errors" in GRAPH[f"{PACKAGE}._base_client"]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_a_function_local_import_is_an_edge_and_a_type_checking_one_is_not() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from decisiontelecom_async._bulk import BulkRun\n"
        "def f():\n    from decisiontelecom_async._errors import DecisionTelecomError\n"
    )
    tree = ast.parse(source)
    names = {node.module for node in _imports(tree) if isinstance(node, ast.ImportFrom)}
    assert names == {"typing", f"{PACKAGE}._errors"}


def test_no_import_cycle() -> None:
    assert _cycles(GRAPH) == []


REQUEST_PATH = [
    module
    for module in MODULES
    if module == f"{PACKAGE}._base_client" or module.startswith(f"{PACKAGE}._http")
]
ABOVE_THE_REQUEST_PATH = ("_bulk", "_journal", "_polling", "_cli", "sandbox", "_status_lookups")


def _is_above(name: str) -> bool:
    # "_bulk" covers "_bulk_calls" and "_bulk_run"; "_cli" is not "_client_options".
    return any(name == above or name.startswith(f"{above}_") for above in ABOVE_THE_REQUEST_PATH)


@pytest.mark.parametrize("module", REQUEST_PATH)
def test_the_request_path_knows_nothing_of_runs_journals_or_the_cli(module: str) -> None:
    above = sorted(
        target
        for target in _reachable_in(GRAPH, module)
        if _is_above(target.removeprefix(f"{PACKAGE}.").split(".")[0])
    )
    assert above == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_is_over_600_lines(module: str) -> None:
    lines = len(MODULES[module].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{module} has {lines} lines"


def test_httpx_private_parts_are_used_in_the_fence_only() -> None:
    # _http/_shortcuts.py is where the SDK goes past httpx's public API, with
    # drift tests beside it (tests/_http/test_shortcuts.py); nowhere else.
    fence = f"{PACKAGE}._http._shortcuts"
    users = sorted(
        module
        for module, path in MODULES.items()
        if module != fence and "_transport_for_url" in path.read_text(encoding="utf-8")
    )
    assert users == []
    assert "_transport_for_url" in MODULES[fence].read_text(encoding="utf-8")
