"""A training run on a Celery worker: with DEEPLING_BROKER_URL set, the web side only starts
and steers the run; a real worker process (solo pool, real Redis on 127.0.0.1) trains it,
and the two talk only through the shared run store in DEEPLING_CACHE.
"""

import os
import shutil
import tempfile
import time

import pytest

from tests.test_celery_jobs import celery_worker, redis_url  # noqa: F401  (redis_url: a fixture)
from tests.test_training_browser import tiny_folder  # noqa: F401  (train/ and test/ images)

pytestmark = pytest.mark.slow


def test_a_run_trains_on_the_worker_and_obeys_the_page(redis_url, tiny_folder):  # noqa: F811
    from deepling.service.config import Config
    from deepling.service.training import RunStore, TrainingService
    from deepling.service.jobs import job_runner
    from deepling.service.kinds import all_kinds
    from deepling.service.workspace import Workspace

    cache = tempfile.mkdtemp(prefix="deepling-celery-training-")
    env = {**os.environ, "DEEPLING_BROKER_URL": redis_url, "DEEPLING_CACHE": cache,
           "DEEPLING_DATA": str(tiny_folder)}
    log = open(os.path.join(cache, "worker.log"), "w+")
    worker = celery_worker(env, log)
    try:
        config = Config(data=str(tiny_folder), broker_url=redis_url, cache=cache)
        workspace = Workspace(config)
        jobs = job_runner(config, workspace, all_kinds())
        service = TrainingService(workspace, jobs, store=RunStore(os.path.join(cache, "training")))
        run = service.start("alice", "demo", "default", {"subset": 96, "epochs": 30, "batch_size": 16})
        seq, steps, frozen_seen = 0, [], False
        deadline = time.monotonic() + 180
        while True:  # what the page's poll does: deltas since the last, then steer
            seq, deltas = service.since(run, seq)
            steps += [s for d in deltas for s in d.get("batches", {}).get("step", [])]
            frozen_seen |= any(f["frozen"] == ["conv1a"] for d in deltas for f in d.get("freezes", []))
            if len(steps) >= 3 and not frozen_seen:
                service.command(run, frozen=["conv1a"])
            if frozen_seen:
                service.command(run, "stop")
            meta = service.meta(run)
            if meta.get("finished"):
                break
            assert time.monotonic() < deadline, (meta, log.seek(0) or log.read()[-3000:])
            time.sleep(0.1)
        assert meta["pid"] != os.getpid()  # trained in the worker's process
        assert meta["state"] == "stopped", meta
        assert steps == list(range(1, len(steps) + 1)) and frozen_seen
        log.seek(0)
        assert "deepling.run" in log.read()
    finally:
        worker.terminate()
        worker.wait(20)
        log.close()
        shutil.rmtree(cache, ignore_errors=True)
