"""Grad-CAM++ (Chattopadhay et al. 2018): Grad-CAM with pixel-wise weights, so several
instances of a class each get their share of the map.

With the class score ``Y = exp(z_c)`` its higher derivatives are powers of the first, and
the weights have the closed form

    α_k^{ij} = g² / (2 g² + Σ_ab A_k^{ab} g³),   g = ∂ z_c / ∂ A_k^{ij},
    w_k = Σ_ij α_k^{ij} ReLU(g),   cam = ReLU(Σ_k w_k A_k).
"""

from __future__ import annotations

import numpy as np

from deepling.methods._maps import requested_classes, resolved
from deepling.methods._probe import ModelProbe
from deepling.methods.gradcam import cam_attributions, check_spatial


def gradcam_plus_weights(acts: np.ndarray, grads: np.ndarray) -> np.ndarray:
    """Channel weights w (N×K) of Grad-CAM++ from activations and logit gradients (N×h×w×K)."""
    g2 = grads * grads  # products, not ** (numpy's float32 power is several times slower)
    denom = 2.0 * g2 + acts.sum(axis=(1, 2), keepdims=True) * (g2 * grads)
    alpha = np.divide(g2, denom, out=np.zeros_like(g2), where=denom != 0)
    return (alpha * np.maximum(grads, 0.0)).sum(axis=(1, 2))


def gradcam_plus(model, image, layer: str | None = None, target=None):
    """Grad-CAM++ heat map for one image, or for each image of a batch.

    Parameters and result as :func:`~deepling.methods.gradcam`.
    """
    probe = ModelProbe.of(model)
    x, single = probe.as_batch(image)
    layer = check_spatial(probe, layer)
    requested = requested_classes(probe, len(x), target)
    probs, acts, grads = (np.asarray(a) for a in probe.layer_gradient(layer)(x, requested))
    weights = gradcam_plus_weights(acts, grads)
    cams = np.maximum(np.einsum("nhwk,nk->nhw", acts, weights), 0.0)
    return cam_attributions(cams, x.shape[1:3], resolved(requested, probs), probs, "gradcam_plus",
                            layer, "Grad-CAM++ (relative)", single)
