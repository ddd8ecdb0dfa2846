"""Static import graph of a Python package and the checks tests/test_architecture.py runs on it.

:func:`collect_imports` walks every ``.py`` file of a package with :mod:`ast` and records
every import statement: at module level, inside functions and methods, and under
``if TYPE_CHECKING:``. Relative imports are resolved against the importing module's
package, and ``from pkg import name`` resolves to the submodule ``pkg.name`` when that is
a module of the package. Imports built from strings (``importlib.import_module``) are not
seen; the package has none.

Module names are dotted and relative to the package root (``model.engine.checkpoint``;
the root package itself is ``""``). Rules name modules or packages the same way; a rule
``"capture"`` covers ``capture`` and everything under it.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Where = Literal["module", "function", "type_checking"]


@dataclass(frozen=True)
class Import:
    """One imported module.

    Attributes
    ----------
    source : importing module (relative to the package root).
    target : imported module: relative to the package root for the package's own modules,
        else the absolute dotted name (``torch.nn``).
    internal : whether ``target`` is one of the package's modules.
    line : line of the import statement in ``source``'s file.
    where : ``"module"`` (runs on import), ``"function"`` (inside a function or method) or
        ``"type_checking"`` (under ``if TYPE_CHECKING:``, never run).
    """

    source: str
    target: str
    internal: bool
    line: int
    where: Where

    def describe(self) -> str:
        return f"{self.source}:{self.line} ({self.where})"


def module_name(path: Path, root: Path) -> str:
    """Dotted name of ``path`` relative to the package folder ``root`` (``""`` for its __init__)."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def list_modules(root: Path) -> dict[str, Path]:
    """Every module of the package in folder ``root``: name -> file."""
    return {module_name(p, root): p for p in sorted(root.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _join(*parts: str) -> str:
    return ".".join(p for p in parts if p)


class _Collector(ast.NodeVisitor):
    def __init__(self, source: str, is_package: bool, package: str, modules: Iterable[str]) -> None:
        self.source = source
        self.package = package  # the package's import name, e.g. "id2reflectance"
        self.modules = set(modules)
        # the package a relative import of this module starts from
        self.base = source if is_package else source.rpartition(".")[0]
        self.functions = 0
        self.type_checking = 0
        self.found: list[Import] = []

    @property
    def where(self) -> Where:
        if self.type_checking:
            return "type_checking"
        return "function" if self.functions else "module"

    def _add(self, absolute: str, line: int) -> None:
        """Record an import of the absolute dotted module ``absolute``."""
        if absolute == self.package or absolute.startswith(self.package + "."):
            target, internal = absolute[len(self.package) + 1 :], True
        else:
            target, internal = absolute, False
        self.found.append(Import(self.source, target, internal, line, self.where))

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        self.functions += 1
        self.generic_visit(node)
        self.functions -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            self.type_checking += 1
            for child in node.body:
                self.visit(child)
            self.type_checking -= 1
            for child in node.orelse:
                self.visit(child)
        else:
            self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            base = self.base.split(".") if self.base else []
            if node.level - 1 > len(base):
                raise ValueError(f"{self.source}:{node.lineno}: relative import beyond the package root")
            base = base[: len(base) - (node.level - 1)]
            parent = _join(self.package, *base, node.module or "")
        else:
            parent = node.module or ""
        targets = []  # one entry per imported module, however many names come from it
        for alias in node.names:
            sub = f"{parent}.{alias.name}"
            internal_sub = sub[len(self.package) + 1 :] if sub.startswith(self.package + ".") else None
            target = sub if internal_sub in self.modules else parent
            if target not in targets:
                targets.append(target)
        for target in targets:
            self._add(target, node.lineno)


def collect_imports(root: Path, package: str) -> dict[str, list[Import]]:
    """Every import of every module of the package in folder ``root`` (importable as
    ``package``): module name -> its imports in file order."""
    modules = list_modules(root)
    out = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        collector = _Collector(name, path.name == "__init__.py", package, modules)
        collector.visit(tree)
        out[name] = collector.found
    return out


def within(name: str, prefix: str) -> bool:
    """``name`` is the module or package ``prefix`` or lies under it (``""`` is the root package only)."""
    return name == prefix or (prefix != "" and name.startswith(prefix + "."))


def top_level(name: str) -> str:
    """The top-level package or module a module belongs to (``""`` for the root package)."""
    return name.split(".")[0]


# ----------------------------------------------------------------------------- cycles


def find_cycles(imports: Mapping[str, Sequence[Import]]) -> list[list[Import]]:
    """One shortest cycle per strongly connected component of the internal import graph
    (every kind of import counts), as the chain of imports that closes it."""
    edges: dict[str, dict[str, Import]] = {m: {} for m in imports}
    for m, found in imports.items():
        for imp in found:
            if imp.internal and imp.target in edges and imp.target != m:
                edges[m].setdefault(imp.target, imp)

    # Tarjan's strongly connected components (iterative)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    comp.append(m)
                    if m == node:
                        break
                if len(comp) > 1:
                    components.append(sorted(comp))

    cycles = []
    for comp in sorted(components):
        members, start = set(comp), comp[0]
        previous: dict[str, str] = {}
        frontier, end = [start], None
        while frontier and end is None:  # breadth first: the shortest way back to start
            nxt = []
            for node in frontier:
                for child in sorted(edges[node]):
                    if child not in members:
                        continue
                    if child == start:
                        end = node
                        break
                    if child not in previous:
                        previous[child] = node
                        nxt.append(child)
                if end is not None:
                    break
            frontier = nxt
        path = [end]
        while path[-1] != start:
            path.append(previous[path[-1]])
        path.reverse()
        chain = [edges[a][b] for a, b in zip(path, path[1:] + [start])]
        cycles.append(chain)
    return cycles


def format_cycle(chain: Sequence[Import]) -> str:
    """``a -> b -> a`` with where each import is."""
    steps = " -> ".join(imp.source for imp in chain) + f" -> {chain[0].source}"
    where = "; ".join(f"{imp.describe()} imports {imp.target}" for imp in chain)
    return f"{steps}\n    {where}"


# ----------------------------------------------------------------------------- layering


def layering_violations(
    imports: Mapping[str, Sequence[Import]],
    *,
    allowed: Mapping[str, Sequence[str]],
    everyone_may_import: Sequence[str],
    only_imported_by: Mapping[str, Sequence[str]],
    layers: Mapping[str, Sequence[Sequence[str]]],
) -> list[str]:
    """Internal imports that break the rules, one message each.

    Parameters
    ----------
    allowed : top-level package -> the modules or packages it may import besides itself
        (``"*"``: anything). A top-level package missing from it is reported.
    everyone_may_import : modules any module may import.
    only_imported_by : module or package -> the only modules or packages that may import it
        (besides itself).
    layers : package -> its modules' layers, lowest first (each a list of modules or
        packages); a module may import only its own layer and lower ones. A module of the
        package in no layer is reported.
    """
    problems = []
    for m, found in sorted(imports.items()):
        group = top_level(m)
        if m and group not in allowed:
            problems.append(f"{m}: the top-level package {group!r} has no entry in the rule table")
            continue
        for imp in found:
            if not imp.internal:
                continue
            t = imp.target
            guarded = [
                (g, importers)
                for g, importers in only_imported_by.items()
                if within(t, g) and not within(m, g) and not any(within(m, p) for p in importers)
            ]
            for g, importers in guarded:
                who = f"only {', '.join(importers)}" if importers else "nothing"
                problems.append(f"{imp.describe()} imports {t}: {who} may import {g}")
            if guarded or not m or top_level(t) == group or any(within(t, p) for p in everyone_may_import):
                continue
            rule = allowed[group]
            if "*" not in rule and not any(within(t, p) for p in rule):
                problems.append(
                    f"{imp.describe()} imports {t}: {group} may import only {', '.join(rule) or 'nothing'}"
                    f" (plus {', '.join(p or 'the root package' for p in everyone_may_import)})"
                )
    for package, stack in layers.items():
        rank = {}
        for i, layer in enumerate(stack):
            for member in layer:
                rank[member] = i

        for m, found in sorted(imports.items()):
            if not within(m, package) or m == package:
                continue
            mine = _layer_of(m, rank)
            if mine is None:
                problems.append(f"{m}: in no layer of {package} (add it to the layers)")
                continue
            for imp in found:
                if not imp.internal or not within(imp.target, package) or imp.target == package:
                    continue
                theirs = _layer_of(imp.target, rank)
                if theirs is not None and theirs > mine:
                    problems.append(
                        f"{imp.describe()} imports {imp.target}: a higher layer of {package} "
                        f"({', '.join(stack[theirs])} above {', '.join(stack[mine])})"
                    )
    return problems


def _layer_of(name: str, rank: Mapping[str, int]) -> int | None:
    """Layer of a module: that of the longest layer member it lies within."""
    best = [p for p in rank if within(name, p)]
    return rank[max(best, key=len)] if best else None


# ----------------------------------------------------------------------------- dependencies


def third_party_name(target: str, aliases: Mapping[str, str]) -> str:
    """Distribution-level name of an external import (``torch.nn`` -> ``torch``); ``aliases``
    maps a module to the optional package it needs (``torch.utils.tensorboard`` -> ``tensorboard``)."""
    for prefix, name in aliases.items():
        if within(target, prefix):
            return name
    return top_level(target)


def dependency_violations(
    imports: Mapping[str, Sequence[Import]],
    *,
    package: str,
    may_reach: Sequence[str],
    third_party: Iterable[str],
    lazy_third_party: Iterable[str],
    aliases: Mapping[str, str],
) -> list[str]:
    """What the modules of ``package`` need, through every module they import (transitively,
    imports inside functions included): internal modules outside ``may_reach``, and
    third-party packages other than ``third_party`` and the standard library
    (``lazy_third_party`` only inside functions or under TYPE_CHECKING)."""
    third_party, lazy_third_party = set(third_party), set(lazy_third_party)
    reached: dict[str, str] = {m: m for m in imports if within(m, package)}  # module -> how it is reached
    todo = sorted(reached)
    while todo:
        m = todo.pop()
        for imp in imports.get(m, ()):
            if imp.internal and imp.target not in reached:
                reached[imp.target] = f"{reached[m]} -> {imp.target}"
                todo.append(imp.target)
    problems = []
    for m in sorted(reached):
        if not any(within(m, p) for p in may_reach):
            bounds = ", ".join(p or "the root package" for p in may_reach)
            problems.append(f"{package} reaches {m} ({reached[m]}); it may reach only {bounds}")
            continue
        for imp in imports.get(m, ()):
            if imp.internal:
                continue
            name = third_party_name(imp.target, aliases)
            if name in sys.stdlib_module_names or name in third_party:
                continue
            if name in lazy_third_party and imp.where != "module":
                continue
            how = " at module level" if name in lazy_third_party else ""
            problems.append(
                f"{imp.describe()} imports {imp.target}{how} (reached from {package} as {reached[m]}); "
                f"{package} may depend only on {', '.join(sorted(third_party))}, the standard library"
                f" and, inside functions, {', '.join(sorted(lazy_third_party))}"
            )
    return problems
