"""Grad-CAM, saliency and occlusion point at the region the answer depends on.

The constructed model has hand-set weights: one channel detects red, one green, and the
"red" class reads only the red channel. A red square and a green square sit in known
places, so the evidence for the class is exactly the red square.
"""

import numpy as np
import pytest

from deepling.methods import (
    default_gradcam_layer,
    gradcam,
    occlusion_sensitivity,
    saliency,
)
from deepling.models import ModelAdapter

SIZE = 16
RED = (slice(2, 6), slice(9, 13))      # rows, columns: top right
GREEN = (slice(10, 14), slice(2, 6))   # bottom left


@pytest.fixture(scope="module")
def red_detector():
    import keras
    from keras import layers

    inputs = keras.Input((SIZE, SIZE, 3))
    x = layers.Rescaling(1 / 255)(inputs)
    detect = layers.Conv2D(2, 1, activation="relu", name="detect")
    x = detect(x)
    x = layers.MaxPooling2D(2, name="pool")(x)
    x = layers.Flatten()(x)
    out = layers.Dense(2, activation="softmax", name="out")
    model = keras.Model(inputs, out(x))
    # Channel 0: R - G - B - 0.3 (fires on red); channel 1: G - R - B - 0.3 (green).
    detect.set_weights([np.array([[[[1, -1], [-1, 1], [-1, -1]]]], np.float32),
                        np.array([-0.3, -0.3], np.float32)])
    kernel = np.zeros((8 * 8 * 2, 2), np.float32)
    kernel[0::2, 1] = 1.0  # class 1 ("red") sums the pooled red channel; class 0 is constant
    out.set_weights([kernel, np.array([0.0, -1.0], np.float32)])
    return ModelAdapter.from_model(model, "red detector")


@pytest.fixture(scope="module")
def scene():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 60, (SIZE, SIZE, 3)).astype(np.uint8)
    img[RED] = (255, 0, 0)
    img[GREEN] = (0, 255, 0)
    return img


def _inside(mask_region, flat_index):
    mask = np.zeros((SIZE, SIZE), bool)
    mask[mask_region] = True
    return mask.reshape(-1)[flat_index]


def test_constructed_model_predicts_red(red_detector, scene):
    assert red_detector.predict_proba(scene[None])[0].argmax() == 1


def test_gradcam_peaks_on_the_region_that_matters(red_detector, scene):
    cam = gradcam(red_detector, scene)
    assert cam.layer == "detect" == default_gradcam_layer(red_detector.model)
    assert cam.target == 1 and cam.native.shape == (SIZE, SIZE)
    assert cam.heatmap.shape == (SIZE, SIZE) and 0 <= cam.heatmap.min() and cam.heatmap.max() <= 1
    assert _inside(RED, np.argmax(cam.heatmap))
    assert cam.heatmap[GREEN].max() < 0.05 and cam.heatmap[RED].min() > 0.5

    pooled = gradcam(red_detector, scene, layer="pool")
    assert pooled.native.shape == (8, 8)
    assert _inside(RED, np.argmax(pooled.heatmap))
    assert pooled.heatmap[GREEN].max() < 0.05


def test_gradcam_without_evidence_is_zero_not_nan(red_detector, scene):
    cam = gradcam(red_detector, scene, target=0)  # the constant class: no gradient
    assert np.all(cam.heatmap == 0) and np.all(np.isfinite(cam.native))


def test_gradcam_rejects_bad_layer_and_class(red_detector, scene):
    with pytest.raises(ValueError, match="no layer named"):
        gradcam(red_detector, scene, layer="conv5")
    with pytest.raises(ValueError, match="spatial"):
        gradcam(red_detector, scene, layer="out")
    with pytest.raises(ValueError, match="Class 2 is out of range"):
        gradcam(red_detector, scene, target=2)


def test_saliency_peaks_on_the_region_that_matters(red_detector, scene):
    sal = saliency(red_detector, scene)
    assert sal.heatmap.shape == (SIZE, SIZE) and sal.heatmap.max() == 1.0
    assert _inside(RED, np.argmax(sal.native))
    assert sal.native[GREEN].max() == 0


def test_occlusion_is_highest_where_the_region_is_covered(red_detector, scene):
    occ = occlusion_sensitivity(red_detector, scene, patch=4, stride=2, fill="black")
    assert occ.native.shape == (7, 7) and occ.heatmap.shape == (SIZE, SIZE)
    assert _inside(RED, np.argmax(occ.heatmap))
    assert occ.heatmap[RED].mean() > 0.1
    assert np.abs(occ.heatmap[GREEN]).max() < 1e-6  # covering green changes nothing
    # Starts 0, 3, 6, 9 and then 11, flush with the border, so the last columns are covered.
    odd = occlusion_sensitivity(red_detector, scene, patch=5, stride=3)
    assert odd.native.shape == (5, 5) and np.isfinite(odd.heatmap).all()
    with pytest.raises(ValueError, match="stride 1..patch"):
        occlusion_sensitivity(red_detector, scene, patch=4, stride=5)  # would leave gaps


def _reference_gradcam(model, image, layer, class_index):
    """Grad-CAM written out directly: two-output model, tape, numpy pooling."""
    import keras
    import tensorflow as tf

    head = model.get_layer("predictions")
    two = keras.Model(model.inputs[0], [model.get_layer(layer).output,
                                        model.get_layer("fc2").output])
    kernel, bias = (tf.constant(w) for w in head.get_weights())
    x = tf.constant(image[None].astype(np.float32))  # the demo model rescales inside
    with tf.GradientTape() as tape:
        acts, hidden = two(x, training=False)
        logit = (tf.matmul(hidden, kernel) + bias)[0, class_index]
    grads = tape.gradient(logit, acts).numpy()[0]
    acts = acts.numpy()[0]
    weights = grads.reshape(-1, grads.shape[-1]).mean(axis=0)
    cam = np.maximum(np.einsum("hwc,c->hw", acts, weights), 0)
    return cam / cam.max()


def test_gradcam_matches_direct_computation_on_demo(demo_model, cifar_sample):
    assert default_gradcam_layer(demo_model.model) == "conv3b"
    for i in (0, 37, 81, 150):
        image = cifar_sample.images[i]
        for layer in ("conv3b", "conv2b"):
            cam = gradcam(demo_model, image, layer=layer)
            ref = _reference_gradcam(demo_model.model, image, layer, cam.target)
            assert cam.native.shape == ref.shape
            assert np.corrcoef(cam.native.ravel(), ref.ravel())[0, 1] > 0.99, (i, layer)
