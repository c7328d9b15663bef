"""Robustness curves: magnitude 0 is the unaugmented model, and curves mean what they say."""

import numpy as np
import pytest

from deepling.methods import AUGMENTATIONS, robustness_curves
from deepling.models import ModelAdapter

SIZE, N_CLASSES = 12, 3


def colour_task(n, seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, N_CLASSES, n)
    x = rng.uniform(0, 140, (n, SIZE, SIZE, 3))
    x[np.arange(n), :, :, labels] += 90
    return np.clip(x, 0, 255).astype(np.uint8), labels


@pytest.fixture(scope="module")
def small_model():
    import keras
    from keras import layers

    keras.utils.set_random_seed(3)
    inputs = keras.Input((SIZE, SIZE, 3))
    x = layers.Rescaling(1 / 255)(inputs)
    x = layers.Conv2D(8, 3, activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    model = keras.Model(inputs, layers.Dense(N_CLASSES, name="logits")(x))
    images, labels = colour_task(512, 3)
    model.compile(keras.optimizers.Adam(1e-2),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(images.astype("float32"), labels, epochs=3, batch_size=64, verbose=0)
    return ModelAdapter.from_model(model, "small logits model")


@pytest.fixture(scope="module")
def data():
    return colour_task(40, seed=5)


@pytest.mark.parametrize("name", sorted(AUGMENTATIONS))
def test_magnitude_zero_equals_unaugmented_probabilities(small_model, data, name):
    images, labels = data
    aug = AUGMENTATIONS[name]
    mags = [aug.grid[-1], 0.0, aug.grid[1]]  # zero in the middle: no reliance on position
    curves = robustness_curves(small_model, images, labels, name, mags, batch_size=16)
    rows = np.arange(len(labels))
    expected = small_model.predict_proba(images, batch_size=16)[rows, labels]
    np.testing.assert_array_equal(curves.per_image[:, 1], expected)
    assert curves.per_image.shape == (40, 3) and curves.per_class.shape == (N_CLASSES, 3)
    assert not np.array_equal(curves.per_image[:, 0], expected)  # the others did change
    # Default batch size: the same numbers predict_proba gives by default.
    default = robustness_curves(small_model, images, labels, name, [0.0])
    np.testing.assert_array_equal(default.per_image[:, 0],
                                  small_model.predict_proba(images)[rows, labels])


def test_per_class_accuracy_and_progress(small_model, data):
    images, labels = data
    calls = []
    curves = robustness_curves(small_model, images, labels, "noise", [0, 30, 90],
                               batch_size=16, progress=lambda f, msg: calls.append((f, msg)))
    assert [f for f, _ in calls] == [k / 9 for k in range(1, 10)]  # 3 batches × 3 magnitudes
    assert all(isinstance(msg, str) and msg for _, msg in calls)
    for k in range(N_CLASSES):
        np.testing.assert_allclose(curves.per_class[k], curves.per_image[labels == k].mean(0),
                                   rtol=1e-6)
    assert curves.counts.tolist() == np.bincount(labels, minlength=N_CLASSES).tolist()
    probs = small_model.predict_proba(images)
    assert curves.accuracy[0] == pytest.approx((probs.argmax(1) == labels).mean())
    np.testing.assert_allclose(curves.mean, curves.per_image.mean(0))
    assert curves.unit == AUGMENTATIONS["noise"].unit


def test_fgsm_curve_falls_with_epsilon(small_model, data):
    images, labels = data
    curves = robustness_curves(small_model, images, labels, "fgsm", [0, 16, 48, 96])
    assert np.all(np.diff(curves.mean) < 0), curves.mean
    assert curves.accuracy[-1] < curves.accuracy[0]


def test_missing_class_is_nan_and_bad_input_raises(small_model, data):
    images, labels = data
    keep = labels != 2
    curves = robustness_curves(small_model, images[keep], labels[keep], "blur", [0, 1])
    assert np.isnan(curves.per_class[2]).all() and curves.counts[2] == 0
    with pytest.raises(ValueError, match="choose one of"):
        robustness_curves(small_model, images, labels, "sharpen")
    unknown = labels.copy()
    unknown[3] = -1
    with pytest.raises(ValueError, match="true class"):
        robustness_curves(small_model, images, unknown, "blur")
    with pytest.raises(ValueError, match="≥ 0"):
        robustness_curves(small_model, images, labels, "blur", [-1, 0])


def test_registry_describes_each_augmentation():
    assert set(AUGMENTATIONS) == {"rotation", "brightness", "hue", "blur", "noise", "fgsm"}
    for name, aug in AUGMENTATIONS.items():
        assert aug.name == name and aug.unit and aug.label
        assert 0 in aug.grid and len(aug.grid) >= 5
        lo, hi = aug.range
        assert all(lo <= m <= hi for m in aug.grid)
    with pytest.raises(TypeError):
        AUGMENTATIONS["new"] = AUGMENTATIONS["blur"]  # read-only: no shared mutable state


def test_demo_blur_curve(demo_model, cifar_sample):
    curves = robustness_curves(demo_model, cifar_sample.images, cifar_sample.labels, "blur")
    rows = np.arange(len(cifar_sample))
    zero = list(curves.magnitudes).index(0)
    np.testing.assert_array_equal(
        curves.per_image[:, zero],
        demo_model.predict_proba(cifar_sample.images)[rows, cifar_sample.labels])
    assert curves.mean[-1] < curves.mean[zero] - 0.1  # sigma 3 blurs CIFAR beyond recognition
    assert curves.per_class.shape == (10, len(curves.magnitudes))
