"""The networks architects bring: a saved-and-loaded Sequential CNN trained on scikit-learn's
digits, models wrapping a Sequential block or a keras.applications base, and
keras.applications architectures (random weights, small inputs) — every layer seen, every
method working, one pass, Keras' own layers allowed, preprocessing detected."""

import json

import numpy as np
import pytest

from deepling.models import ModelAdapter, load_model_file


@pytest.fixture(scope="module")
def digits():
    """(uint8 8×8×1 images, labels) of scikit-learn's bundled digits."""
    from sklearn.datasets import load_digits

    d = load_digits()
    return (d.images / 16 * 255).round().astype(np.uint8)[..., None], d.target


@pytest.fixture(scope="module")
def digits_cnn(digits, tmp_path_factory):
    """A tutorial-style Sequential CNN (pixels 0..1, no rescaling layer), trained a few
    seconds, saved with model.save and loaded back the way Deepling opens files."""
    import keras

    x, y = digits
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((8, 8, 1)),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv2d"),
        keras.layers.MaxPooling2D(name="max_pooling2d"),
        keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2d_1"),
        keras.layers.Flatten(name="flatten"),
        keras.layers.Dropout(0.2, name="dropout"),
        keras.layers.Dense(10, activation="softmax", name="dense"),
    ])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x / 255.0, y, epochs=3, batch_size=64, verbose=0)
    path = tmp_path_factory.mktemp("digits") / "digits_cnn.keras"
    model.save(path)
    return load_model_file(path, trusted=True), [layer.name for layer in model.layers]


def test_loaded_sequential_shows_every_layer(digits_cnn, digits):
    from deepling.projection import layer_sequence, select_layers

    adapter, names = digits_cnn
    x, y = digits
    assert adapter.input_range == (0.0, 1.0)
    assert (adapter.predict_proba(x[:300]).argmax(1) == y[:300]).mean() > 0.8  # it learned
    refs, skipped = select_layers(adapter)
    assert [r.name for r in refs][1:] == [n for n in names if not n.startswith("dropout")]
    assert skipped == ["dropout (Dropout): identity at inference"]
    seq = layer_sequence(adapter, x[:200])
    assert seq.names[1:] == tuple(r.name for r in refs)[1:] and not seq.collapsed.any()
    # one pass: every image through the model once
    from deepling.projection import layer_sequences

    shared = layer_sequences(adapter, x[:300], [np.arange(200), np.arange(100, 300)])
    assert shared.n_forwarded <= 300 + 2 * 128


def test_every_method_on_the_loaded_sequential(digits_cnn, digits):
    from deepling.methods import (adversarial_strip, class_image, default_gradcam_layer,
                                  feature_maps, gradcam, occlusion_sensitivity, saliency)
    from deepling.neurons.atlas import neuron_atlas

    adapter, _ = digits_cnn
    x, y = digits
    assert default_gradcam_layer(adapter) == "conv2d_1"
    cam = gradcam(adapter, x[0])
    assert cam.heatmap.shape == (8, 8) and np.isfinite(cam.heatmap).all()
    assert saliency(adapter, x[0]).heatmap.shape == (8, 8)
    assert occlusion_sensitivity(adapter, x[0], patch=4, stride=4).heatmap.shape == (8, 8)
    assert len(adversarial_strip(adapter, x[0], target=(int(y[0]) + 1) % 10, n_frames=4, steps=6).frames) > 1
    assert feature_maps(adapter, x[0], "conv2d").maps.shape == (16, 8, 8)
    assert class_image(adapter, 3, steps=3).image.shape == (8, 8, 1)
    atlas = neuron_atlas(adapter, x[:200], y[:200], n_classes=10)
    assert atlas.names == ("conv2d", "conv2d_1")  # its unit layers (the output aside)


def test_nested_models_are_unfolded_after_saving(tmp_path):
    """A functional model wrapping a Sequential block, and one wrapping a keras.applications
    base: saved, loaded, every inner layer projected, the same predictions."""
    import keras

    from deepling.projection import layer_sequence, select_layers

    keras.utils.set_random_seed(1)
    block = keras.Sequential([keras.layers.Conv2D(4, 3, activation="relu", name="inner_conv"),
                              keras.layers.MaxPooling2D(name="inner_pool")], name="block")
    inp = keras.Input((16, 16, 3))
    out = keras.layers.Dense(3, activation="softmax", name="head")(
        keras.layers.Flatten(name="flat")(block(inp)))
    base_in = keras.Input((32, 32, 3))
    branch = keras.layers.Conv2D(4, 3, padding="same", name="base_conv")(base_in)
    base = keras.Model(base_in, keras.layers.Add(name="base_add")(
        [branch, keras.layers.Conv2D(4, 1, name="base_skip")(base_in)]), name="base")
    inp2 = keras.Input((32, 32, 3))
    out2 = keras.layers.Dense(3, name="head2")(keras.layers.GlobalAveragePooling2D(name="gap")(base(inp2)))
    images = np.random.default_rng(0).integers(0, 256, (12, 32, 32, 3), dtype=np.uint8)
    for model, size, inner in ((keras.Model(inp, out), 16, "inner_pool"),
                               (keras.Model(inp2, out2), 32, "base_add")):
        model.save(tmp_path / "m.keras")
        adapter = load_model_file(tmp_path / "m.keras", trusted=True)
        names = [r.name for r in select_layers(adapter, "all")[0]]
        assert inner in names and names[-1] in ("head", "head2")
        x = images[:, :size, :size]
        expected = model(adapter.preprocess(x))
        np.testing.assert_allclose(adapter.predict_proba(x), keras.ops.softmax(expected)
                                   if adapter.output_kind == "logits" else expected, atol=1e-5)
        seq = layer_sequence(adapter, x, [names[0], inner, names[-1]])
        assert seq.names == (names[0], inner, names[-1])


@pytest.fixture(scope="module")
def resnet():
    import keras

    return keras.applications.ResNet50(weights=None, input_shape=(64, 64, 3))


def test_block_outputs_and_gradcam_layer_of_a_deep_network(resnet, demo_model):
    from deepling.methods import default_gradcam_layer
    from deepling.projection import select_layers

    chosen = [r.name for r in select_layers(resnet)[0]]
    assert 15 <= len(chosen) <= 40
    assert [n for n in chosen if n.endswith("_out")] == [
        f"conv{s}_block{b}_out" for s, blocks in ((2, 3), (3, 4), (4, 6), (5, 3))
        for b in range(1, blocks + 1)]
    assert chosen[-2:] == ["avg_pool", "predictions"] and "conv1_relu" in chosen
    assert len(select_layers(resnet, "all")[0]) > 150
    assert len(select_layers(demo_model)[0]) == 18  # the demo CNN keeps every frame
    assert default_gradcam_layer(resnet) == "conv5_block3_out"


def test_preprocessing_detected_and_chosen(resnet):
    import keras

    adapter = ModelAdapter.from_model(resnet, "resnet")
    assert adapter.preprocessing == "caffe" and "caffe" in adapter.notes[0]
    pixels = np.array([[[[255, 0, 10]]]], np.uint8)
    np.testing.assert_allclose(adapter.preprocess(pixels)[0, 0, 0], [10 - 103.939, -116.779, 255 - 123.68],
                               rtol=1e-5)
    mobile = keras.applications.MobileNetV2(weights=None, input_shape=(32, 32, 3), alpha=0.35)
    tf_mode = ModelAdapter.from_model(mobile, "mobile")
    assert tf_mode.preprocessing == "tf"
    np.testing.assert_allclose(tf_mode.preprocess(pixels)[0, 0, 0], [1, -1, 10 / 127.5 - 1], rtol=1e-5)
    assert ModelAdapter.from_model(mobile, "m", preprocessing="unit").input_range == (0.0, 1.0)
    assert ModelAdapter.from_model(mobile, "m", preprocessing="unit").input_key != tf_mode.input_key


def test_keras_own_application_layers_pass_the_allowlist_and_nothing_else():
    import keras
    from keras.saving import serialize_keras_object

    from deepling.models.safety import UnsafeModelError, check_config

    model = keras.applications.ConvNeXtTiny(weights=None, input_shape=(32, 32, 3))
    config = json.loads(json.dumps(serialize_keras_object(model)))
    kinds = {kind for _, kind in check_config(config, "convnext")}
    assert {"LayerScale"} <= kinds
    layer = next(l for l in config["config"]["layers"] if l["class_name"] == "LayerScale")
    for forged in ({"class_name": "ConvNeXtTiny"}, {"registered_name": "Custom>LayerScale"},
                   {"module": "keras.src.applications.imagenet_utils"},
                   {"module": "keras.src.applications.convnext.os"}):
        bad = json.loads(json.dumps(config))
        target = next(l for l in bad["config"]["layers"] if l["name"] == layer["name"])
        target.update(forged)
        with pytest.raises(UnsafeModelError):
            check_config(bad, "forged")


def test_count_sketch_keeps_layouts_when_layers_do_not_fit(demo_model, cifar_sample, monkeypatch):
    """With a tiny landmark budget every big layer is sketched; the layouts stay close to the
    exact ones (variance shown by each, in the exact activations)."""
    import deepling.projection.activations as act
    from deepling.projection import layer_sequence

    images = cifar_sample.images[:150]
    exact = layer_sequence(demo_model, images, ["conv1b", "pool2"])
    monkeypatch.setattr(act, "LANDMARK_BUDGET_BYTES", 128 * 4 * 3000)
    sketched = layer_sequence(demo_model, images, ["conv1b", "pool2"])
    assert any("hashed" in w for w in sketched.warnings)
    import keras

    model = demo_model.model
    for name in ("conv1b", "pool2"):
        a = np.asarray(keras.Model(model.inputs[0], model.get_layer(name).output)(
            demo_model.preprocess(images)), np.float64).reshape(len(images), -1)
        a -= a.mean(axis=0)

        def shown(layout):
            q, _ = np.linalg.qr(layout - layout.mean(axis=0))
            return np.sum((a.T @ q) ** 2)

        assert shown(sketched.layout(name)) >= 0.85 * shown(exact.layout(name)), name


def test_pivot_mds_is_a_method_of_the_same_pass(digits_cnn, digits):
    from deepling.projection import layer_sequence

    adapter, _ = digits_cnn
    x, _ = digits
    seq = layer_sequence(adapter, x[:300], method="pivot_mds", n_pivots=20)
    assert seq.method == "pivot_mds" and np.isfinite(seq.layouts).all()
    assert not seq.collapsed.any() and seq.layouts.shape == (len(seq.names), 300, 2)
    from deepling.projection import LayerSequence

    assert LayerSequence.from_arrays(seq.to_arrays()).method == "pivot_mds"
    with pytest.raises(ValueError, match="method must be one of"):
        layer_sequence(adapter, x[:20], method="tsne")


def test_batch_sizes_follow_activation_memory(resnet, demo_model):
    from deepling.models.memory import activation_bytes_per_image, batch_size_for

    assert batch_size_for(demo_model) == 256
    # ResNet50 at 224: 37 M floats of activations per image
    import keras

    big = keras.applications.ResNet50(weights=None)
    assert activation_bytes_per_image(big) > 100e6 and 1 <= batch_size_for(big) <= 8


def test_keras_application_by_name_with_random_weights():
    from deepling.models import ModelError
    from deepling.models.keras_apps import build_application
    from deepling.service.config import Config
    from deepling.service.workspace import Workspace

    adapter = build_application("keras:MobileNetV2@32", weights="none")
    assert adapter.preprocessing == "tf" and adapter.input_shape == (32, 32, 3)
    assert adapter.fingerprint == "keras-MobileNetV2-32x32x3-random"
    assert adapter.class_names(None)[:2] == ("0", "1")  # offline: indices
    with pytest.raises(ModelError, match="no 'ResNet49'"):
        build_application("keras:ResNet49", weights="none")
    import os

    os.environ["DEEPLING_KERAS_WEIGHTS"] = "none"
    try:
        workspace = Workspace(Config(model="keras:MobileNetV2@32"))
        assert workspace.model("default").preprocessing == "tf"
    finally:
        del os.environ["DEEPLING_KERAS_WEIGHTS"]
