"""Every work kind, without a browser: its key is stable, what it computes is what it loads,
and a cancel (or its wall time) stops it within 2 s on the one runner.

Tiny real data (the demo model, the 200-image CIFAR-10 sample; the first 3,000 test images
where a job must run long enough to be cancelled), real thread jobs, no mocks.
"""

import os
import time

import numpy as np
import pytest

from deepling.service.config import Config
from deepling.service.jobs import ThreadJobs
from deepling.service.kinds import all_kinds
from deepling.service.schema import InputError
from deepling.service.work import Busy
from deepling.service.workspace import Workspace

KINDS = all_kinds()
CHOICE = {"mode": "random", "count": 6, "seed": 1}


def _npz(path, ds):
    np.savez(path, x=ds.images, y=ds.labels, class_names=np.array(ds.class_names))
    return str(path)


@pytest.fixture(scope="module")
def small(cifar_sample, tmp_path_factory):
    folder = tmp_path_factory.mktemp("kinds-small")
    return Workspace(Config(data=_npz(folder / "sample.npz", cifar_sample), cache=folder / "cache"))


@pytest.fixture(scope="module")
def big(cifar_test, tmp_path_factory):
    folder = tmp_path_factory.mktemp("kinds-big")
    return Workspace(Config(data=_npz(folder / "big.npz", cifar_test.subset(np.arange(3000))),
                            cache=folder / "cache"))


@pytest.fixture(scope="module")
def snapshots(demo_model, tmp_path_factory):
    """Two 'snapshots' of a run: the demo CNN saved twice (the across-training kind's input)."""
    folder = tmp_path_factory.mktemp("kinds-snapshots")
    paths = []
    for epoch in (0, 1):
        paths.append((f"epoch {epoch}", str(folder / f"epoch-{epoch:03d}.keras")))
        demo_model.model.save(paths[-1][1])
    return paths


def params_of(name, snapshots, long=False):
    """Each kind's parameters: tiny for a round trip, long enough to cancel with ``long``."""
    md = {"model": "demo", "data": "default"}
    return {
        "layer_sequence": {**md, "choice": {"mode": "random", "count": 3000, "seed": 2} if long else CHOICE},
        "epoch_sequence": {**md, "choice": {"mode": "random", "count": 3000 if long else 6, "seed": 3},
                           "layer": "conv3b", "snapshots": snapshots},
        "predictions": md,
        "robustness": {**md, "size": 2000 if long else 10},
        "neurons": md,
        "shape_workshop": {"classes": [{"name": "circle"}, {"name": "square"}], "model": "mlp",
                           "start": "black", "step_size": 0.1, "epochs": 200 if long else 1, "seed": 0},
        "class_image": {**md, "target": 3, "start": "gray", "steps": 1000 if long else 3,
                        "step_size": 0.05, "jitter": 2, "tv_weight": 0.5},
        "training": {**md, "run": "rkinds" + ("long" if long else ""),
                     "config": {"subset": 2000 if long else 64, "epochs": 50 if long else 1,
                                "batch_size": 16, "validation": 16}},
        "retrain": {**md, "side": "skinds" + ("long" if long else ""), "indices": list(range(10)),
                    "iterations": 1000 if long else 2, "batch_size": 16},
        "attribution_ranking": {**md, "size": 200 if long else 2, "layer": None},
        "cka": {"model_a": "demo", "model_b": "demo", "data": "default"},
        "cka_epochs": {**md, "layer": "fc2", "snapshots": snapshots},
        "label_errors": md,
        "sanity_check": {**md, "index": 0, "layer": None,
                         "methods": ["gradcam", "saliency", "occlusion"] if long else ["saliency"]},
    }[name]


def test_every_kind_is_covered_here():
    assert set(KINDS) == {"layer_sequence", "epoch_sequence", "predictions", "robustness", "neurons",
                          "shape_workshop", "class_image", "training", "retrain",
                          "attribution_ranking", "sanity_check", "cka", "cka_epochs", "label_errors"}


@pytest.mark.parametrize("name", sorted(KINDS))
def test_the_key_is_stable_and_follows_the_parameters(name, small, snapshots):
    kind = KINDS[name]
    params = params_of(name, snapshots)
    first = kind.key(small, kind.check(small, dict(params)))
    reordered = dict(reversed(list(params.items())))  # the same work asked in another order
    assert kind.key(small, kind.check(small, reordered)) == first
    other = {"layer_sequence": ("choice", {**CHOICE, "seed": 9}), "predictions": ("data", "other"),
             "epoch_sequence": ("layer", "conv2b"), "robustness": ("size", 11),
             "neurons": ("model", "mem-0"), "shape_workshop": ("epochs", 2), "class_image": ("steps", 4),
             "training": ("run", "rother"), "retrain": ("side", "sother"),
             "attribution_ranking": ("size", 3), "sanity_check": ("index", 1),
             "cka": ("model_b", "mem-0"), "cka_epochs": ("layer", "fc1"),
             "label_errors": ("model", "mem-0")}[name]
    changed = {**params, other[0]: other[1]}
    if other[1] == "mem-0":  # another model: an id that is not known must not key
        with pytest.raises(Exception):
            kind.key(small, kind.check(small, changed))
        return
    assert kind.key(small, kind.check(small, changed)) != first


@pytest.mark.parametrize("name", sorted(KINDS))
def test_parameters_are_checked_before_any_key(name, small, snapshots):
    """A forged value (10⁹ steps, NaN, a list where a number belongs) is refused by the
    kind's check, whatever path it arrives by."""
    kind = KINDS[name]
    params = params_of(name, snapshots)
    forged = {"layer_sequence": ("choice", {"mode": "random", "count": 10**9}),
              "epoch_sequence": ("snapshots", []), "predictions": ("data", "../../etc"),
              "robustness": ("size", 10**9), "neurons": ("model", ["demo"]),
              "shape_workshop": ("epochs", 10**9), "class_image": ("steps", 10**9),
              "training": ("config", {"epochs": float("nan")}), "retrain": ("iterations", 10**9),
              "attribution_ranking": ("size", 10**9), "sanity_check": ("methods", ["<img src=x>"]),
              "cka": ("model_a", "../x"), "cka_epochs": ("snapshots", [("a", "/etc/passwd")]),
              "label_errors": ("data", {"$ne": 1})}[name]
    with pytest.raises((InputError, ValueError)):
        kind.check(small, {**params, forged[0]: forged[1]})


@pytest.mark.parametrize("name", sorted(KINDS))
def test_compute_then_load_gives_the_result(name, small, snapshots):
    kind = KINDS[name]
    params = kind.check(small, params_of(name, snapshots))
    key = kind.key(small, params)
    calls = []
    value = kind.compute(small, params, lambda f, m="": calls.append(f))
    assert calls and all(0.0 <= f <= 1.0 for f in calls)
    if kind.load is None:  # its result lives elsewhere: the predictions cache, the run store
        if name == "predictions":
            assert small.predictions_ready("demo", "default")
        else:
            assert value["state"] == "finished" and value["saved_model"]
        return
    loaded = kind.load(small, key)
    assert loaded is not None
    if name in ("layer_sequence", "epoch_sequence"):
        np.testing.assert_array_equal(loaded.indices, value.indices)
        np.testing.assert_allclose(loaded.sequence.layouts, value.sequence.layouts, atol=1e-6)
    elif name == "neurons":
        np.testing.assert_array_equal(loaded.paths, value.paths)
    elif name in ("cka", "cka_epochs", "label_errors"):
        assert set(loaded.to_arrays()) == set(value.to_arrays())
    elif name == "retrain":
        assert loaded["model"] == value["model"]
    else:
        assert set(loaded) == set(value)
        for k in loaded:
            np.testing.assert_array_equal(np.asarray(loaded[k]), np.asarray(value[k]))


def _wait(jobs, key, until, timeout=120):
    deadline = time.monotonic() + timeout
    while not until(st := jobs.status(key)):
        assert time.monotonic() < deadline, st
        time.sleep(0.02)
    return st


@pytest.mark.parametrize("when", ["at its start", "in its loop"])
@pytest.mark.parametrize("name", sorted(KINDS))
def test_a_cancel_frees_the_worker_within_two_seconds(name, when, big, snapshots):
    """Whenever the cancel lands: at the start (loading, building, tracing: steps with no
    progress report inside) or in the loop (two reports past the start)."""
    if name == "predictions":  # earlier kinds predicted these images: forget them, so there is work
        stored = big.predictions_key("demo", "default")
        big.cache("predictions").path(stored).unlink(missing_ok=True)
        big._loaded.pop(("pred", stored), None)
    jobs = ThreadJobs(big.config.cache, big, KINDS, lanes={"jobs": 1, "training": 1})
    params = params_of(name, snapshots, long=True)
    if name in ("training", "retrain"):  # a run of its own: not the other case's, maybe still ending
        params["run" if name == "training" else "side"] += when.split()[-1]
    key = jobs.submit(name, params)
    seen = set()

    def looping(st):
        if st["state"] == "running" and st["progress"] > 0:
            seen.add(st["progress"])
        return len(seen) >= 2 or st["state"] not in ("queued", "running", "unknown")

    _wait(jobs, key, looping if when == "in its loop" else lambda st: st["state"] == "running")
    assert jobs.status(key)["state"] == "running", jobs.status(key)
    start = time.monotonic()
    assert jobs.cancel(key)
    final = _wait(jobs, key, lambda st: st["state"] not in ("queued", "running"), timeout=120)
    lane = KINDS[name].lane
    _wait(jobs, key, lambda st: jobs.busy_workers(lane) == 0, timeout=120)  # its worker is free
    seconds = time.monotonic() - start
    assert final["state"] == "cancelled", final
    # 2 s on a machine this test has to itself; a shared machine (the load per core above 1)
    # stretches every step alike, so the bound stretches with it
    busy = max(1.0, os.getloadavg()[0] / (os.cpu_count() or 1))
    assert seconds < 2.0 * busy, (f"{name}: the worker was freed {seconds:.1f} s after the cancel "
                                  f"(load {os.getloadavg()[0]:.1f})")


def test_a_job_past_its_wall_time_stops_with_what_to_do(big, monkeypatch):
    monkeypatch.setenv("DEEPLING_WALL_TIME_CLASS_IMAGE", "0.5")
    jobs = ThreadJobs(big.config.cache, big, KINDS, lanes={"jobs": 1})
    key = jobs.submit("class_image", params_of("class_image", None, long=True))
    final = _wait(jobs, key, lambda st: st["state"] not in ("queued", "running", "unknown"))
    assert final["state"] == "error"
    assert "0.5 s, the longest a class_image job may run" in final["message"]
    assert "DEEPLING_WALL_TIME_CLASS_IMAGE" in final["message"]


def test_one_session_cannot_hold_the_pool(small):
    jobs = ThreadJobs(small.config.cache, small, KINDS, lanes={"jobs": 1}, max_session_jobs=2)
    params = [{"model": "demo", "data": "default", "target": t, "steps": 1000} for t in range(4)]
    with jobs._lock:  # nothing starts while they are submitted
        keys = [jobs.submit("class_image", p, owner="alice") for p in params[:2]]
        assert jobs.submit("class_image", params[0], owner="alice") == keys[0]  # joining is free
        with pytest.raises(Busy, match="This session already has 2 jobs .* wait for one to finish"):
            jobs.submit("class_image", params[2], owner="alice")
        keys.append(jobs.submit("class_image", params[2], owner="bob"))  # another session may
    for key in keys:
        jobs.cancel(key)
    _wait(jobs, keys[0], lambda st: st["state"] == "cancelled")
    jobs.submit("class_image", params[3], owner="alice")  # her jobs are over: she may again
    assert jobs.cancel(jobs.prepare("class_image", params[3])[2])


def test_a_cancel_withdraws_only_the_callers_interest(big):
    """Keys are content-addressed, so anyone can name another session's job: a cancel stops
    waiting for the caller alone; the job stops once nobody who asked for it still waits."""
    jobs = ThreadJobs(big.config.cache, big, KINDS, lanes={"jobs": 1})
    params = params_of("class_image", None, long=True)
    key = jobs.submit("class_image", params, owner="s:alice")
    assert jobs.submit("class_image", params, owner="s:bob") == key  # joined, not a second job
    _wait(jobs, key, lambda st: st["state"] == "running" and st["progress"] > 0)
    assert not jobs.cancel(key, owner="s:mallory")  # never asked for it: refused
    assert jobs.cancel(key, owner="s:bob")
    time.sleep(1.0)
    assert jobs.status(key)["state"] == "running"  # Alice still waits for it
    assert not jobs.cancel(key, owner="s:bob")  # Bob's interest is gone already
    assert jobs.cancel(key, owner="s:alice")
    final = _wait(jobs, key, lambda st: st["state"] not in ("queued", "running"))
    assert final["state"] == "cancelled"
