"""Adversarial strips and FGSM on small models of every input/output convention, and the demo.

The small models learn a synthetic task in a second (the class is the dominant colour
channel), so their gradients mean something; each variant differs only in how it takes its
input (0..255 with a Rescaling layer, or 0..1) and how it ends (Dense softmax, a Softmax
layer, or logits).
"""

import numpy as np
import pytest

from deepling.methods import Channel, ModelProbe, adversarial_strip, fgsm
from deepling.methods.adversarial import frame_steps
from deepling.models import ModelAdapter

SIZE, N_CLASSES = 12, 3
VARIANTS = ["softmax-rescaling", "softmax-unit", "softmax-layer-unit", "logits-rescaling"]


def colour_task(n, seed):
    """uint8 images whose label is the channel with the added brightness."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, N_CLASSES, n)
    x = rng.uniform(0, 140, (n, SIZE, SIZE, 3))
    x[np.arange(n), :, :, labels] += 90
    return np.clip(x, 0, 255).astype(np.uint8), labels


def build_small(variant, seed=0):
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    head, scaling = variant.rsplit("-", 1)
    inputs = keras.Input((SIZE, SIZE, 3))
    x = layers.Rescaling(1 / 255)(inputs) if scaling == "rescaling" else inputs
    x = layers.Conv2D(8, 3, activation="relu", name="conv")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(8, 3, activation="relu", name="conv2")(x)
    x = layers.Flatten()(x)
    if head == "softmax":
        out = layers.Dense(N_CLASSES, activation="softmax", name="out")(x)
    elif head == "softmax-layer":
        out = layers.Softmax()(layers.Dense(N_CLASSES, name="out")(x))
    else:
        out = layers.Dense(N_CLASSES, name="out")(x)
    model = keras.Model(inputs, out)
    images, labels = colour_task(512, seed)
    x_train = images.astype("float32") / (255.0 if scaling == "unit" else 1.0)
    model.compile(keras.optimizers.Adam(1e-2), keras.losses.SparseCategoricalCrossentropy(
        from_logits=head == "logits"))
    model.fit(x_train, labels, epochs=4, batch_size=64, verbose=0)
    return ModelAdapter.from_model(model, variant)


@pytest.fixture(scope="module")
def small_models():
    return {v: build_small(v) for v in VARIANTS}


@pytest.fixture(scope="module")
def test_images():
    return colour_task(16, seed=99)


def _target_other_than_predicted(adapter, image):
    probs = adapter.predict_proba(image[None])[0]
    return int(np.argsort(probs)[0])  # the least likely class: the longest way to go


def test_small_models_learned_the_task(small_models, test_images):
    images, labels = test_images
    for adapter in small_models.values():
        assert (adapter.predict_proba(images).argmax(1) == labels).mean() >= 0.8, adapter.name


@pytest.mark.parametrize("norm", ["l2", "sign"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_class_strip_raises_target_probability(small_models, test_images, variant, norm):
    adapter = small_models[variant]
    image = test_images[0][0]
    target = _target_other_than_predicted(adapter, image)
    strip = adversarial_strip(adapter, image, target, steps=28, step_size=2.0, norm=norm,
                              spacing="linear")

    assert strip.frames.shape == (8, SIZE, SIZE, 3) and strip.frames.dtype == np.uint8
    assert np.array_equal(strip.frames[0], image)
    assert strip.steps.tolist() == [0, 4, 8, 12, 16, 20, 24, 28]
    assert strip.probabilities.shape == (8, N_CLASSES)
    # The probabilities are those of the frames as shown (rounded to uint8).
    np.testing.assert_allclose(strip.probabilities, adapter.predict_proba(strip.frames), atol=1e-5)
    p = strip.probabilities[:, target]
    assert (np.diff(p) >= -1e-3).sum() >= 6, p  # non-decreasing in nearly all steps
    assert p[-1] > p[0] + 0.2, p
    assert np.all(np.diff(strip.target_score) > -1e-3)
    np.testing.assert_allclose(strip.target_score, np.log(np.maximum(p, 1e-30)), atol=1e-3)
    # Signed delta and its per-pixel magnitude agree with the frames.
    np.testing.assert_array_equal(strip.delta, strip.frames.astype(np.float32) - image)
    np.testing.assert_allclose(strip.delta_magnitude, np.linalg.norm(strip.delta, axis=-1), rtol=1e-6)
    if norm == "sign":
        assert np.abs(strip.delta[-1]).max() <= 28 * 2.0
    assert strip.predicted[-1] == target and strip.flip_frame is not None
    assert strip.predicted[strip.flip_frame] != strip.predicted[0]
    assert strip.flip_step == strip.steps[strip.flip_frame]


def test_strip_respects_pixel_range_and_max_change(small_models):
    adapter = small_models["softmax-rescaling"]
    image = np.zeros((SIZE, SIZE, 3), np.uint8)
    image[:, :6] = 255  # half saturated high, half low: steps must clip, not wrap
    strip = adversarial_strip(adapter, image, 1, n_frames=5, steps=20, step_size=3.0,
                              max_change=7, norm="sign")
    assert len(strip.frames) == 5 and strip.steps.tolist() == [0, 1, 3, 7, 20]  # geometric
    assert np.abs(strip.delta).max() <= 7
    assert (strip.delta[:, :, :6] <= 0).all() and (strip.delta[:, :, 6:] >= 0).all()
    assert np.abs(strip.delta[-1]).max() == 7  # the bound is reached, so it was enforced


def test_default_frames_are_geometric_and_distinct():
    assert frame_steps(40, 8).tolist() == [0, 1, 2, 3, 6, 12, 22, 40]
    assert frame_steps(40, 8, "linear").tolist() == [0, 6, 11, 17, 23, 29, 34, 40]
    for steps in range(7, 60):
        got = frame_steps(steps, 8)
        assert len(got) == 8 and got[0] == 0 and got[-1] == steps and (np.diff(got) > 0).all()
    assert frame_steps(40, 2).tolist() == [0, 40]


def test_channel_target_raises_channel_activation(small_models, test_images):
    import keras

    adapter = small_models["softmax-unit"]
    image = test_images[0][2]
    feats = keras.Model(adapter.model.inputs[0], adapter.model.get_layer("conv2").output)
    means = np.asarray(feats(adapter.preprocess(image[None]))).mean(axis=(0, 1, 2))
    channel = int(np.argmax(means > 0))  # a channel that fires, so it has a gradient
    strip = adversarial_strip(adapter, image, Channel("conv2", channel), steps=14, step_size=2.0)
    independent = np.asarray(feats(adapter.preprocess(strip.frames)))[..., channel].mean(axis=(1, 2))
    np.testing.assert_allclose(strip.target_score, independent, rtol=1e-4, atol=1e-5)
    assert independent[-1] > 1.2 * independent[0] > 0
    assert (np.diff(independent) > 0).sum() >= 6
    assert strip.score_name == "mean activation" and strip.target_label == f"conv2 channel {channel}"
    # The other spellings mean the same target.
    for spelled in ({"layer": "conv2", "channel": channel}, ("conv2", channel)):
        other = adversarial_strip(adapter, image, spelled, steps=14, step_size=2.0)
        assert other.target == Channel("conv2", channel)
        np.testing.assert_array_equal(other.frames, strip.frames)
    by_layer = adversarial_strip(adapter, image, channel, layer="conv2", steps=14, step_size=2.0)
    np.testing.assert_array_equal(by_layer.frames, strip.frames)


def test_saturated_softmax_still_moves(test_images):
    """Logits are read before the softmax, so a saturated model still has a gradient."""
    adapter = build_small("softmax-rescaling", seed=1)
    out = adapter.model.get_layer("out")
    kernel, bias = out.get_weights()
    out.set_weights([kernel * 200.0, bias * 200.0])  # probabilities become exactly 0 and 1
    image = test_images[0][3]
    probs = adapter.predict_proba(image[None])[0]
    target = int(np.argmin(probs))
    assert probs[target] == 0.0
    strip = adversarial_strip(adapter, image, target, steps=14, step_size=2.0)
    assert strip.target_score[-1] > strip.target_score[0] + 1.0, strip.target_score
    assert "without its softmax" in ModelProbe.of(adapter).logit_source


def test_probe_mirrors_adapter_preprocess(small_models):
    import tensorflow as tf

    x = np.random.default_rng(0).integers(0, 256, (2, SIZE, SIZE, 3)).astype(np.float32)
    for adapter in small_models.values():
        probe = ModelProbe.of(adapter)
        assert ModelProbe.of(adapter) is probe  # kept on the adapter: traced once
        np.testing.assert_allclose(np.asarray(probe._to_model_input(tf.constant(x))),
                                   adapter.preprocess(x), rtol=1e-6)
        np.testing.assert_allclose(probe.predict(x), adapter.predict_proba(x), atol=1e-5)


def test_bad_targets_raise_clear_errors(small_models, test_images):
    adapter = small_models["softmax-rescaling"]
    image = test_images[0][0]
    with pytest.raises(ValueError, match="out of range.*3 classes"):
        adversarial_strip(adapter, image, 3)
    with pytest.raises(ValueError, match="no layer named 'conv9'.*Layers:"):
        adversarial_strip(adapter, image, Channel("conv9", 0))
    with pytest.raises(ValueError, match="'conv2' has 8 channels"):
        adversarial_strip(adapter, image, Channel("conv2", 8))
    with pytest.raises(ValueError, match="Choose a target"):
        adversarial_strip(adapter, image)
    with pytest.raises(ValueError, match="steps"):
        adversarial_strip(adapter, image, 1, n_frames=8, steps=5)
    with pytest.raises(ValueError, match="model takes 12×12×3"):
        adversarial_strip(adapter, np.zeros((10, 10, 3), np.uint8), 1)


def test_default_target_is_the_wrong_prediction(small_models, test_images):
    adapter = small_models["softmax-rescaling"]
    image, label = test_images[0][0], int(test_images[1][0])
    predicted = int(adapter.predict_proba(image[None])[0].argmax())
    assert predicted == label
    with pytest.raises(ValueError, match="correctly.*runner-up"):
        adversarial_strip(adapter, image, label=label)
    wrong = (label + 1) % N_CLASSES
    strip = adversarial_strip(adapter, image, label=wrong, steps=7)
    assert strip.target == predicted


def test_fgsm_zero_is_identity_and_eps_moves_by_eps(small_models, test_images):
    adapter = small_models["logits-rescaling"]
    images, labels = test_images
    assert np.array_equal(fgsm(adapter, images[0], labels[0], 0.0), images[0])
    floats = images.astype(np.float32) + 0.25
    assert np.array_equal(fgsm(adapter, floats, labels, 0), floats)
    attacked = fgsm(adapter, images, labels, 12)
    assert attacked.dtype == np.uint8 and attacked.shape == images.shape
    change = np.abs(attacked.astype(int) - images)
    inside = (images >= 12) & (images <= 243)
    assert (change[inside] == 12).mean() > 0.95  # sign step of exactly ε where not clipped
    # The true class loses log-probability (read from logits: the model is very confident).
    rows = np.arange(len(labels))
    before = _log_softmax(adapter.model(adapter.preprocess(images)))[rows, labels]
    after = _log_softmax(adapter.model(adapter.preprocess(attacked)))[rows, labels]
    assert (after < before).mean() >= 0.9 and -after.mean() > 3 * -before.mean()
    with pytest.raises(ValueError, match="outside 0..2"):
        fgsm(adapter, images[0], 5, 4)


def _log_softmax(logits):
    from scipy.special import log_softmax

    return log_softmax(np.asarray(logits, np.float64), axis=1)


def test_demo_strip_flips_a_misclassified_cifar_image(demo_model, cifar_sample):
    probs = demo_model.predict_proba(cifar_sample.images)
    wrong = np.flatnonzero(probs.argmax(1) != cifar_sample.labels)
    i = int(wrong[0])
    label = int(cifar_sample.labels[i])
    strip = adversarial_strip(demo_model, cifar_sample.images[i], label)  # push to the truth
    assert strip.frames.shape == (8, 32, 32, 3)
    p = strip.probabilities[:, label]
    assert (np.diff(p) >= -1e-3).sum() >= 6 and p[-1] > p[0]
    assert strip.predicted[-1] == label and strip.flip_frame is not None
    default = adversarial_strip(demo_model, cifar_sample.images[i], label=label, steps=7)
    assert default.target == int(probs[i].argmax())
