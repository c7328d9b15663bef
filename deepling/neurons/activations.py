"""Every unit's mean activation per image, for the conv and dense layers, in one pass.

A *unit* is one filter of a convolution (its feature map, averaged over the spatial axes)
or one unit of a dense layer. The images stream through one compiled function (a
``tf.function`` over the model, as :mod:`deepling.projection.activations` does) whose
outputs are already the per-unit means: N×C numbers per layer leave the graph, never the
feature maps, so 10,000 images × every layer of the demo CNN need about 33 MB.

An image's *path* is, per layer, the index of its most activated unit (largest mean;
the lowest index on a tie): the sequence that :mod:`deepling.neurons.patterns` mines.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deepling.models import as_adapter
from deepling.projection.activations import check_images, select_layers

# Layers whose units the Neurons view shows. The model's output layer is left out by
# default: its most activated unit is the prediction itself, shown by colour already.
UNIT_TYPES = frozenset({"Conv1D", "Conv2D", "Conv3D", "SeparableConv1D", "SeparableConv2D",
                        "DepthwiseConv1D", "DepthwiseConv2D", "Conv1DTranspose",
                        "Conv2DTranspose", "Conv3DTranspose", "Dense", "EinsumDense"})
# Where the compiled function lives on a ModelAdapter (one dict per model).
_FUNCTIONS = "_deepling_neuron_functions"


@dataclass(frozen=True, eq=False)
class UnitActivations:
    """Mean activation of every unit of some layers, for every image.

    Attributes
    ----------
    layers : tuple of str
        Layer names in topological order.
    types : tuple of str
        Their class names.
    means : tuple of ndarray of float32, shape (n_images, n_units)
        ``means[l][i, u]``: unit ``u`` of layer ``layers[l]``, averaged over its spatial
        positions, for image ``i``.
    """

    layers: tuple[str, ...]
    types: tuple[str, ...]
    means: tuple[np.ndarray, ...]

    @property
    def n_images(self) -> int:
        return int(self.means[0].shape[0]) if self.means else 0

    @property
    def widths(self) -> tuple[int, ...]:
        """Units per layer."""
        return tuple(int(m.shape[1]) for m in self.means)

    @property
    def paths(self) -> np.ndarray:
        """int32 N×L: per image and layer, the index of the most activated unit."""
        if not self.means:
            return np.zeros((0, 0), np.int32)
        return np.stack([m.argmax(axis=1) for m in self.means], axis=1).astype(np.int32)

    def layer_index(self, layer: str) -> int:
        if layer not in self.layers:
            raise ValueError(f"No unit layer named {layer!r}; the layers with units are: "
                             f"{', '.join(self.layers)}.")
        return self.layers.index(layer)


def unit_layers(model, max_units: int | None = None, include_output: bool = False) -> list[str]:
    """Names of the conv and dense layers whose units the Neurons view shows.

    Parameters
    ----------
    model : keras.Model
    max_units : int, optional
        Leave out layers with more units than this (a dense layer of 4,096 units would
        crowd every other layer out of the view).
    include_output : bool, default=False
        Keep the model's output layer (its top unit is the predicted class).
    """
    refs, _ = select_layers(model)
    outputs = {id(t) for t in model.outputs}
    chosen = []
    for ref in refs:
        if ref.type not in UNIT_TYPES or len(ref.tensor.shape) < 2:
            continue
        if not include_output and id(ref.tensor) in outputs:
            continue
        width = ref.tensor.shape[-1]
        if width is None or (max_units is not None and width > max_units):
            continue
        chosen.append(ref.name)
    if not chosen:
        raise ValueError(f"Model {getattr(model, 'name', '?')!r} has no convolution or dense "
                         "layer (besides its output) whose units could be shown.")
    return chosen


def unit_activations(model, images, layers=None, *, batch_size=None,
                     progress=None) -> UnitActivations:
    """Stream ``images`` through the model once, keeping each unit's mean activation.

    Parameters
    ----------
    model : keras.Model or ModelAdapter
        A plain model gets 0..255 pixels scaled to 0..1 unless it rescales inside; an
        adapter brings its own input convention.
    images : ndarray of uint8, shape (N, H, W, C), or Dataset
        Pixels fitted to the model.
    layers : sequence of str, optional
        Default: :func:`unit_layers`.
    batch_size : int or None, default=None
        Most images per forward pass; None sizes batches by the model's activation memory
        (:func:`deepling.models.memory.batch_size_for`). Does not change the result.
    progress : callable, optional
        ``progress(fraction, message)``.

    Returns
    -------
    UnitActivations
    """
    from deepling.models.memory import batch_size_for

    adapter = as_adapter(model)
    images = check_images(adapter, images)
    if batch_size is not None and (not isinstance(batch_size, (int, np.integer)) or batch_size < 1):
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
    batch_size = min(batch_size or batch_size_for(adapter), batch_size_for(adapter))
    names = list(unit_layers(adapter.model) if layers is None else layers)
    refs, _ = select_layers(adapter.model, names)
    report = progress or (lambda fraction, message: None)
    fn = _compiled(adapter, refs)
    n = len(images)
    means = [np.empty((n, int(r.tensor.shape[-1])), np.float32) for r in refs]
    report(0.0, f"{n:,} images through {len(refs)} layers")
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        for out, m in zip(fn(adapter.preprocess(images[start:stop])), means):
            m[start:stop] = np.asarray(out)
        report(stop / n, f"{stop:,} of {n:,} images through the model")
    return UnitActivations(tuple(r.name for r in refs), tuple(r.type for r in refs), tuple(means))


def _compiled(adapter, refs):
    """One ``tf.function``: preprocessed images → per layer the N×C unit means.

    The spatial mean is taken inside the graph, so only N×C floats per layer come out.
    Traced once per model and layer choice and kept on the adapter.
    """
    import keras
    import tensorflow as tf

    functions = adapter.__dict__.setdefault(_FUNCTIONS, {})
    key = tuple(r.name for r in refs)
    if key in functions:
        return functions[key]
    model_input = adapter.model.inputs[0]
    sub = keras.Model(model_input, [r.tensor for r in refs])

    def unit_means(x):
        outs = sub(x, training=False)
        outs = list(outs) if isinstance(outs, (list, tuple)) else [outs]
        return [tf.reduce_mean(tf.cast(a, tf.float32), axis=list(range(1, len(a.shape) - 1)))
                if len(a.shape) > 2 else tf.cast(a, tf.float32) for a in outs]

    spec = tf.TensorSpec((None, *model_input.shape[1:]), tf.float32)
    functions[key] = tf.function(unit_means, input_signature=[spec])
    return functions[key]
