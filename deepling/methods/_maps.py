"""What the attribution methods share: which class each image explains, batched pixel
gradients, and turning a raw map into a heat map at image size."""

from __future__ import annotations

from numbers import Integral

import numpy as np

from deepling.methods._probe import ModelProbe
from deepling.methods._targets import Channel, resolve_target

AUTO = -1  # "the predicted class", resolved inside the compiled gradient functions


def requested_classes(probe: ModelProbe, n: int, target) -> np.ndarray:
    """int32 array of ``n`` classes: ``target`` checked (an int, or one per image), and
    :data:`AUTO` where it is None (the predicted class, resolved in the same forward pass
    as the gradient)."""
    if target is None or np.ndim(target) == 0:
        targets = [target] * n
    else:
        targets = list(target)
        if len(targets) != n:
            raise ValueError(f"Give one target per image: {n} images, {len(targets)} targets.")
    out = np.empty(n, np.int32)
    for i, t in enumerate(targets):
        if t is None:
            out[i] = AUTO
            continue
        if isinstance(t, np.integer):
            t = int(t)
        resolved = resolve_target(t, probe.model, probe.n_classes)
        if isinstance(resolved, Channel):
            raise ValueError(f"This method explains a class, not {resolved}; pass target=<class "
                             "index>, or use adversarial_strip to optimise a channel.")
        out[i] = resolved
    return out


def fixed_classes(probe: ModelProbe, x: np.ndarray, target) -> tuple[np.ndarray, np.ndarray]:
    """(classes, probabilities of ``x``): methods that query the model on changed copies of
    the image need the class fixed first, so the predicted one is read here once."""
    classes = requested_classes(probe, len(x), target)
    probs = probe.probabilities(x)
    auto = classes == AUTO
    classes[auto] = probs[auto].argmax(axis=1)
    return classes, probs


def pixel_gradients(probe: ModelProbe, x: np.ndarray, classes: np.ndarray, batch_size: int = 256,
                    kind: str = "logit") -> tuple[np.ndarray, np.ndarray]:
    """(probabilities, ∂ score / ∂ pixels) of the class logit for every row of ``x``, in
    chunks of ``batch_size``; an :data:`AUTO` class becomes the predicted one."""
    run = probe.input_gradient(kind)
    probs, grads = [], []
    for start in range(0, len(x), batch_size):
        p, _, g = run(x[start:start + batch_size], classes[start:start + batch_size])
        probs.append(np.asarray(p))
        grads.append(np.asarray(g))
    return np.concatenate(probs), np.concatenate(grads)


def resolved(classes: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """``classes`` with :data:`AUTO` replaced by the argmax of ``probs``."""
    return np.where(classes == AUTO, probs.argmax(axis=1), classes).astype(np.int64)


def relative(raw: np.ndarray) -> np.ndarray:
    """A non-negative map scaled so its maximum is 1 (all zeros when it is all zero)."""
    top = float(np.max(raw)) if raw.size else 0.0
    return (raw / top).astype(np.float32) if top > 0 else np.zeros_like(raw, np.float32)


def signed_relative(raw: np.ndarray) -> np.ndarray:
    """A signed map scaled to −1..1 by its largest absolute value."""
    top = float(np.abs(raw).max()) if raw.size else 0.0
    return (raw / top).astype(np.float32) if top > 0 else np.zeros_like(raw, np.float32)


def resize_maps(maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """N×h×w maps → N×H×W by bilinear interpolation (half-pixel centres, as PIL and
    ``tf.image.resize``)."""
    import tensorflow as tf

    maps = np.asarray(maps, np.float32)
    if maps.shape[1:3] == tuple(size):
        return maps
    return np.asarray(tf.image.resize(maps[..., None], size, method="bilinear"))[..., 0]


def check_count(name: str, value, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < low:
        raise ValueError(f"{name} must be an integer ≥ {low}; got {value!r}.")
    return int(value)
