"""Where Deepling keeps files: the cache and the uploads."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "DEEPLING_CACHE"


def cache_dir(*parts: str) -> Path:
    """``$DEEPLING_CACHE`` (default ``~/.cache/deepling``) / parts, created on demand."""
    base = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "deepling").expanduser()
    path = base.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
