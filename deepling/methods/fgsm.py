"""Fast Gradient Sign Method (Goodfellow et al. 2015), in pixel units.

``x' = clip(x + ε · sign(∇ₓ CE(target)), 0, 255)`` where CE is the cross-entropy of the
target class (the true class, for the classic untargeted attack), computed from the logits (see :mod:`deepling.methods._probe`) so it does not vanish
on confidently classified images.
"""

from __future__ import annotations

import numpy as np

from deepling.methods._probe import ModelProbe


def fgsm(model, image, target, epsilon: float, batch_size: int = 128) -> np.ndarray:
    """One-step FGSM perturbation of one image or a batch.

    Parameters
    ----------
    model : keras.Model, ModelAdapter or ModelProbe
    image : array, shape (H, W, C) or (N, H, W, C)
        Pixels in 0..255 (uint8 or float), fitted to the model.
    target : int or array of int, shape (N,)
        Class per image whose loss the step *increases* (its true class, for the
        classic attack).
    epsilon : float
        Size of the step in pixel levels on the 0..255 scale (ε = 8 is the classic 8/255).
        ``epsilon = 0`` returns an exact copy.
    batch_size : int
        Images per gradient computation.

    Returns
    -------
    ndarray
        Same shape and dtype as ``image``; uint8 input is rounded back to uint8 (so ε below
        0.5 changes nothing there — pass floats for sub-level steps).
    """
    if not epsilon >= 0:
        raise ValueError(f"epsilon must be ≥ 0 pixel levels, got {epsilon}.")
    original = np.asarray(image)
    if epsilon == 0:
        return original.copy()
    probe = ModelProbe.of(model)
    x, single = probe.as_batch(original)
    labels = check_labels(target, len(x), probe.n_classes)
    out = np.clip(x + np.float32(epsilon) * gradient_sign(probe, x, labels, batch_size), 0, 255)
    if original.dtype == np.uint8:
        out = np.rint(out).astype(np.uint8)
    else:
        out = out.astype(original.dtype, copy=False)
    return out[0] if single else out


def gradient_sign(probe: ModelProbe, x: np.ndarray, labels: np.ndarray,
                  batch_size: int = 128) -> np.ndarray:
    """sign(∇ₓ cross-entropy of ``labels``) for float pixels ``x`` (N×H×W×C), batched."""
    grad_fn = probe.input_gradient("log_prob")
    out = np.empty_like(x)
    for start in range(0, len(x), batch_size):
        stop = start + batch_size
        _, _, grad = grad_fn(x[start:stop], labels[start:stop].astype(np.int32))
        out[start:stop] = -np.sign(np.asarray(grad))  # ascend the loss = descend log p(label)
    return out


def check_labels(label, n: int, n_classes: int) -> np.ndarray:
    """``label`` as an int array of length ``n``, every entry a valid class."""
    labels = np.atleast_1d(np.asarray(label))
    if labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"Expected {n} integer label(s), got {np.asarray(label)!r:.80}.")
    bad = (labels < 0) | (labels >= n_classes)
    if bad.any():
        raise ValueError(
            f"{int(bad.sum())} label(s) outside 0..{n_classes - 1} (e.g. {labels[bad][0]}); "
            "this needs the true class of every image (-1 means unknown)."
        )
    return labels.astype(np.int64)
