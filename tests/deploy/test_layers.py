"""The house's plan, held against the code: each package imports only packages below it
(daemon/__init__.py draws the order), no module imports itself round a cycle, and the
root keeps only the entry points."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

DAEMON = Path(__file__).resolve().parents[2] / "daemon"

# Lowest first; a module may import its own layer's packages and any lower one.
LAYERS: list[set[str]] = [
    {"settings", "rules"},
    {"store"},
    {"fetch", "webhook"},
    {"scan"},
    {"settle"},
    {"run"},
    {"demo"},
    {"cli", "__main__", "__init__"},
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def _modules() -> dict[str, Path]:
    found = {}
    for path in DAEMON.rglob("*.py"):
        if "migrations_sql" in path.parts:
            continue
        parts = path.relative_to(DAEMON.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _imports(module: str, path: Path) -> set[str]:
    """The daemon modules this one imports (at run time or for types: both count)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names if a.name.startswith("daemon")}
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.level:  # relative: resolve against this module's package
                base = module.split(".")[: -node.level]
                target = ".".join([*base, node.module])
            else:
                target = node.module
            if target.split(".")[0] == "daemon":
                names.add(target)
                names |= {f"{target}.{a.name}" for a in node.names}
    return names


MODULES = _modules()


def _owner(module: str) -> str:
    """The first part below ``daemon``: a package or a root module."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_package_and_root_module_has_a_layer() -> None:
    owners = {_owner(m) for m in MODULES}
    assert owners <= set(RANK), f"place these in LAYERS: {sorted(owners - set(RANK))}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_only_down(module: str) -> None:
    mine = RANK[_owner(module)]
    upward = sorted(
        target
        for target in _imports(module, MODULES[module])
        if target in MODULES and RANK[_owner(target)] > mine
    )
    assert not upward, f"{module} imports a layer above it: {upward}"


def test_no_import_cycles() -> None:
    graph = {m: {t for t in _imports(m, p) if t in MODULES and t != m} for m, p in MODULES.items()}
    # A package's __init__ re-exporting its own modules is not a cycle of the code.
    packages = {m for m, p in MODULES.items() if p.name == "__init__.py"}
    for m in graph:
        graph[m] = {t for t in graph[m] if t not in packages and m not in packages}
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                cycle = [*path[path.index(nxt) :], nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)


def test_the_root_keeps_only_the_entry_points() -> None:
    root = sorted(p.name for p in DAEMON.glob("*.py"))
    assert len(root) <= 8, root
    for package in sorted(p for p in DAEMON.iterdir() if (p / "__init__.py").is_file()):
        doc = ast.get_docstring(ast.parse((package / "__init__.py").read_text("utf-8")))
        assert doc and "Imports" in doc, f"{package.name}/__init__.py: say what it owns and imports"
