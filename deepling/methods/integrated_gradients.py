"""Integrated Gradients (Sundararajan et al. 2017): the logit's gradient averaged along the
straight path from a baseline image to the image, times the difference between them."""

from __future__ import annotations

import numpy as np

from deepling.methods._maps import check_count, fixed_classes, pixel_gradients, signed_relative
from deepling.methods._probe import ModelProbe
from deepling.methods.saliency import attributions

BASELINES = ("black", "gray", "blurred")


def baseline_images(x: np.ndarray, baseline) -> np.ndarray:
    """The baseline for each image of ``x`` (N×H×W×C float pixels).

    ``'black'`` (0), ``'gray'`` (127.5), ``'blurred'`` (a Gaussian blur with σ an eighth
    of the image side, which keeps colours and drops edges), a number, or an array of the
    image's shape (or the batch's).
    """
    if isinstance(baseline, str):
        if baseline == "black":
            return np.zeros_like(x)
        if baseline == "gray":
            return np.full_like(x, 127.5)
        if baseline == "blurred":
            from scipy.ndimage import gaussian_filter

            sigma = max(1.0, min(x.shape[1:3]) / 8)
            return gaussian_filter(x, sigma=(0, sigma, sigma, 0), mode="nearest").astype(np.float32)
        raise ValueError(f"Unknown baseline {baseline!r}; use one of {', '.join(BASELINES)}, a "
                         "number (0..255) or an image.")
    base = np.asarray(baseline, np.float32)
    try:
        return np.broadcast_to(base, x.shape).astype(np.float32)
    except ValueError:
        raise ValueError(f"The baseline has shape {base.shape}; give a number, an image of shape "
                         f"{x.shape[1:]} or one per image.") from None


def integrated_gradients(model, image, target=None, baseline="black", steps: int = 50,
                         batch_size: int = 256):
    """Integrated Gradients of the class logit, per pixel.

    ``IG_i = (x_i − b_i) · ∫₀¹ ∂z_c/∂x_i (b + α (x − b)) dα`` with the integral taken by the
    midpoint rule on ``steps`` intervals (one gradient each, the trapezoid rule's accuracy
    for one gradient fewer), so the attributions add up to ``z_c(x) − z_c(b)``
    (completeness) up to the rule's error.

    Parameters
    ----------
    model : keras.Model, ModelAdapter or ModelProbe
    image : array, shape (H, W, C) or (N, H, W, C)
        Pixels in 0..255.
    target : int or array of int, optional
        Class to explain; the predicted class by default.
    baseline : 'black', 'gray', 'blurred', number or array
        The "absence of signal" the path starts from (:func:`baseline_images`).
    steps : int
        Intervals of the path; 50 is usually within 1 % of completeness.
    batch_size : int
        Path images per gradient call.

    Returns
    -------
    Attribution, or a list of them for a batch
        ``native``: H×W attributions summed over colour channels, in logit units (signed);
        ``heatmap``: the same scaled to −1..1.
    """
    steps = check_count("steps", steps)
    probe = ModelProbe.of(model)
    x, single = probe.as_batch(image)
    classes, probs = fixed_classes(probe, x, target)
    bases = baseline_images(x, baseline)
    # midpoint rule: one gradient per interval, at its centre
    alphas = (np.arange(steps, dtype=np.float32) + 0.5) / steps
    per_call = max(1, batch_size // steps)
    attrs = np.empty(x.shape[:3], np.float32)
    for start in range(0, len(x), per_call):
        xs, bs = x[start:start + per_call], bases[start:start + per_call]
        path = bs[:, None] + alphas[None, :, None, None, None] * (xs - bs)[:, None]
        rows = np.repeat(classes[start:start + per_call], steps)
        _, grads = pixel_gradients(probe, path.reshape((-1,) + x.shape[1:]), rows, batch_size)
        avg = grads.reshape(path.shape).mean(axis=1)
        attrs[start:start + per_call] = ((xs - bs) * avg).sum(axis=-1)
    return attributions(attrs, classes, probs, signed_relative, "integrated_gradients",
                        "attribution (relative, signed)", single)
