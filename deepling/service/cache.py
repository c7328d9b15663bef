"""A disk cache for computed arrays, keyed by content (model, images, parameters).

Entries are ``.npz`` files read with ``allow_pickle=False``: a cache directory shared by
many users must not be a way to run code. Writes go to a temporary file and are renamed,
so concurrent workers never read half a file and a full disk never leaves half an entry.
An entry that cannot be read (truncated, empty, not an npz) is a miss: it is removed and
recomputed. A full disk is not an error for a reader: the value computed in memory is
returned, the entry is simply not kept (see :func:`is_disk_full`, :func:`disk_space`).
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import re
import shutil
import sqlite3
import tempfile
from pathlib import Path

import numpy as np

log = logging.getLogger("deepling.service.cache")
_KEY = re.compile(r"^[A-Za-z0-9_-]{1,128}$")

DISK_FULL_MESSAGE = ("The cache disk is full: Deepling cannot store new uploads or results. "
                     "Free space on it, or set DEEPLING_CACHE to a folder on a larger disk; "
                     "what is already cached is still shown.")


def is_disk_full(exc: BaseException) -> bool:
    """An OSError for a full disk or quota, or SQLite's (diskcache's) way of saying so."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return isinstance(exc, sqlite3.OperationalError) and "full" in str(exc).lower()


def disk_space(path: str | os.PathLike) -> dict:
    """``{"free_mb", "total_mb", "low"}`` of the disk holding the cache; ``low`` when less
    than 5 % (at most 64 MB) is left, which is when the app shows its banner."""
    usage = shutil.disk_usage(path)
    low = usage.free < min(64 << 20, usage.total // 20)
    return {"free_mb": round(usage.free / (1 << 20), 1), "total_mb": round(usage.total / (1 << 20), 1),
            "low": bool(low)}


def write_atomic(path: Path, write) -> None:
    """``write(file)`` into a temporary file beside ``path``, then rename it into place; on
    any failure (a full disk) the temporary file is removed and the error re-raised."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cache_key(*parts) -> str:
    """A stable hex key from strings, numbers, arrays, lists and dicts."""
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        if isinstance(part, np.ndarray):
            h.update(str((part.dtype, part.shape)).encode())
            h.update(np.ascontiguousarray(part).data)
        else:
            h.update(json.dumps(part, sort_keys=True, default=str).encode())
        h.update(b"\x1f")
    return h.hexdigest()


class ArrayCache:
    """Named groups of arrays on disk.

    Parameters
    ----------
    kind : str
        Sub-folder of the cache (``"predictions"``, ``"projections"``...).
    root : path
        The cache folder: the server's ``Config.cache`` (the one place it is defined).
    """

    def __init__(self, kind: str, root: str | os.PathLike):
        self.dir = Path(root) / kind
        self.dir.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        """The entry's file; a key is a :func:`cache_key` (or a plain word), never a path."""
        if not isinstance(key, str) or not _KEY.match(key):
            raise ValueError(f"Not a cache key: {key!r:.40}; keys are made by cache_key().")
        return self.dir / f"{key}.npz"

    def get(self, key: str) -> dict[str, np.ndarray] | None:
        p = self.path(key)
        if not p.exists():
            return None
        try:
            with np.load(p, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except Exception as exc:  # noqa: BLE001 - truncated, empty, not a zip, bad member...
            log.warning("removing unreadable cache entry %s (%s)", p.name, exc)
            p.unlink(missing_ok=True)
            return None

    def put(self, key: str, arrays: dict[str, np.ndarray]) -> bool:
        """Store the arrays; False (and nothing on disk) when the disk is full."""
        try:
            write_atomic(self.path(key), lambda f: np.savez(f, **arrays))
        except OSError as exc:
            if not is_disk_full(exc):
                raise
            log.warning("cache disk full: %s/%s not kept", self.dir.name, key)
            return False
        return True

    def get_or_compute(self, key: str, compute) -> dict[str, np.ndarray]:
        """The cached arrays, else ``compute()``'s, kept for next time when the disk has room."""
        hit = self.get(key)
        if hit is None:
            hit = compute()
            self.put(key, hit)
        return hit
