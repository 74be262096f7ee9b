"""The package's imports point one way down its layers, and no modules import each other.

Layers, lowest first (docs/architecture.md): the accelerator description, config (YAML →
validated objects), the domain (workload, strategy, catalog, metric names, accelerator
knobs), the hardware model and the accuracy evaluator, dispatch, the run store and its
reports, the search, sweeps, and the interfaces (the CLI, the package's own API).
Every import counts, those inside functions and under ``TYPE_CHECKING`` too; a module
may import its own layer or any below it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "hwflow"

# (layer, module prefixes), lowest first; the longest matching prefix decides.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("base", ("hwflow.errors",)),
    ("accelerator", ("hwflow.hw.spec",)),
    ("config", ("hwflow.config",)),
    ("domain", ("hwflow.workload", "hwflow.strategy", "hwflow.catalog", "hwflow.metrics",
                "hwflow.accelerator_knobs", "hwflow.onnx_import")),
    ("models", ("hwflow.hw", "hwflow.accuracy")),
    ("dispatch", ("hwflow.dispatch",)),
    ("runs", ("hwflow.runs",)),
    ("search", ("hwflow.search",)),
    ("sweeps", ("hwflow.sweeps",)),
    ("interfaces", ("hwflow.cli", "hwflow.api")),  # and the package itself (its public API)
)
# Known cycles owned by other work: issue 9 removes the Fine kernel <-> backend one (the
# sources digest); drop the entry then.
KNOWN_CYCLES: frozenset[frozenset[str]] = frozenset({
    frozenset({"hwflow.hw.fine.kernel", "hwflow.hw.fine.backend"}),
})


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, name: str, modules: set[str]) -> set[str]:
    """The hwflow modules ``path`` (module ``name``) imports, anywhere in the file."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                base = ".".join(up + ([base] if base else []))
            # ``from pkg import sub`` imports the submodule pkg.sub
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                       for a in node.names]
        else:
            continue
        out.update(t for t in targets if t == "hwflow" or t.startswith("hwflow."))
    out.discard(name)
    return out


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    files = {module_name(p, root): p for p in root.rglob("*.py")}
    modules = set(files)
    return {name: imports_of(path, name, modules) for name, path in files.items()}


def layer_of(module: str) -> int:
    if module == "hwflow":
        return len(LAYERS) - 1
    best, best_len = None, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = index, len(prefix)
    if best is None:
        raise AssertionError(f"{module} is in no layer; add it to LAYERS (and docs/architecture.md)")
    return best


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return sorted(f"{m} ({LAYERS[layer_of(m)][0]}) imports {t} ({LAYERS[layer_of(t)][0]})"
                  for m, targets in graph.items() for t in targets if layer_of(t) > layer_of(m))


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_runs_up_the_layers() -> None:
    assert upward_imports(import_graph()) == []


def test_no_import_cycle() -> None:
    assert [sorted(c) for c in cycles(import_graph()) if c not in KNOWN_CYCLES] == []


def test_the_graph_sees_imports_inside_functions_and_relative_ones(tmp_path: Path) -> None:
    root = tmp_path / "hwflow"
    (root / "runs").mkdir(parents=True)
    (root / "search").mkdir()
    for init in (root, root / "runs", root / "search"):
        (init / "__init__.py").write_text("")
    (root / "runs" / "reports.py").write_text("def f():\n    from hwflow.search import leaders\n")
    (root / "search" / "leaders.py").write_text("from ..runs import reports\n")
    graph = import_graph(root)
    assert graph["hwflow.runs.reports"] == {"hwflow.search.leaders"}
    assert graph["hwflow.search.leaders"] == {"hwflow.runs.reports"}
    assert upward_imports(graph) == [
        "hwflow.runs.reports (runs) imports hwflow.search.leaders (search)"]
    assert cycles(graph) == [frozenset({"hwflow.runs.reports", "hwflow.search.leaders"})]


def test_a_module_outside_every_layer_is_named() -> None:
    with pytest.raises(AssertionError, match="hwflow_extra.x is in no layer"):
        layer_of("hwflow_extra.x")
