"""Long work (projections, robustness curves) in the background, with progress.

Why not Dash's ``DiskcacheManager``: it forks a process per job, and TensorFlow, once used
in the parent, deadlocks in a forked child (``benchmarks/fork_check.py`` shows it). So jobs
run on a small thread pool inside the server process (TensorFlow releases the GIL, so
pages stay responsive), and their status lives in a diskcache ``Cache``, which is safe
across processes: several server processes behind one proxy see each other's jobs.

A job is identified by the cache key of its result. It computes the result into the disk
cache; the page polls :meth:`JobRunner.status` and, when it is done, asks for the result
again, which is then a cache hit. Asking twice for the same work joins the running job.
"""

from __future__ import annotations

import os
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import diskcache

STATUS_TTL = 6 * 3600


class JobRunner:
    """Run keyed jobs on threads; record their progress where every process can read it.

    Parameters
    ----------
    root : path
        Folder of the status cache.
    max_workers : int
        Jobs that run at once in this process; more wait in line (their status says so).
    """

    def __init__(self, root: str | os.PathLike, max_workers: int = 2):
        self.status_cache = diskcache.Cache(str(Path(root) / "job-status"))
        self.pool = ThreadPoolExecutor(max_workers, thread_name_prefix="deepling-job")
        self._running: dict[str, object] = {}
        self._lock = threading.Lock()

    def submit(self, key: str, fn, *args, **kwargs) -> str:
        """Start ``fn(*args, progress=..., **kwargs)`` unless job ``key`` already runs here."""
        with self._lock:
            future = self._running.get(key)
            if future is not None and not future.done():
                return key
            self._set(key, state="queued", progress=0.0, message="waiting for a free worker")
            self._running[key] = self.pool.submit(self._run, key, fn, args, kwargs)
        return key

    def status(self, key: str | None) -> dict:
        """``{"state": "queued"|"running"|"done"|"error"|"unknown", "progress", "message"}``."""
        if not key:
            return {"state": "unknown", "progress": 0.0, "message": ""}
        st = self.status_cache.get(key)
        if st is None:
            return {"state": "unknown", "progress": 0.0, "message": ""}
        if st["state"] in ("queued", "running") and not _alive(st.get("pid")):
            return {**st, "state": "error", "message": "the server process running it stopped"}
        return st

    def _run(self, key, fn, args, kwargs):
        def progress(fraction: float, message: str = "") -> None:
            self._set(key, state="running", progress=float(min(max(fraction, 0.0), 1.0)),
                      message=message)

        progress(0.0, "starting")
        try:
            fn(*args, progress=progress, **kwargs)
        except Exception as exc:  # reported to the page; the server keeps going
            self._set(key, state="error", progress=1.0, message=str(exc) or type(exc).__name__,
                      detail=traceback.format_exc(limit=3))
        else:
            self._set(key, state="done", progress=1.0, message="done")
        finally:
            with self._lock:
                self._running.pop(key, None)

    def _set(self, key, **status):
        status.update(pid=os.getpid(), time=time.time())
        self.status_cache.set(key, status, expire=STATUS_TTL)

    def shutdown(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.status_cache.close()


def _alive(pid) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
