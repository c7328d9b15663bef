"""Sanity check by cascading randomisation (Adebayo et al. 2018): a map that explains the
model must change when the model's weights are destroyed.

The layers with learned kernels (convolutions, dense layers) are re-drawn one after
another from the top (output) down, on a *copy* of the model; after each step every method
explains the same image and class again, and its map is compared with the original by
Spearman rank correlation. A method whose map stays close to the original while the
model turns to noise shows the image's edges, not the model's reasoning.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deepling.methods._maps import fixed_classes
from deepling.methods._probe import ModelProbe

# Lighter settings for the ten-odd repeats (RISE's masks dominate otherwise).
SANITY_PARAMS = {"rise": {"masks": 500}, "smoothgrad": {"samples": 16}, "vargrad": {"samples": 16}}


@dataclass(frozen=True, eq=False)
class SanityCheck:
    """Each method's map after each randomisation step.

    Attributes
    ----------
    steps : list of str
        ``'original'``, then the name of each layer randomised (cumulatively, top down).
    maps : dict of str → ndarray, shape (steps, H, W)
        Heat maps per method.
    correlations : dict of str → ndarray, shape (steps,)
        Spearman rank correlation of each step's map with the original (absolute values
        for signed maps, as in the paper); 1 at the first step, NaN where a map is constant.
    target : int
        The class explained (the original model's prediction unless given).
    """

    steps: list
    maps: dict
    correlations: dict
    target: int

    def plot(self, height: int = 300):
        """Rank correlation with the original map against the layers randomised."""
        import plotly.graph_objects as go

        from deepling.methods.attributions import ATTRIBUTIONS

        fig = go.Figure()
        for name, corr in self.correlations.items():
            fig.add_trace(go.Scatter(x=self.steps, y=corr, mode="lines+markers",
                                     name=ATTRIBUTIONS[name].label if name in ATTRIBUTIONS else name))
        fig.update_layout(height=height, yaxis_range=[-0.3, 1.05], margin=dict(l=50, r=10, t=10, b=60),
                          yaxis_title="Spearman ρ with the original map",
                          xaxis_title="randomised down to layer")
        return fig


def weighted_layers(model) -> list[str]:
    """Names of the layers with a learned kernel, from the output down."""
    return [layer.name for layer in reversed(model.layers)
            if getattr(layer, "kernel", None) is not None]


def _randomise(layer, rng) -> None:
    """New weights for ``layer`` drawn from N(0, σ) with σ the standard deviation of each
    original weight array (a constant array, e.g. a zero bias, gets the kernel's σ)."""
    weights = layer.get_weights()
    fallback = float(np.std(weights[0])) or 0.05
    layer.set_weights([rng.normal(0.0, float(np.std(w)) or fallback, w.shape).astype(w.dtype)
                       for w in weights])


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    a, b = np.ravel(a), np.ravel(b)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a, b).statistic)


def cascading_randomization(model, image, methods=None, target=None, layer: str | None = None,
                            seed=0, params: dict | None = None, progress=None) -> SanityCheck:
    """Cascading randomisation of ``model``'s weights, top layer first, for one image.

    Parameters
    ----------
    model : keras.Model, ModelAdapter or ModelProbe
        Left untouched: the randomisation happens on a clone.
    image : array, shape (H, W, C)
        Pixels in 0..255.
    methods : list of str, optional
        Names in :data:`~deepling.methods.ATTRIBUTIONS`; all by default.
    target : int, optional
        The class to explain at every step; the original model's prediction by default.
    layer : str, optional
        The CAM methods' layer.
    seed : int
        Seed of the new weights.
    params : dict, optional
        Per-method parameters (default :data:`SANITY_PARAMS`).
    progress : callable(fraction, message), optional
    """
    import keras

    from deepling.methods.attributions import ATTRIBUTIONS, attribute
    from deepling.methods.guided_backprop import sync_guided
    from deepling.models.adapter import ModelAdapter

    methods = list(methods or ATTRIBUTIONS)
    unknown = [m for m in methods if m not in ATTRIBUTIONS]
    if unknown:
        raise ValueError(f"Unknown method(s) {', '.join(unknown)}; choose from {', '.join(ATTRIBUTIONS)}.")
    probe = ModelProbe.of(model)
    x, _ = probe.as_batch(image)
    if len(x) != 1:
        raise ValueError(f"The sanity check takes one image (H×W×C); got {len(x)}.")
    classes, _ = fixed_classes(probe, x, target)
    target = int(classes[0])
    copy = keras.models.clone_model(probe.model)
    copy.set_weights(probe.model.get_weights())
    adapter = ModelAdapter(copy, f"{probe.adapter.name} (randomised)", probe.adapter.fingerprint,
                           tuple(probe.input_range))
    settings = {**SANITY_PARAMS, **(params or {})}
    names = weighted_layers(copy)
    steps = ["original"] + names
    rng = np.random.default_rng(seed)
    maps = {m: [] for m in methods}
    # One probe for every step: its compiled functions read the clone's variables, which
    # set_weights assigns in place, so nothing is traced again.
    step_probe = ModelProbe(adapter)
    for s, name in enumerate(steps):
        if name != "original":
            _randomise(copy.get_layer(name), rng)
            sync_guided(step_probe)
        for k, method in enumerate(methods):
            if progress is not None:
                progress((s * len(methods) + k) / (len(steps) * len(methods)),
                         f"{ATTRIBUTIONS[method].label} after randomising {name}")
            a = attribute(step_probe, x[0], method, target=target, layer=layer,
                          **settings.get(method, {}))
            maps[method].append(np.abs(a.heatmap) if a.signed else a.heatmap)
    if progress is not None:
        progress(1.0, "done")
    maps = {m: np.stack(v) for m, v in maps.items()}
    correlations = {m: np.array([spearman(v[0], v[s]) for s in range(len(steps))])
                    for m, v in maps.items()}
    return SanityCheck(steps, maps, correlations, target)
