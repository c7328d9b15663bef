"""The contract for background work: *work kinds*, run by one runner.

A work kind is long work a page (or the HTTP API, or a command) asks for: a name, how
to check its parameters, the key of its result, how to compute it (reporting progress)
and how to load what was stored. Declare it beside the code it runs, as a module-level
``NAME = Kind(...)`` in a module of ``deepling/service/``: the registry
(:func:`deepling.service.kinds.all_kinds`, which the app and the Celery worker both use)
finds it there, with no list to add it to::

    # a new module in deepling/service/, for a method "sketch" of the library
    from deepling.service import schema
    from deepling.service.cache import cache_key
    from deepling.service.work import Kind

    def _check(workspace, params):          # caps and types, before any key or job
        return {"model": schema.identifier(params.get("model"), "model"),
                "steps": schema.integer(params.get("steps", 50), "steps", 1, 500)}

    def _key(workspace, params):            # content, not ids: same work, same key
        return cache_key("sketch-v1", workspace.model(params["model"]).fingerprint, params["steps"])

    def _compute(workspace, params, progress):   # the job's body: store under the key
        arrays = sketch(workspace.model(params["model"]), params["steps"], progress=progress)
        workspace.cache("sketch").put(_key(workspace, params), arrays)

    def _load(workspace, key):              # the stored result or None; never computes
        return workspace.cache("sketch").get(key)

    SKETCH = Kind("sketch", check=_check, key=_key, compute=_compute, load=_load)

``progress(fraction, message)`` must be called between steps or batches (at least every
second or so): it is where the runner stops a cancelled job, or one past its kind's wall
time (it raises :class:`Cancelled` / :class:`TimeLimit`), and where the status is written
(at most a few times a second, so calling it every step is cheap).

A callback submits and polls through the ``services`` it is registered with (built once
in ``deepling/web/app.py``) and turns the poll into its progress bar with the one helper
``deepling.web.progress.progress_bar``::

    key = services.submit("sketch", {"model": m, "steps": steps})   # InputError/ValueError/Busy
    ...
    poll = services.poll("sketch", key)     # {"state", "progress", "message", "result"}
    bar = progress_bar(poll)                # bar.value, bar.text, bar.done, bar.polling, bar.css(...)
    if poll["result"] is not None: ...      # loaded once, in this poll

Submitting the same work twice joins the one job; a result already stored starts none.
Every kind gets the same limits: parameters checked by its ``check`` (caps live in
:mod:`deepling.service.schema`), at most ``DEEPLING_MAX_SESSION_JOBS`` running or
waiting jobs per session, a wall time per kind (``wall_time``, or
``DEEPLING_WALL_TIME_<KIND>`` seconds), and cancellation within a progress step.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Callable


class Cancelled(RuntimeError):
    """Raised from a cancelled job's progress callback: stops that job (alone)."""


class TimeLimit(RuntimeError):
    """Raised from the progress callback of a job past its kind's wall time."""


class Busy(RuntimeError):
    """A job cannot be queued now (the server's queue, or this session's share of it, is
    full); the message says what to do. The HTTP API answers 503 with Retry-After."""


QueueFull = Busy  # the older name, still raised and caught under it


def _as_is(workspace, params: dict) -> dict:
    return params


@dataclass(frozen=True)
class Kind:
    """One kind of background work (see the module docstring).

    Parameters
    ----------
    name : str
        What the runner, the Celery worker and the status store call it.
    key : callable
        ``key(workspace, params) -> str``: the job's and its stored result's key, made
        from content, so the same work shares one job and one result.
    compute : callable
        ``compute(workspace, params, progress) -> value``: the job's body; stores its
        result where ``load`` finds it and calls ``progress(fraction, message)`` often.
    load : callable, optional
        ``load(workspace, key) -> result or None``: what was stored; never computes. A kind
        without one (training publishes to its own run store) is done when its job is.
    check : callable, optional
        ``check(workspace, params) -> params``: types and caps (:mod:`~deepling.service.schema`)
        and normalisation, before any key or job; raises InputError/ValueError.
    lane : str
        The runner's worker pool it runs on: ``"jobs"`` (projections and the like) or
        ``"training"`` (its own few workers, so a training run never takes a
        projection's place).
    wall_time : float
        Seconds a job may run before it is stopped (overridden by
        ``DEEPLING_WALL_TIME_<NAME>``).
    share : (group, compute_shared), optional
        Queued jobs with equal ``group(params)`` (not None) run together:
        ``compute_shared(workspace, [params], [progress], on_ready) -> (values, counts)``.
    """

    name: str
    key: Callable
    compute: Callable
    load: Callable | None = None
    check: Callable = _as_is
    lane: str = "jobs"
    wall_time: float = 1800.0
    share: tuple | None = None

    def max_seconds(self) -> float:
        env = os.environ.get(f"DEEPLING_WALL_TIME_{self.name.upper()}")
        return float(env) if env else float(self.wall_time)

    def group(self, params: dict):
        """What jobs must have in common to run as one, or None (not shared)."""
        return self.share[0](params) if self.share else None


def registry(kinds) -> dict[str, Kind]:
    """Name → kind (a plain dict the runner reads, never changes); duplicate names refused."""
    out = {}
    for kind in kinds:
        if kind.name in out:
            raise ValueError(f"Two work kinds are called {kind.name!r}.")
        out[kind.name] = kind
    return out


def unknown_kind(name, kinds) -> ValueError:
    return ValueError(f"Unknown work kind {name!r}; known: {', '.join(sorted(kinds))}.")


class Watch:
    """The progress callback a runner hands a job: reports (throttled), stops a cancelled
    job or one past its wall time.

    ``report(fraction, message)`` writes the status; ``cancelled()`` says whether the job
    was cancelled (cheap: a flag, or a throttled look at a shared store).
    """

    def __init__(self, kind: Kind, report, cancelled, every: float = 0.2):
        self.kind, self.report, self.cancelled, self.every = kind, report, cancelled, every
        self.started = time.monotonic()
        self.limit = kind.max_seconds()
        self._last = -1.0

    def __call__(self, fraction: float, message: str = "") -> None:
        now = time.monotonic()
        if self.cancelled():
            raise Cancelled("cancelled")
        if now - self.started > self.limit:
            raise TimeLimit(
                f"Stopped after {self.limit:g} s, the longest a {self.kind.name} job may run "
                "on this server: ask for less work (fewer images, steps or epochs), or ask the "
                f"admin to raise DEEPLING_WALL_TIME_{self.kind.name.upper()}.")
        if now - self._last >= self.every or fraction >= 1.0:
            self._last = now
            self.report(float(min(max(fraction, 0.0), 1.0)), message)


def alive(pid) -> bool:
    """Whether process ``pid`` (on this machine) still runs."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
