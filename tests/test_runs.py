"""deepling serve --runs: run folders and ModelCheckpoint folders read by the service;
malformed and hostile folders refused with a clear message, no code run, snapshots vetted."""

import json
import os
import urllib.request

import numpy as np
import pytest

from deepling.service.config import Config
from deepling.service.runs import RunsService
from deepling.service.workspace import Workspace
from deepling.training.runfolder import RunFolderError
from tests import hostile


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A runs folder with a Monitor run (2 epochs), a plain-Keras ModelCheckpoint folder
    and hostile folders; the service over it."""
    import keras

    from deepling.keras import Monitor

    from tests.tiny_runs import tiny_cnn

    root = tmp_path_factory.mktemp("runs")
    model, xs, ys = tiny_cnn()
    ckpt = root / "checkpoints"
    ckpt.mkdir()
    model.fit(xs, ys, batch_size=16, epochs=2, verbose=0, validation_data=(xs, ys), callbacks=[
        Monitor(root / "exp1", probe=(xs, ys), probe_size=8, every=0, max_snapshots=2),
        keras.callbacks.ModelCheckpoint(str(ckpt / "epoch_{epoch}.keras"))])
    marker = root.parent / "ran.txt"
    # hostile: a snapshot with a bytecode Lambda (CVE-2024-3660) in an otherwise fine run
    evil = root / "evil"
    (evil / "snapshots").mkdir(parents=True)
    for f in ("run.json", "records.jsonl"):
        (evil / f).write_bytes((root / "exp1" / f).read_bytes())
    hostile.write_keras(evil / "snapshots" / "epoch-001.keras",
                        hostile.sequential(hostile.lambda_layer(marker), hostile.dense()))
    # malformed: records that are not JSON lines; a header of another format
    (root / "garbage").mkdir()
    (root / "garbage" / "run.json").write_text((root / "exp1" / "run.json").read_text())
    (root / "garbage" / "records.jsonl").write_bytes(b"\x80\x04\x95\x10cos\nsystem\n")
    (root / "pickled").mkdir()
    (root / "pickled" / "run.json").write_text(json.dumps({"format": "pickle", "version": 1}))
    (root / "pickled" / "records.jsonl").write_text("")
    # a link out of the runs folder, and a snapshot that links to a file outside
    os.symlink(root / "exp1", root / "linked")
    sneaky = root / "sneaky"
    (sneaky / "snapshots").mkdir(parents=True)
    for f in ("run.json", "records.jsonl"):
        (sneaky / f).write_bytes((root / "exp1" / f).read_bytes())
    os.symlink(root / "exp1" / "snapshots" / "epoch-001.keras", sneaky / "snapshots" / "epoch-001.keras")
    # hostile: a header whose layer names are markup, a header that is a link out of the folder
    (root / "markup").mkdir()
    header = json.loads((root / "exp1" / "run.json").read_text())
    header["layers"][0]["name"] = "<img src=x onerror=alert(1)>"
    (root / "markup" / "run.json").write_text(json.dumps(header))
    (root / "markup" / "records.jsonl").write_text("")
    (root / "linkhead").mkdir()
    os.symlink(root / "exp1" / "run.json", root / "linkhead" / "run.json")
    workspace = Workspace(Config(data="cifar10", cache=str(tmp_path_factory.mktemp("cache"))))
    service = RunsService(workspace, root)
    for name in ("exp1", "checkpoints", "evil"):  # vetting starts now, in the background:
        service.since(f"run:{name}", 0)             # the tests below wait for less
    return service, model, marker


def test_a_monitor_run_reads_as_the_training_cards_deltas(runs):
    service, model, _ = runs
    listed = {r["name"]: r for r in service.list()}
    assert listed["exp1"]["kind"] == "monitor" and listed["exp1"]["state"] == "finished"
    head, deltas = service.since("run:exp1", 0)
    assert deltas[0]["start"]["layers"] == [{"name": "c1", "filters": 4, "kind": "Conv2D"},
                                            {"name": "out", "filters": 3, "kind": "Dense"}]
    steps = [s for d in deltas if "batches" in d for s in d["batches"]["step"]]
    assert steps == [1, 2, 3, 4]
    epochs = [e for d in deltas for e in d.get("epochs", [])]
    assert [e["epoch"] for e in epochs] == [1, 2] and all(e["seconds"] > 0 for e in epochs)
    filters = [d["filters"] for d in deltas if "filters" in d]
    assert len(filters[-1]["gradient"]["c1"]) == 4
    assert [d for d in service.since("run:exp1", head)[1] if "vetted" not in d] == []
    hist = service.histograms("run:exp1", "c1")
    assert [label for label, *_ in hist["weights"]] == ["start", "epoch 1", "epoch 2"]
    assert sum(hist["activations"][0][3]) == 8 * 6 * 6 * 4  # probe images × map × filters
    snaps = service.wait_vetted("run:exp1")
    assert not service.refused("run:exp1")
    assert [e for e, _ in snaps] == [0, 2]  # thinned: the first and the newest
    opened = service.workspace.model(service.open_model("run:exp1")).model
    for a, b in zip(opened.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert service.run_of(service.open_model("run:exp1")) == "run:exp1"


def test_a_model_checkpoint_folder_opens_as_a_run(runs):
    service, model, _ = runs
    assert {r["name"]: r["kind"] for r in service.list()}["checkpoints"] == "checkpoints"
    snaps = service.wait_vetted("run:checkpoints")
    assert [e for e, _ in snaps] == [1, 2]
    head, deltas = service.since("run:checkpoints", 0)
    assert [l["name"] for l in deltas[0]["start"]["layers"]] == ["c1", "out"]
    assert [e["epoch"] for d in deltas for e in d.get("epochs", [])] == [1, 2]
    hist = service.histograms("run:checkpoints", "c1")
    assert [sum(h[3]) for h in hist["weights"]] == [3 * 3 * 3 * 4] * 2


def test_hostile_and_malformed_run_folders_are_refused(runs):
    service, _, marker = runs
    listed = {r["name"]: r for r in service.list()}
    assert listed["garbage"]["state"] == "refused" and "not JSON" in listed["garbage"]["message"]
    with pytest.raises(RunFolderError, match="not JSON"):
        service.since("run:garbage", 0)
    with pytest.raises(RunFolderError, match="not a Deepling run header"):
        service.since("run:pickled", 0)
    assert listed["pickled"]["state"] == "refused" and "not a Deepling run" in listed["pickled"]["message"]
    with pytest.raises(RunFolderError, match="link"):
        service.since("run:linked", 0)
    assert listed["markup"]["state"] == "refused" and "malformed" in listed["markup"]["message"]
    with pytest.raises(RunFolderError, match="malformed"):
        service.layer_sizes("run:markup")
    assert listed["linkhead"]["state"] == "refused" and "is a link" in listed["linkhead"]["message"]
    for bad in ("run:../exp1", "run:.hidden", "run:a/b", "../../etc"):
        with pytest.raises(RunFolderError):
            service.folder(bad)
    # the bytecode snapshot is vetted like an upload: refused with the reason, never run
    assert service.wait_vetted("run:evil") == []
    assert "Lambda" in " ".join(service.refused("run:evil"))
    assert not marker.exists()
    # a snapshot that is a link is never read
    assert service.wait_vetted("run:sneaky") == []


def _push_app(service, **settings):
    """The push routes behind the app's own guard (``settings``: SecuritySettings)."""
    import flask

    from deepling.web.runs_api import register_runs_api
    from deepling.web.security import Guard, SecuritySettings

    app = flask.Flask("push")
    app.secret_key = b"k" * 32
    guard = Guard(SecuritySettings(**settings), "127.0.0.1", service.workspace.config.cache)
    app.before_request(guard.before)
    register_runs_api(app, service, guard)
    return app


def test_pushing_runs_honours_sign_in(runs):
    """With sign-in on, a pipeline pushes with its runs token (good for /api/runs alone) or a
    signed-in user's token; the header says who pushed; nobody else gets in."""
    service = runs[0]
    header = {"model": "m"}
    client = _push_app(service, auth_token="user-tok", runs_token="pipe-tok").test_client()

    def push(name, token):
        return client.post(f"/api/runs/{name}", json=header,
                           headers={"Authorization": f"Bearer {token}"} if token else {})

    assert push("signin-pipe", "pipe-tok").status_code == 201
    assert push("signin-user", "user-tok").status_code == 201
    assert push("signin-none", None).status_code == 401
    assert push("signin-bad", "nope").status_code == 401
    assert not (service.root / "signin-none").exists() and not (service.root / "signin-bad").exists()
    pushed_by = {n: json.loads((service.root / n / "run.json").read_text())["pushed_by"]
                 for n in ("signin-pipe", "signin-user")}
    assert pushed_by["signin-pipe"] == "DEEPLING_RUNS_TOKEN"
    assert pushed_by["signin-user"].startswith("user:")
    # sign-in on, no runs token: a signed-in user may still push
    client = _push_app(service, auth_token="user-tok").test_client()
    assert push("signin-only", "user-tok").status_code == 201
    assert push("signin-only2", "pipe-tok").status_code == 401
    # neither: pushing is off, and says how to turn it on
    client = _push_app(service).test_client()
    r = push("off", "pipe-tok")
    assert r.status_code == 403 and "DEEPLING_RUNS_TOKEN" in r.get_json()["error"]


def test_a_run_pushed_over_http_lands_as_a_run_folder(runs, monkeypatch):
    """Monitor(url=, token=) against the real endpoints (a werkzeug server in a thread)."""
    import threading
    import urllib.error

    import flask
    import keras
    from werkzeug.serving import make_server

    from deepling.keras import Monitor

    service, model, _ = runs
    app = _push_app(service, runs_token="s3cret")
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_port}"
    try:
        rng = np.random.default_rng(1)
        xs, ys = rng.random((32, 8, 8, 3)).astype("float32"), rng.integers(0, 3, 32)
        with pytest.raises(urllib.error.HTTPError, match="401"):
            model.fit(xs, ys, epochs=1, verbose=0,
                      callbacks=[Monitor(url=url, token="wrong", name="pushed")])
        model.fit(xs, ys, batch_size=16, epochs=1, verbose=0, callbacks=[
            Monitor(url=url, token="s3cret", name="pushed", probe=(xs, ys), probe_size=4)])
        head, deltas = service.since("run:pushed", 0)
        assert [s for d in deltas if "batches" in d for s in d["batches"]["step"]] == [1, 2]
        assert sorted(p.name for p in (service.root / "pushed" / "snapshots").iterdir()) == \
            ["epoch-000.keras", "epoch-001.keras"]
        assert service.meta("run:pushed")["state"] == "finished"
        bad = urllib.request.Request(url + "/api/runs/pushed/records", data=b'[{"kind": "x"}]',
                                     headers={"Authorization": "Bearer s3cret",
                                              "Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError, match="400"):
            urllib.request.urlopen(bad)
    finally:
        httpd.shutdown()


def test_only_the_apps_own_runs_can_be_paused_or_stopped(runs):
    """A run trained elsewhere is watched, not steered: the Training card's Pause and Stop
    are off for it (RunSources.steerable), on for the app's own runs."""
    from deepling.service.runs import PREFIX, RunSources

    service = runs[0]
    sources = RunSources(None, service)
    assert not sources.steerable(PREFIX + "exp1")
    assert sources.steerable("a1b2c3")  # an in-app run id
    assert RunSources(None, None).steerable(PREFIX + "exp1")  # no --runs: every run is the app's
