"""The library's one convention: every method takes a plain ``keras.Model`` (or the
adapter), one ``target`` argument, pixels in 0..255 — and says so for 0..1 floats."""

import keras
import numpy as np
import pytest

from deepling.methods import (
    activation_histogram, adversarial_strip, channel_means, feature_maps, fgsm, gradcam,
    occlusion_sensitivity, saliency, weight_histogram,
)
from deepling.models import as_adapter
from deepling.projection import layer_sequence


@pytest.fixture(scope="module")
def plain(demo_model):
    """The demo CNN as a notebook has it: a keras.Model, no Deepling wrapper."""
    return demo_model.model


@pytest.fixture(scope="module")
def images(cifar_sample):
    return cifar_sample.images[:12]


def test_as_adapter_wraps_once_and_passes_adapters_through(demo_model, plain):
    assert as_adapter(demo_model) is demo_model
    fresh = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Rescaling(1 / 255),
                              keras.layers.Flatten(), keras.layers.Dense(2)])
    first = as_adapter(fresh)
    assert as_adapter(fresh) is first and first.input_range == (0.0, 255.0)
    with pytest.raises(ValueError, match="keras.Model or a ModelAdapter"):
        as_adapter("model.keras")


def test_methods_on_a_plain_keras_model_match_the_adapter(demo_model, plain, images):
    image = images[0]
    strip = adversarial_strip(plain, image, target=7, steps=7)
    assert strip.target == 7 and strip.frames.shape[0] == 8
    np.testing.assert_array_equal(strip.frames, adversarial_strip(demo_model, image, target=7, steps=7).frames)

    cam = gradcam(plain, image)
    ref = gradcam(demo_model, image)
    assert cam.target == ref.target and cam.layer == ref.layer
    np.testing.assert_allclose(cam.heatmap, ref.heatmap, atol=1e-5)
    assert saliency(plain, image, target=3).target == 3
    assert occlusion_sensitivity(plain, image, target=3, patch=8, stride=8).target == 3
    assert fgsm(plain, images[:2], np.array([1, 2]), 4).shape == images[:2].shape

    assert feature_maps(plain, image, "conv1a").n_channels == 32
    assert channel_means(plain, images, "fc2").shape[0] == len(images)
    assert activation_histogram(plain, images, "conv1a").total > 0
    assert weight_histogram(plain, "conv1a")

    seq = layer_sequence(plain, images, n_directions=4)
    assert seq.n_images == len(images) and "conv3b" in seq.names


def test_one_target_name_everywhere(demo_model, images):
    from deepling.methods import Channel

    image = images[0]
    with pytest.raises(ValueError, match="Class 10 is out of range"):
        saliency(demo_model, image, target=10)
    with pytest.raises(ValueError, match="explains a class"):
        gradcam(demo_model, image, target=Channel("conv3b", 1))
    strip = adversarial_strip(demo_model, image, target=Channel("conv3b", 1), steps=7)
    assert strip.target == Channel("conv3b", 1)


def test_unit_float_pixels_get_a_clear_error(demo_model, plain, images):
    unit = images.astype(np.float32) / 255.0
    for call in (lambda: gradcam(plain, unit[0]),
                 lambda: saliency(demo_model, unit[0]),
                 lambda: adversarial_strip(plain, unit[0], target=7),
                 lambda: fgsm(plain, unit[:2], np.array([1, 2]), 4),
                 lambda: channel_means(plain, unit, "fc2"),
                 lambda: layer_sequence(plain, unit),
                 lambda: demo_model.predict_proba(unit)):
        with pytest.raises(ValueError, match="floats in 0..1"):
            call()
    # 0..255 floats, and a black image, are pixels like any other
    assert saliency(demo_model, images[0].astype(np.float32)).target >= 0
    assert saliency(demo_model, np.zeros_like(unit[0])).heatmap.shape == (32, 32)


def test_saliency_and_gradcam_take_a_batch(plain, images):
    batch = images[:4]
    cams = gradcam(plain, batch, target=[1, 2, 3, 4])
    sals = saliency(plain, batch)
    assert [c.target for c in cams] == [1, 2, 3, 4] and len(sals) == 4
    for i in range(4):
        one = gradcam(plain, batch[i], target=i + 1)
        np.testing.assert_allclose(cams[i].heatmap, one.heatmap, atol=1e-4)
        np.testing.assert_allclose(sals[i].native, saliency(plain, batch[i]).native, rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="one target per image"):
        gradcam(plain, batch, target=[1, 2])
