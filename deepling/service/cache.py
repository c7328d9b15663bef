"""A disk cache for computed arrays, keyed by content (model, images, parameters).

Entries are ``.npz`` files read with ``allow_pickle=False``: a cache directory shared by
many users must not be a way to run code. Writes go to a temporary file and are renamed,
so concurrent workers never read half a file.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np


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
        return self.dir / f"{key}.npz"

    def get(self, key: str) -> dict[str, np.ndarray] | None:
        p = self.path(key)
        if not p.exists():
            return None
        try:
            with np.load(p, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except (OSError, ValueError):  # a damaged entry is recomputed, not fatal
            return None

    def put(self, key: str, arrays: dict[str, np.ndarray]) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.dir, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, self.path(key))

    def get_or_compute(self, key: str, compute) -> dict[str, np.ndarray]:
        hit = self.get(key)
        if hit is None:
            hit = compute()
            self.put(key, hit)
        return hit
