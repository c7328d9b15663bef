"""deepling.keras.Monitor: its records against a GradientTape reference, histogram counts,
snapshots, and a run folder read by another process while it is written."""

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from deepling.training.runfolder import RunFolderError, read_header, read_records


@pytest.fixture(scope="module")
def monitored(tmp_path_factory):
    """A tiny CNN trained 2 epochs (4 batches each) with a Monitor; the model, probe batch
    and the run folder."""
    import keras

    from deepling.keras import Monitor

    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="c1")(inp)
    x = keras.layers.MaxPooling2D(2, name="pool")(x)
    x = keras.layers.Flatten(name="flat")(x)
    x = keras.layers.Dense(6, activation="relu", name="d1")(x)
    out = keras.layers.Dense(3, activation="softmax", name="out")(x)
    model = keras.Model(inp, out, name="tiny")
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    x = rng.random((64, 8, 8, 3)).astype("float32")
    y = rng.integers(0, 3, 64)
    folder = tmp_path_factory.mktemp("runs") / "exp1"
    model.fit(x, y, batch_size=16, epochs=2, validation_data=(x[:16], y[:16]), verbose=0,
              callbacks=[Monitor(folder, probe=(x, y), probe_size=8, every=3)])
    return model, (x[:8], y[:8]), folder


def test_records_match_a_gradient_tape_reference(monitored):
    import tensorflow as tf

    model, (px, py), folder = monitored
    header = read_header(folder)
    assert [l["name"] for l in header["layers"]] == ["c1", "d1", "out"]
    assert header["batches_per_epoch"] == 4 and header["probe"] == 8
    _, records = read_records(folder)
    kinds = [r["kind"] for r in records]
    assert kinds[0] == "probe" and kinds[-1] == "end"
    epochs = [r for r in records if r["kind"] == "epoch"]
    assert [e["epoch"] for e in epochs] == [1, 2] and all("val_accuracy" in e for e in epochs)
    steps = [s for r in records if r["kind"] == "batches" for s in r["step"]]
    assert steps == list(range(1, 9))
    probes = [r for r in records if r["kind"] == "probe"]
    assert [p["step"] for p in probes] == [0, 3, 4, 6, 8]  # start, every 3, epochs' ends
    assert [r["epoch"] for r in records if r["kind"] == "snapshot"] == [0, 1, 2]

    # The last probe saw the final weights: recompute it with a plain GradientTape.
    last = probes[-1]
    layers = ["c1", "d1", "out"]
    import keras

    sub = keras.Model(model.inputs, [model.get_layer(n).output for n in layers])
    with tf.GradientTape() as tape:
        acts = sub(px, training=False)
        loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(py, acts[-1]))
    kernels = [model.get_layer(n).kernel for n in layers]
    grads = tape.gradient(loss, kernels)
    assert last["loss"] == pytest.approx(float(loss), rel=1e-5)
    for n, a, g, k in zip(layers, acts, grads, kernels):
        a, g, k = a.numpy(), g.numpy(), np.asarray(k)
        axes = tuple(range(a.ndim - 1))
        np.testing.assert_allclose(last["gradient"][n], np.abs(g).mean(axis=tuple(range(g.ndim - 1))),
                                   rtol=1e-3, atol=1e-9)
        np.testing.assert_allclose(last["activation"][n], np.abs(a).mean(axis=axes), rtol=1e-3,
                                   atol=1e-9)
        assert last["dead"][n] == np.flatnonzero(np.abs(a).max(axis=axes) == 0).tolist()
        for kind, values in (("weights", k), ("activations", a), ("gradients", g)):
            h = last["hist"][n][kind]
            assert sum(h["counts"]) == values.size, (n, kind)
            assert h["lo"] == pytest.approx(float(values.min()), rel=1e-5, abs=1e-12)
            assert h["hi"] == pytest.approx(float(values.max()), rel=1e-5, abs=1e-12)
            edges = np.linspace(h["lo"], max(h["hi"], h["lo"] + 1e-12), len(h["counts"]) + 1)
            ref, _ = np.histogram(values, edges)
            assert np.abs(np.asarray(h["counts"]) - ref).sum() <= 2  # float32 edge rounding


def test_snapshots_hold_the_weights_and_no_optimizer(monitored):
    import keras

    model, _, folder = monitored
    last = keras.models.load_model(folder / "snapshots" / "epoch-002.keras", compile=False,
                                   safe_mode=True)
    for a, b in zip(last.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not list((folder / "snapshots").glob(".tmp-*"))


def test_a_run_folder_is_read_while_another_process_writes_it(tmp_path):
    """The writer appends numbered records (some written in two halves, slowly); a reader
    polling meanwhile only ever sees whole records, in order, and finally all of them."""
    folder = tmp_path / "live"
    script = textwrap.dedent(f"""
        import importlib.util, json, os, time
        spec = importlib.util.spec_from_file_location(  # the module alone: a quick start
            "runfolder", {str(Path(__file__).resolve().parents[1] / "deepling/training/runfolder.py")!r})
        runfolder = importlib.util.module_from_spec(spec); spec.loader.exec_module(runfolder)
        RunWriter = runfolder.RunWriter
        w = RunWriter({str(folder)!r}, {{"layers": []}})
        for i in range(150):
            if i % 10 == 5:   # a line in two writes, the reader may come in between
                line = json.dumps({{"kind": "note", "i": i, "pad": "x" * 5000}}) + "\\n"
                os.write(w._fd, line[:2500].encode()); time.sleep(0.02)
                os.write(w._fd, line[2500:].encode())
            else:
                w.append({{"kind": "note", "i": i}})
            time.sleep(0.003)
        w.append({{"kind": "end", "state": "finished"}})
    """)
    proc = subprocess.Popen([sys.executable, "-c", script])
    seen, offset, deadline = [], 0, time.monotonic() + 60
    while time.monotonic() < deadline:
        offset, records = read_records(folder, offset)
        seen += records
        if seen and seen[-1]["kind"] == "end":
            break
        time.sleep(0.005)
    assert proc.wait(30) == 0
    assert [r["i"] for r in seen[:-1]] == list(range(150))
    assert offset == (folder / "records.jsonl").stat().st_size


def test_malformed_records_are_refused_with_the_place(tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    with pytest.raises(RunFolderError, match="no run.json"):
        read_header(folder)
    (folder / "run.json").write_text(json.dumps({"format": "pickle", "version": 1}))
    with pytest.raises(RunFolderError, match="not a Deepling run header"):
        read_header(folder)
    (folder / "records.jsonl").write_bytes(b'{"kind": "note"}\n\x80\x04\x95 pickle\n')
    with pytest.raises(RunFolderError, match="at byte 17 is not JSON"):
        read_records(folder)
    (folder / "records.jsonl").write_bytes(b'{"kind": "__reduce__"}\n')
    with pytest.raises(RunFolderError, match="no known kind"):
        read_records(folder)
    (folder / "records.jsonl").write_bytes(b"[" * 100000 + b"\n")
    with pytest.raises(RunFolderError, match="not JSON"):
        read_records(folder)


def test_a_record_longer_than_one_read_is_read_whole(tmp_path):
    """A big model's probe (ResNet50's ≈ 0.5 MB) is longer than a poll's read: it is read
    whole, not waited for forever; a line over MAX_LINE refuses the run."""
    from deepling.training.runfolder import MAX_LINE, RunWriter

    folder = tmp_path / "big"
    w = RunWriter(folder, {"layers": []})
    w.append({"kind": "probe", "pad": "x" * 100_000}, {"kind": "end"})
    offset, records = read_records(folder, 0, 48 << 10)
    assert [r["kind"] for r in records] == ["probe", "end"] and len(records[0]["pad"]) == 100_000
    assert offset == (folder / "records.jsonl").stat().st_size
    assert read_records(folder, 0, 48 << 10, long_lines=False) == (0, [])  # (the runs list)
    w.close()
    for tail in (b"", b"\n"):  # a line over MAX_LINE, still "being written" or whole
        (folder / "records.jsonl").write_bytes(b'{"kind": "note", "x": "' + b"y" * MAX_LINE + tail)
        with pytest.raises(RunFolderError, match="over 8 MB"):
            read_records(folder, 0, 48 << 10)


def test_links_and_special_files_in_a_run_folder_are_never_read(tmp_path):
    import os

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "run.json").write_text(json.dumps({"format": "deepling-run", "version": 1}))
    (outside / "records.jsonl").write_text('{"kind": "note", "secret": 1}\n')
    folder = tmp_path / "runs" / "sneaky"
    folder.mkdir(parents=True)
    os.symlink(outside / "run.json", folder / "run.json")
    with pytest.raises(RunFolderError, match="is a link"):
        read_header(folder)
    os.symlink(outside / "records.jsonl", folder / "records.jsonl")
    with pytest.raises(RunFolderError, match="is a link"):
        read_records(folder)
    (folder / "records.jsonl").unlink()
    os.mkfifo(folder / "records.jsonl")  # would block a reader that opened it plainly
    with pytest.raises(RunFolderError, match="not a plain file"):
        read_records(folder)
