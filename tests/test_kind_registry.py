"""The registry finds every work kind where it is declared: a new kind is one module-level
``Kind(...)`` in a service module, and no list anywhere names it. The app and the Celery
worker get the same registry."""

import ast
import sys
from pathlib import Path

import pytest

from deepling.service.kinds import all_kinds, declared, discover
from deepling.service.work import Kind

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def package(tmp_path, monkeypatch):
    """A throwaway package ``kindpkg`` on the path, forgotten afterwards."""
    (tmp_path / "kindpkg").mkdir()
    (tmp_path / "kindpkg" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path / "kindpkg"
    for name in [m for m in sys.modules if m == "kindpkg" or m.startswith("kindpkg.")]:
        del sys.modules[name]


def test_a_kind_declared_in_its_module_is_found(package):
    (package / "sketch.py").write_text(
        "from deepling.service.work import Kind\n"
        "SKETCH = Kind('sketch', key=lambda ws, p: 'k', compute=lambda ws, p, progress: None)\n")
    (package / "entry.py").write_text("raise SystemExit('an entry point is never imported for kinds')\n")
    kinds = all_kinds(("kindpkg",))
    assert list(kinds) == ["sketch"] and isinstance(kinds["sketch"], Kind)
    assert "kindpkg.entry" not in sys.modules


def test_two_kinds_of_one_name_are_refused(package):
    for stem in ("a", "b"):
        (package / f"{stem}.py").write_text(
            "from deepling.service import work\n"
            "DUP = work.Kind('dup', key=lambda ws, p: 'k', compute=lambda ws, p, progress: None)\n")
    assert [k.name for k in discover("kindpkg")] == ["dup", "dup"]
    with pytest.raises(ValueError, match="Two work kinds are called 'dup'"):
        all_kinds(("kindpkg",))


def test_declared_reads_module_level_assignments_only(tmp_path):
    path = tmp_path / "m.py"
    path.write_text("A = Kind('a', key=k, compute=c)\nB: Kind = work.Kind('b', key=k, compute=c)\n"
                    "def f():\n    C = Kind('c', key=k, compute=c)\nD = make('d')\n")
    assert declared(path) == ["A", "B"]


def test_the_app_and_the_worker_use_the_same_registry():
    """Both call ``all_kinds()`` with no arguments (the services for the app); neither lists kinds."""
    for rel in ("deepling/service/services.py", "deepling/service/worker.py"):
        calls = [n for n in ast.walk(ast.parse((ROOT / rel).read_text()))
                 if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "all_kinds"]
        assert calls and all(not c.args and not c.keywords for c in calls), rel


def test_every_service_kind_is_found():
    """As many kinds as module-level ``Kind(...)`` assignments in deepling/service/ (read
    here without importing anything), the 13 the app had when this registry came among them."""
    kinds = all_kinds()
    written = sum(len(declared(path)) for path in (ROOT / "deepling" / "service").glob("*.py"))
    assert len(kinds) == written
    assert {"layer_sequence", "epoch_sequence", "predictions", "robustness", "neurons",
            "class_image", "shape_workshop", "training", "retrain", "attribution_ranking",
            "sanity_check", "cka", "label_errors"} <= set(kinds)
    assert all(kinds[name].name == name for name in kinds)
