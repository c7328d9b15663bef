"""The training library on a tiny model and synthetic images: learning, exact per-filter
amounts, exact freezing, control, snapshots, failure, retraining on a selection, filters."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from deepling.training import (MonitoredStep, TrainingConfig, filter_embedding, filter_layers,
                               retrain_on_selection, train)


def tiny_model(seed=0, n_classes=3):
    from keras import layers

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((12, 12, 3), name="image")
    x = layers.Rescaling(1 / 255)(inputs)
    x = layers.Conv2D(6, 3, padding="same", activation="relu", name="conv1")(x)
    x = layers.BatchNormalization(name="norm1")(x)
    x = layers.Conv2D(8, 3, padding="same", activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(16, activation="relu", name="fc1")(x)
    outputs = layers.Dense(n_classes, activation="softmax", name="out")(x)
    return keras.Model(inputs, outputs)


def colour_data(n=240, seed=0):
    """Class k = channel k is bright: easy to learn, noisy enough to take a few batches."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.integers(0, 120, (n, 12, 12, 3))
    x[np.arange(n), :, :, y] += 100
    return x.astype(np.uint8), y


def test_loss_goes_down_and_snapshots_are_bounded(tmp_path):
    x, y = colour_data()
    deltas = []
    record = train(tiny_model(), x, y, validation=colour_data(60, seed=1),
                   config=TrainingConfig(epochs=5, batch_size=24, learning_rate=3e-3, max_snapshots=3),
                   publish=deltas.append, snapshot_dir=tmp_path)
    assert record["state"] == "finished"
    losses = [e["loss"] for e in record["epochs"]]
    assert losses[-1] < 0.6 * losses[0]
    assert record["epochs"][-1]["val_accuracy"] > 0.8
    kept = sorted(p.name for p in tmp_path.glob("*.keras"))
    assert len(kept) <= 3 and kept[0] == "epoch-000.keras" and kept[-1] == "epoch-005.keras"
    # Deltas carry only what is new: every batch point exactly once, in order.
    steps = [s for d in deltas for s in d.get("batches", {}).get("step", [])]
    assert steps == list(range(1, 5 * 10 + 1))
    assert all(len(d["filters"]["gradient"]["conv1"]) == 6 for d in deltas if "filters" in d)


def test_per_filter_amounts_match_a_gradient_tape_reference():
    x, y = colour_data(32)
    model = tiny_model()
    step = MonitoredStep(model, keras.optimizers.SGD(0.0))  # lr 0: weights stay, for the check
    names = filter_layers(model)
    assert names == ["conv1", "conv2", "fc1", "out"]
    probe = keras.Model(model.inputs, [model.get_layer(n).output for n in names])
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    xf = x.astype(np.float32)
    with tf.GradientTape() as tape:
        pred = model(xf, training=True)
        loss = loss_fn(y, pred)
    kernels = [model.get_layer(n).kernel for n in names]
    grads = tape.gradient(loss, kernels)
    acts = probe(xf, training=True)
    out = step(x, y)
    assert out["loss"] == pytest.approx(float(loss), rel=1e-5)
    for n, g, a in zip(names, grads, acts):
        axes = tuple(range(g.ndim - 1))
        np.testing.assert_allclose(out["gradient"][n], np.abs(g.numpy()).mean(axis=axes), rtol=1e-4, atol=1e-9)
        np.testing.assert_allclose(out["activation"][n], np.abs(a.numpy()).mean(axis=tuple(range(a.ndim - 1))),
                                   rtol=1e-4, atol=1e-9)


def test_a_frozen_layer_stays_bit_identical_while_the_others_change():
    x, y = colour_data(96)
    model = tiny_model()
    step = MonitoredStep(model, "adamw")  # momentum and weight decay: masking would not hold
    for i in range(3):  # train everything first, so the optimizer has momentum for conv1
        step(x[i * 32:(i + 1) * 32], y[i * 32:(i + 1) * 32])
    frozen_before = [w.copy() for w in model.get_layer("conv1").get_weights()]
    bn_before = [w.copy() for w in model.get_layer("norm1").get_weights()]
    other_before = model.get_layer("conv2").get_weights()[0].copy()
    for i in range(3):
        out = step(x[i * 32:(i + 1) * 32], y[i * 32:(i + 1) * 32], frozen={"conv1", "norm1"})
        assert not out["gradient"]["conv1"].any()
    for a, b in zip(frozen_before, model.get_layer("conv1").get_weights()):
        assert np.array_equal(a, b)
    for a, b in zip(bn_before, model.get_layer("norm1").get_weights()):  # moving stats too
        assert np.array_equal(a, b)
    assert not np.array_equal(other_before, model.get_layer("conv2").get_weights()[0])
    # Unfreezing takes effect at the next batch.
    step(x[:32], y[:32], frozen=())
    assert not np.array_equal(frozen_before[0], model.get_layer("conv1").get_weights()[0])


def test_control_freezes_mid_run_and_stops():
    x, y = colour_data(96)
    calls = {"n": 0}

    def control():
        calls["n"] += 1
        if calls["n"] > 6:
            return {"command": "stop"}
        return {"command": "run", "frozen": ["conv1"] if calls["n"] > 2 else []}

    deltas = []
    record = train(tiny_model(), x, y, config=TrainingConfig(epochs=3, batch_size=32),
                   control=control, publish=deltas.append)
    assert record["state"] == "stopped"
    assert record["freezes"] == [{"step": 2, "epoch": 1, "batch": 2, "frozen": ["conv1"],
                                  "added": ["conv1"], "removed": []}]
    assert deltas[-1]["status"]["state"] == "stopped"


def test_a_nan_loss_stops_and_keeps_the_last_good_epoch(tmp_path):
    x, y = colour_data(64)
    model = tiny_model()
    record = train(model, x, y, config=TrainingConfig(epochs=1, batch_size=32), snapshot_dir=tmp_path)
    good = model.get_weights()
    record = train(model, x, y, config=TrainingConfig(epochs=3, batch_size=8, optimizer="sgd",
                                                      learning_rate=1e12))
    assert record["state"] == "failed" and "lower the learning rate" in record["message"]
    assert not record["epochs"]  # it diverged within the first epoch: the start is kept
    assert all(np.array_equal(a, b) for a, b in zip(good, model.get_weights()))


def test_retraining_on_a_selection_turns_most_of_it_correct():
    x, y = colour_data(300)
    model = tiny_model()
    train(model, x, y, config=TrainingConfig(epochs=2, batch_size=32, learning_rate=3e-3))
    # The selection: images whose labels contradict what the model learned (class + 1).
    sel = np.arange(12)
    target = (y[sel] + 1) % 3
    result = retrain_on_selection(model, x[sel], target, x[12:], y[12:], iterations=80,
                                  batch_size=32, learning_rate=5e-3, validation=colour_data(60, 1))
    assert result["correct_before"] <= 2
    assert result["correct_after"] >= 9
    assert result["val_accuracy_after"] is not None


def test_filter_embedding_lays_out_every_filter():
    model = tiny_model()
    emb = filter_embedding(model, "conv1")
    assert emb["xy"].shape == (6, 2) and emb["images"].shape == (6, 3, 3, 3)
    assert emb["images"].dtype == np.uint8
    with pytest.raises(ValueError, match="not a 2-D convolution"):
        filter_embedding(model, "fc1")


def test_projection_across_training_aligns_each_snapshot_on_the_previous():
    from deepling.training import projection_across_training

    x, y = colour_data(90)
    models = [tiny_model()]
    trained = tiny_model()
    train(trained, x, y, config=TrainingConfig(epochs=2, batch_size=30, learning_rate=3e-3))
    models.append(trained)
    out = projection_across_training(models + [trained], x[:60], "fc1")
    assert out.layouts.shape == (3, 60, 2)
    assert len(out.mirrored) == 2
    # The same model twice: the second layout lands on the first.
    np.testing.assert_allclose(out.layouts[2], out.layouts[1], atol=1e-5)
