"""Where Deepling keeps files: the cache, uploads, the packaged demo model."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "DEEPLING_CACHE"
PACKAGE_DIR = Path(__file__).resolve().parent
DEMO_MODEL = PACKAGE_DIR / "resources" / "demo_cnn.keras"


def cache_dir(*parts: str) -> Path:
    """``$DEEPLING_CACHE`` (default ``~/.cache/deepling``) / parts, created on demand."""
    base = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "deepling").expanduser()
    path = base.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
