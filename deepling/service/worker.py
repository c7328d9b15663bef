"""The Celery worker for many users across processes or machines.

    DEEPLING_BROKER_URL=redis://HOST:6379/0 DEEPLING_CACHE=/shared/deepling \\
        celery -A deepling.service.worker worker --pool=threads --concurrency=2

Use ``--pool=threads`` or ``--pool=solo``: the default pool forks, and TensorFlow does not
survive a fork once used. Workers and web processes must share ``DEEPLING_CACHE`` (results
and uploads live there) and see the same ``--model`` / ``--data`` settings (``DEEPLING_MODEL``,
``DEEPLING_DATA``). A worker runs every work kind of :func:`deepling.service.kinds.all_kinds`
with the same progress callback as the thread runner (cancellation, wall time).
"""

from __future__ import annotations

import os
import threading

from celery import Task

from deepling.service.config import Config
from deepling.service.jobs import celery_app, celery_progress
from deepling.service.kinds import all_kinds

_config = Config.from_env()
if not _config.broker_url:
    raise SystemExit("Set DEEPLING_BROKER_URL (e.g. redis://localhost:6379/0) to run a worker.")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
app = celery_app(_config.broker_url)
KINDS = all_kinds()


class WorkspaceTask(Task):
    """Celery's per-process task instance holds this worker's Workspace (loaded lazily)."""

    _workspace = None
    _lock = threading.Lock()

    @property
    def workspace(self):
        with self._lock:
            if self._workspace is None:
                from deepling.service.workspace import Workspace

                type(self)._workspace = Workspace(_config)
        return self._workspace


@app.task(name="deepling.run", bind=True, base=WorkspaceTask)
def run(self, kind: str, params: dict) -> bool:
    work = KINDS[kind]
    work.compute(self.workspace, params, celery_progress(self, work, self.request.id))
    return True
