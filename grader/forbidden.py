"""Imports a problem forbids, found in the submission's text before anything of it runs.

The sandbox also refuses them at run time (an import hook inside the submission's process),
but a submission can remove a hook that lives in its own process; this reading cannot be
undone by the submission. Every import form is found: ``import x``, ``import x.y as z``,
``from x import y``, ``from x.y import *``, ``__import__("x")``, ``importlib.import_module("x")``
and ``import_module("x")`` with a constant name. A name built at run time (``"nu" + "mpy"``)
is left to the run-time hook and the problem's other checks.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

MAX_SOURCE_BYTES = 1 << 20
IMPORT_FUNCTIONS = frozenset({"__import__", "import_module"})


@dataclass(frozen=True, slots=True)
class ForbiddenImport:
    line: int
    module: str

    def describe(self) -> str:
        return f"line {self.line} imports {self.module}, which is not allowed in this exercise: write the autograd yourself"


def find_forbidden_import(source: bytes, forbidden: tuple[str, ...]) -> ForbiddenImport | None:
    """The first import of a forbidden module (or of anything inside it), or None. A file that
    does not parse has no finding here: loading it reports the syntax error."""
    if not forbidden or len(source) > MAX_SOURCE_BYTES:
        return None
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    roots = frozenset(forbidden)
    found = [hit for node in ast.walk(tree) for hit in _imported(node) if hit.module.split(".")[0] in roots]
    return min(found, key=lambda hit: hit.line) if found else None


def _imported(node: ast.AST) -> list[ForbiddenImport]:
    if isinstance(node, ast.Import):
        return [ForbiddenImport(node.lineno, alias.name) for alias in node.names]
    if isinstance(node, ast.ImportFrom) and node.module and not node.level:
        return [ForbiddenImport(node.lineno, node.module)]
    if isinstance(node, ast.Call) and _function_name(node.func) in IMPORT_FUNCTIONS and node.args:
        first = node.args[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            return [ForbiddenImport(node.lineno, first.value)]
    return []


def _function_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None
