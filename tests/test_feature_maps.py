"""Feature maps, channel means, top-activating images and histograms on the real demo CNN
and real CIFAR-10 images, plus the layers that cannot be read."""

import numpy as np
import pytest


@pytest.fixture(scope="module")
def images(cifar_sample, demo_model):
    return demo_model.fit_dataset(cifar_sample).images


def test_conv_layer_gives_one_map_per_channel_sorted_by_mean(demo_model, images):
    from deepling.methods.feature_maps import feature_maps

    fm = feature_maps(demo_model, images[3], "conv2b")
    assert fm.type == "Conv2D" and fm.shape == (16, 16, 64) and not fm.is_vector
    assert fm.n_channels == 64 and fm.maps.shape == (64, 16, 16)
    assert sorted(fm.channels.tolist()) == list(range(64))
    assert np.all(np.diff(fm.means) <= 0)
    np.testing.assert_allclose(fm.means, fm.maps.mean(axis=(1, 2)), rtol=1e-5, atol=1e-6)
    # the maps are the layer's own output, channel by channel
    import keras

    sub = keras.Model(demo_model.model.inputs[0], demo_model.model.get_layer("conv2b").output)
    direct = np.asarray(sub(demo_model.preprocess(images[3:4])))[0]
    c = int(fm.channels[5])
    np.testing.assert_allclose(fm.maps[5], direct[..., c], rtol=1e-5, atol=1e-5)


def test_dense_layer_gives_a_vector(demo_model, images):
    from deepling.methods.feature_maps import feature_maps

    fm = feature_maps(demo_model, images[0], "predictions")
    assert fm.is_vector and fm.maps is None and fm.vector.shape == (10,)
    np.testing.assert_allclose(fm.vector.sum(), 1.0, rtol=1e-4)  # softmax output
    np.testing.assert_allclose(fm.means, fm.vector[fm.channels])
    probs = demo_model.predict_proba(images[:1])[0]
    np.testing.assert_allclose(fm.vector, probs, rtol=1e-4, atol=1e-6)


def test_input_layer_shows_the_model_input(demo_model, images):
    from deepling.methods.feature_maps import feature_maps

    fm = feature_maps(demo_model, images[7], "image")
    assert fm.type == "InputLayer" and fm.maps.shape == (3, 32, 32)
    x = demo_model.preprocess(images[7:8])[0]
    np.testing.assert_allclose(fm.maps[0], x[..., fm.channels[0]])


def test_channel_means_match_feature_maps_and_batching(demo_model, images):
    from deepling.methods.feature_maps import channel_means, feature_maps

    means = channel_means(demo_model, images[:40], "pool2", batch_size=16)
    assert means.shape == (40, 64) and means.dtype == np.float32
    np.testing.assert_allclose(means, channel_means(demo_model, images[:40], "pool2", batch_size=40),
                               rtol=1e-5, atol=1e-6)
    fm = feature_maps(demo_model, images[9], "pool2")
    np.testing.assert_allclose(means[9, fm.channels], fm.means, rtol=1e-5, atol=1e-6)


def test_top_images_of_a_class_unit_are_that_class(demo_model, cifar_sample, images):
    """What the output unit for "ship" responds to: ships (the trained model is ~80% right)."""
    from deepling.methods.feature_maps import channel_means, top_activating

    ship = cifar_sample.class_names.index("ship")
    top = top_activating(demo_model, images, "predictions", ship, k=10)
    assert top.channel == ship and len(top.indices) == 10
    assert np.all(np.diff(top.values) <= 0)
    column = channel_means(demo_model, images, "predictions")[:, ship]
    assert top.values[0] == column.max() and top.values[-1] >= np.sort(column)[-10]
    assert (cifar_sample.labels[top.indices] == ship).sum() >= 8


def test_weight_and_activation_histograms(demo_model, images):
    from deepling.methods.feature_maps import activation_histogram, weight_histogram

    hists = weight_histogram(demo_model.model, "conv1a", bins=30)
    assert [h.label for h in hists] == ["kernel", "bias"]
    assert hists[0].counts.sum() == hists[0].total == 3 * 3 * 3 * 32
    assert len(hists[0].edges) == 31
    # streamed (two passes, small batches) and in one go give the same counts
    once = activation_histogram(demo_model, images[:20], "conv1b", bins=25, batch_size=64)
    streamed = activation_histogram(demo_model, images[:20], "conv1b", bins=25, batch_size=6)
    np.testing.assert_array_equal(once.counts, streamed.counts)
    assert once.total == 20 * 32 * 32 * 32 == once.counts.sum()
    assert 0 < once.zeros < 1  # ReLU: some exact zeros, not all
    one = activation_histogram(demo_model, images[0], "conv1b", bins=25,
                               value_range=(once.edges[0], once.edges[-1]))
    np.testing.assert_allclose(one.edges, once.edges)
    assert one.total == 32 * 32 * 32


def test_layers_that_cannot_be_read_raise_clear_errors(demo_model, images):
    from deepling.methods.feature_maps import feature_maps, rank_channel, weight_histogram

    with pytest.raises(ValueError, match="no layer named 'conv9'.*conv1a"):
        feature_maps(demo_model, images[0], "conv9")
    with pytest.raises(ValueError, match="no weights"):
        weight_histogram(demo_model.model, "pool1")
    with pytest.raises(ValueError, match="one H×W×C image"):
        feature_maps(demo_model, images[:2], "conv1a")
    with pytest.raises(ValueError, match="out of range.*64 channels"):
        rank_channel(np.zeros((5, 64), np.float32), "conv2b", 64)


def test_nested_model_and_multi_output_layer():
    """A nested model is unfolded (its layers read by name, deepling/models/flat.py); a layer
    with two outputs is refused by name."""
    import keras
    from keras import layers

    from deepling.methods.feature_maps import channel_means, feature_maps
    from deepling.models import ModelAdapter

    class Split(layers.Layer):
        def call(self, x):
            return x[..., :2], x[..., 2:]

    inp = keras.Input((12, 12, 3), name="img")
    inner = keras.Sequential([keras.Input((12, 12, 3)), layers.Conv2D(4, 3, name="inner_conv"),
                              layers.ReLU(name="inner_relu")], name="backbone")
    x = inner(layers.Rescaling(1 / 255, name="scale")(inp))
    lo, hi = Split(name="split")(x)
    out = layers.Dense(2, activation="softmax", name="out")(
        layers.GlobalAveragePooling2D(name="gap")(layers.Add(name="add")([lo, hi])))
    adapter = ModelAdapter.from_model(keras.Model(inp, out, name="nested"), "nested")
    image = np.random.default_rng(0).integers(0, 256, (12, 12, 3), dtype=np.uint8)
    fm = feature_maps(adapter, image, "inner_relu")
    assert fm.maps.shape == (4, 10, 10) and fm.type == "ReLU"
    assert feature_maps(adapter, image, "inner_conv").maps.shape == (4, 10, 10)
    assert channel_means(adapter, image[None], "add").shape == (1, 2)
    with pytest.raises(ValueError, match="'split' has 2 outputs.*layer after it"):
        feature_maps(adapter, image, "split")
    with pytest.raises(ValueError, match="no layer named 'backbone'"):
        feature_maps(adapter, image, "backbone")
