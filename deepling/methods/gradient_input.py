"""Gradient × Input (Shrikumar et al. 2016): each pixel's value times the logit's gradient."""

from __future__ import annotations

import numpy as np

from deepling.methods._maps import pixel_gradients, requested_classes, resolved, signed_relative
from deepling.methods._probe import ModelProbe
from deepling.methods.saliency import Attribution


def gradient_x_input(model, image, target=None, batch_size: int = 256):
    """``x · ∂ z_c / ∂ x`` per pixel, summed over colour channels, in pixel space (0..255).

    For a model linear in its pixels the map adds up to the logit minus its value on a
    black image. One forward pass gives the prediction and the gradient.

    Parameters
    ----------
    model : keras.Model, ModelAdapter or ModelProbe
    image : array, shape (H, W, C) or (N, H, W, C)
        Pixels in 0..255.
    target : int or array of int, optional
        Class to explain; the predicted class by default.

    Returns
    -------
    Attribution, or a list of them for a batch
        ``native``: H×W, logit units (signed); ``heatmap``: scaled to −1..1.
    """
    probe = ModelProbe.of(model)
    x, single = probe.as_batch(image)
    requested = requested_classes(probe, len(x), target)
    probs, grads = pixel_gradients(probe, x, requested, batch_size)
    classes = resolved(requested, probs)
    maps = (grads * x).sum(axis=-1)
    out = [Attribution(signed_relative(raw), raw.astype(np.float32), int(c), float(probs[i, c]),
                       "gradient_x_input", None, "gradient × input (relative, signed)")
           for i, (raw, c) in enumerate(zip(maps, classes))]
    return out[0] if single else out
