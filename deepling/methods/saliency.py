"""Vanilla gradient saliency (Simonyan et al. 2014), and the map type shared by attributions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deepling.methods._probe import ModelProbe
from deepling.methods._targets import Channel, resolve_target


@dataclass(frozen=True, eq=False)
class Attribution:
    """Where in the image a class's evidence lies, according to one method.

    Attributes
    ----------
    heatmap : ndarray of float32, shape (H, W)
        At image size, ready to overlay. Grad-CAM and saliency: relative, in [0, 1].
        Occlusion: drop in the class probability (signed, −1..1; negative where covering
        the region *raises* the probability).
    native : ndarray of float32
        The map at the method's own resolution: Grad-CAM H_l×W_l in [0, 1]; saliency the
        raw |∂ logit / ∂ pixel| (H×W, logit per pixel level); occlusion the probability
        drop per patch position (rows × columns of positions).
    target : int
        The class explained.
    probability : float
        The model's probability for that class on the unedited image.
    method : str
        'gradcam', 'saliency' or 'occlusion'.
    layer : str or None
        Grad-CAM's layer.
    units : str
        What the heat map's values mean, for a colour-bar title.
    """

    heatmap: np.ndarray
    native: np.ndarray
    target: int
    probability: float
    method: str
    layer: str | None = None
    units: str = ""

    def plot(self, image=None, class_names=None, **kwargs):
        """A Plotly figure of the heat map, over ``image`` if given (:mod:`deepling.plots`)."""
        from deepling.plots import plot_attribution

        return plot_attribution(self, image, class_names, **kwargs)


def pick_class(probe: ModelProbe, probs: np.ndarray, target) -> int:
    """``target`` checked against the model, or the predicted class when None.

    The attribution methods explain a class; a :class:`~deepling.methods.Channel` target
    is refused with a pointer to the method that takes one.
    """
    if target is None:
        return int(np.argmax(probs))
    resolved = resolve_target(target, probe.model, probe.n_classes)
    if isinstance(resolved, Channel):
        raise ValueError(f"This method explains a class, not {resolved}; pass target=<class "
                         "index>, or use adversarial_strip to optimise a channel.")
    return resolved


def saliency(model, image, target=None):
    """Gradient magnitude of the class logit with respect to each pixel.

    The map is ``max over channels |∂ z_c / ∂ pixel|`` where ``z_c`` is the class's logit
    (pre-softmax score), taken with respect to 0..255 pixels through the model's own
    preprocessing.

    Parameters
    ----------
    model : keras.Model, ModelAdapter or ModelProbe
    image : array, shape (H, W, C) or (N, H, W, C)
        Pixels in 0..255; a batch goes through the model in one gradient call.
    target : int or array of int, optional
        Class to explain (one per image for a batch); the predicted class by default.

    Returns
    -------
    Attribution, or a list of them for a batch
    """
    probe = ModelProbe.of(model)
    x, single = probe.as_batch(image)
    probs = probe.predict(x)
    classes = pick_classes(probe, probs, target)
    _, grad = probe.input_gradient("logit")(x, classes.astype(np.int32))
    out = []
    for i, c in enumerate(classes):
        raw = np.abs(np.asarray(grad)[i]).max(axis=-1).astype(np.float32)
        top = float(raw.max())
        heat = raw / top if top > 0 else np.zeros_like(raw)
        out.append(Attribution(heat, raw, int(c), float(probs[i, c]), "saliency", None,
                               "gradient magnitude (relative)"))
    return out[0] if single else out


def pick_classes(probe: ModelProbe, probs: np.ndarray, target) -> np.ndarray:
    """One class per row of ``probs``: ``target`` (an int, or one per image) checked, or
    the predicted class where it is None."""
    n = len(probs)
    if target is None or np.ndim(target) == 0:
        return np.array([pick_class(probe, p, target) for p in probs], np.int64)
    targets = list(target)
    if len(targets) != n:
        raise ValueError(f"Give one target per image: {n} images, {len(targets)} targets.")
    return np.array([pick_class(probe, p, t) for p, t in zip(probs, targets)], np.int64)
