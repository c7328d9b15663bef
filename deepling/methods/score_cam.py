"""Score-CAM (Wang et al. 2020): each channel of a conv layer, upsampled and scaled to
0..1, masks the image; the class probability of the masked image is the channel's weight.

``cam = ReLU(Σ_k p_c(x ∘ H_k) A_k)`` with ``H_k`` channel ``k`` of the layer resized to the
image and min–max scaled, as the authors' code does. No gradients: one forward pass per
channel.
"""

from __future__ import annotations

import numpy as np

from deepling.methods._maps import fixed_classes, resize_maps
from deepling.methods._probe import ModelProbe
from deepling.methods.gradcam import cam_attributions, check_spatial


def channel_masks(acts: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """One image's activations (h×w×K) → K masks at image size, each min–max scaled to
    0..1 (a constant channel gives an all-zero mask)."""
    up = resize_maps(np.moveaxis(acts, -1, 0), size)
    lo = up.min(axis=(1, 2), keepdims=True)
    span = up.max(axis=(1, 2), keepdims=True) - lo
    return np.divide(up - lo, span, out=np.zeros_like(up), where=span > 0)


def score_cam(model, image, layer: str | None = None, target=None, batch_size: int = 256,
              progress=None):
    """Score-CAM heat map for one image, or for each image of a batch.

    Parameters
    ----------
    model, image, layer, target
        As :func:`~deepling.methods.gradcam`.
    batch_size : int
        Masked images per forward call.
    progress : callable(fraction, message), optional

    Returns
    -------
    Attribution, or a list of them for a batch
        ``native`` the layer-resolution map, ``heatmap`` at image size, both max-scaled.
    """
    probe = ModelProbe.of(model)
    x, single = probe.as_batch(image)
    layer = check_spatial(probe, layer)
    classes, probs = fixed_classes(probe, x, target)
    acts = np.asarray(probe.layer_activations(layer)(x)[1])
    cams = np.empty(acts.shape[:3], np.float32)
    for i in range(len(x)):
        masks = channel_masks(acts[i], x.shape[1:3])
        scores = probe.probabilities(x[i][None] * masks[..., None], batch_size)[:, classes[i]]
        cams[i] = np.maximum((acts[i] * scores).sum(axis=-1), 0.0)
        if progress is not None:
            progress((i + 1) / len(x), f"Score-CAM: {i + 1}/{len(x)} images")
    return cam_attributions(cams, x.shape[1:3], classes, probs, "score_cam", layer,
                            "Score-CAM (relative)", single)
