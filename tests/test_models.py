"""Model adapter, summary and the demo model."""

import json

import keras
import numpy as np
import pytest
from keras import layers

from deepling.data import DataError, Dataset
from deepling.models import ModelAdapter, ModelError, layer_table, model_summary
from deepling.models.summary import inbound_layers
from deepling.resources import DEMO_MODEL


def _tiny(shape=(8, 8, 3), softmax=True, rescale=False):
    inp = keras.Input(shape)
    x = layers.Rescaling(1 / 255)(inp) if rescale else inp
    x = layers.Conv2D(4, 3, name="conv")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    out = layers.Dense(3, activation="softmax" if softmax else None, name="out")(x)
    return keras.Model(inp, out)


def test_input_range_and_output_kind_detected():
    a = ModelAdapter.from_model(_tiny(rescale=True), "r")
    assert a.input_range == (0.0, 255.0) and a.output_kind == "probabilities"
    b = ModelAdapter.from_model(_tiny(softmax=False), "l")
    assert b.input_range == (0.0, 1.0) and b.output_kind == "logits"
    assert any("logits" in n for n in b.notes)
    x = np.full((2, 8, 8, 3), 255, np.uint8)
    np.testing.assert_allclose(b.preprocess(x), 1.0)
    p = b.predict_proba(x)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)


def test_fit_dataset_resizes_and_converts():
    gray_model = ModelAdapter.from_model(_tiny((16, 16, 1)), "gray")
    ds = Dataset(np.zeros((4, 8, 8, 3), np.uint8), [0, 1, 2, 0], ("a", "b", "c"), "rgb")
    fitted = gray_model.fit_dataset(ds)
    assert fitted.images.shape == (4, 16, 16, 1)
    assert "RGB to grayscale" in fitted.notes[-1] and "resized 8×8 to 16×16" in fitted.notes[-1]
    assert gray_model.fit_dataset(fitted) is fitted  # nothing to do


def test_unfit_models_refused():
    inp = keras.Input((8, 8, 5))
    five = keras.Model(inp, layers.Dense(2)(layers.Flatten()(inp)))
    with pytest.raises(ModelError, match=r"one image input of shape \(H, W, 1 or 3\)"):
        ModelAdapter.from_model(five, "five")
    seq = keras.Input((10,))
    with pytest.raises(ModelError, match="one image input"):
        ModelAdapter.from_model(keras.Model(seq, layers.Dense(2)(seq)), "vector")


def test_channels_that_cannot_be_converted():
    a = ModelAdapter.from_model(_tiny((8, 8, 3)), "rgb")
    ds = Dataset(np.zeros((1, 8, 8, 1), np.uint8), [0], ("a",), "gray")
    assert a.fit_dataset(ds).image_shape == (8, 8, 3)
    with pytest.raises(DataError):
        Dataset(np.zeros((1, 8, 8, 2), np.uint8), [0], ("a",), "two channels")


def test_summary_of_branching_model():
    inp = keras.Input((8, 8, 3), name="img")
    a = layers.Conv2D(4, 3, padding="same", name="left")(inp)
    b = layers.Conv2D(4, 1, name="right")(inp)
    x = layers.Add(name="merge")([a, b])
    out = layers.Dense(2, name="head")(layers.Flatten(name="flat")(x))
    model = keras.Model(inp, out)
    rows = {r["name"]: r for r in layer_table(model)}
    assert rows["merge"]["inbound"] == ["left", "right"]
    assert rows["left"]["inbound"] == ["img"] and rows["img"]["inbound"] == []
    assert rows["merge"]["output_shape"] == (8, 8, 4)
    s = model_summary(model)
    assert s["params"] == sum(r["params"] for r in s["layers"]) == model.count_params()
    assert inbound_layers(model.get_layer("head")) == ["flat"]


def test_demo_model_file_and_record(demo_model):
    assert DEMO_MODEL.stat().st_size <= 10 * 1024 * 1024
    record = json.loads(DEMO_MODEL.with_suffix(".json").read_text())
    assert record["test_accuracy"] >= 0.75
    assert demo_model.input_shape == (32, 32, 3) and demo_model.input_range == (0.0, 255.0)
    names = [l.name for l in demo_model.model.layers]
    assert {"conv1a", "norm1", "pool1", "fc1", "predictions"} <= set(names)


def test_demo_model_accuracy_on_sample(demo_model, cifar_sample):
    probs = demo_model.predict_proba(cifar_sample.images)
    assert (probs.argmax(1) == cifar_sample.labels).mean() >= 0.7
