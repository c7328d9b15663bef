"""The one runner of background work (:mod:`deepling.service.work` declares the kinds).

Two interchangeable runners, chosen by :func:`job_runner`, both handed the registry of
work kinds (:func:`deepling.service.kinds.all_kinds`) and knowing no kind by name:

* :class:`ThreadJobs` (default) runs jobs on small thread pools inside the server process,
  one pool per *lane* (``"jobs"``: projections and the like; ``"training"``: training runs
  and retrains, so a run never takes a projection's place), with one status store: memory
  for this process's jobs, copied to a diskcache ``Cache`` that every process on the
  machine can read. TensorFlow releases the GIL, so pages stay responsive.
* :class:`CeleryJobs` (when ``DEEPLING_BROKER_URL`` names a Redis broker) sends jobs to
  Celery workers (``celery -A deepling.service.worker worker``) that share ``DEEPLING_CACHE``
  with the web processes; status comes from Celery's result backend.

Why not Dash's ``DiskcacheManager``: it forks a process per job, and TensorFlow, once used
in the parent, deadlocks in a forked child (``python benchmarks/fork_check.py`` shows it).

A job is identified by its key (the key of its result, :attr:`Kind.key`). The page polls
:meth:`poll`, which reads the stored result once it is there. Asking twice for the same
work joins the running job; a result already stored starts none. Every kind gets the same
limits: its parameters checked (``Kind.check``), a bounded queue
(``DEEPLING_MAX_QUEUED_JOBS``), at most ``DEEPLING_MAX_SESSION_JOBS`` running or waiting
jobs per session, its wall time, and cancellation at its next progress report.

Jobs that can share work run together: when a worker picks a job whose kind shares
(``Kind.share``, the layer animation's projections), it takes every waiting job of the
same group (same model and data) into one run, each result still stored under its own key;
one that fails or is cancelled fails alone. Job threads (and TensorFlow's own) run at a
lower CPU priority (``DEEPLING_JOB_NICE``), so the request threads answer light requests
at once however busy the jobs keep the cores.
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
from deepling.service.work import Busy, Cancelled, Kind, QueueFull, TimeLimit, Watch, alive, unknown_kind

__all__ = ["job_runner", "ThreadJobs", "CeleryJobs", "Busy", "QueueFull", "Cancelled", "TimeLimit"]

STATUS_TTL = 6 * 3600
UNKNOWN = {"state": "unknown", "progress": 0.0, "message": ""}
FINISHED_KEPT = 256  # statuses of finished jobs kept in memory
ACTIVE = ("queued", "running")
ADDRESS_OWNER = "addr:"  # an owner named by its address, not a session (see _Runner.submit)
MAX_ABANDONED = 2  # per lane: cancelled runs left to end at their next report (ThreadJobs._run)


def job_runner(config, workspace, kinds):
    """The runner this server uses: Celery with a broker configured, else threads."""
    if config.broker_url:
        return CeleryJobs(celery_app(config.broker_url), workspace, kinds)
    return ThreadJobs(config.cache, workspace, kinds)


def default_workers() -> int:
    """Jobs at once: half the cores (at least one). TensorFlow and BLAS already spread one
    job over every core, so more jobs at once only make each slower, and the cores left
    over keep the web threads answering."""
    env = os.environ.get("DEEPLING_JOB_WORKERS")
    return max(1, int(env) if env else (os.cpu_count() or 2) // 2)


def training_workers() -> int:
    """The training lane: the training runs a server allows (``DEEPLING_MAX_TRAINING_RUNS``,
    default 1) and one more for a retrain or a projection across training."""
    return int(os.environ.get("DEEPLING_MAX_TRAINING_RUNS", 1)) + 1


class _Runner:
    """What both runners share: the kinds, checking and keying, the per-session cap and
    :meth:`poll`."""

    def __init__(self, workspace, kinds: dict[str, Kind], max_session_jobs: int | None = None,
                 max_address_jobs: int | None = None):
        self.workspace = workspace
        self.kinds = dict(kinds)
        self.max_session_jobs = max_session_jobs or int(os.environ.get("DEEPLING_MAX_SESSION_JOBS", 4))
        # Clients without a session (pipelines, and everyone behind one proxy) share their
        # address: a larger share, still less than the queue.
        self.max_address_jobs = max_address_jobs or int(os.environ.get("DEEPLING_MAX_ADDRESS_JOBS", 32))
        self._owned: dict[str, set] = {}  # session → keys it submitted (pruned as they finish)
        # key → who asked for it: keys are content-addressed, so anyone can name another's
        # job; a cancel withdraws only the caller's interest (see :meth:`cancel`)
        self._requesters: dict[str, set] = {}
        self._owner_lock = threading.Lock()

    def kind(self, name: str) -> Kind:
        if name not in self.kinds:
            raise unknown_kind(name, self.kinds)
        return self.kinds[name]

    def prepare(self, name: str, params: dict) -> tuple[Kind, dict, str]:
        """(kind, checked params, key): what :meth:`submit` starts, without starting it."""
        kind = self.kind(name)
        # the caps of every kind (schema.task_params), then the kind's own normalising
        params = kind.check(self.workspace, schema.task_params(kind.name, params))
        return kind, params, kind.key(self.workspace, params)

    def submit(self, name: str, params: dict, owner: str | None = None, key: str | None = None) -> str:
        """Start (or join) the job of kind ``name`` for ``params``; its key.

        ``params`` go through the kind's ``check`` first (InputError/ValueError for bad
        ones). A result already stored starts nothing. ``owner`` (a session) may have at most
        ``max_session_jobs`` jobs running or waiting (an owner named ``"addr:…"``, a client
        without a session, ``max_address_jobs``); one more, or a full queue, raises
        :class:`Busy`. ``key`` overrides the kind's key (tests, and the training runs that
        are named by their run id)."""
        kind, params, own_key = self.prepare(name, params)
        key = key or own_key
        if kind.load is not None and kind.load(self.workspace, key) is not None:
            return key
        with self._owner_lock:
            if owner and not self._active(key):
                mine = self._owned.setdefault(owner, set())
                mine.intersection_update({k for k in mine if self._active(k)})
                address = owner.startswith(ADDRESS_OWNER)
                if len(mine) >= (self.max_address_jobs if address else self.max_session_jobs):
                    who, knob = (("This address", "DEEPLING_MAX_ADDRESS_JOBS") if address
                                 else ("This session", "DEEPLING_MAX_SESSION_JOBS"))
                    raise Busy(f"{who} already has {len(mine)} jobs running or waiting, the most "
                               "it may have: wait for one to finish (or cancel one), then try "
                               f"again (the server's {knob}).")
                mine.add(key)
            self._enqueue(key, kind, params)
            self._asked(key, owner)
        return key

    def _asked(self, key: str, owner: str | None) -> None:
        """Record that ``owner`` waits for ``key`` (held with ``_owner_lock``)."""
        if len(self._requesters) > 4096:  # bounded: forget finished jobs' requesters
            for k in [k for k in self._requesters if not self._active(k)]:
                del self._requesters[k]
        self._requesters.setdefault(key, set()).add(owner)

    def cancel(self, key: str, owner: str | None = None) -> bool:
        """Cancel job ``key`` for ``owner``: that session no longer waits for it, and the job
        stops (a waiting one leaves the queue, a running one stops at its next progress
        report) once nobody who asked for it still does. False if ``owner`` did not ask for
        it (a job's key is no permission to stop it for others) or no such job is waiting or
        running. Without ``owner`` (the server's own code) it stops at once."""
        if owner is not None:
            with self._owner_lock:
                who = self._requesters.get(key, set())
                if owner not in who or not self._active(key):
                    return False
                who.discard(owner)
                if who:
                    return True  # the others still wait for it: it goes on for them
        return self._cancel(key)

    def poll(self, name: str, key: str | None) -> dict:
        """``{"state", "progress", "message", "result"}``: the job's status, and once it is
        done its result (:attr:`Kind.load`, read here once; or held in memory when the
        disk was full). "done" with no result left says so as an error."""
        kind = self.kind(name)
        if not key:
            return {**UNKNOWN, "result": None}
        if kind.load is not None:
            stored = kind.load(self.workspace, key)
            if stored is not None:
                return {"state": "done", "progress": 1.0, "message": "done", "result": stored}
        status = self.status(key)
        if status["state"] != "done":
            return {**status, "result": None}
        held = self.result(key)
        if held is None and kind.load is not None:  # finished, but its result is gone
            return {"state": "error", "progress": 1.0, "result": None,
                    "message": "The result was removed from the server's cache; ask for it again."}
        return {**status, "result": held}

    def _active(self, key) -> bool:
        return self.status(key)["state"] in ACTIVE


@dataclass(eq=False)
class _Job:
    key: str
    kind: Kind
    params: dict
    state: str = "queued"  # queued → running (alone, or in another job's shared run) → finished
    cancelled: bool = False


class ThreadJobs(_Runner):
    """Run keyed jobs on bounded thread pools, one per lane; record their progress where
    every process can read it.

    Jobs wait in line in submission order; a waiting job's status says its place
    (``position``, 1 = next, and ``queued``, how many wait in its lane). Status is kept in
    memory for this process's jobs and copied to a diskcache store for other processes,
    best effort: a full disk slows nothing and breaks nothing. The last few results are held
    in memory too (:meth:`result`), so a result the full disk could not keep is still served.

    Parameters
    ----------
    root : path
        Folder of the status cache.
    workspace : Workspace
        What jobs load models and data from.
    kinds : dict
        Name → :class:`~deepling.service.work.Kind` (:func:`deepling.service.kinds.all_kinds`).
    max_workers : int, optional
        Jobs of the ``"jobs"`` lane that run at once (default :func:`default_workers`).
    max_queued : int, optional
        Jobs that may wait; one more raises :class:`Busy` (``DEEPLING_MAX_QUEUED_JOBS``,
        default 64).
    held_results : int
        Results kept in memory.
    max_shared : int, optional
        Jobs run together in one shared run at most (``DEEPLING_MAX_SHARED_JOBS``,
        default 32; 1 turns sharing off).
    lanes : dict, optional
        Lane → workers; default ``{"jobs": max_workers, "training": training_workers()}``.
    max_session_jobs : int, optional
        Running or waiting jobs per session (``DEEPLING_MAX_SESSION_JOBS``, default 4).
    """

    def __init__(self, root: str | os.PathLike, workspace, kinds: dict[str, Kind],
                 max_workers: int | None = None, max_queued: int | None = None,
                 held_results: int = 8, max_shared: int | None = None,
                 lanes: dict[str, int] | None = None, max_session_jobs: int | None = None):
        import diskcache

        super().__init__(workspace, kinds, max_session_jobs)
        self.status_cache = diskcache.Cache(str(Path(root) / "job-status"))
        self.max_workers = max_workers or default_workers()
        self.lanes = lanes or {"jobs": self.max_workers, "training": training_workers()}
        self.max_queued = max_queued or int(os.environ.get("DEEPLING_MAX_QUEUED_JOBS", 64))
        self.pools = {lane: ThreadPoolExecutor(n, thread_name_prefix=f"deepling-{lane}")
                      for lane, n in self.lanes.items()}
        self.held_results = held_results
        self.max_shared = max_shared or int(os.environ.get("DEEPLING_MAX_SHARED_JOBS", 32))
        self.nice = int(os.environ.get("DEEPLING_JOB_NICE", 10))
        self.sharing = {"runs": 0, "jobs": 0, "images_requested": 0, "images_forwarded": 0}
        self._running: dict[str, _Job] = {}     # key -> job, queued or running here
        self._waiting: list[str] = []           # queued keys in order (every lane)
        self._local: dict[str, dict] = {}       # status of this process's jobs (bounded)
        self._results: OrderedDict[str, object] = OrderedDict()
        self._abandoned: dict[str, int] = {}    # lane → cancelled runs left ending (see _run)
        self._busy: dict[str, int] = {}         # lane → workers running a job
        self._lock = threading.RLock()  # _enqueue() holds it while it records "queued"

    def _enqueue(self, key: str, kind: Kind, params: dict) -> None:
        with self._lock:
            job = self._running.get(key)
            if job is not None and not job.cancelled:
                return
            if kind.lane not in self.pools:
                raise ValueError(f"Work kind {kind.name!r} runs on lane {kind.lane!r}, which this "
                                 f"runner has not got (lanes: {', '.join(self.pools)}).")
            if len(self._waiting) >= self.max_queued:
                raise Busy(f"The server is busy: {len(self._waiting)} jobs are waiting. "
                           "Try again in a minute.")
            job = self._running[key] = _Job(key, kind, params)
            self._waiting.append(key)
            self._set(key, state="queued", progress=0.0, message="waiting in the queue")
            self._results.pop(key, None)
            self.pools[kind.lane].submit(self._run, job)

    def _cancel(self, key: str) -> bool:
        """Stop job ``key``: a waiting one leaves the queue, a running one stops at its
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
        """``{"state": "queued"|"running"|"done"|"error"|"cancelled"|"unknown", "progress",
        "message"}``, with ``position`` and ``queued`` while it waits here."""
        if not key:
            return dict(UNKNOWN)
        with self._lock:
            st = self._local.get(key)
            if st is not None:
                st = dict(st)
                job = self._running.get(key)
                if key in self._waiting and job is not None:
                    line = [k for k in self._waiting if self._running[k].kind.lane == job.kind.lane]
                    place, total = line.index(key) + 1, len(line)
                    st.update(position=place, queued=total,
                              message=f"waiting in the queue: place {place} of {total}")
                return st
        try:
            st = self.status_cache.get(key)
        except Exception:  # noqa: BLE001 - an unreadable status store is no status
            st = None
        if st is None:
            return dict(UNKNOWN)
        if st["state"] in ACTIVE and not alive(st.get("pid")):
            return {**st, "state": "error", "message": "the server process running it stopped"}
        return st

    def queue_length(self) -> int:
        with self._lock:
            return len(self._waiting)

    def result(self, key: str):
        """The job's return value if this process ran it recently, else None."""
        with self._lock:
            return self._results.get(key)

    def _run(self, job: _Job):
        """A lane's worker: run ``job`` (and the waiting jobs that share its run) on a thread
        of its own, and wait for it or for every one of them to be cancelled. A kind's long
        step with no progress report in it (a first trace, a model load) cannot be stopped
        halfway, so the cancelled run is left to end at its next report while this worker
        is free at once for the next job: a cancel frees the worker within 2 s whatever the
        kind. At most ``MAX_ABANDONED`` such runs per lane are left ending at a time; past
        that, the worker waits for its own, so cancelling in a loop cannot pile up work."""
        lane = job.kind.lane
        with self._lock:
            if job.state != "queued":  # cancelled, or already run in another job's shared run
                return
            self._busy[lane] = self._busy.get(lane, 0) + 1
        try:
            self._run_here(job, lane)
        finally:
            with self._lock:
                self._busy[lane] -= 1

    def busy_workers(self, lane: str = "jobs") -> int:
        """Workers of ``lane`` taken by a job now (a cancelled one gives its worker back)."""
        with self._lock:
            return self._busy.get(lane, 0)

    def _run_here(self, job: _Job, lane: str) -> None:
        with self._lock:
            if job.state != "queued":
                return
            jobs = [job] + self._companions(job)
            for j in jobs:
                j.state = "running"
                self._waiting.remove(j.key)
        for j in jobs:
            self._set(j.key, state="running", progress=0.0, message="starting")
        body = threading.Thread(target=self._body, args=(job, jobs), daemon=True,
                                name=f"deepling-{job.kind.lane}-{job.kind.name}")
        body.start()
        while body.is_alive():
            body.join(0.05)
            with self._lock:
                if not all(j.cancelled for j in jobs) or self._abandoned.get(lane, 0) >= MAX_ABANDONED:
                    continue
                self._abandoned[lane] = self._abandoned.get(lane, 0) + 1
                for j in jobs:
                    if j.state != "finished":
                        self._finish(j, Cancelled("cancelled"))
            threading.Thread(target=self._reap, args=(body, lane), daemon=True).start()
            return

    def _reap(self, body: threading.Thread, lane: str) -> None:
        body.join()
        with self._lock:
            self._abandoned[lane] -= 1

    def _body(self, job: _Job, jobs: list[_Job]) -> None:
        _lower_priority(self.nice)
        kind = job.kind
        try:
            if kind.group(job.params) is None or self.max_shared < 2:
                values = [_outcome(kind.compute, self.workspace, job.params, self._progress(job))]
            else:
                values, counts = kind.share[1](self.workspace, [j.params for j in jobs],
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
        """Waiting jobs that can share ``job``'s run (same kind and group), in queue order."""
        group = job.kind.group(job.params)
        if group is None or self.max_shared < 2:
            return []
        waiting = (self._running[k] for k in self._waiting if k != job.key)
        same = [j for j in waiting if j.kind is job.kind and j.kind.group(j.params) == group]
        return same[: self.max_shared - 1]

    def _progress(self, job: _Job) -> Watch:
        return Watch(job.kind, lambda f, m: self._report(job, f, m), lambda: job.cancelled)

    def _report(self, job: _Job, fraction: float, message: str) -> None:
        with self._lock:  # a run left ending after its cancel says nothing more
            if job.state == "running" and not job.cancelled:
                self._set(job.key, state="running", progress=fraction, message=message)

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


class CeleryJobs(_Runner):
    """The same interface over Celery: the job key is the Celery task id. Lanes are one
    queue here (run more workers for more at once); cancelling marks the job in the result
    backend, and the worker's progress callback stops it there (:func:`celery_progress`)."""

    def __init__(self, app, workspace=None, kinds: dict[str, Kind] | None = None,
                 max_session_jobs: int | None = None):
        super().__init__(workspace, kinds or {}, max_session_jobs)
        self.app = app

    def _enqueue(self, key: str, kind: Kind, params: dict) -> None:
        result = self.app.AsyncResult(key)
        if result.state in ("FAILURE", "REVOKED") or self._cancelled(key):
            result.forget()  # a failed job is run again when asked for again
            self.app.backend.delete(self._mark(key))
            self.app.backend.delete(cancel_mark(key))
        elif result.state != "PENDING" or self._known(key):
            return  # queued, running or done
        self.app.backend.set(self._mark(key), b"1")
        self.app.send_task("deepling.run", args=(kind.name, params), task_id=key)

    def status(self, key: str | None) -> dict:
        if not key:
            return dict(UNKNOWN)
        r = self.app.AsyncResult(key)
        info = r.info if isinstance(r.info, dict) else {}
        if r.state == "SUCCESS":
            return {"state": "done", "progress": 1.0, "message": "done"}
        if r.state == "REVOKED" or (r.state == "FAILURE" and self._cancelled(key)):
            return {"state": "cancelled", "progress": 1.0, "message": "cancelled"}
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

    def _cancel(self, key: str) -> bool:
        """Mark the job cancelled (a running one stops at its next progress report) and
        revoke it (a worker skips it if it has not started)."""
        known = self._known(key)
        if known:
            self.app.backend.set(cancel_mark(key), b"1")
        self.app.control.revoke(key)
        return known

    def queue_length(self) -> int:
        return 0  # the broker's queue, not this process's

    def _known(self, key) -> bool:
        return self.app.backend.get(self._mark(key)) is not None

    def _cancelled(self, key) -> bool:
        return self.app.backend.get(cancel_mark(key)) is not None

    @staticmethod
    def _mark(key: str) -> str:
        return f"deepling-submitted-{key}"


def cancel_mark(key: str) -> str:
    return f"deepling-cancelled-{key}"


def celery_progress(task, kind: Kind, key: str, every: float = 0.5) -> Watch:
    """The progress callback of a job on a Celery worker: writes its state to the result
    backend; stops it once :meth:`CeleryJobs.cancel` marked it (looked at every ``every``
    seconds) or past its kind's wall time."""
    seen = {"at": 0.0, "cancelled": False}

    def cancelled() -> bool:
        now = time.monotonic()
        if now - seen["at"] >= every:
            seen["at"] = now
            seen["cancelled"] = task.app.backend.get(cancel_mark(key)) is not None
        return seen["cancelled"]

    def report(fraction: float, message: str) -> None:
        task.update_state(state="PROGRESS", meta={"progress": float(fraction), "message": message})

    return Watch(kind, report, cancelled)


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
