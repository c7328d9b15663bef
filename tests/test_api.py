"""The HTTP API against the real server: hostile files get 4xx, benign ones load and
project, sessions keep their own uploads, and a burst of clients all get their own results.

Everything goes to 127.0.0.1 only; the load test is bounded in count and time.
"""

import json
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import keras
import numpy as np
import pytest
from keras import layers

from tests import hostile
from tests.reliability import project


def post_file(url, path, timeout=240):
    """multipart/form-data POST with field 'file'; returns (status, json)."""
    boundary = "deeplingboundary7d3f"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"{path.name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").encode()
    body += path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    return _send(req, timeout)


def post_json(url, payload, timeout=240):
    req = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    return _send(req, timeout)


def _send(req, timeout):
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def healthy(app_url):
    with urllib.request.urlopen(app_url + "/health", timeout=30) as r:
        return r.status == 200


@pytest.fixture(scope="module")
def marker_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("markers")


def _hostile_models(tmp, marker):
    from deepling.resources import DEMO_MODEL

    demo = DEMO_MODEL.read_bytes()
    files = {
        "truncated.keras": lambda p: p.write_bytes(demo[: len(demo) // 2]),
        "random.keras": lambda p: p.write_bytes(np.random.default_rng(0).bytes(5000)),
        "empty.keras": lambda p: p.write_bytes(b""),
        "lambda.keras": lambda p: hostile.write_keras(
            p, hostile.sequential(hostile.lambda_layer(marker), hostile.dense())),
        "lambda.h5": lambda p: hostile.write_h5(
            p, hostile.sequential(hostile.legacy_lambda_layer(marker), hostile.dense())),
        "os_system.keras": lambda p: hostile.write_keras(p, hostile.foreign_call_functional(marker)),
        "unsafe_switch.keras": lambda p: hostile.write_keras(p, hostile.unsafe_switch_config(marker)),
    }
    out = []
    for name, make in files.items():
        path = tmp / name
        make(path)
        out.append(path)
    return out


def test_hostile_models_get_4xx_and_run_nothing(app_url, tmp_path, marker_dir):
    marker = marker_dir / "model-code-ran"
    for path in _hostile_models(tmp_path, marker):
        status, body = post_file(app_url + "/api/models", path)
        assert 400 <= status < 500, (path.name, status, body)
        assert path.name in body["error"] or "empty" in body["error"], body
        assert len(body["error"]) > 30  # says what is wrong and what to do
        assert not marker.exists(), f"code from {path.name} ran"
        assert healthy(app_url)


def test_hostile_data_gets_4xx(app_url, tmp_path):
    bomb = hostile.zip_bomb(tmp_path / "bomb.zip")
    escape = hostile.zip_with_member(tmp_path / "escape.zip", "../evil.txt")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip at all")
    for path in (bomb, escape, junk):
        status, body = post_file(app_url + "/api/datasets", path)
        assert 400 <= status < 500 and body["error"], (path.name, status, body)
    assert not (tmp_path.parent / "evil.txt").exists()
    status, body = post_file(app_url + "/api/models", tmp_path / "bomb.zip")
    assert status == 415 and ".keras" in body["error"]
    assert healthy(app_url)


def _benign(kind: str, tmp):
    inp_shape = {"big": (64, 64, 3), "gray": (32, 32, 1)}.get(kind, (32, 32, 3))
    inp = keras.Input(inp_shape)
    x = layers.Rescaling(1 / 255.0)(inp)
    if kind == "vgg":
        for w in (8, 16):
            x = layers.Conv2D(w, 3, padding="same")(x)
            x = layers.BatchNormalization()(x)
            x = layers.ReLU()(x)
            x = layers.MaxPooling2D()(x)
    elif kind == "residual":
        x = layers.Conv2D(8, 3, padding="same", activation="relu")(x)
        y = layers.Conv2D(8, 3, padding="same")(x)
        x = layers.ReLU()(layers.Add()([x, y]))
        x = layers.Concatenate()([x, layers.Conv2D(4, 1)(x)])
    else:
        x = layers.Conv2D(8, 3, strides=2, activation="relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    out = layers.Dense(10, activation=None if kind == "logits" else "softmax")(x)
    path = tmp / f"{kind}.keras"
    keras.Model(inp, out).save(path)
    return path


@pytest.mark.parametrize("kind", ["vgg", "residual", "logits", "big", "gray"])
def test_benign_models_load_and_project(app_url, tmp_path, kind):
    status, body = post_file(app_url + "/api/models", _benign(kind, tmp_path))
    assert status == 201, body
    assert body["url"] == f"/?model={body['id']}"
    if kind == "logits":
        assert body["summary"]["output"] == "logits"
    _, result = project(app_url, {"model": body["id"], "mode": "classes", "classes": [0, 1],
                                  "count": 10})
    layouts = np.array(result["layouts"])
    assert layouts.shape[1:] == (20, 2) and np.isfinite(layouts).all()
    if kind == "residual":
        assert any(name.startswith("add") for name in result["layers"])
        assert any(name.startswith("concatenate") for name in result["layers"])


def test_uploaded_dataset_zip_and_npz(app_url, tmp_path):
    folder_zip = hostile.image_zip(tmp_path / "pets.zip", prefix="pets/", classes=("cat", "dog"),
                                   per_class=4)
    status, body = post_file(app_url + "/api/datasets", folder_zip)
    assert status == 201, body
    assert body["summary"]["classes"] == ["cat", "dog"] and body["summary"]["images"] == 8
    rng = np.random.default_rng(0)
    buf = tmp_path / "set.npz"
    np.savez(buf, x=rng.integers(0, 256, (12, 32, 32, 3), dtype=np.uint8), y=np.arange(12) % 3)
    status, npz = post_file(app_url + "/api/datasets", buf)
    assert status == 201 and npz["summary"]["images"] == 12
    _, result = project(app_url, {"data": npz["id"], "mode": "random", "count": 12})
    assert len(result["indices"]) == 12
    status, err = post_json(app_url + "/api/projections", {"data": "u" + "x" * 16})
    assert status == 422 and "Upload it again" in err["error"]


def test_burst_of_uploads_and_projections(app_url, tmp_path):
    """20 clients at once, each uploading its own model and asking for its projection."""
    paths = []
    for i in range(20):  # built here, not in the threads: only the HTTP traffic is parallel
        inp = keras.Input((32, 32, 3))
        x = layers.Conv2D(4, 3, name=f"client{i}_conv")(layers.Rescaling(1 / 255.0)(inp))
        x = layers.GlobalAveragePooling2D(name=f"client{i}_pool")(x)
        paths.append(tmp_path / f"client{i}.keras")
        keras.Model(inp, layers.Dense(10, activation="softmax", name=f"client{i}_out")(x)).save(paths[i])

    def client(i):
        status, body = post_file(app_url + "/api/models", paths[i], timeout=400)
        assert status == 201, body
        _, result = project(app_url, {"model": body["id"], "mode": "random", "count": 30},
                            timeout=400)
        return i, body["id"], result

    start = time.time()
    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(client, range(20)))
    assert time.time() - start < 600
    assert len({upload_id for _, upload_id, _ in results}) == 20
    for i, _, result in results:
        assert f"client{i}_conv" in result["layers"]  # its own model, not another client's
    assert healthy(app_url)
