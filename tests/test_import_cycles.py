"""No import circle in deepling/ or callbacks/: every import (lazy ones inside functions
too) read with ``ast``, modules as nodes, and any cycle among them named.

A circle (``jobs → tasks → training → jobs`` was one) means two modules cannot be
understood, tested or changed apart; a lazy import only hides it until run time.
"""

from pathlib import Path

from tests.test_layers import ROOT, imported_modules


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module → the modules of deepling/ and callbacks/ it imports (a ``from package import
    name`` counts as the submodule when ``name`` is one, else as the package)."""
    files = [p for folder in ("deepling", "callbacks") for p in sorted((root / folder).rglob("*.py"))]
    known = {module_name(p, root) for p in files}
    graph = {}
    for path in files:
        me, edges = module_name(path, root), set()
        for _, dotted in imported_modules(path, root):
            target = dotted
            while target and target not in known:  # "a.b.name" → "a.b"
                target = target.rpartition(".")[0]
            if target and target != me:
                edges.add(target)
        graph[me] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(out)


def test_no_import_circle_in_the_package_or_the_callbacks():
    assert cycles(import_graph()) == []


def test_the_check_finds_a_circle_lazy_or_not(tmp_path):
    """A checker that finds nothing must be able to find something."""
    pkg = tmp_path / "deepling" / "service"
    pkg.mkdir(parents=True)
    (tmp_path / "callbacks").mkdir()
    (pkg / "jobs.py").write_text("from deepling.service.tasks import run\n")
    (pkg / "tasks.py").write_text("def run():\n    from deepling.service import training\n")
    (pkg / "training.py").write_text("def later():\n    from deepling.service.jobs import X\n")
    (pkg / "alone.py").write_text("import deepling.service.jobs\n")
    assert cycles(import_graph(tmp_path)) == [
        ["deepling.service.jobs", "deepling.service.tasks", "deepling.service.training"]]
