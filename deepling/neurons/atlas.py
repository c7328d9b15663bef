"""Everything the Neurons view shows about a model on a dataset, from one forward pass.

:func:`neuron_atlas` streams the images once (:func:`unit_activations`), mines the paths
(:func:`mine_patterns`), projects every layer's units (:class:`NeuronProjection`) and
keeps each unit's top images (:func:`deepling.methods.feature_maps.rank_channel`). The
result is small (no activations kept) and goes to and from plain arrays for a disk cache.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deepling.methods.feature_maps import rank_channel
from deepling.neurons.activations import unit_activations
from deepling.neurons.patterns import NeuralPatterns, mine_patterns
from deepling.neurons.projection import NeuronProjection

TOP_IMAGES = 12


@dataclass(frozen=True, eq=False)
class LayerUnits:
    """One layer's units: where they sit, what they respond to, which images top them.

    Attributes
    ----------
    name, type : str
    embedding : ndarray (n_units, 2)
        :class:`NeuronProjection` layout.
    neighbors : ndarray of int64 (n_units, k)
        Most correlated units, highest first.
    class_means : ndarray of float32 (n_units, n_classes)
    preferred_class : ndarray of int64 (n_units,)
        -1 for a dead unit or without labels.
    dead : ndarray of bool (n_units,)
    top_images : ndarray of int64 (n_units, TOP_IMAGES)
        Images with the highest mean activation of each unit, strongest first.
    top_values : ndarray of float32 (n_units, TOP_IMAGES)
    path_counts : ndarray of int64 (n_units,)
        How many images this unit is the most activated one of its layer for.
    """

    name: str
    type: str
    embedding: np.ndarray
    neighbors: np.ndarray
    class_means: np.ndarray
    preferred_class: np.ndarray
    dead: np.ndarray
    top_images: np.ndarray
    top_values: np.ndarray
    path_counts: np.ndarray

    @property
    def width(self) -> int:
        return int(len(self.embedding))


@dataclass(frozen=True, eq=False)
class NeuronAtlas:
    """Units of every layer, the images' paths through them and the patterns mined.

    Attributes
    ----------
    layers : tuple of LayerUnits
    paths : ndarray of int32, shape (n_images, n_layers)
    patterns : NeuralPatterns
    """

    layers: tuple[LayerUnits, ...]
    paths: np.ndarray
    patterns: NeuralPatterns

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(l.name for l in self.layers)

    def layer(self, name: str) -> LayerUnits:
        for l in self.layers:
            if l.name == name:
                return l
        raise ValueError(f"No unit layer named {name!r}; the layers with units are: "
                         f"{', '.join(self.names)}.")

    def path_images(self, layer: str, unit: int) -> np.ndarray:
        """Images whose path goes through ``unit`` of ``layer``."""
        return np.flatnonzero(self.paths[:, self.names.index(self.layer(layer).name)] == unit)

    def to_arrays(self) -> dict[str, np.ndarray]:
        out = {"paths": self.paths, "names": np.array(self.names),
               "types": np.array([l.type for l in self.layers]), **self.patterns.to_arrays()}
        for i, l in enumerate(self.layers):
            for f in _LAYER_ARRAYS:
                out[f"l{i}_{f}"] = getattr(l, f)
        return out

    @classmethod
    def from_arrays(cls, a) -> "NeuronAtlas":
        layers = tuple(LayerUnits(str(n), str(t), **{f: a[f"l{i}_{f}"] for f in _LAYER_ARRAYS})
                       for i, (n, t) in enumerate(zip(a["names"], a["types"])))
        return cls(layers, a["paths"], NeuralPatterns.from_arrays(a))


_LAYER_ARRAYS = ("embedding", "neighbors", "class_means", "preferred_class", "dead",
                 "top_images", "top_values", "path_counts")


def neuron_atlas(model, images, labels=None, *, n_classes=None, layers=None, min_support=5,
                 min_length=2, closed=True, batch_size=None, progress=None) -> NeuronAtlas:
    """Stream ``images`` once and build the :class:`NeuronAtlas`.

    Parameters
    ----------
    model : keras.Model or ModelAdapter
    images : ndarray of uint8, shape (N, H, W, C), or Dataset
        Pixels fitted to the model. A Dataset brings its labels.
    labels : array-like of int, optional
        True class per image (-1 unknown), for the class means.
    n_classes : int, optional
    layers : sequence of str, optional
        Default: every conv and dense layer but the output (:func:`unit_layers`).
    min_support, min_length, closed
        See :func:`mine_patterns`.
    batch_size : int or None, default=None (sized by the model's activation memory)
    progress : callable, optional
        ``progress(fraction, message)``: the forward pass is the first 40 %, mining the
        rest.

    Returns
    -------
    NeuronAtlas
    """
    from deepling.data.dataset import Dataset

    if isinstance(images, Dataset):
        labels = images.labels if labels is None else labels
        n_classes = images.n_classes if n_classes is None else n_classes
    report = progress or (lambda fraction, message: None)
    acts = unit_activations(model, images, layers, batch_size=batch_size,
                            progress=lambda f, m: report(0.4 * f, m))
    units = []
    for i, (name, kind, means) in enumerate(zip(acts.layers, acts.types, acts.means)):
        report(0.4 + 0.05 * i / len(acts.layers), f"laying out the units of {name}")
        proj = NeuronProjection().fit(means, labels, n_classes)
        tops = [rank_channel(means, name, u, min(TOP_IMAGES, len(means)))
                for u in range(means.shape[1])]
        class_means = getattr(proj, "class_means_", np.zeros((means.shape[1], 0), np.float32))
        units.append(LayerUnits(
            name, kind, proj.embedding_, proj.neighbors_, class_means, proj.preferred_class_,
            proj.dead_, np.stack([t.indices for t in tops]).astype(np.int64),
            np.stack([t.values for t in tops]).astype(np.float32),
            np.bincount(means.argmax(axis=1), minlength=means.shape[1]).astype(np.int64)))
    report(0.45, f"mining the paths of {acts.n_images:,} images")
    paths = acts.paths
    patterns = mine_patterns(paths, acts.layers, min_support=min_support,
                             min_length=min_length, closed=closed,
                             progress=lambda f, m: report(0.45 + 0.55 * f, m))
    return NeuronAtlas(tuple(units), paths, patterns)
