"""The command line is a client of the public API: its imports say so.

Every module of ``decisiontelecom_async/_cli/`` is parsed with :mod:`ast`.
It may import the package only through its public modules (or ``_cli``'s
own), and the modules of ``_cli`` import each other without a cycle
(function-local imports count; ``if TYPE_CHECKING:`` ones do not).
"""

from __future__ import annotations

import ast
from pathlib import Path

import decisiontelecom_async._cli

PACKAGE = "decisiontelecom_async"
CLI = f"{PACKAGE}._cli"
PUBLIC = {
    PACKAGE,
    f"{PACKAGE}.sandbox",
    f"{PACKAGE}.callbacks",
    f"{PACKAGE}.testing",
    f"{PACKAGE}.distributed",
}
CLI_DIR = Path(decisiontelecom_async._cli.__file__).parent
MAX_LINES = 600


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, module: str) -> list[tuple[int, str]]:
    """``(line, module)`` of every import that runs, ``if TYPE_CHECKING:`` blocks left out."""
    found: list[tuple[int, str]] = []
    package = module if module == CLI else module.rpartition(".")[0]

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                name = f"{base}.{node.module}" if node.module else base
            else:
                name = node.module or ""
            found.append((node.lineno, name))
            # "from decisiontelecom_async import _bulk" imports a private module too.
            found.extend((node.lineno, f"{name}.{alias.name}") for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _modules() -> dict[str, ast.Module]:
    modules = {}
    for path in sorted(CLI_DIR.glob("*.py")):
        name = CLI if path.stem == "__init__" else f"{CLI}.{path.stem}"
        modules[name] = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return modules


def _private_imports(modules: dict[str, ast.Module]) -> list[str]:
    wrong = []
    for module, tree in modules.items():
        for line, name in _imports(tree, module):
            if not name.startswith(PACKAGE):
                continue
            if name in PUBLIC or name == CLI or name.startswith(f"{CLI}."):
                continue
            parent = name.rpartition(".")[0]
            if parent in PUBLIC and not name.rpartition(".")[2].startswith("_"):
                continue  # a public name imported from a public module
            wrong.append(f"{module}:{line} imports {name}")
    return wrong


def _cycle(modules: dict[str, ast.Module]) -> list[str] | None:
    edges = {
        module: sorted({name for _, name in _imports(tree, module) if name in modules} - {module})
        for module, tree in modules.items()
    }
    state: dict[str, str] = {}

    def walk(module: str, path: list[str]) -> list[str] | None:
        state[module] = "open"
        for target in edges[module]:
            if state.get(target) == "open":
                return [*path[path.index(target) :], target] if target in path else [target]
            if target not in state:
                found = walk(target, [*path, target])
                if found:
                    return found
        state[module] = "done"
        return None

    for module in edges:
        if module not in state:
            found = walk(module, [module])
            if found:
                return found
    return None


def test_the_command_line_imports_only_public_modules_of_the_package() -> None:
    modules = _modules()
    assert f"{CLI}._campaign" in modules  # the check sees the real modules
    assert _private_imports(modules) == []


def test_the_command_line_has_no_import_cycle() -> None:
    assert _cycle(_modules()) is None


def test_every_module_of_the_command_line_is_small() -> None:
    sizes = {path.name: len(path.read_text().splitlines()) for path in CLI_DIR.glob("*.py")}
    assert {name: size for name, size in sizes.items() if size > MAX_LINES} == {}


def test_the_checks_catch_what_they_are_for() -> None:
    # A private import, a function-local one, and a cycle through a function-local import.
    source = {
        f"{CLI}._a": "from decisiontelecom_async._bulk import BulkRun\n"
        "def f():\n    from decisiontelecom_async._cli import _b\n",
        f"{CLI}._b": "from decisiontelecom_async import _models\n"
        "def g():\n    from decisiontelecom_async._cli._a import f\n",
        f"{CLI}._c": "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from decisiontelecom_async._viber_client import ViberClient\n"
        "from decisiontelecom_async import ViberClient\n"
        "from decisiontelecom_async.sandbox import Sandbox\n",
    }
    modules = {name: ast.parse(text) for name, text in source.items()}
    assert _private_imports(modules) == [
        f"{CLI}._a:1 imports {PACKAGE}._bulk",
        f"{CLI}._a:1 imports {PACKAGE}._bulk.BulkRun",
        f"{CLI}._b:1 imports {PACKAGE}._models",
    ]
    assert _cycle(modules) is not None
    del modules[f"{CLI}._b"]
    assert _cycle(modules) is None
