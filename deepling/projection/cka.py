"""Which layers represent the same thing: linear CKA between the layers of models.

Centered kernel alignment (Kornblith et al., ICML 2019) compares two layers through the
images' similarity structure, so layers of any widths, of two different models, or of
one model at two epochs, can be compared. Linear CKA of activations X (N×D₁) and Y (N×D₂)
is HSIC(K, L) / √(HSIC(K, K)·HSIC(L, L)) with K = XXᵀ, L = YYᵀ. It is 1 for a layer with
itself and invariant to orthogonal transforms and isotropic scaling of either side.

A layer's activations for thousands of images would not fit in memory, so HSIC is
estimated by minibatches (Nguyen, Raghu & Kornblith, ICLR 2021): the images go through
each model **once**, in batches; each batch is split into blocks of ``block_size`` images,
and per block and layer only the block's centred Gram matrix (n×n) leaves the compiled
graph. The unbiased HSIC estimator (Song et al., JMLR 2012) of every pair of layers (of
every model in the pass) is averaged over the blocks, and CKA is formed from those
averages. The estimator is unbiased in every block, so the average converges to the same
value as a full-batch estimate, with no layer's activations ever held whole.

Cost: one forward pass per model plus, per image and layer, a Gram row of ``block_size``
dot products (2·n·D multiply-adds), and per block the pairs' n² sums.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.utils import check_random_state

from deepling.data.images import convert_channels, resize_images
from deepling.models.adapter import as_adapter, check_pixels
from deepling.projection.activations import select_layers

# Images in a sample by default (the "a sample of images").
N_IMAGES = 2000
# Images per block: the Gram matrices' size. The cost of the Grams grows with it (2·n·D
# per image and layer); the estimator's variance falls with it. With blocks of 64 in
# random order the estimate is 0.006-0.012 (largest pair) from a full-batch one on
# 1,000-2,000 CIFAR-10 test images of every class (tests/test_cka.py), for a Gram cost
# well under the forward pass's.
BLOCK_SIZE = 64
# Where the compiled Gram functions live on a ModelAdapter.
_FUNCTIONS = "_deepling_cka_functions"


@dataclass(frozen=True, eq=False)
class CKAResult:
    """Linear CKA between every layer of model A (rows) and every layer of model B (columns).

    Attributes
    ----------
    matrix : ndarray of float64, shape (len(names_a), len(names_b))
        CKA in [0, 1] (the minibatch estimate can stray a little outside; NaN where a
        layer is constant on the sample).
    names_a, names_b : tuple of str
        The layers (or, across training, the snapshots) of the rows and the columns.
    model_a, model_b : str
        What the rows and columns are from.
    n_images, block_size : int
        Images in the sample, and images per block of the estimator.
    """

    matrix: np.ndarray
    names_a: tuple[str, ...]
    names_b: tuple[str, ...]
    model_a: str
    model_b: str
    n_images: int
    block_size: int

    @property
    def best_match(self) -> np.ndarray:
        """For each column (layer of B), the row (layer of A) most similar to it."""
        filled = np.where(np.isnan(self.matrix), -np.inf, self.matrix)
        return np.argmax(filled, axis=0)

    def to_dict(self) -> dict:
        """Plain JSON-able values (NaN as None)."""
        return {"matrix": [[None if np.isnan(v) else round(float(v), 4) for v in row]
                           for row in self.matrix],
                "names_a": list(self.names_a), "names_b": list(self.names_b),
                "model_a": self.model_a, "model_b": self.model_b,
                "n_images": self.n_images, "block_size": self.block_size}

    def to_arrays(self) -> dict:
        """Plain arrays (strings as unicode arrays): what the service's cache stores."""
        return {"matrix": self.matrix, "names_a": np.array(self.names_a, dtype=str),
                "names_b": np.array(self.names_b, dtype=str),
                "models": np.array([self.model_a, self.model_b], dtype=str),
                "sizes": np.array([self.n_images, self.block_size])}

    @classmethod
    def from_arrays(cls, arrays: dict) -> "CKAResult":
        models = [str(s) for s in arrays["models"]]
        return cls(np.asarray(arrays["matrix"], np.float64),
                   tuple(str(s) for s in arrays["names_a"]), tuple(str(s) for s in arrays["names_b"]),
                   models[0], models[1], int(arrays["sizes"][0]), int(arrays["sizes"][1]))

    def plot(self, height: int = 560):
        """A Plotly heatmap: A's layers up the rows, B's along the columns."""
        from deepling.plots import plot_cka

        return plot_cka(self, height=height)


def cka(model_a, model_b=None, images=None, *, layers_a=None, layers_b=None,
        n_images: int = N_IMAGES, block_size: int = BLOCK_SIZE, batch_size: int = 256,
        random_state=0, progress=None) -> CKAResult:
    """Linear CKA between every layer of ``model_a`` and every layer of ``model_b``.

    Parameters
    ----------
    model_a, model_b : keras.Model or ModelAdapter
        The models; ``model_b=None`` (or the same object) compares ``model_a`` with itself
        (its block structure) in one pass.
    images : ndarray of uint8, shape (N, H, W, C), or Dataset
        Pixels 0..255; converted to each model's input size and channels if they differ.
    layers_a, layers_b : sequence of str or None
        Which layers (see :func:`~deepling.projection.select_layers`; default: every
        layer with one output, input included, identity-at-inference layers left out).
    n_images : int, default=2000
        A random sample of this many images is used when there are more.
    block_size : int, default=64
        Images per block of the minibatch HSIC estimator (at least 4).
    batch_size : int, default=256
        Images per forward pass (rounded to a multiple of ``block_size``).
    random_state : int, RandomState or None
        Chooses the sample.
    progress : callable, optional
        ``progress(fraction, message)``; it may raise to cancel.

    Returns
    -------
    CKAResult
    """
    same = model_b is None or (model_b is model_a and layers_b in (None, layers_a))
    a = as_adapter(model_a)
    models = [(a, layers_a)] if same else [(a, layers_a), (as_adapter(model_b), layers_b)]
    hsic, names, _ = _stream_hsic(models, images, n_images, block_size, batch_size,
                                  random_state, progress)
    if same:
        rows = cols = np.arange(len(names[0]))
        names_b = names[0]
    else:
        rows = np.arange(len(names[0]))
        cols = len(names[0]) + np.arange(len(names[1]))
        names_b = names[1]
    matrix = _cka_from_hsic(hsic, rows, cols)
    b_name = a.name if same else models[1][0].name
    return CKAResult(matrix, tuple(names[0]), tuple(names_b), a.name, b_name,
                     int(hsic.n_images), int(block_size))


def cka_across_training(models, images, layer: str, *, labels=None, n_images: int = N_IMAGES,
                        block_size: int = BLOCK_SIZE, batch_size: int = 256, random_state=0,
                        progress=None) -> CKAResult:
    """CKA of one layer between every pair of snapshots of a training run (epoch × epoch):
    when does the layer stop changing?

    Each snapshot goes through once, all in step on the same blocks of images. For layer
    × layer between two epochs, call :func:`cka` on those two snapshots.

    Parameters
    ----------
    models : sequence of keras.Model or ModelAdapter
        The snapshots, oldest first.
    layer : str
        The layer compared (present in every snapshot).
    labels : sequence of str, optional
        A name per snapshot; default ``"snapshot k"``.
    images, n_images, block_size, batch_size, random_state, progress
        As for :func:`cka`.
    """
    models = [as_adapter(m) for m in models]
    if not models:
        raise ValueError("No snapshots to compare: a run keeps one per epoch.")
    labels = list(labels) if labels is not None else [f"snapshot {k}" for k in range(len(models))]
    if len(labels) != len(models):
        raise ValueError(f"{len(labels)} labels for {len(models)} snapshots.")
    hsic, _, _ = _stream_hsic([(m, [layer]) for m in models], images, n_images, block_size,
                              batch_size, random_state, progress)
    every = np.arange(len(models))
    matrix = _cka_from_hsic(hsic, every, every)
    return CKAResult(matrix, tuple(labels), tuple(labels), f"{models[0].name}: {layer}",
                     f"{models[0].name}: {layer}", int(hsic.n_images), int(block_size))


def unbiased_hsic(k: np.ndarray, l: np.ndarray) -> float:
    """The unbiased HSIC estimator of two n×n Gram matrices (Song et al., 2012), n ≥ 4:
    the full-batch reference the streamed estimate is tested against."""
    k = np.array(k, dtype=np.float64)
    l = np.array(l, dtype=np.float64)
    n = len(k)
    if n < 4:
        raise ValueError("The unbiased HSIC estimator needs at least 4 images.")
    np.fill_diagonal(k, 0.0)
    np.fill_diagonal(l, 0.0)
    ones = np.ones(n)
    value = (np.sum(k * l) + k.sum() * l.sum() / ((n - 1) * (n - 2))
             - 2.0 / (n - 2) * (ones @ k) @ (l @ ones))
    return float(value / (n * (n - 3)))


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Full-batch linear CKA of two activation matrices (N×D₁, N×D₂) held in memory, with
    the unbiased HSIC estimator: the reference for small cases."""
    x = np.asarray(x, np.float64).reshape(len(x), -1)
    y = np.asarray(y, np.float64).reshape(len(y), -1)
    x, y = x - x.mean(0), y - y.mean(0)
    k, l = x @ x.T, y @ y.T
    return unbiased_hsic(k, l) / np.sqrt(unbiased_hsic(k, k) * unbiased_hsic(l, l))


@dataclass
class _HSIC:
    """Block-averaged unbiased HSIC between every pair of streamed features (T×T)."""

    total: np.ndarray
    weight: float = 0.0
    n_images: int = 0

    def add(self, grams: np.ndarray, n_blocks_images: int) -> None:
        """``grams``: float32 (T, G, n, n), centred, diagonal zero — G blocks of n images."""
        t, g, n, _ = grams.shape
        if n < 4:
            return
        k = grams.astype(np.float64)
        flat = k.reshape(t, g, n * n).transpose(1, 0, 2)          # (G, T, n²)
        trace = flat @ flat.transpose(0, 2, 1)                    # tr(K̃L̃), (G, T, T)
        rows = k.sum(axis=3).transpose(1, 0, 2)                   # K̃1, (G, T, n)
        cross = rows @ rows.transpose(0, 2, 1)                    # 1ᵀK̃L̃1
        sums = rows.sum(axis=2)                                   # 1ᵀK̃1, (G, T)
        hsic = (trace + sums[:, :, None] * sums[:, None, :] / ((n - 1) * (n - 2))
                - 2.0 / (n - 2) * cross) / (n * (n - 3))
        self.total += hsic.sum(axis=0) * n  # blocks weighted by their images
        self.weight += g * n
        self.n_images += n_blocks_images

    @property
    def mean(self) -> np.ndarray:
        return self.total / self.weight if self.weight else np.full_like(self.total, np.nan)


def _cka_from_hsic(hsic: _HSIC, rows, cols) -> np.ndarray:
    h = hsic.mean
    d = np.diag(h)
    with np.errstate(invalid="ignore", divide="ignore"):
        norm = np.sqrt(np.outer(d[rows], d[cols]))
        out = np.where(norm > 0, h[np.ix_(rows, cols)] / norm, np.nan)
    return out


def _stream_hsic(models, images, n_images, block_size, batch_size, random_state, progress):
    """One pass of the sampled images through every model in step; returns the HSIC
    accumulator over all (model, layer) features, each model's layer names, the sample."""
    import tensorflow as tf

    report = progress or (lambda fraction, message: None)
    for name, value in (("n_images", n_images), ("block_size", block_size),
                        ("batch_size", batch_size)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    if block_size < 4:
        raise ValueError(f"block_size must be at least 4 (the unbiased HSIC estimator's "
                         f"minimum), got {block_size}.")
    images = _as_pixels(images)
    rng = check_random_state(random_state)
    # in random order: each block must be a random sample of the images for the block's
    # unbiased HSIC to estimate the whole sample's (blocks of a class-sorted dataset taken
    # in order are one class each, and CKA strayed by 0.17: tests/test_cka.py)
    sample = rng.permutation(len(images))[:n_images]
    if len(sample) < 4:
        raise ValueError(f"CKA needs at least 4 images; got {len(sample)}.")
    step = max(block_size, (batch_size // block_size) * block_size)

    plans = []
    for adapter, layers in models:
        refs = select_layers(adapter.model, layers)[0]
        plans.append((adapter, refs, _fitted(adapter, images), _gram_function(adapter, refs)))
    names = [[r.name for r in refs] for _, refs, _, _ in plans]
    hsic = _HSIC(np.zeros((sum(map(len, names)),) * 2))
    done = 0
    for start in range(0, len(sample), step):
        index = sample[start:start + step]
        full = (len(index) // block_size) * block_size
        for part, n in ((index[:full], block_size), (index[full:], len(index) - full)):
            if len(part) < 4:
                continue
            grams = []
            for adapter, refs, fitted, fn in plans:
                x = adapter.preprocess(fitted[part])
                try:
                    out = fn(x, tf.constant(n, tf.int32))
                except Exception as exc:  # noqa: BLE001 - said with the model's name
                    raise ValueError(f"{adapter.name} could not run on these images: {exc}") from exc
                grams += [np.asarray(g) for g in out]
            hsic.add(np.stack(grams), len(part))
        done += len(index)
        report(done / len(sample), f"CKA: {done:,} of {len(sample):,} images through "
               f"{'both models' if len(plans) == 2 else f'{len(plans)} models' if len(plans) > 2 else 'the model'}")
    return hsic, names, sample


def _as_pixels(images) -> np.ndarray:
    from deepling.data.dataset import Dataset

    if images is None:
        raise ValueError("Pass the images to compare on: an N×H×W×C uint8 array (0..255).")
    if isinstance(images, Dataset):
        images = images.images
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"images must be an N×H×W×C array; got shape {images.shape}.")
    if images.dtype != np.uint8:
        check_pixels(images)  # says so when they are 0..1 floats
        raise ValueError(f"images must be uint8 pixels (0–255), got {images.dtype}.")
    return images


def _fitted(adapter, images):
    """The images at the model's input size and channels (converted when they differ)."""
    h, w, c = adapter.input_shape
    if images.shape[-1] != c:
        images = convert_channels(images, c)
    if h is not None and w is not None and images.shape[1:3] != (h, w):
        images = resize_images(images, (h, w))
    return images


def _gram_function(adapter, refs):
    """A ``tf.function``: (preprocessed images B×H×W×C, block size n) → per layer the
    blocks' centred Gram matrices with a zero diagonal, (B/n, n, n) float32. Traced once
    per model and layer choice, kept on the adapter; activations never leave the graph."""
    import keras
    import tensorflow as tf

    functions = adapter.__dict__.setdefault(_FUNCTIONS, {})
    key = tuple(r.name for r in refs)
    if key in functions:
        return functions[key]
    model_input = adapter.model.inputs[0]
    sub = keras.Model(model_input, [r.tensor for r in refs])

    def grams(x, n):
        outs = sub(x, training=False)
        outs = list(outs) if isinstance(outs, (list, tuple)) else [outs]
        result = []
        for a in outs:
            a = tf.cast(a, tf.float32)
            a = tf.reshape(a, (-1, n, tf.reduce_prod(tf.shape(a)[1:])))
            g = tf.matmul(a, a, transpose_b=True)
            # centred as the Gram (HKH, n×n), not as the activations (n×D): the same matrix
            # without a second pass over the layer's values (the largest cost after the
            # forward pass); float32 keeps its digits (tests/test_cka.py: float64 reference)
            g = g - tf.reduce_mean(g, axis=1, keepdims=True)
            g = g - tf.reduce_mean(g, axis=2, keepdims=True)
            result.append(tf.linalg.set_diag(g, tf.zeros(tf.shape(g)[:2])))
        return result

    fn = tf.function(grams, input_signature=[
        tf.TensorSpec((None, *model_input.shape[1:]), tf.float32), tf.TensorSpec((), tf.int32)])
    functions[key] = fn
    return fn
