"""Layer-CAM (Jiang et al. 2021): each activation weighted by its own positive gradient,
``cam = ReLU(Σ_k ReLU(∂ z_c / ∂ A_k) · A_k)``, so shallow layers give fine maps too."""

from __future__ import annotations

import numpy as np

from deepling.methods._maps import requested_classes, resolved
from deepling.methods._probe import ModelProbe
from deepling.methods.gradcam import cam_attributions, check_spatial


def layer_cam(model, image, layer: str | None = None, target=None):
    """Layer-CAM heat map for one image, or for each image of a batch.

    Parameters and result as :func:`~deepling.methods.gradcam` (any layer with spatial
    maps; the default is the last convolution).
    """
    probe = ModelProbe.of(model)
    x, single = probe.as_batch(image)
    layer = check_spatial(probe, layer)
    requested = requested_classes(probe, len(x), target)
    probs, acts, grads = (np.asarray(a) for a in probe.layer_gradient(layer)(x, requested))
    cams = np.maximum((np.maximum(grads, 0.0) * acts).sum(axis=-1), 0.0)
    return cam_attributions(cams, x.shape[1:3], resolved(requested, probs), probs, "layer_cam",
                            layer, "Layer-CAM (relative)", single)
