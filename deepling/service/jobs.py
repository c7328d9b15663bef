"""Long work (projections, robustness curves) in the background, with progress.

Two interchangeable runners, chosen by :func:`job_runner`:

* :class:`ThreadJobs` (default) runs tasks on a small thread pool inside the server process
  (TensorFlow releases the GIL, so pages stay responsive) and keeps their status in a
  diskcache ``Cache``, which is safe across processes on one machine.
* :class:`CeleryJobs` (when ``DEEPLING_BROKER_URL`` names a Redis broker) sends tasks to
  Celery workers (``celery -A deepling.service.worker worker``) on this or other machines, which
  share ``DEEPLING_CACHE`` with the web processes; status comes from Celery's result backend.

Why not Dash's ``DiskcacheManager``: it forks a process per job, and TensorFlow, once used
in the parent, deadlocks in a forked child (``python benchmarks/fork_check.py`` shows it).

A job is identified by a key (the cache key of its result). It computes the result into
the disk cache; the page polls :meth:`status` and, once it is "done", asks for the result
again, which is then a cache hit. Asking twice for the same work joins the running job.
"""

from __future__ import annotations

import os
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from deepling.service.tasks import run_task

STATUS_TTL = 6 * 3600
UNKNOWN = {"state": "unknown", "progress": 0.0, "message": ""}


def job_runner(config, workspace):
    """The runner this server uses: Celery with a broker configured, else threads."""
    if config.broker_url:
        return CeleryJobs(celery_app(config.broker_url))
    return ThreadJobs(config.cache, workspace)


class ThreadJobs:
    """Run keyed tasks on threads; record their progress where every process can read it.

    Parameters
    ----------
    root : path
        Folder of the status cache.
    workspace : Workspace
        What tasks load models and data from.
    max_workers : int
        Jobs that run at once in this process; more wait in line (their status says so).
    """

    def __init__(self, root: str | os.PathLike, workspace, max_workers: int = 2):
        import diskcache

        self.workspace = workspace
        self.status_cache = diskcache.Cache(str(Path(root) / "job-status"))
        self.pool = ThreadPoolExecutor(max_workers, thread_name_prefix="deepling-job")
        self._running: dict[str, object] = {}
        self._lock = threading.Lock()

    def submit(self, key: str, task: str, params: dict) -> str:
        """Start task ``task`` with ``params`` unless job ``key`` already runs here."""
        with self._lock:
            future = self._running.get(key)
            if future is not None and not future.done():
                return key
            self._set(key, state="queued", progress=0.0, message="waiting for a free worker")
            self._running[key] = self.pool.submit(self._run, key, task, params)
        return key

    def status(self, key: str | None) -> dict:
        """``{"state": "queued"|"running"|"done"|"error"|"unknown", "progress", "message"}``."""
        st = self.status_cache.get(key) if key else None
        if st is None:
            return dict(UNKNOWN)
        if st["state"] in ("queued", "running") and not _alive(st.get("pid")):
            return {**st, "state": "error", "message": "the server process running it stopped"}
        return st

    def _run(self, key, task, params):
        def progress(fraction: float, message: str = "") -> None:
            self._set(key, state="running", progress=float(min(max(fraction, 0.0), 1.0)),
                      message=message)

        progress(0.0, "starting")
        try:
            run_task(self.workspace, task, params, progress)
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


class CeleryJobs:
    """The same interface over Celery: the job key is the Celery task id."""

    def __init__(self, app):
        self.app = app

    def submit(self, key: str, task: str, params: dict) -> str:
        state = self.app.AsyncResult(key).state
        if state in ("PENDING", "FAILURE", "REVOKED") and not self._known(key):
            self.app.send_task("deepling.run", args=(task, params), task_id=key)
            self.app.backend.set(self._mark(key), b"1")
        return key

    def status(self, key: str | None) -> dict:
        if not key:
            return dict(UNKNOWN)
        r = self.app.AsyncResult(key)
        info = r.info if isinstance(r.info, dict) else {}
        if r.state == "SUCCESS":
            return {"state": "done", "progress": 1.0, "message": "done"}
        if r.state == "FAILURE":
            return {"state": "error", "progress": 1.0, "message": str(r.info)}
        if r.state in ("STARTED", "PROGRESS"):
            return {"state": "running", "progress": float(info.get("progress", 0.0)),
                    "message": info.get("message", "")}
        return {"state": "queued", "progress": 0.0, "message": "waiting for a Celery worker"}

    def _known(self, key) -> bool:
        return self.app.backend.get(self._mark(key)) is not None

    @staticmethod
    def _mark(key: str) -> str:
        return f"deepling-submitted-{key}"


def celery_app(broker_url: str):
    """The Celery app shared by web processes and workers (``deepling/service/worker.py``)."""
    try:
        from celery import Celery
    except ImportError:
        raise SystemExit(
            "DEEPLING_BROKER_URL is set but Celery is not installed: "
            "pip install -e '.[scale]' (celery and redis), or unset the variable."
        ) from None
    app = Celery("deepling", broker=broker_url, backend=broker_url)
    app.conf.update(task_track_started=True, result_expires=STATUS_TTL,
                    worker_prefetch_multiplier=1, task_acks_late=True)
    return app


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
