"""Every kind of background work this server runs: the registry handed to the one runner
by ``deepling/web/app.py`` (through :class:`~deepling.service.services.Services`) and by the
Celery worker (``deepling/service/worker.py``), the same call in both.

Nothing is listed here: a kind is declared beside its code, as a module-level
``NAME = Kind(...)`` in a module of :data:`PACKAGES` (see :mod:`deepling.service.work`), and
:func:`all_kinds` finds it. The modules are *read* first (``ast``: which of them assign a
``Kind(...)`` at the top level) and only those are imported, so an entry point such as the
worker, or a module with nothing to declare, is never imported for it, and this module
imports no feature (no import circle: a feature module never imports this one).
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

from deepling.service.work import Kind, registry

PACKAGES = ("deepling.service",)  # where work kinds are declared


def declared(path: Path) -> list[str]:
    """Names of the module-level ``NAME = Kind(...)`` assignments in the file ``path``."""
    names = []
    for node in ast.parse(path.read_text(encoding="utf-8"), str(path)).body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(node.value, ast.Call):
            func = node.value.func
            called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if called == "Kind":
                names += [t.id for t in targets if isinstance(t, ast.Name)]
    return names


def discover(package: str) -> list[Kind]:
    """The kinds declared in the modules of ``package`` (one level), in file-name order."""
    folder = Path(importlib.import_module(package).__file__).parent
    found = []
    for path in sorted(folder.glob("*.py")):
        names = declared(path)
        if names:
            module = importlib.import_module(f"{package}.{path.stem}")
            found += [getattr(module, name) for name in names]
    return found


def all_kinds(packages: tuple[str, ...] = PACKAGES) -> dict[str, Kind]:
    """Name → :class:`~deepling.service.work.Kind` for every kind declared in ``packages``
    (two kinds of one name are refused)."""
    return registry([kind for package in packages for kind in discover(package)])
