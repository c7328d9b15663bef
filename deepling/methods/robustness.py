"""Robustness curves: the probability of the true class as an augmentation gets stronger.

For each magnitude, every image is augmented and classified; the curves are the mean
probability of the *true* class per class and, for the image the user selected, per image.
Magnitude 0 is the identity for every augmentation, and those images are not touched, so
that column equals ``adapter.predict_proba(images, batch_size)`` exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from deepling.methods import edits
from deepling.methods._probe import ModelProbe
from deepling.methods.fgsm import check_labels, gradient_sign
from deepling.models.adapter import as_adapter


@dataclass(frozen=True)
class Augmentation:
    """One augmentation the robustness view can sweep.

    Attributes
    ----------
    name : str
        Registry key.
    label : str
        For the UI.
    unit : str
        Unit of the magnitude.
    range : (float, float)
        Sensible slider range.
    grid : tuple of float
        Default magnitudes, including 0.
    apply : callable or None
        ``apply(images_uint8_NHWC, magnitude, seed) -> images``; None for FGSM, which needs
        the model and labels.
    """

    name: str
    label: str
    unit: str
    range: tuple[float, float]
    grid: tuple[float, ...]
    apply: Callable | None = None


AUGMENTATIONS = MappingProxyType({a.name: a for a in (
    Augmentation("rotation", "Rotation", "degrees", (-180.0, 180.0),
                 (0, 10, 20, 30, 45, 90), lambda x, m, seed: edits.rotate(x, m)),
    Augmentation("brightness", "Brightness", "pixel levels added", (-200.0, 200.0),
                 (-120, -80, -40, 0, 40, 80, 120), lambda x, m, seed: edits.brightness(x, delta=m)),
    Augmentation("hue", "Hue shift", "degrees", (0.0, 180.0),
                 (0, 30, 60, 90, 120, 180), lambda x, m, seed: edits.hue(x, m)),
    Augmentation("blur", "Gaussian blur", "sigma in pixels", (0.0, 4.0),
                 (0, 0.5, 1, 1.5, 2, 3), lambda x, m, seed: edits.blur(x, m)),
    Augmentation("noise", "Gaussian noise", "sigma in pixel levels", (0.0, 100.0),
                 (0, 8, 16, 32, 48, 64), lambda x, m, seed: edits.add_noise(x, m, seed)),
    Augmentation("fgsm", "FGSM attack", "epsilon in pixel levels", (0.0, 32.0),
                 (0, 1, 2, 4, 8, 16), None),
)})


@dataclass(frozen=True, eq=False)
class RobustnessCurves:
    """Probability of the true class under one augmentation at several magnitudes.

    Attributes
    ----------
    augmentation : str
    unit : str
    magnitudes : ndarray of float, shape (M,)
    per_image : ndarray of float32, shape (N, M)
        Probability of each image's true class.
    per_class : ndarray of float32, shape (n_classes, M)
        Mean of ``per_image`` over the images of each class (NaN for a class with none).
    accuracy : ndarray of float32, shape (M,)
        Fraction of images whose top class is the true one.
    counts : ndarray of int, shape (n_classes,)
        Images per class.
    """

    augmentation: str
    unit: str
    magnitudes: np.ndarray
    per_image: np.ndarray
    per_class: np.ndarray
    accuracy: np.ndarray
    counts: np.ndarray

    @property
    def mean(self) -> np.ndarray:
        """Mean true-class probability over all images, shape (M,)."""
        return self.per_image.mean(axis=0)

    def plot(self, class_names=None, **kwargs):
        """A Plotly figure of the curves (see :mod:`deepling.plots`)."""
        from deepling.plots import plot_robustness

        return plot_robustness(self, class_names, **kwargs)


def robustness_curves(model, images, labels, augmentation: str, magnitudes=None, *,
                      batch_size: int = 256, seed: int = 0,
                      progress: Callable[[float, str], None] | None = None) -> RobustnessCurves:
    """Sweep ``augmentation`` over ``magnitudes`` and record true-class probabilities.

    Parameters
    ----------
    model : keras.Model or ModelAdapter
    images : ndarray of uint8, shape (N, H, W, C)
        Fitted to the model.
    labels : ndarray of int, shape (N,)
        True classes; all must be known (0..n_classes-1).
    augmentation : str
        A key of :data:`AUGMENTATIONS`: rotation, brightness, hue, blur, noise or fgsm.
    magnitudes : sequence of float, optional
        In the augmentation's unit; default its ``grid``.
    batch_size : int
        Images per model call (256 matches ``ModelAdapter.predict_proba``).
    seed : int
        Noise seed; each batch draws from ``(seed, batch start)`` so results do not depend
        on how many magnitudes are asked for.
    progress : callable, optional
        ``progress(fraction, message)`` after each batch × magnitude, fraction rising
        from 0 to 1.
    """
    if augmentation not in AUGMENTATIONS:
        raise ValueError(f"Unknown augmentation {augmentation!r}; choose one of {', '.join(AUGMENTATIONS)}.")
    aug = AUGMENTATIONS[augmentation]
    mags = np.asarray(aug.grid if magnitudes is None else magnitudes, dtype=np.float64).reshape(-1)
    if not len(mags) or not np.isfinite(mags).all():
        raise ValueError("Give at least one finite magnitude.")
    if aug.name in ("blur", "noise", "fgsm") and (mags < 0).any():
        raise ValueError(f"{aug.label} magnitudes must be ≥ 0 ({aug.unit}).")
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4:
        raise ValueError(f"images must be uint8 N×H×W×C, got {images.dtype} {images.shape}.")
    adapter = as_adapter(model)
    n_classes = int(adapter.n_outputs)
    labels = check_labels(labels, len(images), n_classes)
    probe = ModelProbe.of(adapter) if aug.apply is None else None

    per_image = np.empty((len(images), len(mags)), np.float32)
    correct = np.zeros(len(mags), np.int64)
    starts = range(0, len(images), batch_size)
    total, done = len(starts) * len(mags), 0
    for start in starts:
        batch, y = images[start:start + batch_size], labels[start:start + batch_size]
        rows = np.arange(len(batch))
        direction = None
        for m, magnitude in enumerate(mags):
            if magnitude == 0:
                shown = batch  # identity: the exact pixels predict_proba would see
            elif aug.apply is not None:
                shown = aug.apply(batch, float(magnitude), (seed, start))
            else:
                if direction is None:  # sign of the gradient is the same for every ε
                    direction = gradient_sign(probe, batch.astype(np.float32), y, batch_size)
                shown = np.rint(np.clip(batch + np.float32(magnitude) * direction, 0, 255)) \
                    .astype(np.uint8)
            probs = adapter.predict_proba(shown, batch_size=batch_size)
            per_image[start:start + len(batch), m] = probs[rows, y]
            correct[m] += int((probs.argmax(axis=1) == y).sum())
            done += 1
            if progress is not None:
                progress(done / total, f"{aug.label}: {done} of {total} batch × magnitude steps")

    counts = np.bincount(labels, minlength=n_classes)
    sums = np.zeros((n_classes, len(mags)), np.float64)
    np.add.at(sums, labels, per_image)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = (sums / counts[:, None]).astype(np.float32)
    return RobustnessCurves(aug.name, aug.unit, mags, per_image, per_class,
                            (correct / max(len(images), 1)).astype(np.float32), counts)
