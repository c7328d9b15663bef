"""Vanilla gradient saliency (Simonyan et al. 2014), and the map type shared by attributions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deepling.methods._probe import ModelProbe
from deepling.methods._targets import Channel, resolve_target


SIGNED_METHODS = ("occlusion", "integrated_gradients", "gradient_x_input")


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
        The method's name: 'gradcam', 'saliency', 'occlusion', 'integrated_gradients',
        'smoothgrad', 'vargrad', 'gradient_x_input', 'guided_backprop', 'gradcam_plus',
        'score_cam', 'layer_cam' or 'rise'.
    layer : str or None
        The layer of the CAM methods (Grad-CAM, Grad-CAM++, Score-CAM, Layer-CAM).
    units : str
        What the heat map's values mean, for a colour-bar title.

    Signed methods (occlusion, Integrated Gradients, Gradient × Input) give heat maps in
    −1..1 (:attr:`signed`); the others in 0..1.
    """

    heatmap: np.ndarray
    native: np.ndarray
    target: int
    probability: float
    method: str
    layer: str | None = None
    units: str = ""

    @property
    def signed(self) -> bool:
        """Whether the heat map has a sign (evidence for and against the class)."""
        return self.method in SIGNED_METHODS

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


def saliency(model, image, target=None, batch_size: int = 256):
    """Gradient magnitude of the class logit with respect to each pixel.

    The map is ``max over channels |∂ z_c / ∂ pixel|`` where ``z_c`` is the class's logit
    (pre-softmax score), taken with respect to 0..255 pixels through the model's own
    preprocessing. The prediction and the gradient come from one forward pass.

    Parameters
    ----------
    model : keras.Model, ModelAdapter or ModelProbe
    image : array, shape (H, W, C) or (N, H, W, C)
        Pixels in 0..255; a batch goes through the model in gradient calls of
        ``batch_size`` images.
    target : int or array of int, optional
        Class to explain (one per image for a batch); the predicted class by default.

    Returns
    -------
    Attribution, or a list of them for a batch
    """
    from deepling.methods._maps import relative

    return gradient_attributions(ModelProbe.of(model), image, target, batch_size,
                                 lambda g, x: np.abs(g).max(axis=-1), relative, "saliency",
                                 "gradient magnitude (relative)")


def gradient_attributions(probe: ModelProbe, image, target, batch_size: int, reduce, scale,
                          method: str, units: str):
    """The Attribution(s) of a map made from one pixel gradient per image: ``reduce(grads,
    pixels)`` → N×H×W raw maps (saliency, Gradient × Input, Guided Backprop), ``scale`` the
    raw map → heat map. The prediction comes from the gradient's own forward pass."""
    from deepling.methods._maps import pixel_gradients, requested_classes, resolved

    x, single = probe.as_batch(image)
    requested = requested_classes(probe, len(x), target)
    probs, grads = pixel_gradients(probe, x, requested, batch_size)
    return attributions(reduce(grads, x), resolved(requested, probs), probs, scale, method, units,
                        single)


def attributions(maps, classes, probs, scale, method: str, units: str, single: bool):
    """Raw maps (N×H×W) → Attributions with ``scale(raw)`` as heat map (one if ``single``)."""
    out = [Attribution(scale(raw), np.asarray(raw, np.float32), int(c), float(probs[i, c]), method,
                       None, units) for i, (raw, c) in enumerate(zip(maps, classes))]
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
