"""The attribution methods against independent reference computations on tiny models:
plain GradientTape gradients, closed forms and numpy loops over the model's predictions."""

import numpy as np
import pytest

from deepling.methods import (
    ATTRIBUTIONS,
    attribute,
    gradcam_plus,
    gradient_x_input,
    guided_backprop,
    integrated_gradients,
    layer_cam,
    rise,
    saliency,
    score_cam,
    smoothgrad,
    vargrad,
)
from deepling.methods.rise import rise_masks
from deepling.methods.smoothgrad import noisy_copies
from deepling.models import ModelAdapter

SIZE = 8


@pytest.fixture(scope="module")
def cam_model(tiny_cam_model):
    return tiny_cam_model


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(1).integers(0, 256, (3, SIZE, SIZE, 3)).astype(np.uint8)


def _tape_gradient(model, x, classes):
    import tensorflow as tf

    x = tf.constant(np.asarray(x, np.float32))
    with tf.GradientTape() as tape:
        tape.watch(x)
        logits = model(x, training=False)
        score = tf.reduce_sum(tf.gather(logits, classes, axis=1, batch_dims=1))
    return np.asarray(tape.gradient(score, x))


def _predict_logits(model, x):
    return np.asarray(model(np.asarray(x, np.float32), training=False))


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_every_method_one_call_api(cam_model, images):
    """Every method: one image → one Attribution, a batch → a list; heat maps at image size."""
    for name, spec in ATTRIBUTIONS.items():
        params = {"masks": 50} if name == "rise" else {"samples": 4} if "grad" in name and \
            spec.params.get("samples") else {"patch": 4, "stride": 2} if name == "occlusion" else {}
        one = attribute(cam_model.model, images[0], name, **params)
        assert one.method == name and one.heatmap.shape == (SIZE, SIZE), name
        assert np.isfinite(one.heatmap).all() and np.abs(one.heatmap).max() <= 1.0 + 1e-6
        lo = -1.0 if one.signed else 0.0
        assert one.heatmap.min() >= lo - 1e-6
        batch = attribute(cam_model, images, name, target=[0, 1, 2], **params)
        assert [a.target for a in batch] == [0, 1, 2], name


def test_integrated_gradients_completeness(cam_model, images):
    model = cam_model.model
    for baseline in ("black", "gray", "blurred"):
        attrs = integrated_gradients(cam_model, images, target=[0, 1, 2], baseline=baseline,
                                     steps=256)
        from deepling.methods.integrated_gradients import baseline_images

        bases = baseline_images(images.astype(np.float32), baseline)
        diff = [_predict_logits(model, images)[i, i] - _predict_logits(model, bases)[i, i]
                for i in range(3)]
        for a, d in zip(attrs, diff):
            assert abs(a.native.sum() - d) <= 0.01 * abs(d) + 1e-4, (baseline, a.native.sum(), d)


def test_smoothgrad_is_the_mean_of_seeded_saliency_maps(cam_model, images):
    noisy = noisy_copies(images[:2].astype(np.float32), 5, 0.1, seed=7)
    for i in range(2):
        saliency_maps = np.abs(_tape_gradient(cam_model.model, noisy[i], np.ones(5, int))).max(-1)
        want = saliency_maps.mean(axis=0)
        got = smoothgrad(cam_model, images[:2], target=1, samples=5, noise=0.1, seed=7)[i]
        np.testing.assert_allclose(got.native, want, rtol=1e-4, atol=1e-7)
    again = smoothgrad(cam_model, images[0], target=1, samples=5, noise=0.1, seed=7)
    np.testing.assert_allclose(again.native, smoothgrad(cam_model, images[:2], target=1, samples=5,
                                                        noise=0.1, seed=7)[0].native)


def test_vargrad_is_the_variance_of_tape_gradients(cam_model, images):
    noisy = noisy_copies(images[:1].astype(np.float32), 6, 0.15, seed=2)[0]
    grads = _tape_gradient(cam_model.model, noisy, np.full(6, 2))
    want = grads.var(axis=0).max(axis=-1)
    got = vargrad(cam_model, images[0], target=2, samples=6, noise=0.15, seed=2)
    np.testing.assert_allclose(got.native, want, rtol=1e-3, atol=1e-12)


def test_gradient_x_input_and_saliency_match_the_tape(cam_model, images):
    grads = _tape_gradient(cam_model.model, images, np.array([0, 1, 2]))
    for i, a in enumerate(gradient_x_input(cam_model, images, target=[0, 1, 2])):
        np.testing.assert_allclose(a.native, (grads[i] * images[i]).sum(-1), rtol=1e-4, atol=1e-6)
    predicted = _predict_logits(cam_model.model, images).argmax(1)
    for i, a in enumerate(saliency(cam_model, images)):  # the predicted class, one pass
        assert a.target == predicted[i]


def test_gradcam_plus_weights_follow_the_closed_form(cam_model, images):
    """Conv → global average → linear logits: g_k = W[k, c] / (h·w) everywhere, so
    α = 1 / (2 + g Σ A) and w_k = h·w · ReLU(g_k) / (2 + g_k Σ A_k)."""
    import keras

    model = cam_model.model
    acts = np.asarray(keras.Model(model.inputs, model.get_layer("conv").output)(
        images.astype(np.float32)))
    kernel = model.get_layer("logits").get_weights()[0]
    c = int(np.argmax(np.maximum(kernel, 0).sum(0)))  # a class some channels support
    for i in range(3):
        g = kernel[:, c] / SIZE ** 2
        s = acts[i].sum(axis=(0, 1))
        w = SIZE ** 2 * np.maximum(g, 0) / (2 + g * s)
        cam = np.maximum((acts[i] * w).sum(-1), 0)
        assert cam.max() > 0
        got = gradcam_plus(cam_model, images[i], layer="conv", target=c)
        np.testing.assert_allclose(got.native, cam / cam.max(), rtol=1e-4, atol=1e-5)
        lcam = np.maximum((acts[i] * np.maximum(g, 0)).sum(-1), 0)
        np.testing.assert_allclose(layer_cam(cam_model, images[i], layer="conv", target=c).native,
                                   lcam / lcam.max(), rtol=1e-4, atol=1e-5)


def test_score_cam_weights_are_masked_probabilities(cam_model, images):
    import keras

    model = cam_model.model
    acts = np.asarray(keras.Model(model.inputs, model.get_layer("conv").output)(
        images[:1].astype(np.float32)))[0]  # 'same' padding: the maps are at image size
    lo, hi = acts.min(axis=(0, 1)), acts.max(axis=(0, 1))
    masks = np.where(hi > lo, (acts - lo) / np.where(hi > lo, hi - lo, 1), 0)
    masked = images[0][None].astype(np.float32) * np.moveaxis(masks, -1, 0)[..., None]
    scores = _softmax(_predict_logits(model, masked))[:, 1]
    cam = np.maximum((acts * scores).sum(-1), 0)
    got = score_cam(cam_model, images[0], layer="conv", target=1)
    np.testing.assert_allclose(got.native, cam / cam.max(), rtol=1e-4, atol=1e-5)


def test_rise_is_the_mask_weighted_mean_probability(cam_model, images):
    masks = rise_masks(64, (SIZE, SIZE), cells=3, keep=0.4, seed=5)
    assert masks.shape == (64, SIZE, SIZE) and 0 <= masks.min() and masks.max() <= 1
    np.testing.assert_array_equal(masks, rise_masks(64, (SIZE, SIZE), cells=3, keep=0.4, seed=5))
    probs = _softmax(_predict_logits(cam_model.model, images[2][None] * masks[..., None]))[:, 0]
    want = (probs[:, None, None] * masks).sum(0) / (64 * 0.4)
    got = rise(cam_model, images[2], target=0, masks=64, cells=3, keep=0.4, seed=5, batch_size=20)
    np.testing.assert_allclose(got.native, want, rtol=1e-4)


def test_guided_backprop_closed_form_on_a_clone():
    """Flatten → Dense(ReLU) → Dense: the guided gradient is W1 · (h > 0 ∧ W2[:, c] > 0) W2[:, c];
    the user's model keeps its ordinary gradient."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(4)
    inputs = keras.Input((4, 4, 3))
    hidden = layers.Dense(16, activation="relu", name="hidden")
    out = layers.Dense(3, name="out")
    model = keras.Model(inputs, out(hidden(layers.Flatten()(layers.Rescaling(1 / 255)(inputs)))))
    x = np.random.default_rng(0).integers(0, 256, (2, 4, 4, 3)).astype(np.float32)
    w1, b1 = hidden.get_weights()
    w2 = out.get_weights()[0]
    before = _tape_gradient(model, x, np.array([1, 1]))
    got = guided_backprop(model, x, target=1)
    for i in range(2):
        h = x[i].reshape(-1) / 255 @ w1 + b1
        back = np.where((h > 0) & (w2[:, 1] > 0), w2[:, 1], 0.0)
        want = np.abs((w1 @ back).reshape(4, 4, 3)).max(-1) / 255
        np.testing.assert_allclose(got[i].native, want, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(_tape_gradient(model, x, np.array([1, 1])), before)
    assert hidden.activation.__name__ == "relu"


def test_bad_parameters_say_what_to_do(cam_model, images):
    with pytest.raises(ValueError, match="baseline"):
        integrated_gradients(cam_model, images[0], baseline="white")
    with pytest.raises(ValueError, match="steps"):
        integrated_gradients(cam_model, images[0], steps=0)
    with pytest.raises(ValueError, match="noise"):
        smoothgrad(cam_model, images[0], noise=3)
    with pytest.raises(ValueError, match="spatial"):
        gradcam_plus(cam_model, images[0], layer="logits")
    with pytest.raises(ValueError, match="Unknown method"):
        attribute(cam_model, images[0], "lime")
