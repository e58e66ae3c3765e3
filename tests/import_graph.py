"""Every import a module makes, read with `ast` and resolved to absolute module names.

Shared by the engine-purity and architecture tests. It sees ``import a.b``, ``from a import b``,
relative imports (``from ..extensions import db`` in ``portal/models/user.py`` is
``portal.extensions``), ``importlib.import_module("a.b")`` and ``__import__("a.b")`` called with a
literal name (relative ones too), and imports anywhere in the file: inside functions, classes,
``if`` and ``try`` blocks. A name it cannot resolve (a computed ``import_module(name)``, a relative
import above the top package) comes back with ``module=None``, so a check can refuse it.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_DYNAMIC = ("import_module", "__import__")


@dataclass(frozen=True)
class Import:
    """One imported module, where and how: ``names`` are what ``from module import ...`` takes."""

    path: str  # file, relative to the repository
    line: int
    text: str  # the statement, for messages
    module: str | None  # absolute dotted name; None when it cannot be resolved
    names: tuple = ()
    function: str | None = None  # the enclosing function ("create_app", "Form.validate"); None at module level

    @property
    def candidates(self) -> tuple:
        """Every module this import may load: the module, and ``module.name`` for each name it takes."""
        if self.module is None:
            return ()
        return (self.module, *(f"{self.module}.{name}" for name in self.names if name != "*"))

    def where(self) -> str:
        inside = f" (in {self.function}())" if self.function else ""
        return f"{self.path}:{self.line} `{self.text}`{inside}"


@dataclass(frozen=True)
class Module:
    """A Python source file and its dotted name."""

    name: str
    path: str
    is_package: bool
    source: str = field(repr=False)

    @property
    def package(self) -> str:
        """What relative imports are resolved against."""
        return self.name if self.is_package else self.name.rpartition(".")[0]


def module_from_path(path: Path, root: Path = ROOT) -> Module:
    """The module a file under `root` is: ``portal/desk/__init__.py`` is the package ``portal.desk``."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts.pop()
    return Module(".".join(parts), path.relative_to(root).as_posix(), is_package, path.read_text(encoding="utf-8"))


def modules_under(directory: Path, root: Path = ROOT) -> dict:
    """Every ``*.py`` under `directory` (subpackages included), by dotted name."""
    found = (module_from_path(p, root) for p in sorted(directory.rglob("*.py")))
    return {m.name: m for m in found if "__pycache__" not in m.path}


def resolve(package: str, level: int, module: str | None) -> str | None:
    """The absolute name of a relative import (``level`` dots) made from `package`; None above the top."""
    if level == 0:
        return module
    parts = package.split(".") if package else []
    if level - 1 >= len(parts):
        return None
    base = ".".join(parts[: len(parts) - (level - 1)])
    return f"{base}.{module}" if module else base


@functools.lru_cache(maxsize=1024)
def imports_of(module: Module) -> tuple:
    """Every import in `module`'s source, resolved (see the module docstring)."""
    reader = _Reader(module)
    reader.visit(ast.parse(module.source, filename=module.path))
    return tuple(reader.found)


def read(source: str, name: str, is_package: bool = False) -> tuple:
    """The imports of a source string, as if it were module `name` (the checkers' own tests use this)."""
    path = name.replace(".", "/") + ("/__init__.py" if is_package else ".py")
    return imports_of(Module(name, path, is_package, source))


class _Reader(ast.NodeVisitor):
    def __init__(self, module: Module):
        self.module = module
        self.scope: list = []  # (name, is_function)
        self.found: list = []

    def _function(self) -> str | None:
        if not any(is_function for _, is_function in self.scope):
            return None
        return ".".join(name for name, _ in self.scope)

    def _add(self, node: ast.AST, module: str | None, names: tuple = ()) -> None:
        self.found.append(Import(self.module.path, node.lineno, ast.unparse(node), module, names, self._function()))

    def _scoped(self, node: ast.AST, name: str, is_function: bool) -> None:
        self.scope.append((name, is_function))
        self.generic_visit(node)
        self.scope.pop()

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self._scoped(node, node.name, True)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._scoped(node, "<lambda>", True)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._scoped(node, node.name, False)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(node, alias.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = resolve(self.module.package, node.level, node.module)
        self._add(node, module, tuple(alias.name for alias in node.names))

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        called = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
        if called in _DYNAMIC:
            self._add(node, self._dynamic_target(called, node))
        self.generic_visit(node)

    def _dynamic_target(self, called: str, node: ast.Call) -> str | None:
        """The module ``import_module(name, package)`` or ``__import__(name, ..., level)`` loads, if literal."""
        keywords = {k.arg: k.value for k in node.keywords if k.arg}
        name = node.args[0] if node.args else keywords.get("name")
        if not (isinstance(name, ast.Constant) and isinstance(name.value, str)):
            return None
        if called == "import_module":
            level = len(name.value) - len(name.value.lstrip("."))
            anchor = node.args[1] if len(node.args) > 1 else keywords.get("package")
            package = anchor.value if isinstance(anchor, ast.Constant) and isinstance(anchor.value, str) \
                else self.module.package  # __package__, __name__ or missing: this module's own
            return resolve(package, level, name.value[level:] or None) if level else name.value
        level_node = node.args[4] if len(node.args) > 4 else keywords.get("level")
        level = level_node.value if isinstance(level_node, ast.Constant) and isinstance(level_node.value, int) else 0
        return resolve(self.module.package, level, name.value or None)


def within(name: str, package: str) -> bool:
    """True if module `name` is `package` or inside it."""
    return name == package or name.startswith(package + ".")


def internal_targets(imp: Import, known: Iterable[str]) -> list:
    """The modules of `known` an import loads: ``from pkg import sub`` is ``pkg.sub`` when that is a module,
    else ``pkg``; a name that is no known module falls back to its nearest known parent."""
    known = set(known)
    if imp.module is None:
        return []
    subs = [c for c in imp.candidates[1:] if c in known]
    if subs and len(subs) == len(imp.names):
        return subs
    name = imp.module
    while name and name not in known:
        name = name.rpartition(".")[0]
    return [*subs, name] if name else subs


def import_graph(modules: Mapping) -> dict:
    """module name -> {imported module name -> [Import, ...]}, for imports between `modules` only."""
    graph: dict = {name: {} for name in modules}
    for name, module in modules.items():
        for imp in imports_of(module):
            for target in internal_targets(imp, modules):
                if target != name:
                    graph[name].setdefault(target, []).append(imp)
    return graph


def cycles(graph: Mapping) -> list:
    """(cycle, group) for each strongly connected group of `graph` (nodes that all reach each other):
    one shortest cycle through its first node, a list of names with the first repeated last."""
    found = []
    for group in _strongly_connected(graph):
        if len(group) > 1:
            found.append((_shortest_cycle(graph, min(group), group), frozenset(group)))
    return sorted(found, key=lambda found: found[0])


def _strongly_connected(graph: Mapping) -> list:
    """Tarjan's algorithm, iterative: the groups of nodes that can all reach each other."""
    index: dict = {}
    low: dict = {}
    stack: list = []
    on_stack: set = set()
    groups = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            for target in edges:
                if target not in graph:
                    continue
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph[target]))))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.add(member)
                        if member == node:
                            break
                    groups.append(group)
    return groups


def _shortest_cycle(graph: Mapping, start: str, group: set) -> list:
    previous = {start: None}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target in sorted(graph[node]):
                if target == start:
                    path = [node]
                    while previous[path[-1]] is not None:
                        path.append(previous[path[-1]])
                    return [*reversed(path), start]
                if target in group and target not in previous:
                    previous[target] = node
                    following.append(target)
        frontier = following
    raise AssertionError(f"{start} is in a cycle but none was found")  # pragma: no cover


def describe_cycle(graph: Mapping, cycle: list, group: frozenset = frozenset()) -> str:
    """ "a -> b -> a", the rest of its tangle if larger, then the import behind each step, one per line."""
    lines = [" -> ".join(cycle)]
    if len(group) > len(cycle) - 1:
        lines.append(f"    (within a tangle of {len(group)} that all reach each other: {', '.join(sorted(group))})")
    for source, target in zip(cycle, cycle[1:], strict=False):
        imports = graph[source][target]
        more = f" (and {len(imports) - 1} more)" if len(imports) > 1 else ""
        lines.append(f"    {source} -> {target}: {imports[0].where()}{more}")
    return "\n".join(lines)
