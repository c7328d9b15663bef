"""The one projection service: choice → images → content key → job → stored result.

A real workspace (the demo model, a 200-image CIFAR-10 sample saved as .npz) and real
thread jobs; the projections are of 10 images, so each takes a second or two.
"""

import time

import numpy as np
import pytest

from deepling.service.config import Config
from deepling.service.jobs import ThreadJobs
from deepling.service.kinds import all_kinds
from deepling.service.projections import ProjectionService, Request
from deepling.service.selection import choose_images, normalise
from deepling.service.workspace import Workspace

CHOICE = {"mode": "classes", "classes": [3, 5], "count": 5}


def _npz(path, ds):
    np.savez(path, x=ds.images, y=ds.labels, class_names=np.array(ds.class_names))
    return str(path)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("projection-cache")


@pytest.fixture(scope="module")
def data_file(cifar_sample, tmp_path_factory):
    return _npz(tmp_path_factory.mktemp("data") / "sample.npz", cifar_sample)


@pytest.fixture(scope="module")
def workspace(cache, data_file):
    return Workspace(Config(data=data_file, cache=cache))


def _wait(service, request, timeout=120):
    deadline = time.time() + timeout
    while (status := service.status(request))["state"] not in ("done", "error"):
        assert time.time() < deadline, f"projection not done: {status}"
        time.sleep(0.1)
    return status


def test_submit_status_result_and_the_result_is_stored_by_the_task(workspace, cache):
    jobs = ThreadJobs(cache, workspace, all_kinds())
    service = ProjectionService(workspace, jobs)
    request = service.submit("demo", "default", CHOICE)
    assert request.choice == normalise(CHOICE, 10)
    assert service.status(request)["state"] in ("queued", "running", "done")
    assert _wait(service, request)["state"] == "done", jobs.status(request.key)

    result = service.result(request)
    ds, preds = workspace.dataset("demo", "default"), workspace.predictions("demo", "default")
    assert np.array_equal(result.indices, choose_images(ds.labels, preds.predicted, request.choice, 10))
    assert result.sequence.n_images == 10 and result.sequence.from_cache

    # Another process (here: another service, no job runner) only reads what the task stored.
    reader = ProjectionService(workspace)
    again = Request.from_dict(request.to_dict())
    assert reader.status(again)["state"] == "done"
    assert np.array_equal(reader.result(again).sequence.layouts, result.sequence.layouts)

    # Asking again starts no job: the stored result answers.
    jobs.status_cache.clear()
    assert service.submit("demo", "default", CHOICE) == request
    # (the finished job's status, which the runner keeps in memory; a new job would be queued)
    assert jobs.status(request.key)["state"] == "done"


def test_result_never_computes_and_unknown_work_is_unknown(workspace):
    service = ProjectionService(workspace, ThreadJobs(workspace.config.cache, workspace, all_kinds()))
    choice = normalise({"mode": "random", "count": 7, "seed": 123}, 10)
    request = Request(service.key("demo", "default", choice), "demo", "default", choice)
    assert service.result(request) is None
    assert service.status(request)["state"] == "unknown"
    assert not service.store.path(request.key).exists()


def test_a_bad_choice_is_refused_before_any_job(workspace):
    jobs = ThreadJobs(workspace.config.cache, workspace, all_kinds())
    service = ProjectionService(workspace, jobs)
    workspace.predictions("demo", "default")  # known: a cell's choice is checked against them now
    with pytest.raises(ValueError, match="class 12 does not exist"):
        service.submit("demo", "default", {"classes": [12]})
    with pytest.raises(ValueError, match="fewer than 2 images"):
        service.submit("demo", "default", {"mode": "cell", "true": 3, "predicted": 3, "count": 1})
    assert not jobs._running


def test_the_key_is_made_of_content_not_ids(workspace, cifar_sample, cache, tmp_path):
    """The same bytes under another path share a key; other data, or another choice, do not."""
    service = ProjectionService(workspace)
    choice = normalise(CHOICE, 10)
    key = service.key("demo", "default", choice)

    same = Workspace(Config(data=_npz(tmp_path / "copy.npz", cifar_sample), cache=cache))
    assert ProjectionService(same).key("demo", "default", choice) == key

    other = Workspace(Config(data=_npz(tmp_path / "fewer.npz", cifar_sample.subset(np.arange(150))),
                             cache=cache))
    assert ProjectionService(other).key("demo", "default", choice) != key
    assert service.key("demo", "default", normalise({**CHOICE, "seed": 1}, 10)) != key


def test_images_of_unknown_label_are_not_misclassified():
    """−1 means the label is not known: such an image is no error, whatever the model says."""
    labels = np.array([0, 1, -1, -1, 1, 0, -1, 2])
    predicted = np.array([0, 0, 1, 2, 1, 2, 0, 2])
    wrong = choose_images(labels, predicted, {"mode": "misclassified", "count": 100}, 3)
    assert wrong.tolist() == [1, 5]


def test_the_workspace_keeps_max_loaded_of_each_kind(data_file, cache):
    ws = Workspace(Config(data=data_file, cache=cache), max_loaded=1)
    ws.predictions("demo", "default")  # loads a model, a dataset, a fitted one, predictions
    kinds = sorted(k[0] for k in ws._loaded)
    assert kinds == ["data", "fitted", "model", "pred"]  # one of each: none pushed another out
    ws._store(("data", "another"), ws.raw_dataset())
    assert ("data", "default") not in ws._loaded and ("data", "another") in ws._loaded
    assert ("model", "demo") in ws._loaded  # a dataset never evicts a model


def test_a_first_visit_predicts_in_a_job_not_in_the_request(cifar_sample, tmp_path):
    """Predicting a whole new dataset is long work: nothing a request calls predicts it (a
    random choice needs no predictions; a choice of errors leaves them to its job), and the
    ``predictions`` task does it with progress."""
    from deepling.service.workspace import PREDICTIONS

    ws = Workspace(Config(data=_npz(tmp_path / "new.npz", cifar_sample), cache=tmp_path / "cache"))
    assert not ws.predictions_ready("demo", "default")  # not even loaded yet
    jobs = ThreadJobs(ws.config.cache, ws, all_kinds())
    service = ProjectionService(ws, jobs)
    service.submit("demo", "default", {"mode": "random", "count": 8})
    errors = service.submit("demo", "default", {"mode": "misclassified", "count": 6})
    assert not ws.predictions_ready("demo", "default")  # loaded, but nothing predicted here
    assert _wait(service, errors)["state"] == "done", jobs.status(errors.key)  # the job predicted
    assert ws.predictions_ready("demo", "default")

    fresh = Workspace(Config(data=ws.config.data, cache=tmp_path / "other-cache"))
    fresh.dataset("demo", "default")
    calls = []
    PREDICTIONS.compute(fresh, {"model": "demo", "data": "default"},
                        lambda f, message: calls.append((f, message)))
    assert fresh.predictions_ready("demo", "default")
    assert calls[0] == (0.0, "predicting 200 images (0 done)")


def test_pivot_mds_and_every_frame_are_choices_of_their_own(workspace, cache):
    """method and frames are part of the choice (URL and API): their own key and result;
    the default choice's key is what it was."""
    from deepling.service.selection import from_query, to_query

    jobs = ThreadJobs(cache, workspace, all_kinds())
    service = ProjectionService(workspace, jobs)
    plain = normalise(CHOICE, 10)
    pivot = normalise({**CHOICE, "method": "pivot_mds", "frames": "all"}, 10)
    assert "method" not in plain and pivot["method"] == "pivot_mds"
    assert from_query(to_query(pivot))["method"] == "pivot_mds"
    assert service.key("demo", "default", plain) != service.key("demo", "default", pivot)
    request = service.submit("demo", "default", pivot)
    assert _wait(service, request)["state"] == "done"
    assert service.result(request).sequence.method == "pivot_mds"
    with pytest.raises(ValueError, match="method must be one of"):
        normalise({**CHOICE, "method": "tsne"}, 10)
