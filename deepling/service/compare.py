"""Two models on the same data: what each gets right, and their animations aligned.

The comparison view asks for the same choice of images in both models (so "classes" or
"random": choices that depend on a model's predictions would pick different images) and
reads both projections from the disk cache once their jobs are done.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deepling.evaluation import confusion_matrix

# choices that pick the same images whatever the model predicts
SAME_IMAGE_MODES = ("classes", "random")
DEFAULT_CHOICE = {"mode": "classes", "count": 20, "seed": 0}


@dataclass(frozen=True, eq=False)
class Comparison:
    """Model A against model B on one dataset's labelled images.

    Attributes
    ----------
    cm_a, cm_b : ndarray of int, shape (K, K)
        Confusion matrices (rows true, columns predicted).
    difference : ndarray of int, shape (K, K)
        ``cm_b - cm_a``: its entries sum to zero (both count every labelled image once).
    accuracy_a, accuracy_b : ndarray of float, shape (K,)
        Accuracy per true class (NaN for a class with no image).
    only_a, only_b : ndarray of int
        Dataset indices A gets right and B wrong, and the other way round, the most
        confident disagreements first.
    """

    cm_a: np.ndarray
    cm_b: np.ndarray
    difference: np.ndarray
    accuracy_a: np.ndarray
    accuracy_b: np.ndarray
    only_a: np.ndarray
    only_b: np.ndarray

    @property
    def overall(self) -> tuple[float, float]:
        return (float(np.trace(self.cm_a) / max(self.cm_a.sum(), 1)),
                float(np.trace(self.cm_b) / max(self.cm_b.sum(), 1)))


def compare_predictions(labels, pred_a, pred_b, n_classes: int) -> Comparison:
    """The comparison from two models' predictions (each a ``Predictions``) on the same images."""
    labels = np.asarray(labels)
    if not (len(labels) == len(pred_a.predicted) == len(pred_b.predicted)):
        raise ValueError("Both models must be run on the same images.")
    cm_a = confusion_matrix(labels, pred_a.predicted, n_classes)
    cm_b = confusion_matrix(labels, pred_b.predicted, n_classes)
    known = labels >= 0
    right_a, right_b = known & (pred_a.predicted == labels), known & (pred_b.predicted == labels)

    def ranked(mask, confidence):
        idx = np.flatnonzero(mask)
        return idx[np.argsort(-confidence[idx], kind="stable")]

    with np.errstate(invalid="ignore", divide="ignore"):
        support = cm_a.sum(axis=1)
        acc_a = np.where(support > 0, np.diag(cm_a) / support, np.nan)
        acc_b = np.where(support > 0, np.diag(cm_b) / support, np.nan)
    return Comparison(cm_a, cm_b, cm_b - cm_a, acc_a, acc_b,
                      ranked(right_a & ~right_b, pred_b.confidence),   # B wrong, and sure of it
                      ranked(right_b & ~right_a, pred_a.confidence))


def compare_models(workspace, model_a: str, model_b: str, data_id: str) -> Comparison:
    ds = workspace.dataset(model_a, data_id)
    return compare_predictions(ds.labels, workspace.predictions(model_a, data_id),
                               workspace.predictions(model_b, data_id), ds.n_classes)


def same_images_choice(raw: dict | None) -> dict:
    """The compare view's choice: a same-image mode, with its defaults."""
    choice = {**DEFAULT_CHOICE, **{k: v for k, v in (raw or {}).items() if v not in (None, "")}}
    if choice["mode"] not in SAME_IMAGE_MODES:
        choice["mode"] = DEFAULT_CHOICE["mode"]
    return choice


def aligned_sequences(projections, request_a, request_b):
    """Both models' stored projections (None until both jobs are done), B's layouts turned
    onto A's at layers matched by relative depth.

    Returns ``(indices, sequence_a, sequence_b_aligned, matched)`` or None.
    """
    from deepling.projection.compare import align_to_reference

    a, b = projections.result(request_a), projections.result(request_b)
    if a is None or b is None:
        return None
    if not np.array_equal(a.indices, b.indices):
        raise ValueError("The two models were shown different images; choose images by class "
                         "or at random to compare.")
    seq_b, matched = align_to_reference(a.sequence, b.sequence)
    return a.indices, a.sequence, seq_b, matched
