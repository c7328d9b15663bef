"""Comments and docstrings point at things that exist: every file path (``assets/x.js``,
``README.md``) and every dotted module name (``deepling.service.cache``) they mention in the
app's own code is in the repository, so a reader following one never hits a dead end."""

import io
import re
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("deepling", "callbacks", "assets", "benchmarks")
PATH = re.compile(r"(?<![\w./-])((?:\.{0,2}/)?[\w-]+(?:/[\w.-]+)*\.(?:py|js|css|md))\b(?!\()")  # not x.css(...): a call
MODULE = re.compile(r"\b((?:deepling|callbacks)(?:\.[a-z_][a-z0-9_]*)+)")
SKIP_SUFFIXES = (".min.js", ".min.css")


def source_files(root: Path = ROOT):
    for folder in SOURCES:
        for path in sorted((root / folder).rglob("*")):
            if path.suffix in (".py", ".js", ".css") and not path.name.endswith(SKIP_SUFFIXES):
                yield path


def prose(path: Path) -> str:
    """What a reader reads: a Python file's comments and docstrings (not its code or its
    other strings, e.g. a Celery task's name); all of a JS or CSS file."""
    text = path.read_text(encoding="utf-8")
    if path.suffix != ".py":
        return text
    return "\n".join(t.string for t in tokenize.generate_tokens(io.StringIO(text).readline)
                     if t.type == tokenize.COMMENT
                     or (t.type == tokenize.STRING and t.string.lstrip("rbuf").startswith(('"""', "'''"))))


def dead_references(root: Path = ROOT) -> list[str]:
    names = {p.name for p in root.rglob("*") if ".git" not in p.parts}
    dead = []
    for path in source_files(root):
        text = prose(path)
        rel = path.relative_to(root).as_posix()
        for m in PATH.finditer(text):
            ref = m.group(1)
            here = (path.parent / ref).exists() or (root / ref.lstrip("./")).exists()
            # a benchmark names the table it writes: an output, there once it has run
            output = rel.startswith("benchmarks/") and ref.startswith("benchmarks/results/")
            if not here and not output and not ("/" not in ref and ref in names):
                dead.append(f"{rel}: {ref}")
        for m in MODULE.finditer(text):
            if not _module_exists(root, m.group(1)):
                dead.append(f"{rel}: {m.group(1)}")
    return dead


def _module_exists(root: Path, dotted: str) -> bool:
    """The longest prefix that is a package or module, and the next name defined in it."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        base = root.joinpath(*parts[:i])
        source = base.with_suffix(".py") if base.with_suffix(".py").exists() else base / "__init__.py"
        if source.exists():
            rest = parts[i:]
            return not rest or re.search(rf"\b{re.escape(rest[0])}\b", source.read_text("utf-8")) is not None
    return False


def test_comments_cite_files_and_modules_that_exist():
    assert dead_references() == []


def test_a_dead_reference_is_found(tmp_path):
    (tmp_path / "deepling" / "service").mkdir(parents=True)
    (tmp_path / "deepling" / "__init__.py").write_text("")
    (tmp_path / "deepling" / "service" / "__init__.py").write_text("")
    (tmp_path / "deepling" / "service" / "cache.py").write_text("def cache_key(): ...\n")
    (tmp_path / "README.md").write_text("")
    (tmp_path / "deepling" / "service" / "jobs.py").write_text(
        "# see README.md and deepling.service.cache.cache_key, cache.py\n"
        "# see DESIGN.md, assets/gone.js, deepling.service.metrics and deepling.service.cache.gone\n"
        "NAME = 'deepling.run'  # a task's name, not a module\n")
    assert dead_references(tmp_path) == [
        "deepling/service/jobs.py: DESIGN.md", "deepling/service/jobs.py: assets/gone.js",
        "deepling/service/jobs.py: deepling.service.metrics",
        "deepling/service/jobs.py: deepling.service.cache.gone",
    ]
