"""Every attribution method by name, with its label and parameters: what the app offers,
what the faithfulness ranking and the sanity check loop over.

``attribute(model, images, "integrated_gradients", target=3, baseline="blurred")`` calls
the method; :data:`ATTRIBUTIONS` says which take a ``layer``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from deepling.methods.gradcam import gradcam
from deepling.methods.gradcam_plus import gradcam_plus
from deepling.methods.gradient_input import gradient_x_input
from deepling.methods.guided_backprop import guided_backprop
from deepling.methods.integrated_gradients import integrated_gradients
from deepling.methods.layer_cam import layer_cam
from deepling.methods.occlusion import occlusion_sensitivity
from deepling.methods.rise import rise
from deepling.methods.saliency import saliency
from deepling.methods.score_cam import score_cam
from deepling.methods.smoothgrad import smoothgrad, vargrad


@dataclass(frozen=True)
class AttributionMethod:
    """One method: its function, label, whether it takes ``layer=``, and its parameters
    with their defaults (as the README's table lists them)."""

    name: str
    label: str
    function: object
    layer: bool = False
    params: dict = field(default_factory=dict)
    batched: bool = True  # takes a batch of images in one call
    reports_progress: bool = False  # takes progress= and reports it image by image


ATTRIBUTIONS = {m.name: m for m in (
    AttributionMethod("gradcam", "Grad-CAM", gradcam, layer=True),
    AttributionMethod("gradcam_plus", "Grad-CAM++", gradcam_plus, layer=True),
    AttributionMethod("layer_cam", "Layer-CAM", layer_cam, layer=True),
    AttributionMethod("score_cam", "Score-CAM", score_cam, layer=True, reports_progress=True),
    AttributionMethod("saliency", "Saliency", saliency),
    AttributionMethod("smoothgrad", "SmoothGrad", smoothgrad,
                      params={"samples": 50, "noise": 0.2, "seed": 0}),
    AttributionMethod("vargrad", "VarGrad", vargrad, params={"samples": 50, "noise": 0.2, "seed": 0}),
    AttributionMethod("gradient_x_input", "Gradient × Input", gradient_x_input),
    AttributionMethod("integrated_gradients", "Integrated Gradients", integrated_gradients,
                      params={"baseline": "black", "steps": 50}),
    AttributionMethod("guided_backprop", "Guided Backprop", guided_backprop),
    AttributionMethod("rise", "RISE", rise, params={"masks": 2000, "cells": 7, "keep": 0.5, "seed": 0},
                      reports_progress=True),
    AttributionMethod("occlusion", "Occlusion", occlusion_sensitivity, batched=False,
                      params={"patch": 8, "stride": 4, "fill": "gray"}, reports_progress=True),
)}


def attribute(model, images, method: str, target=None, layer: str | None = None, **params):
    """``method``'s Attribution(s) for ``images`` (one image or a batch), by name.

    ``layer`` is passed to the methods that take one and ignored by the others; occlusion,
    which takes one image at a time, is looped over a batch.
    """
    import numpy as np

    if method not in ATTRIBUTIONS:
        raise ValueError(f"Unknown method {method!r}; choose from {', '.join(ATTRIBUTIONS)}.")
    spec = ATTRIBUTIONS[method]
    kwargs = dict(params)
    if spec.layer:
        kwargs["layer"] = layer
    x = np.asarray(images)
    if spec.batched or x.ndim == 3:
        return spec.function(model, x, target=target, **kwargs)
    # a method of one image at a time, looped here: progress (if asked for) after each image
    progress = kwargs.pop("progress", None)
    targets = [target] * len(x) if target is None or np.ndim(target) == 0 else list(target)
    out = []
    for i, (img, t) in enumerate(zip(x, targets)):
        out.append(spec.function(model, img, target=t, **kwargs))
        if progress is not None:
            progress((i + 1) / len(x), f"{spec.label}: {i + 1}/{len(x)} images")
    return out
