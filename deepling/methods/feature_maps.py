"""What one layer computes: feature maps, channel means, top images, histograms.

Every function reads a layer through a sub-model from the model's input to that layer's
output, so only the layers up to it run. A layer can be read when it has one tensor output
(see :func:`layer_tensor`); a nested model counts as one layer, as in the architecture
view. Images are pixels in 0..255, already fitted to the model
(``ModelAdapter.fit_dataset``); the adapter maps them to the model's input range.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deepling.methods._targets import find_layer
from deepling.models.adapter import as_adapter, check_pixels


@dataclass(frozen=True)
class FeatureMaps:
    """One image's activations at one layer.

    Attributes
    ----------
    layer, type : str
        The layer's name and class name.
    shape : tuple of int
        The layer's output shape for this image, without the batch axis.
    channels : ndarray of int64, shape (C,)
        Channel indices, highest mean activation first.
    means : ndarray of float32, shape (C,)
        Mean activation of each channel, in the order of ``channels``.
    maps : ndarray of float32, shape (C, H, W), or None
        The channels' maps in the order of ``channels`` (``H`` is 1 for a sequence
        layer); None for a layer without spatial axes.
    vector : ndarray of float32, shape (C,), or None
        The activation vector in unit order, for a layer without spatial axes (dense).
    """

    layer: str
    type: str
    shape: tuple
    channels: np.ndarray
    means: np.ndarray
    maps: np.ndarray | None
    vector: np.ndarray | None

    @property
    def n_channels(self) -> int:
        return len(self.channels)

    @property
    def is_vector(self) -> bool:
        return self.vector is not None


@dataclass(frozen=True)
class TopImages:
    """The images that drive one channel hardest."""

    layer: str
    channel: int
    indices: np.ndarray  # positions in the images given, strongest first
    values: np.ndarray   # the channel's mean activation for each


@dataclass(frozen=True)
class Histogram:
    """Counts of values in equal bins.

    Attributes
    ----------
    label : str
        What was counted (``"kernel"``, ``"bias"``, ``"activations"``...).
    counts : ndarray of int64, shape (bins,)
    edges : ndarray of float64, shape (bins + 1,)
    total : int
        Number of values counted.
    zeros : float
        Fraction of values exactly 0 (dead ReLU units show here).
    """

    label: str
    counts: np.ndarray
    edges: np.ndarray
    total: int
    zeros: float

    @property
    def centers(self) -> np.ndarray:
        return (self.edges[:-1] + self.edges[1:]) / 2


def layer_tensor(model, layer: str):
    """The single symbolic output of ``layer`` in ``model``, else a ValueError saying why.

    Raises
    ------
    ValueError
        No such layer, a layer with several outputs or none (not built, or not reachable
        from the model's input), or a model without one input.
    """
    if len(getattr(model, "inputs", None) or []) != 1:
        raise ValueError(f"Model {model.name!r} does not have exactly one input; feature maps "
                         "are read for single-input image models.")
    if layer == _input_name(model):  # a Sequential's input is not among model.layers
        return model.inputs[0]
    found = find_layer(model, layer)
    try:
        out = found.output
    except (AttributeError, ValueError) as exc:
        raise ValueError(f"Layer {layer!r} has no output to read ({exc}); build the model "
                         "(call it on data) first.") from None
    if isinstance(out, (list, tuple, dict)):
        raise ValueError(f"Layer {layer!r} has {len(out)} outputs; Deepling shows layers with "
                         "one tensor output. Pick the layer after it.")
    return out


def feature_maps(model, image, layer: str) -> FeatureMaps:
    """The activations of one image at ``layer``, channels sorted by mean activation.

    Parameters
    ----------
    model : keras.Model or ModelAdapter
    image : ndarray, shape (H, W, C)
        Pixels in 0..255, fitted to the model.
    layer : str
        A layer with one tensor output of rank 2 (N×C: a vector), 3 (N×L×C: maps of
        height 1) or 4 (N×H×W×C: maps).

    Returns
    -------
    FeatureMaps

    Raises
    ------
    ValueError
        Unknown or unreadable layer, an output of another rank, or an image of the wrong
        shape.
    """
    adapter = as_adapter(model)
    image = np.asarray(image)
    if image.ndim != 3:
        raise ValueError(f"feature_maps takes one H×W×C image; got shape {image.shape}. "
                         "Use channel_means for a batch.")
    act = _forward(adapter, image[None], layer, batch_size=1)[0]
    kind = "InputLayer" if layer == _input_name(adapter.model) else \
        type(find_layer(adapter.model, layer)).__name__
    if act.ndim not in (1, 2, 3):
        raise ValueError(f"Layer {layer!r} outputs shape {act.shape} per image; Deepling shows "
                         "vectors (dense) and H×W×C maps only.")
    flat = act.reshape(-1, act.shape[-1])
    means = flat.mean(axis=0)
    order = np.argsort(-means, kind="stable")
    if act.ndim == 1:
        return FeatureMaps(layer, kind, act.shape, order, means[order], None, act.copy())
    maps = act[None] if act.ndim == 2 else act  # a sequence is a map one row high
    maps = np.moveaxis(maps, -1, 0)[order]
    return FeatureMaps(layer, kind, act.shape, order, means[order], np.ascontiguousarray(maps),
                       None)


def channel_means(model, images, layer: str, batch_size: int = 128) -> np.ndarray:
    """Mean activation of every channel of ``layer`` for every image.

    One batched forward pass through a sub-model that ends at ``layer``.

    Parameters
    ----------
    model : keras.Model or ModelAdapter
    images : ndarray, shape (N, H, W, C)
        Pixels in 0..255, fitted to the model.
    layer : str
    batch_size : int, default=128
        Images per forward pass; bounds memory, does not change the result.

    Returns
    -------
    ndarray of float32, shape (N, channels)
        For a dense layer the activations themselves.
    """
    images = _batch(images)
    means = _forward(as_adapter(model), images, layer, batch_size,
                     reduce=lambda a: a.reshape(len(a), -1, a.shape[-1]).mean(axis=1))
    return means.astype(np.float32, copy=False)


def top_activating(model, images, layer: str, channel: int, k: int = 8,
                   batch_size: int = 128) -> TopImages:
    """The ``k`` images among ``images`` with the highest mean activation of ``channel``.

    Parameters
    ----------
    model : keras.Model or ModelAdapter
    images : ndarray, shape (N, H, W, C)
        Pixels in 0..255, fitted to the model.
    layer : str
    channel : int
        Index along the layer output's last axis.
    k : int, default=8
    batch_size : int, default=128

    Returns
    -------
    TopImages
        ``indices`` are positions in ``images``.
    """
    means = channel_means(model, images, layer, batch_size)
    return rank_channel(means, layer, channel, k)


def rank_channel(means: np.ndarray, layer: str, channel: int, k: int = 8) -> TopImages:
    """:func:`top_activating` from already computed :func:`channel_means`."""
    width = means.shape[1]
    if isinstance(channel, bool) or not isinstance(channel, (int, np.integer)) \
            or not 0 <= channel < width:
        raise ValueError(f"Channel {channel!r} is out of range: layer {layer!r} has {width} "
                         f"channels (0..{width - 1}).")
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}.")
    column = means[:, int(channel)]
    order = np.argsort(-column, kind="stable")[:k]
    return TopImages(layer, int(channel), order, column[order])


def weight_histogram(model, layer: str, bins: int = 40) -> tuple[Histogram, ...]:
    """One histogram per weight variable of ``layer`` (kernel, bias, gamma...) of a
    ``keras.Model`` or ``ModelAdapter``.

    Raises
    ------
    ValueError
        No such layer, or a layer without weights (pooling, activation, reshaping...).
    """
    found = find_layer(as_adapter(model).model, layer)
    weights = list(found.weights)
    if not weights:
        raise ValueError(f"Layer {layer!r} ({type(found).__name__}) has no weights; weight "
                         "histograms exist for convolution, dense and normalisation layers.")
    out = []
    for w in weights:
        values = np.asarray(w.numpy() if hasattr(w, "numpy") else w, dtype=np.float64).ravel()
        label = getattr(w, "name", None) or getattr(w, "path", "weights").rsplit("/", 1)[-1]
        out.append(_histogram(label, values, bins))
    return tuple(out)


def activation_histogram(model, images, layer: str, bins: int = 40, value_range=None,
                         batch_size: int = 64) -> Histogram:
    """Histogram of every activation value of ``layer`` over ``images``.

    Parameters
    ----------
    model : keras.Model or ModelAdapter
    images : ndarray, shape (N, H, W, C) or (H, W, C)
        Pixels in 0..255, fitted to the model.
    layer : str
    bins : int, default=40
    value_range : (float, float), optional
        Bin range; the values' own range by default. Give one histogram's
        ``(edges[0], edges[-1])`` to compare another with it bin by bin; values outside
        it are counted in the first or last bin.
    batch_size : int, default=64

    Returns
    -------
    Histogram
    """
    adapter = as_adapter(model)
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[None]
    images = _batch(images)
    if not isinstance(bins, (int, np.integer)) or bins < 1:
        raise ValueError(f"bins must be a positive integer, got {bins!r}.")
    if value_range is None and len(images) > batch_size:
        # Two passes keep memory at one batch: the range first, then the counts.
        lo_hi = _forward(adapter, images, layer, batch_size,
                         reduce=lambda a: np.array([[np.nanmin(a), np.nanmax(a)]]))
        value_range = (float(np.nanmin(lo_hi[:, 0])), float(np.nanmax(lo_hi[:, 1])))
        if not np.isfinite(value_range).all():  # every value NaN or infinite
            value_range = (0.0, 1.0)
    if value_range is None:
        values = _forward(adapter, images, layer, batch_size).ravel()
        return _histogram("activations", values, bins)
    lo, hi = _widen(*value_range)
    edges = np.linspace(lo, hi, bins + 1)
    counts = np.zeros(bins, np.int64)
    zeros = total = 0

    def count(a):
        nonlocal zeros, total
        v = a.ravel()
        counts[:] += np.histogram(np.clip(v, lo, hi), edges)[0]
        zeros += int(np.count_nonzero(v == 0))
        total += v.size
        return np.zeros((len(a), 0), np.float32)

    _forward(adapter, images, layer, batch_size, reduce=count)
    return Histogram("activations", counts, edges, total, zeros / max(total, 1))


# --- internals -----------------------------------------------------------------------
def _histogram(label, values, bins) -> Histogram:
    values = np.asarray(values, dtype=np.float64).ravel()
    values = values[np.isfinite(values)]
    if values.size == 0:
        edges = np.linspace(0.0, 1.0, bins + 1)
        return Histogram(label, np.zeros(bins, np.int64), edges, 0, 0.0)
    lo, hi = _widen(float(values.min()), float(values.max()))
    counts, edges = np.histogram(values, bins=bins, range=(lo, hi))
    return Histogram(label, counts.astype(np.int64), edges, int(values.size),
                     float(np.count_nonzero(values == 0) / values.size))


def _widen(lo: float, hi: float) -> tuple[float, float]:
    """A range with some width, so constant values still get a bin."""
    if not hi > lo:
        pad = max(abs(lo) * 1e-3, 1e-6)
        return lo - pad, hi + pad
    return lo, hi


def _input_name(model) -> str | None:
    history = getattr(model.inputs[0], "_keras_history", None) if model.inputs else None
    return getattr(history, "operation", None) and history.operation.name


def _batch(images) -> np.ndarray:
    images = check_pixels(images)
    if images.ndim != 4:
        raise ValueError(f"images must be an N×H×W×C array; got shape {images.shape}.")
    if len(images) == 0:
        raise ValueError("No images given; pass at least one.")
    return images


def _forward(adapter, images, layer, batch_size, reduce=None) -> np.ndarray:
    """``layer``'s activations for ``images`` in batches, each passed through ``reduce``."""
    import keras

    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
    model = adapter.model
    tensor = layer_tensor(model, layer)
    expected = tuple(model.inputs[0].shape[1:])
    if any(e is not None and e != g for e, g in zip(expected, images.shape[1:])) \
            or len(expected) != images.ndim - 1:
        shown = "×".join("any" if d is None else str(d) for d in expected)
        raise ValueError(f"The images are {'×'.join(map(str, images.shape[1:]))} but "
                         f"{adapter.name} takes {shown}; fit them first "
                         "(ModelAdapter.fit_dataset).")
    # the input itself needs no model to run
    sub = None if tensor is model.inputs[0] else keras.Model(model.inputs[0], tensor)
    out = []
    for start in range(0, len(images), batch_size):
        x = adapter.preprocess(images[start:start + batch_size])
        a = x if sub is None else np.asarray(sub(x, training=False), dtype=np.float32)
        out.append(a if reduce is None else reduce(a))
    return np.concatenate(out)
