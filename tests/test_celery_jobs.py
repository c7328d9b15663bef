"""Scale-out: with DEEPLING_BROKER_URL set, projections run on a Celery worker.

A real Redis (Debian's redis-server) and a real worker process on 127.0.0.1; the web app
only submits and polls. CI installs both (see .ci/run); elsewhere the test says what is
missing instead of running.
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import pytest

from tests.browser import REPO, free_port, running_app
from tests.reliability import project

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def redis_url():
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server; CI does)")
    pytest.importorskip("celery", reason="pip install -e '.[scale]' for the Celery runner")
    port = free_port()
    proc = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no"], stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while True:  # until Redis answers on its port
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(10)


def celery_worker(env: dict, log) -> subprocess.Popen:
    """A real Celery worker process (solo pool: TensorFlow does not survive a fork)."""
    return subprocess.Popen([sys.executable, "-m", "celery", "-A", "deepling.service.worker", "worker",
                             "--pool=solo", "--loglevel=INFO", "--without-gossip",
                             "--without-mingle", "--without-heartbeat"],
                            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)


def test_projection_runs_on_a_celery_worker(redis_url):
    cache = tempfile.mkdtemp(prefix="deepling-celery-")
    env = {**os.environ, "DEEPLING_BROKER_URL": redis_url, "DEEPLING_CACHE": cache}
    log = open(os.path.join(cache, "worker.log"), "w+")
    worker = celery_worker(env, log)
    try:
        with running_app(env={"DEEPLING_BROKER_URL": redis_url, "DEEPLING_CACHE": cache}) as url:
            _, result = project(url, {"mode": "classes", "classes": [3, 5], "count": 10},
                                timeout=300)
            assert len(result["indices"]) == 20 and "conv3b" in result["layers"]
        log.seek(0)
        text = log.read()
        assert "deepling.run" in text and "succeeded" in text, text[-2000:]
    finally:
        worker.terminate()
        worker.wait(20)
        log.close()
        shutil.rmtree(cache, ignore_errors=True)
