"""What the server works with, assembled once (``deepling/web/app.py``) and handed to
every part that needs it: ``callbacks.register_all(app, services)``, the HTTP endpoints.

Nothing is looked up by name: a callback module's ``register(app, services)`` takes what
it uses from here (``services.workspace``, ``services.projections``, ``services.training``)
and starts background work with :meth:`Services.submit` / :meth:`Services.poll`, which
count it against the requesting session (``owner``, a function the web layer gives: who the
current request is; see :mod:`deepling.service.work`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from deepling.service.config import Config
from deepling.service.work import Kind


@dataclass(frozen=True)
class Services:
    """The server's workspace, its one job runner and the services built on them."""

    config: Config
    workspace: object    # deepling.service.workspace.Workspace
    jobs: object         # deepling.service.jobs.ThreadJobs or CeleryJobs
    projections: object  # deepling.service.projections.ProjectionService
    training: object     # deepling.service.training.TrainingService
    runs: object         # deepling.service.runs.RunsService: runs from outside (--runs)
    run_sources: object  # deepling.service.runs.RunSources: the app's runs and those, one face
    owner: Callable[[], str | None] = lambda: None  # the session of the current request

    @classmethod
    def build(cls, config: Config, workspace, owner: Callable[[], str | None] | None = None) -> Services:
        """The runner with every work kind (threads, or Celery with a broker configured),
        and the projection and training services on it; ``owner()`` names the session the
        current request counts against (None: the server's own work)."""
        from deepling.service.jobs import job_runner
        from deepling.service.kinds import all_kinds
        from deepling.service.projections import ProjectionService
        from deepling.service.runs import RunSources, RunsService
        from deepling.service.training import TrainingService

        jobs = job_runner(config, workspace, all_kinds())
        training = TrainingService(workspace, jobs)
        runs = RunsService(workspace, config.runs)
        return cls(config, workspace, jobs, ProjectionService(workspace, jobs), training, runs,
                   RunSources(training, runs), owner or (lambda: None))

    def submit(self, kind: Kind | str, params: dict) -> str:
        """Start (or join) background work for this request's session; its key.
        InputError/ValueError for bad parameters, Busy when the queue or the session's share
        of it is full (the callback error banner and the API say so)."""
        return self.jobs.submit(_name(kind), params, self.owner())

    def request(self, kind: Kind | str, params: dict, start: bool = True) -> str:
        """The key of the work ``params`` ask for: started (or joined) with ``start``, else
        only named, so a poll shows a result stored already or says how to get one."""
        if start:
            return self.submit(kind, params)
        return self.jobs.prepare(_name(kind), params)[2]

    def poll(self, kind: Kind | str, key: str | None) -> dict:
        """``{"state", "progress", "message", "result"}`` (see ``ThreadJobs.poll``)."""
        return self.jobs.poll(_name(kind), key)

    def cancel(self, key: str) -> bool:
        """Stop waiting for ``key`` for this request's session (the job stops when nobody
        else waits for it); False if this session did not ask for it."""
        return self.jobs.cancel(key, self.owner())


def _name(kind: Kind | str) -> str:
    return kind.name if isinstance(kind, Kind) else kind
