"""Grad-CAM (Selvaraju et al. 2017): which regions of a conv layer's maps drive a class.

``cam = ReLU(Σ_k α_k A_k)`` with ``α_k`` the spatial mean of ``∂ z_c / ∂ A_k``, where ``A``
is the layer's activation and ``z_c`` the class logit (pre-softmax score, as in the paper).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from deepling.methods._probe import ModelProbe
from deepling.methods._targets import find_layer, layer_output
from deepling.methods.saliency import Attribution
from deepling.models.adapter import as_adapter

# Layers that only shrink or pad the final maps: Grad-CAM reads the layer before them.
_BEFORE_HEAD = ("MaxPooling", "AveragePooling", "ZeroPadding", "Dropout", "SpatialDropout")


def spatial_layers(model) -> list[str]:
    """Layers with an N×H×W×C output, input excluded: the ones Grad-CAM can explain.

    ``model`` is a ``keras.Model`` or a ``ModelAdapter``.
    """
    names = []
    for layer in as_adapter(model).model.layers:
        if type(layer).__name__ == "InputLayer":
            continue
        try:
            rank = len(layer.output.shape)
        except (AttributeError, ValueError):  # shared or multi-output layers
            continue
        if rank == 4:
            names.append(layer.name)
    return names


def default_gradcam_layer(model) -> str:
    """The last spatial layer before the head: where Grad-CAM is usually read.

    The last layer (in the model's order) with a 4-D (N×H×W×C) output larger than 1×1,
    stepping back over a final pooling or padding: ResNet50's ``conv5_block3_out``,
    EfficientNet's ``top_activation``, VGG16's ``block5_conv3``. Squeeze-and-excitation
    branches (global pooling back to 1×1 maps inside a block, as in EfficientNet) do not
    end the search, and neither does a global pooling before the final stage.
    """
    spatial = []
    for layer in as_adapter(model).model.layers:
        kind = type(layer).__name__
        if kind == "InputLayer":
            continue
        try:
            shape = layer.output.shape
        except (AttributeError, ValueError):
            continue
        if len(shape) == 4:
            h, w = shape[1], shape[2]
            spatial.append((layer.name, kind, (h or 2) * (w or 2)))
    if not spatial:
        raise ValueError("Found no layer with spatial (N×H×W×C) output for Grad-CAM; pass layer=.")
    larger = [i for i, (_, _, size) in enumerate(spatial) if size > 1]
    last = larger[-1] if larger else len(spatial) - 1
    # a final pooling (or padding) only shrinks the maps: the layer before it is sharper
    while last > 0 and spatial[last][1].startswith(_BEFORE_HEAD) and spatial[last - 1][2] > 1:
        last -= 1
    return spatial[last][0]


def gradcam(model, image, layer: str | None = None, target=None):
    """Grad-CAM heat map for one image, or for each image of a batch.

    Parameters
    ----------
    model : keras.Model, ModelAdapter or ModelProbe
    image : array, shape (H, W, C) or (N, H, W, C)
        Pixels in 0..255; a batch goes through the model in one gradient call.
    layer : str, optional
        A layer with N×H_l×W_l×C output; default :func:`default_gradcam_layer`.
    target : int or array of int, optional
        Class to explain (one per image for a batch); the predicted class by default.

    Returns
    -------
    Attribution, or a list of them for a batch
        ``native`` is the H_l×W_l map, ``heatmap`` its bilinear upsampling to the image
        size; both scaled so the maximum is 1 (all zeros when no region supports the class).
    """
    from deepling.methods._maps import requested_classes, resolved

    probe = ModelProbe.of(model)
    x, single = probe.as_batch(image)
    layer = check_spatial(probe, layer)
    requested = requested_classes(probe, len(x), target)
    probs, acts, grads = (np.asarray(a) for a in probe.layer_gradient(layer)(x, requested))
    classes = resolved(requested, probs)
    weights = grads.mean(axis=(1, 2), keepdims=True)
    cams = np.maximum((acts * weights).sum(axis=-1), 0.0)
    return cam_attributions(cams, x.shape[1:3], classes, probs, "gradcam", layer,
                            "Grad-CAM (relative)", single)


def check_spatial(probe, layer: str | None) -> str:
    """``layer`` (default :func:`default_gradcam_layer`) checked to have N×H×W×C output."""
    layer = layer or default_gradcam_layer(probe.model)
    rank = len(layer_output(find_layer(probe.model, layer)).shape)
    if rank != 4:
        raise ValueError(f"A class activation map needs a layer with spatial maps (N×H×W×C); "
                         f"'{layer}' has rank {rank}. Pick a convolution or pooling layer.")
    return layer


def cam_attributions(cams, size, classes, probs, method: str, layer: str, units: str, single: bool):
    """Non-negative layer-resolution maps (N×h×w) → Attributions: ``native`` scaled to a
    maximum of 1, ``heatmap`` its bilinear upsampling to the image ``size``."""
    h, w = size
    out = []
    for i, c in enumerate(classes):
        cam = np.asarray(cams[i], np.float32)
        top = float(cam.max())
        cam = cam / top if top > 0 else np.zeros_like(cam)
        up = np.asarray(Image.fromarray(cam).resize((w, h), Image.BILINEAR), np.float32)
        out.append(Attribution(np.clip(up, 0.0, 1.0), cam, int(c), float(probs[i, c]), method,
                               layer, units))
    return out[0] if single else out
