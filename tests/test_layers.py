"""Dependencies run downward only: library ← service ← web ← callbacks.

Every import statement of every module (lazy ones inside functions included) is read with
``ast``, so a new module cannot slip an upward import in:

* the **library** (``deepling/data``, ``models``, ``projection``, ``methods``, the other
  packages and modules under ``deepling/`` that are neither service nor web) imports no
  service, web or callbacks;
* the **service** (``deepling/service``) imports no web and no callbacks;
* the **web** layer (``deepling/web``) imports no callbacks, except the app factory
  ``deepling/web/app.py``, the one place that registers them (``callbacks.register_all``);
* tests import no callbacks: what a test needs lives in the library, service or views.

``deepling/__init__.py`` is the package's front door (``deepling.show`` opens the app) and
is exempt.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REGISTRAR = "deepling/web/app.py"
FORBIDDEN = {
    "library": ("deepling.service", "deepling.web", "callbacks"),
    "service": ("deepling.web", "callbacks"),
    "web": ("callbacks",),
    "tests": ("callbacks",),
}


def layer_of(rel: str) -> str | None:
    if rel == "deepling/__init__.py":
        return None
    if rel.startswith("deepling/service/"):
        return "service"
    if rel.startswith("deepling/web/"):
        return "web"
    if rel.startswith("deepling/"):
        return "library"
    if rel.startswith("callbacks/"):
        return "callbacks"
    if rel.startswith("tests/"):
        return "tests"
    return None


def imported_modules(path: Path, root: Path) -> list[tuple[int, str]]:
    """(line, dotted module) of every import in the file, relative ones resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = ".".join(path.relative_to(root).with_suffix("").parts[:-1])
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(p for p in [*parts, base] if p)
            # `from deepling import web` imports deepling.web
            out += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return sorted(out)


def violations(root: Path = ROOT) -> list[str]:
    found = []
    for folder in ("deepling", "callbacks", "tests"):
        for path in sorted((root / folder).rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            found += _check(path, rel, root)
    return found


def _check(path: Path, rel: str, root: Path) -> list[str]:
    layer, found = layer_of(rel), []
    if layer in FORBIDDEN:
        for line, module in imported_modules(path, root):
            for banned in FORBIDDEN[layer]:
                if module == banned or module.startswith(banned + "."):
                    if layer == "web" and banned == "callbacks" and rel == REGISTRAR:
                        continue
                    found.append(f"{rel}:{line} ({layer}) imports {module}")
    return found


def test_dependencies_run_downward_only():
    assert violations() == []


def test_the_check_sees_every_kind_of_import(tmp_path):
    """A checker that finds nothing must be able to find something."""
    fake = tmp_path / "deepling" / "methods"
    fake.mkdir(parents=True)
    (fake / "bad.py").write_text(
        "import deepling.web.app\n"
        "from deepling.service import cache\n"
        "from deepling import web\n"
        "def later():\n"
        "    from ..service.jobs import ThreadJobs\n"
        "    import callbacks.strip\n")
    (tmp_path / "deepling" / "web").mkdir()
    (tmp_path / "deepling" / "web" / "app.py").write_text("import callbacks\n")
    (tmp_path / "deepling" / "web" / "other.py").write_text("from callbacks import strip\n")
    assert violations(tmp_path) == [
        "deepling/methods/bad.py:1 (library) imports deepling.web.app",
        "deepling/methods/bad.py:2 (library) imports deepling.service.cache",
        "deepling/methods/bad.py:3 (library) imports deepling.web",
        "deepling/methods/bad.py:5 (library) imports deepling.service.jobs.ThreadJobs",
        "deepling/methods/bad.py:6 (library) imports callbacks.strip",
        "deepling/web/other.py:1 (web) imports callbacks.strip",
    ]


@pytest.mark.parametrize("rel, layer", [
    ("deepling/data/loaders.py", "library"), ("deepling/evaluation.py", "library"),
    ("deepling/service/projections.py", "service"), ("deepling/web/views/shell.py", "web"),
    ("callbacks/strip.py", "callbacks"), ("deepling/__init__.py", None),
])
def test_layers_follow_the_folders(rel, layer):
    assert layer_of(rel) == layer


def test_the_readmes_architecture_names_every_part_of_the_package():
    """Every package and module at deepling/'s top level, and every service and web module,
    is in the README's Architecture section: the map matches the folders."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Architecture", 1)[1].split("\n## ", 1)[0]
    parts = [p for p in (ROOT / "deepling").iterdir()
             if not p.name.startswith(("_", ".")) and (p.is_dir() or p.suffix == ".py")]
    missing = [f"deepling/{p.name}{'/' if p.is_dir() else ''}" for p in sorted(parts)
               if f"deepling/{p.name}" not in section]
    for layer in ("service", "web"):
        missing += [f"deepling/{layer}/{p.name}" for p in sorted((ROOT / "deepling" / layer).glob("*.py"))
                    if not p.name.startswith("_") and p.name not in section]
    assert missing == [], "add these to the README's Architecture section"
