"""What the web layer works with, assembled once (``deepling/web/app.py``) and handed to
every part that needs it: ``callbacks.register_all(app, services)``, the HTTP endpoints.

Nothing is looked up by name: a callback module's ``register(app, services)`` takes what
it uses from here (``services.workspace``, ``services.projections``, ``services.training``)
and starts background work with :meth:`Services.submit` / :meth:`Services.poll`, which
count it against the requesting session (see :mod:`deepling.service.work`).
"""

from __future__ import annotations

from dataclasses import dataclass

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

    @classmethod
    def build(cls, config: Config, workspace) -> Services:
        """The runner with every work kind (threads, or Celery with a broker configured),
        and the projection and training services on it."""
        from deepling.service.jobs import job_runner
        from deepling.service.kinds import all_kinds
        from deepling.service.projections import ProjectionService
        from deepling.service.training import TrainingService

        jobs = job_runner(config, workspace, all_kinds())
        return cls(config, workspace, jobs, ProjectionService(workspace, jobs),
                   TrainingService(workspace, jobs))

    def owner(self) -> str | None:
        """The session the current request counts against (None outside a request: the
        server's own work, such as the warm-up)."""
        from flask import has_request_context, request

        from deepling.service.jobs import ADDRESS_OWNER
        from deepling.web.api import SESSION_COOKIE, session_owner

        if not has_request_context():
            return None
        return ("" if request.cookies.get(SESSION_COOKIE) else ADDRESS_OWNER) + session_owner()

    def submit(self, kind: Kind | str, params: dict) -> str:
        """Start (or join) background work for this request's session; its key.
        InputError/ValueError for bad parameters, Busy when the queue or the session's share
        of it is full (the callback error banner and the API say so)."""
        return self.jobs.submit(_name(kind), params, self.owner())

    def poll(self, kind: Kind | str, key: str | None) -> dict:
        """``{"state", "progress", "message", "result"}`` (see ``ThreadJobs.poll``)."""
        return self.jobs.poll(_name(kind), key)

    def cancel(self, key: str) -> bool:
        return self.jobs.cancel(key)


def _name(kind: Kind | str) -> str:
    return kind.name if isinstance(kind, Kind) else kind
