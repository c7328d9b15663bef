"""How well a model does on a dataset, which images to look at, and what breaks it.

The scores and filters work on predictions (labels, predicted classes, confidences as
arrays), never on pixels, so they are fast enough to run on every click.
Images whose label is unknown (``-1``) have a prediction but no right answer: they are left
out of every score and count, and a filter on the true class never matches them.

:func:`simulate_robustness` does touch pixels (every augmentation at every magnitude over a
sample of images); the service runs it as the background task ``robustness`` and caches it
(:mod:`deepling.service.robustness`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import confusion_matrix as _sk_confusion_matrix
from sklearn.metrics import precision_recall_fscore_support

SORTS = ("confidence-asc", "confidence-desc", "index")


@dataclass(frozen=True, eq=False)
class Scores:
    """Summary scores on the labelled images.

    Attributes
    ----------
    confusion : ndarray of int, shape (K, K)
        ``confusion[i, j]``: images of true class ``i`` predicted as ``j`` (rows true,
        columns predicted).
    accuracy : float
        Fraction of labelled images predicted right (NaN when none is labelled).
    recall : ndarray of float, shape (K,)
        Per true class, the fraction predicted right: the per-class accuracy (NaN for a
        class without images).
    precision : ndarray of float, shape (K,)
        Per predicted class, the fraction that is right (NaN for a class never predicted).
    support : ndarray of int, shape (K,)
        Labelled images per true class.
    n_labelled, n_unlabelled : int
    """

    confusion: np.ndarray
    accuracy: float
    recall: np.ndarray
    precision: np.ndarray
    support: np.ndarray
    n_labelled: int
    n_unlabelled: int

    @property
    def balanced_accuracy(self) -> float:
        """Mean recall over the classes that have images."""
        present = self.support > 0
        return float(self.recall[present].mean()) if present.any() else float("nan")


def confusion_matrix(labels, predicted, n_classes: int) -> np.ndarray:
    """Counts of (true, predicted) pairs, rows true and columns predicted.

    Parameters
    ----------
    labels : array of int, shape (N,)
        True classes; ``-1`` (unknown) is skipped.
    predicted : array of int, shape (N,)
    n_classes : int
        K; the matrix is K×K even when a class never occurs.

    Raises
    ------
    ValueError
        Lengths differ, or a class is outside 0..K-1.
    """
    labels, predicted = _check(labels, predicted, n_classes)
    known = labels >= 0
    if not known.any():  # sklearn refuses empty input; no labelled image is an empty matrix
        return np.zeros((n_classes, n_classes), np.int64)
    return _sk_confusion_matrix(labels[known], predicted[known], labels=np.arange(n_classes))


def scores(labels, predicted, n_classes: int) -> Scores:
    """Confusion matrix, accuracy, per-class recall and precision (see :class:`Scores`)."""
    labels, predicted = _check(labels, predicted, n_classes)
    known = labels >= 0
    cm = confusion_matrix(labels, predicted, n_classes)
    support = cm.sum(axis=1)
    if known.any():
        precision, recall, _, _ = precision_recall_fscore_support(
            labels[known], predicted[known], labels=np.arange(n_classes), zero_division=np.nan)
        accuracy = float(np.trace(cm) / cm.sum())
    else:
        precision = recall = np.full(n_classes, np.nan)
        accuracy = float("nan")
    return Scores(cm, accuracy, np.asarray(recall, float), np.asarray(precision, float),
                  support, int(known.sum()), int((~known).sum()))


def top_confusions(confusion: np.ndarray, k: int = 20) -> list[tuple[int, int, int]]:
    """The ``k`` largest off-diagonal cells of a confusion matrix, largest first: the
    model's most frequent mistakes as ``(true, predicted, count)``, zero cells left out.
    Ties go to the lower (true, predicted) pair, so the order is stable."""
    cm = np.asarray(confusion)
    off = cm.copy()
    np.fill_diagonal(off, 0)
    flat = off.ravel()
    k = int(min(k, np.count_nonzero(flat)))
    if k <= 0:
        return []
    # stable: by count descending, then by flat index ascending
    order = np.lexsort((np.arange(flat.size), -flat))[:k]
    n = cm.shape[1]
    return [(int(i // n), int(i % n), int(flat[i])) for i in order]


def cell_indices(labels, predicted, true: int, pred: int) -> np.ndarray:
    """Dataset indices (sorted) of the images in confusion cell (``true``, ``pred``)."""
    labels, predicted = np.asarray(labels), np.asarray(predicted)
    return np.flatnonzero((labels == int(true)) & (predicted == int(pred)))


def filter_images(labels, predicted, confidence, *, true=None, pred=None, errors_only=False,
                  confidence_range=(0.0, 1.0), sort: str = "confidence-asc",
                  among=None) -> np.ndarray:
    """Dataset indices that pass the filters, in the order asked for.

    Parameters
    ----------
    labels, predicted : array of int, shape (N,)
    confidence : array of float, shape (N,)
        Probability of the predicted class.
    true, pred : int or None
        Keep only this true / predicted class; None keeps all.
    errors_only : bool
        Keep only labelled images the model gets wrong.
    confidence_range : (float, float)
        Inclusive bounds on ``confidence``, in 0..1.
    sort : {'confidence-asc', 'confidence-desc', 'index'}
        Least confident first (where the model hesitates), most confident first, or
        dataset order. Ties keep dataset order, so the grid does not reshuffle.
    among : array of int, optional
        Keep only these dataset indices (a pick of images made in another view).
    """
    if sort not in SORTS:
        raise ValueError(f"sort must be one of {SORTS}, got {sort!r}.")
    labels, predicted = np.asarray(labels), np.asarray(predicted)
    confidence = np.asarray(confidence, dtype=np.float64)
    lo, hi = (float(v) for v in confidence_range)
    keep = (confidence >= lo - 1e-9) & (confidence <= hi + 1e-9)
    if true is not None:
        keep &= labels == int(true)
    if pred is not None:
        keep &= predicted == int(pred)
    if errors_only:
        keep &= (labels >= 0) & (labels != predicted)
    if among is not None:
        picked = np.zeros(len(keep), bool)
        among = np.asarray(among, dtype=np.int64).reshape(-1)
        picked[among[(among >= 0) & (among < len(keep))]] = True
        keep &= picked
    idx = np.flatnonzero(keep)
    if sort == "index":
        return idx
    key = confidence[idx] if sort == "confidence-asc" else -confidence[idx]
    return idx[np.argsort(key, kind="stable")]


def stratified_sample(labels, size: int, seed: int = 0) -> np.ndarray:
    """About ``size`` labelled images, as evenly spread over the classes as they allow.

    Each class gets ``size // K`` images (a class with fewer gives all it has, and the
    shortfall goes to the others), so every per-class curve rests on a similar count. The
    same labels, size and seed always give the same sorted indices.
    """
    labels = np.asarray(labels)
    if size < 1:
        raise ValueError(f"The sample needs at least 1 image, got size={size}.")
    classes = np.unique(labels[labels >= 0])
    if not len(classes):
        raise ValueError("No image has a label; a stratified sample needs labelled data.")
    rng = np.random.default_rng(seed)
    pools = {k: rng.permutation(np.flatnonzero(labels == k)) for k in classes}
    take = dict.fromkeys(classes, 0)
    left = min(size, sum(len(p) for p in pools.values()))
    while left:  # hand out the quota round by round, skipping classes that ran out
        open_classes = [k for k in classes if take[k] < len(pools[k])]
        share = max(left // len(open_classes), 1)
        for k in open_classes:
            n = min(share, len(pools[k]) - take[k], left)
            take[k] += n
            left -= n
            if not left:
                break
    return np.sort(np.concatenate([pools[k][:take[k]] for k in classes]))


def _check(labels, predicted, n_classes: int):
    labels = np.asarray(labels).astype(np.int64).reshape(-1)
    predicted = np.asarray(predicted).astype(np.int64).reshape(-1)
    if len(labels) != len(predicted):
        raise ValueError(f"{len(labels)} labels but {len(predicted)} predictions.")
    if len(labels) and (labels.max() >= n_classes or labels.min() < -1):
        raise ValueError(f"Labels must be -1 (unknown) or 0..{n_classes - 1}.")
    if len(predicted) and (predicted.max() >= n_classes or predicted.min() < 0):
        raise ValueError(f"Predicted classes must be in 0..{n_classes - 1}.")
    return labels, predicted


# --- robustness simulation ----------------------------------------------------------------
ROBUSTNESS_SEED = 0


def simulate_robustness(model, images, labels, *, batch_size: int = 256,
                        seed: int = ROBUSTNESS_SEED, progress=None) -> dict[str, np.ndarray]:
    """Every augmentation of :data:`~deepling.methods.AUGMENTATIONS` over its default grid.

    Parameters
    ----------
    model : keras.Model or ModelAdapter
    images : ndarray of uint8, shape (N, H, W, C)
    labels : ndarray of int, shape (N,)
        All known (0..K-1).
    progress : callable, optional
        ``progress(fraction, message)`` over the whole simulation (the job runner's
        convention).

    Returns
    -------
    dict of ndarray
        For each augmentation ``a``: ``a/magnitudes`` (M,), ``a/per_class`` (K, M) the mean
        probability of the true class per class, ``a/mean`` (M,) over all images and
        ``a/accuracy`` (M,); and ``counts`` (K,). Plain arrays, for the disk cache.
    """
    from deepling.methods import AUGMENTATIONS, robustness_curves

    out = {}
    augs = list(AUGMENTATIONS.values())
    for n, aug in enumerate(augs):
        def step(fraction, _message, n=n, aug=aug):
            if progress is not None:
                progress((n + fraction) / len(augs),
                         f"{aug.label.lower()} ({n + 1}/{len(augs)}) on {len(images):,} images")

        curves = robustness_curves(model, images, labels, aug.name, batch_size=batch_size,
                                   seed=seed, progress=step)
        out[f"{aug.name}/magnitudes"] = curves.magnitudes
        out[f"{aug.name}/per_class"] = curves.per_class
        out[f"{aug.name}/mean"] = curves.mean.astype(np.float32)
        out[f"{aug.name}/accuracy"] = curves.accuracy
        out["counts"] = curves.counts
    return out


def image_robustness(model, image, target: int) -> dict[str, dict]:
    """Probability of class ``target`` for one image under every augmentation's grid.

    Returns ``{augmentation: {"magnitudes": [...], "probability": [...]}}`` (JSON-ready).
    """
    from deepling.methods import AUGMENTATIONS, robustness_curves

    out = {}
    for name in AUGMENTATIONS:
        c = robustness_curves(model, np.asarray(image)[None], np.array([int(target)]), name)
        out[name] = {"magnitudes": c.magnitudes.tolist(), "probability": c.per_image[0].tolist()}
    return out
