"""The static import graph of lmc_lib (read from the source by `ast`, lazy imports included).

Used by the layer rule (tests/test_layers.py: no import climbs from a lower layer to a higher one,
no circle) and by the study cache, which keys a study on the source of the modules it depends on.
"""
from __future__ import annotations

import ast
import functools
import hashlib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]  # lmc_lib/


def module_name(path: Path, package: Path = PACKAGE) -> str:
    """lmc_lib/core/cache.py -> lmc_lib.core.cache (a package's __init__.py -> the package)."""
    parts = ("lmc_lib", *path.resolve().relative_to(package).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def module_paths(package: Path = PACKAGE) -> dict[str, Path]:
    """Every module of the package by dotted name."""
    return {module_name(p, package): p for p in sorted(package.rglob("*.py"))}


def _imported(tree: ast.AST, name: str, is_package: bool) -> set[str]:
    """The dotted names one module imports (relative imports resolved; names may be attributes)."""
    here = name.split(".") if is_package else name.split(".")[:-1]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = here[: len(here) - node.level + 1] if node.level else []
            mod = ".".join(base + ([node.module] if node.module else []))
            out.add(mod)
            out.update(f"{mod}.{alias.name}" for alias in node.names)
    return out


@functools.lru_cache(maxsize=4)
def graph(package: Path = PACKAGE) -> dict[str, frozenset]:
    """Module -> the lmc_lib modules it imports (lmc_lib itself, the root package, left out)."""
    paths = module_paths(package)
    edges = {}
    for name, path in paths.items():
        names = _imported(ast.parse(path.read_text()), name, path.name == "__init__.py")
        edges[name] = frozenset(n for n in names if n in paths and n not in (name, "lmc_lib"))
    return edges


def layer(module: str, layers: tuple) -> int:
    """The index of a module's layer (lmc_lib.<layer>....), -1 for the root package."""
    parts = module.split(".")
    return layers.index(parts[1]) if len(parts) > 1 and parts[1] in layers else -1


def climbing(edges: dict, layers: tuple) -> list[tuple[str, str]]:
    """Imports from a lower layer into a higher one: (importer, imported)."""
    return sorted((a, b) for a, targets in edges.items() for b in targets
                  if layer(b, layers) > layer(a, layers))


def cycles(edges: dict) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return sorted(out)


def depth(edges: dict) -> int:
    """The longest import chain, in modules (a module importing nothing of lmc_lib has depth 1)."""
    memo: dict = {}

    def d(v, seen=()):
        if v not in memo:
            memo[v] = 1 + max((d(w, seen + (v,)) for w in edges.get(v, ()) if w not in seen), default=0)
        return memo[v]
    return max((d(v) for v in edges), default=0)


def closure(module: str, edges: dict) -> set[str]:
    """The module and every lmc_lib module it imports, directly or not (packages' __init__ included)."""
    seen, todo = set(), [module]
    while todo:
        v = todo.pop()
        if v in seen:
            continue
        seen.add(v)
        parts = v.split(".")
        todo.extend(".".join(parts[:i]) for i in range(2, len(parts)) if ".".join(parts[:i]) in edges)
        todo.extend(edges.get(v, ()))
    return seen


def source_hash(modules, package: Path = PACKAGE) -> str:
    """SHA-256 over the source of the given modules (by name, in sorted order)."""
    paths = module_paths(package)
    h = hashlib.sha256()
    for name in sorted(modules):
        h.update(name.encode() + b"\0" + paths[name].read_bytes())
    return h.hexdigest()
