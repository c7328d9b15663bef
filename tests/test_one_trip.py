"""One trip for one result: the layer animation's poll and the binary body it names read the
stored projection from disk once between them (it never changes: its key is its content),
and the wire format lives in ``deepling/web/wire.py``."""

import numpy as np
import pytest
from flask import Flask
from types import SimpleNamespace

from deepling.service.cache import ArrayCache
from deepling.service.config import Config
from deepling.service.jobs import ThreadJobs
from deepling.service.kinds import all_kinds
from deepling.service.projections import LAYERS, ProjectionService
from deepling.service.services import Services
from deepling.service.workspace import Workspace
from deepling.web.payload_bytes import register_payload_bytes
from deepling.web.views.animation import animation_payload
from deepling.web.wire import ENCODING, payload_url

CHOICE = {"mode": "classes", "classes": [3, 5], "count": 4}


@pytest.fixture(scope="module")
def stored(cifar_sample, tmp_path_factory):
    """A projection computed and stored by one workspace (the job's process)."""
    folder = tmp_path_factory.mktemp("one-trip")
    path = folder / "sample.npz"
    np.savez(path, x=cifar_sample.images, y=cifar_sample.labels, class_names=np.array(cifar_sample.class_names))
    config = Config(data=str(path), cache=folder / "cache")
    writer = ProjectionService(Workspace(config))
    choice = writer.check("demo", "default", CHOICE)
    writer.compute("demo", "default", choice)
    return config, choice, writer.key("demo", "default", choice)


def test_the_poll_and_the_binary_body_read_the_stored_result_once(stored, monkeypatch):
    config, choice, key = stored
    workspace = Workspace(config)  # another process: nothing of it in memory yet
    jobs = ThreadJobs(config.cache, workspace, all_kinds())
    services = Services(config, workspace, jobs, ProjectionService(workspace, jobs), None, None, None)
    reads = []
    real_get = ArrayCache.get

    def counted(self, k):
        if self.dir.name == "projections":
            reads.append(k)
        return real_get(self, k)

    monkeypatch.setattr(ArrayCache, "get", counted)
    poll = services.poll(LAYERS, key)
    assert poll["state"] == "done" and poll["result"] is not None
    request = {"key": key, "model": "demo", "data": "default", "choice": choice, "across": "layers"}
    payload, summary = animation_payload(workspace, request, poll["result"])
    assert payload["binary"]["url"] == payload_url("demo", "default", key)
    assert payload["encoding"] == ENCODING and summary.startswith("8 images")

    server = Flask(__name__)
    register_payload_bytes(server, services)
    body = server.test_client().get(payload["binary"]["url"])
    assert body.status_code == 200 and len(body.data) > 0
    assert reads == [key]  # one read from disk: the poll's; the body used it

    assert services.poll(LAYERS, key)["result"] is poll["result"]  # later polls: no read either
    assert reads == [key]


def test_a_result_not_stored_is_not_remembered(stored):
    config, choice, _ = stored
    workspace = Workspace(config)
    other = ProjectionService(workspace).key("demo", "default", {**choice, "count": 3})
    assert ProjectionService(workspace).load(other) is None
    assert ("projection", other) not in workspace._loaded  # asked again, it is looked for again
