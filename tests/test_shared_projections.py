"""Concurrent projections of one model and dataset share their forward passes (#18).

Real parts throughout: the demo CNN, 1,000 CIFAR-10 test images, the real thread job pool
and projection service. Images through the model are counted where every forward pass
goes in, the adapter's ``preprocess``; the results are compared with separate runs.
"""

import threading
import time

import numpy as np
import pytest

from deepling.projection import layer_sequence, layer_sequences
from deepling.service.config import Config
from deepling.service.jobs import ThreadJobs
from deepling.service.kinds import all_kinds
from deepling.service.projections import ProjectionService
from deepling.service.workspace import Workspace

# Two users: 600 images each, 500 of them in both. Each finds its bases among 128 of its
# own images; the others (472 each) are streamed, the ones in both once.
A = np.arange(0, 600)
B = np.arange(100, 700)


class Counted:
    """Counts the images the adapter preprocesses, i.e. that go through the model."""

    def __init__(self, adapter):
        self.adapter, self.images, self._lock = adapter, 0, threading.Lock()
        self._original = adapter.preprocess

    def __enter__(self):
        def preprocess(x):
            with self._lock:
                self.images += len(x)
            return self._original(x)

        self.adapter.preprocess = preprocess
        return self

    def __exit__(self, *exc):
        del self.adapter.preprocess  # the class's method again


@pytest.fixture(scope="module")
def adapter(demo_model):
    from deepling.models import as_adapter

    return as_adapter(demo_model)


@pytest.fixture(scope="module")
def images(cifar_test):
    return cifar_test.images[:1000]


@pytest.fixture(scope="module")
def separate(adapter, images):
    layer_sequence(adapter, images[:20])  # traced: the counts below are the passes alone
    with Counted(adapter) as counted:
        runs = [layer_sequence(adapter, images[s]) for s in (A, B)]
    return runs, counted.images


def test_overlapping_projections_share_one_forward_pass_and_equal_separate_runs(
        adapter, images, separate):
    (alone_a, alone_b), separate_images = separate
    with Counted(adapter) as counted:
        shared = layer_sequences(adapter, images, [A, B])
    assert separate_images == len(A) + len(B)  # every image once
    assert shared.n_requested == len(A) + len(B)
    # each its 128 landmarks, then the streamed images, those in both once:
    # about a quarter fewer (500 · (472/600)² ≈ 309 expected in both streams)
    assert counted.images == shared.n_forwarded < separate_images - 200
    for alone, together in zip((alone_a, alone_b), shared.sequences):
        assert together.names == alone.names
        np.testing.assert_allclose(together.layouts, alone.layouts, atol=1e-5)
        assert np.array_equal(together.mirrored, alone.mirrored)


def test_one_subset_failing_or_cancelled_leaves_the_others_whole(adapter, images, separate):
    (alone_a, _), _ = separate
    seen = []

    def cancel_while_streaming(fraction, message):
        seen.append(message)
        if message.startswith("Streaming"):
            raise RuntimeError("cancelled by its user")

    shared = layer_sequences(adapter, images, [A, [7], B],
                             progress=[None, None, cancel_while_streaming])
    first, lonely, cancelled = shared.sequences
    np.testing.assert_allclose(first.layouts, alone_a.layouts, atol=1e-5)
    assert isinstance(lonely, ValueError) and "at least 2 images" in str(lonely)
    assert isinstance(cancelled, RuntimeError) and any(m.startswith("Finding") for m in seen)


# --- the job pool ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def workspace(cifar_test, tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "sample.npz"
    np.savez(path, x=cifar_test.images[:1000], y=cifar_test.labels[:1000],
             class_names=np.array(cifar_test.class_names))
    return Workspace(Config(data=str(path), cache=tmp_path_factory.mktemp("shared-cache")))


def _wait(service, request, timeout=120):
    deadline = time.monotonic() + timeout
    while (status := service.status(request))["state"] not in ("done", "error", "cancelled"):
        assert time.monotonic() < deadline, f"not finished: {status}"
        time.sleep(0.05)
    return status


def test_queued_projections_of_one_model_run_as_one_pass_each_with_its_own_answer(workspace, separate):
    jobs = ThreadJobs(workspace.config.cache, workspace, all_kinds(), max_workers=1)
    service = ProjectionService(workspace, jobs)
    choices = [{"mode": "indices", "indices": A.tolist()}, {"mode": "indices", "indices": B.tolist()},
               {"mode": "random", "count": 60, "seed": 4}, {"mode": "random", "count": 50, "seed": 5}]
    adapter = workspace.model("demo")
    service.compute("demo", "default", {"mode": "random", "count": 20, "seed": 1})  # traced
    with Counted(adapter) as counted:
        # Holding the pool's lock keeps the worker from starting before all are queued, as
        # when twenty users ask at once.
        with jobs._lock:
            requests = [service.submit("demo", "default", c) for c in choices]
            statuses = [jobs.status(r.key) for r in requests]
            assert [s.get("position") for s in statuses] == [1, 2, 3, 4]
            assert jobs.cancel(requests[3].key)  # a waiting one leaves the queue alone
            assert jobs.status(requests[2].key)["position"] == 3
        finals = [_wait(service, r) for r in requests]
    assert [s["state"] for s in finals] == ["done", "done", "done", "cancelled"]
    done_at = [jobs.status(r.key)["time"] for r in requests[:3]]
    assert done_at[2] < min(done_at[:2])  # the small one did not wait for the big ones
    assert jobs.sharing["runs"] == 1 and jobs.sharing["jobs"] == 3
    assert counted.images == jobs.sharing["images_forwarded"] < jobs.sharing["images_requested"] - 200
    assert jobs.sharing["images_requested"] == len(A) + len(B) + 60

    (alone_a, alone_b), _ = separate  # the same model and images, projected one by one
    for request, alone in zip(requests[:3], (alone_a, alone_b, None)):
        got = service.result(request)
        _, indices = service.choose("demo", "default", request.choice)
        assert np.array_equal(got.indices, indices)  # its own images, nobody else's
        if alone is not None:
            np.testing.assert_allclose(got.sequence.layouts, alone.layouts, atol=1e-5)


def test_a_bad_job_in_a_shared_run_fails_alone(workspace):
    jobs = ThreadJobs(workspace.config.cache, workspace, all_kinds(), max_workers=1)
    good = {"model": "demo", "data": "default", "choice": {"mode": "random", "count": 30, "seed": 9,
                                                            "classes": list(range(10))}}
    bad = {"model": "demo", "data": "default", "choice": {"mode": "indices", "indices": [3],
                                                           "classes": list(range(10))}}
    with jobs._lock:
        jobs.submit("layer_sequence", good, key="a" * 32)
        jobs._enqueue("b" * 32, jobs.kind("layer_sequence"), bad)  # past the check, as a forged job
    deadline = time.monotonic() + 120
    while {jobs.status(k)["state"] for k in ("a" * 32, "b" * 32)} & {"queued", "running"}:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert jobs.status("a" * 32)["state"] == "done"
    assert jobs.status("b" * 32)["state"] == "error"
    assert "2 images" in jobs.status("b" * 32)["message"]
    assert jobs.sharing["runs"] == 1 and jobs.sharing["jobs"] == 2
