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

Jobs that can share work run together: when a worker picks a projection, it takes every
projection of the same model and data still waiting (``tasks.shared_group``) into one
forward pass over the union of their images (``ProjectionService.compute_shared``), each
result still stored under its own key; one that fails or is cancelled fails alone. Job
threads (and TensorFlow's own) run at a lower CPU priority (``DEEPLING_JOB_NICE``), so
the request threads answer light requests at once however busy the jobs keep the cores.
"""

from __future__ import annotations

import os
import threading
import time
import traceback
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from deepling.service import schema
from deepling.service.cache import DISK_FULL_MESSAGE, is_disk_full
from deepling.service.tasks import run_shared, run_task, shared_group

STATUS_TTL = 6 * 3600
UNKNOWN = {"state": "unknown", "progress": 0.0, "message": ""}
FINISHED_KEPT = 256  # statuses of finished jobs kept in memory


def job_runner(config, workspace):
    """The runner this server uses: Celery with a broker configured, else threads."""
    if config.broker_url:
        return CeleryJobs(celery_app(config.broker_url))
    return ThreadJobs(config.cache, workspace)


class QueueFull(RuntimeError):
    """More jobs wait than the server queues (``DEEPLING_MAX_QUEUED_JOBS``): try again later."""


class Cancelled(RuntimeError):
    """Raised from a cancelled job's progress callback: stops that job (alone)."""


@dataclass(eq=False)
class _Job:
    key: str
    task: str
    params: dict
    state: str = "queued"  # queued → running (alone, or in another job's shared run) → finished
    cancelled: bool = False


def default_workers() -> int:
    """Jobs at once: half the cores (at least one). TensorFlow and BLAS already spread one
    job over every core, so more jobs at once only make each slower, and the cores left
    over keep the web threads answering."""
    env = os.environ.get("DEEPLING_JOB_WORKERS")
    return max(1, int(env) if env else (os.cpu_count() or 2) // 2)


class ThreadJobs:
    """Run keyed tasks on a bounded thread pool; record their progress where every process
    can read it.

    Jobs wait in line in submission order; a waiting job's status says its place
    (``position``, 1 = next, and ``queued``, how many wait). Status is kept in memory for
    this process's jobs and copied to a diskcache store for other processes, best effort:
    a full disk slows nothing and breaks nothing. The last few results are held in memory
    too (:meth:`result`), so a result the full disk could not keep is still served.

    Parameters
    ----------
    root : path
        Folder of the status cache.
    workspace : Workspace
        What tasks load models and data from.
    max_workers : int, optional
        Jobs that run at once in this process (default :func:`default_workers`).
    max_queued : int, optional
        Jobs that may wait; one more raises :class:`QueueFull` (``DEEPLING_MAX_QUEUED_JOBS``,
        default 64).
    held_results : int
        Results kept in memory.
    max_shared : int, optional
        Jobs run together in one shared run at most (``DEEPLING_MAX_SHARED_JOBS``,
        default 32; 1 turns sharing off).
    """

    def __init__(self, root: str | os.PathLike, workspace, max_workers: int | None = None,
                 max_queued: int | None = None, held_results: int = 8,
                 max_shared: int | None = None):
        import diskcache

        self.workspace = workspace
        self.status_cache = diskcache.Cache(str(Path(root) / "job-status"))
        self.max_workers = max_workers or default_workers()
        self.max_queued = max_queued or int(os.environ.get("DEEPLING_MAX_QUEUED_JOBS", 64))
        self.pool = ThreadPoolExecutor(self.max_workers, thread_name_prefix="deepling-job")
        self.held_results = held_results
        self.max_shared = max_shared or int(os.environ.get("DEEPLING_MAX_SHARED_JOBS", 32))
        self.nice = int(os.environ.get("DEEPLING_JOB_NICE", 10))
        self.sharing = {"runs": 0, "jobs": 0, "images_requested": 0, "images_forwarded": 0}
        self._running: dict[str, _Job] = {}     # key -> job, queued or running here
        self._waiting: list[str] = []           # queued keys in order
        self._local: dict[str, dict] = {}       # status of this process's jobs (bounded)
        self._results: OrderedDict[str, object] = OrderedDict()
        self._lock = threading.RLock()  # submit() holds it while it records "queued"

    def submit(self, key: str, task: str, params: dict) -> str:
        """Start task ``task`` with ``params`` unless job ``key`` already runs here;
        :class:`QueueFull` when too many wait; :class:`~deepling.service.schema.InputError`
        when a parameter is outside its cap (:func:`~deepling.service.schema.task_params`)."""
        params = schema.task_params(task, params)
        with self._lock:
            job = self._running.get(key)
            if job is not None and not job.cancelled:
                return key
            if len(self._waiting) >= self.max_queued:
                raise QueueFull(f"The server is busy: {len(self._waiting)} jobs are waiting. "
                                "Try again in a minute.")
            job = self._running[key] = _Job(key, task, params)
            self._waiting.append(key)
            self._set(key, state="queued", progress=0.0, message="waiting in the queue")
            self._results.pop(key, None)
            self.pool.submit(self._run, job)
        return key

    def cancel(self, key: str) -> bool:
        """Cancel job ``key``: a waiting one leaves the queue, a running one stops at its
        next progress report (a shared run goes on for the others). False if no such job."""
        with self._lock:
            job = self._running.get(key)
            if job is None or job.cancelled:
                return False
            job.cancelled = True
            if job.state == "queued":
                self._waiting.remove(key)
                self._finish(job, Cancelled("cancelled"))
        return True

    def status(self, key: str | None) -> dict:
        """``{"state": "queued"|"running"|"done"|"error"|"unknown", "progress", "message"}``,
        with ``position`` and ``queued`` while it waits here."""
        if not key:
            return dict(UNKNOWN)
        with self._lock:
            st = self._local.get(key)
            if st is not None:
                st = dict(st)
                if key in self._waiting:
                    place, total = self._waiting.index(key) + 1, len(self._waiting)
                    st.update(position=place, queued=total,
                              message=f"waiting in the queue: place {place} of {total}")
                return st
        try:
            st = self.status_cache.get(key)
        except Exception:  # noqa: BLE001 - an unreadable status store is no status
            st = None
        if st is None:
            return dict(UNKNOWN)
        if st["state"] in ("queued", "running") and not _alive(st.get("pid")):
            return {**st, "state": "error", "message": "the server process running it stopped"}
        return st

    def queue_length(self) -> int:
        with self._lock:
            return len(self._waiting)

    def result(self, key: str):
        """The task's return value if this process ran it recently, else None."""
        with self._lock:
            return self._results.get(key)

    def _run(self, job: _Job):
        _lower_priority(self.nice)
        with self._lock:
            if job.state != "queued":  # cancelled, or already run in another job's shared run
                return
            jobs = [job] + self._companions(job)
            for j in jobs:
                j.state = "running"
                self._waiting.remove(j.key)
        for j in jobs:
            self._set(j.key, state="running", progress=0.0, message="starting")
        try:
            if shared_group(job.task, job.params) is None or self.max_shared < 2:
                values = [_outcome(run_task, self.workspace, job.task, job.params, self._progress(job))]
            else:
                values, counts = run_shared(self.workspace, job.task, [j.params for j in jobs],
                                            [self._progress(j) for j in jobs],
                                            lambda i, value: self._finish_now(jobs[i], value))
                with self._lock:
                    self.sharing["runs"] += 1
                    self.sharing["jobs"] += len(jobs)
                    self.sharing["images_requested"] += counts["requested"]
                    self.sharing["images_forwarded"] += counts["forwarded"]
        except Exception as exc:  # noqa: BLE001 - the shared part failed: every job says so
            values = [exc] * len(jobs)
        for j, value in zip(jobs, values):
            self._finish_now(j, value)

    def _finish_now(self, job: _Job, value) -> None:
        with self._lock:
            if job.state != "finished":
                self._finish(job, value)

    def _companions(self, job: _Job) -> list[_Job]:
        """Waiting jobs that can share ``job``'s run (same task, model and data), in queue order."""
        group = shared_group(job.task, job.params)
        if group is None or self.max_shared < 2:
            return []
        waiting = (self._running[k] for k in self._waiting if k != job.key)
        same = [j for j in waiting if j.task == job.task and shared_group(j.task, j.params) == group]
        return same[: self.max_shared - 1]

    def _progress(self, job: _Job):
        def progress(fraction: float, message: str = "") -> None:
            if job.cancelled:
                raise Cancelled("cancelled")
            self._set(job.key, state="running", progress=float(min(max(fraction, 0.0), 1.0)),
                      message=message)
        return progress

    def _finish(self, job: _Job, value) -> None:
        """Record a job's end (its value, or the exception that stopped it); holds the lock."""
        key = job.key
        job.state = "finished"
        if self._running.get(key, job) is not job:  # cancelled, and asked for again since
            return
        self._running.pop(key, None)
        if isinstance(value, Cancelled) or job.cancelled and isinstance(value, Exception):
            self._set(key, state="cancelled", progress=1.0, message="cancelled")
        elif isinstance(value, Exception):
            message = DISK_FULL_MESSAGE if is_disk_full(value) else (str(value) or type(value).__name__)
            detail = "".join(traceback.format_exception(value, limit=3))
            self._set(key, state="error", progress=1.0, message=message, detail=detail)
        else:
            self._results[key] = value
            while len(self._results) > self.held_results:
                self._results.popitem(last=False)
            self._set(key, state="done", progress=1.0, message="done")
        # finished statuses stay readable here (the disk may be full); bounded
        done = [k for k in self._local if k not in self._running]
        for k in done[: max(0, len(done) - FINISHED_KEPT)]:
            del self._local[k]

    def _set(self, key, **status):
        status.update(pid=os.getpid(), time=time.time())
        with self._lock:
            self._local[key] = status
        try:
            self.status_cache.set(key, status, expire=STATUS_TTL)
        except Exception as exc:  # noqa: BLE001 - a full disk must not stop the job
            if not is_disk_full(exc):
                raise


class CeleryJobs:
    """The same interface over Celery: the job key is the Celery task id."""

    def __init__(self, app):
        self.app = app

    def submit(self, key: str, task: str, params: dict) -> str:
        params = schema.task_params(task, params)  # the same caps as the thread runner
        result = self.app.AsyncResult(key)
        if result.state in ("FAILURE", "REVOKED"):
            result.forget()  # a failed job is run again when asked for again
            self.app.backend.delete(self._mark(key))
        elif result.state != "PENDING" or self._known(key):
            return key  # queued, running or done
        self.app.backend.set(self._mark(key), b"1")
        self.app.send_task("deepling.run", args=(task, params), task_id=key)
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
        if not self._known(key):
            return dict(UNKNOWN)
        return {"state": "queued", "progress": 0.0, "message": "waiting for a Celery worker"}

    def result(self, key: str):
        return None  # results travel through the shared disk cache

    def cancel(self, key: str) -> bool:
        """Revoke the Celery task (a worker skips it, or it stops where it is)."""
        self.app.control.revoke(key)
        return self._known(key)

    def queue_length(self) -> int:
        return 0  # the broker's queue, not this process's

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


def _outcome(fn, *args):
    """``fn(*args)``, or the exception it raised."""
    try:
        return fn(*args)
    except Exception as exc:  # noqa: BLE001 - reported as the job's error
        return exc


def _lower_priority(nice: int) -> None:
    """Run this job thread, and TensorFlow's pool threads that do its work, at ``nice``
    (Linux: a thread is a task with its own nice value; raising it needs no privilege)."""
    if nice <= 0 or not hasattr(os, "setpriority"):
        return
    try:
        tasks = [threading.get_native_id()] + [
            int(t) for t in os.listdir("/proc/self/task")
            if Path(f"/proc/self/task/{t}/comm").read_text().startswith("tf_")]
        for tid in tasks:
            if os.getpriority(os.PRIO_PROCESS, tid) < nice:
                os.setpriority(os.PRIO_PROCESS, tid, nice)
    except OSError:  # no /proc, a thread gone meanwhile, or not allowed: priority is a nicety
        pass


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
