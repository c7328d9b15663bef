"""Vanilla gradient saliency (Simonyan et al. 2014), and the map type shared by attributions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deepling.methods._probe import ModelProbe


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
    class_index : int
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
    class_index: int
    probability: float
    method: str
    layer: str | None = None
    units: str = ""

    def plot(self, image=None, class_names=None, **kwargs):
        """A Plotly figure of the heat map, over ``image`` if given (:mod:`deepling.plots`)."""
        from deepling.plots import plot_attribution

        return plot_attribution(self, image, class_names, **kwargs)


def pick_class(probe: ModelProbe, probs: np.ndarray, class_index) -> int:
    """``class_index`` checked against the model, or the predicted class when None."""
    if class_index is None:
        return int(np.argmax(probs))
    if isinstance(class_index, bool) or not isinstance(class_index, (int, np.integer)) \
            or not 0 <= int(class_index) < probe.n_classes:
        raise ValueError(f"class_index must be an int in 0..{probe.n_classes - 1}, got {class_index!r}.")
    return int(class_index)


def saliency(adapter, image, class_index: int | None = None) -> Attribution:
    """Gradient magnitude of the class logit with respect to each pixel.

    The map is ``max over channels |∂ z_c / ∂ pixel|`` where ``z_c`` is the class's logit
    (pre-softmax score), taken with respect to 0..255 pixels through the model's own
    preprocessing.

    Parameters
    ----------
    adapter : ModelAdapter or ModelProbe
    image : array, shape (H, W, C)
        Pixels in 0..255.
    class_index : int, optional
        Class to explain; the predicted class by default.
    """
    probe = ModelProbe.of(adapter)
    x, _ = probe.as_batch(image)
    if len(x) != 1:
        raise ValueError(f"saliency takes one image (H×W×C); got {len(x)}.")
    probs = probe.predict(x)[0]
    c = pick_class(probe, probs, class_index)
    _, grad = probe.input_gradient("logit")(x, np.array([c], np.int32))
    raw = np.abs(np.asarray(grad)[0]).max(axis=-1).astype(np.float32)
    top = float(raw.max())
    heat = raw / top if top > 0 else np.zeros_like(raw)
    return Attribution(heat, raw, c, float(probs[c]), "saliency", None,
                       "gradient magnitude (relative)")
