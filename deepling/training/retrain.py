"""Retrain on a selection: push the model on the images the user picked.

Each batch is the selection (all of it, or a random part when it is larger than half a batch)
filled up with random training images to the batch size, so the model sees the picked images
often without forgetting the rest. The result says, for the picked images, how many the model
gets right before and after, and the validation accuracy before and after: whether it helped
or only overfitted.
"""

from __future__ import annotations

import numpy as np

from deepling.training.step import MonitoredStep, make_optimizer


def retrain_on_selection(model, x_selected, y_selected, x_pool, y_pool, *, iterations: int = 30,
                         batch_size: int = 64, learning_rate: float = 5e-4, optimizer: str = "adam",
                         validation=None, seed: int = 0, progress=None) -> dict:
    """Train ``model`` in place for ``iterations`` batches of selection + random pool images.

    Parameters
    ----------
    model : keras.Model
    x_selected, y_selected : ndarray
        The picked images (uint8) and the labels they should get (their true classes).
    x_pool, y_pool : ndarray
        Training images that fill each batch.
    iterations : int
    batch_size : int
    learning_rate : float
    optimizer : str
    validation : (x, y), optional
    seed : int
    progress : callable, optional

    Returns
    -------
    dict
        ``selected`` (count), ``correct_before``, ``correct_after``, ``val_accuracy_before``,
        ``val_accuracy_after`` (None without validation), ``losses`` (one per iteration).
    """
    if len(x_selected) == 0:
        raise ValueError("The selection is empty: pick images with the box or lasso first.")
    rng = np.random.default_rng(seed)
    step = MonitoredStep(model, make_optimizer(optimizer, learning_rate))
    y_selected = np.asarray(y_selected, np.int32)
    n_sel = min(len(x_selected), max(1, batch_size // 2))

    def correct():
        return int((_predict(model, x_selected).argmax(-1) == y_selected).sum())

    before = correct()
    val_before = step.evaluate(*validation)[1] if validation is not None else None
    losses = []
    for i in range(iterations):
        pick = rng.choice(len(x_selected), n_sel, replace=False)
        fill = rng.choice(len(x_pool), batch_size - n_sel, replace=False)
        xb = np.concatenate([x_selected[pick], x_pool[fill]])
        yb = np.concatenate([y_selected[pick], np.asarray(y_pool[fill], np.int32)])
        losses.append(step(xb, yb)["loss"])
        if progress:
            progress((i + 1) / iterations, f"iteration {i + 1}/{iterations}")
    return {"selected": int(len(x_selected)), "correct_before": before, "correct_after": correct(),
            "val_accuracy_before": val_before,
            "val_accuracy_after": step.evaluate(*validation)[1] if validation is not None else None,
            "losses": losses}


def _predict(model, x, batch_size: int = 256):
    return np.concatenate([np.asarray(model(np.asarray(x[i:i + batch_size], np.float32), training=False))
                           for i in range(0, len(x), batch_size)])
