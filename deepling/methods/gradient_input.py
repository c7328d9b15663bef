"""Gradient × Input (Shrikumar et al. 2016): each pixel's value times the logit's gradient."""

from __future__ import annotations

from deepling.methods._maps import signed_relative
from deepling.methods._probe import ModelProbe
from deepling.methods.saliency import gradient_attributions


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
    return gradient_attributions(ModelProbe.of(model), image, target, batch_size,
                                 lambda g, x: (g * x).sum(axis=-1), signed_relative,
                                 "gradient_x_input", "gradient × input (relative, signed)")
