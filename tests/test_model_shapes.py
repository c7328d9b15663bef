"""Benign models of other shapes load through load_model_file and predict correctly.

Each model is built and saved here, then loaded back the way the app loads a user's file;
its predictions through ModelAdapter must equal the original in-memory model's. Two of them
(a .keras and an .h5) take the full untrusted path through the isolated worker; the rest
are loaded with ``trusted=True`` (inspection and safe mode, no worker), because each worker
pays TensorFlow's import again.
"""

import numpy as np
import pytest

from deepling.data import Dataset
from deepling.models import load_model_file, to_probabilities


def _vgg_bn(keras, layers):
    inputs = keras.Input((32, 32, 3))
    x = layers.Rescaling(1 / 255)(inputs)
    for width in (8, 16):
        x = layers.Conv2D(width, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
        x = layers.Conv2D(width, 3, padding="same", activation="relu")(x)
        x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    outputs = layers.Dense(10, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="vgg_bn")


def _residual(keras, layers):
    inputs = keras.Input((32, 32, 3))
    x = layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    y = layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    y = layers.Conv2D(8, 3, padding="same")(y)
    x = layers.Activation("relu")(layers.Add()([x, y]))
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(5, activation="softmax")(x), name="residual")


def _logits(keras, layers):
    return keras.Sequential([keras.Input((32, 32, 3)), layers.Conv2D(4, 3, activation="relu"),
                             layers.GlobalMaxPooling2D(), layers.Dense(3)], name="logits")


def _large_input(keras, layers):
    return keras.Sequential([keras.Input((64, 64, 3)), layers.Conv2D(4, 5, strides=2),
                             layers.AveragePooling2D(4), layers.Flatten(),
                             layers.Dense(4, activation="softmax")], name="input64")


def _grayscale(keras, layers):
    return keras.Sequential([keras.Input((28, 28, 1)), layers.Conv2D(4, 3, activation="tanh"),
                             layers.Flatten(), layers.Dropout(0.2),
                             layers.Dense(10, activation="softmax")], name="gray")


BUILDERS = {"vgg_bn": _vgg_bn, "residual": _residual, "logits": _logits,
            "input64": _large_input, "gray": _grayscale}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """name -> (path, original in-memory model); the VGG also saved as legacy .h5."""
    import keras
    from keras import layers

    folder = tmp_path_factory.mktemp("shapes")
    out = {}
    for name, build in BUILDERS.items():
        keras.utils.set_random_seed(7)
        model = build(keras, layers)
        if name == "vgg_bn":  # non-trivial moving statistics, so weights must really load
            for layer in model.layers:
                if isinstance(layer, layers.BatchNormalization):
                    layer.moving_mean.assign(np.linspace(-1, 1, layer.moving_mean.shape[0]))
                    layer.moving_variance.assign(np.linspace(0.5, 2, layer.moving_variance.shape[0]))
        path = folder / f"{name}.keras"
        model.save(path)
        out[name] = (path, model)
    h5 = folder / "vgg_bn_legacy.h5"
    out["vgg_bn"][1].save(h5)
    out["legacy_h5"] = (h5, out["vgg_bn"][1])
    return out


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(12, 32, 32, 3), dtype=np.uint8)
    return Dataset(images, np.arange(12) % 3, ("a", "b", "c"), "synthetic 32×32 RGB")


def _check_predictions(adapter, original, data):
    fitted = adapter.fit_dataset(data)
    probs = adapter.predict_proba(fitted.images)
    assert probs.shape == (len(data), adapter.n_outputs)
    assert np.isfinite(probs).all()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    expected = to_probabilities(np.asarray(original(adapter.preprocess(fitted.images),
                                                    training=False)), adapter.output_kind)
    np.testing.assert_allclose(probs, expected, atol=1e-5)
    return fitted


@pytest.mark.parametrize("name", ["vgg_bn", "legacy_h5"])
def test_untrusted_models_load_through_the_worker(saved, data, name):
    path, original = saved[name]
    adapter = load_model_file(path)  # trusted=False: inspection, worker, then here
    assert adapter.input_shape == (32, 32, 3) and adapter.output_kind == "probabilities"
    assert adapter.input_range == (0.0, 255.0)  # found the Rescaling layer
    _check_predictions(adapter, original, data)


def test_worker_summary_describes_the_model(saved):
    from deepling.models.isolation import load_in_worker

    summary = load_in_worker(saved["residual"][0])
    assert summary["input_shape"] == [32, 32, 3] and summary["output_shape"] == [5]
    assert summary["output_kind"] == "probabilities" and summary["finite_output"]
    assert summary["params"] == saved["residual"][1].count_params()
    assert {"Add", "Conv2D", "GlobalAveragePooling2D"} <= {r["type"] for r in summary["layers"]}


def test_residual_model(saved, data):
    path, original = saved["residual"]
    adapter = load_model_file(path, trusted=True)
    assert any(type(layer).__name__ == "Add" for layer in adapter.model.layers)
    _check_predictions(adapter, original, data)


def test_logits_model_is_shown_as_probabilities(saved, data):
    path, original = saved["logits"]
    adapter = load_model_file(path, trusted=True)
    assert adapter.output_kind == "logits"
    assert any("logits" in note for note in adapter.notes)
    _check_predictions(adapter, original, data)


def test_larger_input_resizes_data_with_a_note(saved, data):
    path, original = saved["input64"]
    adapter = load_model_file(path, trusted=True)
    fitted = _check_predictions(adapter, original, data)
    assert fitted.image_shape == (64, 64, 3)
    assert any("resized 32×32 to 64×64" in note for note in fitted.notes)


def test_grayscale_model_converts_rgb_with_a_note(saved, data):
    path, original = saved["gray"]
    adapter = load_model_file(path, trusted=True)
    fitted = _check_predictions(adapter, original, data)
    assert fitted.image_shape == (28, 28, 1)
    assert any("converted RGB to grayscale" in note for note in fitted.notes)
