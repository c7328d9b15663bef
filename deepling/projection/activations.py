"""Streaming a model's layer activations down to a few numbers per image and layer.

Each layer is laid out by classical MDS (PCA) of its activations restricted to the
principal subspace of a few *landmark* images: the layout needs, per image and layer,
only its coordinates along that subspace's r directions (``n_directions``, 8 by default),
never the activations themselves. A layer's activations for all N images would not fit
in memory (the demo CNN's first conv block alone is 32,768 floats per image), so they
are never collected:

1. **Landmarks.** A random subset of the images (128 by default) goes through the model
   once; its activations are kept for every layer (in groups of layers when they would
   exceed a memory budget). Per layer, their centred Gram matrix (one symmetric rank-k
   update) gives the leading principal directions of the landmarks, an orthonormal D×r
   basis.
2. **Stream.** The other images pass through the model in batches; of each batch only the
   N_batch×r products per layer with that layer's basis are kept: one float32 matrix
   product inside a compiled function whose outputs are just those products, so
   activations never leave the graph (the landmarks' products come from their kept
   activations).

Both passes run as ``tf.function`` graphs that take the bases as arguments, traced once
per model and layer choice and kept on the model's adapter: the next projection on the
same model, whatever its images and landmarks, skips tracing.

Every image is forwarded once, so the cost is one prediction pass plus, per layer, an
r-column matrix product (r = 8: about 4 % of the demo CNN's multiply-adds) and a fixed
cost per layer of an m×m Gram matrix among the landmarks. Measured against Pivot MDS
with 50 max–min pivots (:class:`~deepling.projection.PivotMDS`, what this pipeline used
before), the landmarks' subspace shows more of each layer's variance (conv1b of the demo
CNN, N = 2,000: 0.97 of classical MDS's against 0.88) at a sixth of the streamed products.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.utils import check_random_state

from deepling.data.dataset import Dataset
from deepling.models.adapter import as_adapter, check_pixels

# Layers that return their input unchanged at inference: their frame would repeat the
# previous one, so the default selection leaves them out (name them to keep them).
IDENTITY_AT_INFERENCE = frozenset({
    "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "AlphaDropout",
    "GaussianDropout", "GaussianNoise", "ActivityRegularization", "Identity",
    "RandomFlip", "RandomRotation", "RandomTranslation", "RandomZoom", "RandomContrast",
    "RandomBrightness",
})

# Landmarks per projection: their principal subspace stands for every image's. More cost
# m²·D for their Gram matrix; 128 already showed ≥ 0.97 of classical MDS's variance in
# every layer of the demo CNN (bench_projection.py).
N_LANDMARKS = 128
# Principal directions of the landmarks streamed per layer: the layout is the data's own
# top-2 PCA within them, so a few more than 2 let all N images choose the plane (8 and
# 16 measured the same).
N_DIRECTIONS = 8
# Landmark activations held at once; layers are processed in groups that fit.
LANDMARK_BUDGET_BYTES = 512 * 2**20
# Where the compiled functions live on a ModelAdapter (one dict per model).
_FUNCTIONS = "_deepling_projection_functions"


@dataclass(frozen=True)
class LayerRef:
    """A layer whose output can be projected: its name, class name and symbolic output."""

    name: str
    type: str
    tensor: object


@dataclass(frozen=True, eq=False)
class LandmarkProducts:
    """Per layer, every image's coordinates along the landmarks' principal directions.

    Attributes
    ----------
    names, types : tuple of str
        Layer names and class names, input first, in topological order.
    shapes : tuple of tuple of int
        Output shape per layer, without the batch axis.
    products : tuple of ndarray of float32, shape (n_images, r)
        ``products[l][i, j] = <a_i, w_j>``: image i's activations in layer l with that
        layer's j-th unit direction (orthonormal columns; a zero column where the
        landmarks span fewer than r directions). Centred over the images, these are the
        coordinates in the landmarks' principal subspace.
    landmarks : ndarray of int64, shape (m,)
        Which images are the landmarks (the same for every layer).
    variances : ndarray of float64, shape (n_layers, r)
        The landmarks' variance along each direction (eigenvalues of their covariance).
    spreads : ndarray of float64, shape (n_layers,)
        Largest distance of a landmark from the landmarks' mean: 0 when the layer is
        constant.
    magnitudes : ndarray of float64, shape (n_layers,)
        Norm of the landmarks' mean plus their spread (at least the largest landmark
        norm, at most twice it): the scale to judge whether a spread is real or float32
        rounding.
    notes : tuple of str
        Things the user should hear about (fewer landmarks than asked, to fit memory).
    """

    names: tuple[str, ...]
    types: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    products: tuple[np.ndarray, ...]
    landmarks: np.ndarray
    variances: np.ndarray
    spreads: np.ndarray
    magnitudes: np.ndarray
    notes: tuple[str, ...]


def select_layers(model, layers=None):
    """The layers to project, input first, in topological order.

    Parameters
    ----------
    model : keras.Model
        A built model with one input.
    layers : sequence of str or None
        Layer names (the input's name included, if wanted); they are put in topological
        order. ``None`` takes the input and every layer with a single tensor output, except
        layers that are the identity at inference (:data:`IDENTITY_AT_INFERENCE`).
        Layers inside nested models are not expanded: a nested model is one layer.

    Returns
    -------
    chosen : list of LayerRef
    skipped : list of str
        ``"name (Type): reason"`` for every layer left out by the default selection.

    Raises
    ------
    ValueError
        An unknown or unusable layer name, an empty list, or nothing to project.
    """
    entries, skipped, unusable = [_input_ref(model)], [], {}
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "InputLayer":
            continue
        # A shared layer has one output per call: which one to show is ambiguous.
        if len(getattr(layer, "_inbound_nodes", ())) > 1:
            unusable[layer.name] = f"{layer.name} ({kind}): used at several places in the graph"
            continue
        try:
            out = layer.output
        except (AttributeError, ValueError):  # never called: not part of the graph
            unusable[layer.name] = f"{layer.name} ({kind}): not connected to the input"
            continue
        if not _is_tensor(out):
            unusable[layer.name] = f"{layer.name} ({kind}): several outputs"
            continue
        entries.append(LayerRef(layer.name, kind, out))

    if layers is None:
        chosen = [e for e in entries if e.type not in IDENTITY_AT_INFERENCE]
        skipped = list(unusable.values()) + [f"{e.name} ({e.type}): identity at inference"
                                              for e in entries if e.type in IDENTITY_AT_INFERENCE]
        if len(chosen) < 2:
            raise ValueError(
                f"Model {model.name!r} has no layer to project: no layer after the input has a "
                "single tensor output that changes it at inference"
                + (f" (skipped: {'; '.join(skipped)})" if skipped else "") + "."
            )
        return chosen, skipped

    if isinstance(layers, str):
        layers = [layers]
    wanted = list(dict.fromkeys(layers))
    if not wanted:
        raise ValueError("layers is empty: name at least one layer, or pass layers=None for all.")
    by_name = {e.name: e for e in entries}
    bad = [n for n in wanted if n in unusable]
    if bad:
        raise ValueError("Cannot project " + "; ".join(unusable[n] for n in bad) + ".")
    unknown = [n for n in wanted if n not in by_name]
    if unknown:
        raise ValueError(f"No layer named {', '.join(map(repr, unknown))} in model "
                         f"{model.name!r}; its layers are: {', '.join(by_name)}.")
    return [e for e in entries if e.name in set(wanted)], []


def penultimate_layer(model) -> str:
    """The layer whose output feeds the classifier: the model's last learned features.

    Layers that are the identity at inference (Dropout…) are skipped, and a separate
    Softmax/Activation at the end counts as part of the classifier. ``model`` is a
    ``keras.Model`` or a ``ModelAdapter``.
    """
    model = as_adapter(model).model
    refs, _ = select_layers(model)
    names = [r.name for r in refs]
    types = [r.type for r in refs]
    end = len(refs) - 1
    if types[end] in ("Softmax", "Activation") and end > 1:
        end -= 1
    if end < 1:
        raise ValueError(f"Model {model.name!r} has no layer before its classifier to lay out.")
    return names[end - 1]


def check_images(model, images) -> np.ndarray:
    """``images`` as a uint8 N×H×W×C array that fits the model, else ValueError."""
    adapter = as_adapter(model)
    if isinstance(images, Dataset):
        images = images.images
    images = np.asarray(images)
    expected = tuple(adapter.input_shape)
    shown = "×".join("any" if d is None else str(d) for d in expected)
    if images.ndim != 4:
        raise ValueError(f"images must be an N×H×W×C array; got shape {images.shape}. "
                         "Pass a batch of images (a Dataset's .images).")
    if len(images) < 2:
        raise ValueError(f"{'No images' if len(images) == 0 else 'Only one image'} selected: "
                         "a projection needs at least 2 images.")
    if any(e is not None and e != g for e, g in zip(expected, images.shape[1:])):
        raise ValueError(
            f"The images are {'×'.join(map(str, images.shape[1:]))} but {adapter.name} takes "
            f"{shown}; convert them with adapter.fit_dataset(dataset) first."
        )
    if images.dtype != np.uint8:
        check_pixels(images)  # says so when they are 0..1 floats
        raise ValueError(f"images must be uint8 pixels (0–255), got {images.dtype}; the "
                         "model adapter scales them to the model's input range.")
    return images


def landmark_products(model, images, layers=None, *, n_landmarks=N_LANDMARKS,
                      n_directions=N_DIRECTIONS, batch_size=256, random_state=0,
                      progress=None) -> LandmarkProducts:
    """Stream ``images`` through ``model``, keeping their coordinates in each layer's
    landmark subspace.

    Parameters
    ----------
    model : keras.Model or ModelAdapter
        The model (and its input convention).
    images : ndarray of uint8, shape (N, H, W, C), or Dataset
        Images already fitted to the model (see ``ModelAdapter.fit_dataset``).
    layers : sequence of str or None, default=None
        Which layers; see :func:`select_layers`.
    n_landmarks : int, default=128
        Images whose activations give each layer's principal directions (all of them when
        there are fewer images; fewer when the largest layer would not fit the memory
        budget, with a note).
    n_directions : int, default=8
        Principal directions per layer (at most ``n_landmarks - 1``).
    batch_size : int, default=256
        Images per forward pass; it bounds memory and does not change the result.
    random_state : int, RandomState instance or None, default=0
        Chooses the landmarks.
    progress : callable, optional
        ``progress(fraction, message)`` with fraction rising from 0 to 1.

    Returns
    -------
    LandmarkProducts
    """
    import tensorflow as tf

    adapter = as_adapter(model)
    images = check_images(adapter, images)
    for name, value in (("batch_size", batch_size), ("n_landmarks", n_landmarks),
                        ("n_directions", n_directions)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    report = progress or (lambda fraction, message: None)
    refs, _ = select_layers(adapter.model, layers)
    rng = check_random_state(random_state)
    n = len(images)

    def forward(group, index):
        """Activations of the layers ``group`` for the images at ``index``, float32 N×D."""
        try:
            outs = _compiled(adapter, refs, group, "activations")(adapter.preprocess(images[index]))
        except Exception as exc:
            raise ValueError(f"{adapter.name} could not run on these images: {exc}") from exc
        # np.asarray shares the tensors' memory: no copy of the activations.
        return [np.asarray(o, dtype=np.float32).reshape(len(index), -1) for o in outs]

    every = tuple(range(len(refs)))
    shapes = _output_shapes(adapter, refs, images)
    sizes = np.array([int(np.prod(s)) for s in shapes])

    wanted = min(n, int(n_landmarks))
    # The largest layer must fit the budget at m landmarks; never fewer than 2, though.
    m = int(max(min(2, n), min(wanted, LANDMARK_BUDGET_BYTES // (4 * sizes.max()))))
    notes = [] if m == wanted else [
        (f"principal directions taken from {m} images, not {wanted}, to keep the activations "
         f"of layer {refs[int(sizes.argmax())].name} within memory")]
    r = int(min(n_directions, max(m - 1, 1)))
    landmarks = np.arange(n) if m == n else np.sort(rng.choice(n, m, replace=False))
    groups = _groups(sizes * m * 4, LANDMARK_BUDGET_BYTES)
    total = len(groups) * m + (n - m)
    done = 0
    report(0.0, f"Finding each layer's principal directions among {m} images")

    products = [np.empty((n, r), np.float32) for _ in refs]
    bases = [None] * len(refs)  # per layer: D × r, orthonormal columns (or zero)
    variances = np.zeros((len(refs), r))
    spreads, magnitudes = np.zeros(len(refs)), np.zeros(len(refs))
    for group in groups:
        acts = [[] for _ in group]
        for start in range(0, m, batch_size):
            index = landmarks[start:start + batch_size]
            for chunks, a in zip(acts, forward(group, index)):
                chunks.append(a)
            done += len(index)
            report(done / total, f"Finding principal directions ({done:,} of {total:,} images "
                                 "through the model)")
        for slot, i in enumerate(group):
            chunks, acts[slot] = acts[slot], None  # free each layer's landmarks when done
            a = chunks[0] if len(chunks) == 1 else np.concatenate(chunks)
            bases[i], variances[i], spreads[i], magnitudes[i] = _principal_basis(a, r)
            products[i][landmarks] = _products(a, bases[i])  # as for streamed images
            del chunks, a

    rest = np.setdiff1d(np.arange(n), landmarks, assume_unique=True)
    if len(rest):
        stream = _compiled(adapter, refs, every, "products")
        bases_t = [tf.constant(b) for b in bases]  # converted once, not per batch
    for start in range(0, len(rest), batch_size):
        index = rest[start:start + batch_size]
        for i, g in enumerate(stream(adapter.preprocess(images[index]), bases_t)):
            products[i][index] = np.asarray(g)
        done += len(index)
        report(done / total, f"Streaming images through the model ({done:,} of {total:,})")
    return LandmarkProducts(tuple(r.name for r in refs), tuple(r.type for r in refs), shapes,
                            tuple(products), landmarks, variances, spreads, magnitudes,
                            tuple(notes))


def _output_shapes(adapter, refs, images):
    """Each layer's output shape for these images, from the symbolic shapes where they are
    complete, else from one image through the model (a model may leave spatial sizes
    open). Either way a model that cannot run on the images says so clearly here."""
    symbolic = [tuple(r.tensor.shape[1:]) for r in refs]
    if all(d is not None for s in symbolic for d in s) and tuple(adapter.input_shape) == images.shape[1:]:
        return tuple(tuple(int(d) for d in s) for s in symbolic)
    try:
        probe = _compiled(adapter, refs, tuple(range(len(refs))), "activations")(
            adapter.preprocess(images[:1]))
    except Exception as exc:
        raise ValueError(f"{adapter.name} could not run on these images: {exc}") from exc
    return tuple(tuple(int(d) for d in o.shape[1:]) for o in probe)


def _principal_basis(a, r):
    """The landmarks' leading principal directions, from their centred Gram matrix.

    ``a`` is float32 m×D (m landmarks). One Gram product (a symmetric rank-k update, half
    a general product; aᵀ is Fortran-ordered D×m, so BLAS reads it in place) and an m×m
    eigenproblem give the directions ``w_j = aᶜᵀ v_j / √λ_j`` without ever forming a D×D
    covariance. Centring first keeps float32 cancellation small (a float32 mean of the m
    rows is accurate enough for that, and the directions do not depend on it).

    Returns
    -------
    basis : float32 D×r, orthonormal columns; zero columns where the landmarks span
        fewer directions (a constant or non-finite layer gives all zeros).
    variances : float64 (r,), the landmarks' variance along each direction.
    spread, magnitude : float, the largest landmark distance from their mean, and a
        bound on the largest landmark norm.
    """
    from scipy.linalg import eigh
    from scipy.linalg.blas import ssyrk

    m, d = a.shape
    with np.errstate(over="ignore", invalid="ignore"):  # non-finite layers: caller warns
        mean = a.mean(axis=0)
        a = a - mean
        upper = ssyrk(1.0, a.T, trans=1)  # the upper triangle is filled
        gram = np.triu(upper).astype(np.float64)
        gram = gram + np.triu(gram, 1).T
        spread = float(np.sqrt(np.max(np.diag(gram))))
        # |mean| + spread bounds the largest landmark norm (within a factor 2) without
        # another pass over the activations: enough to tell a spread from float32 rounding.
        magnitude = float(np.sqrt(np.einsum("i,i->", mean, mean, dtype=np.float64))) + spread
    basis, variances = np.zeros((d, r), np.float32), np.zeros(r)
    if not (np.isfinite(gram).all() and np.isfinite(magnitude)) or spread == 0.0:
        return basis, variances, spread if np.isfinite(spread) else np.inf, magnitude
    w, v = eigh(gram, subset_by_index=(m - r, m - 1))  # only the r largest, ascending
    w, v = w[::-1], v[:, ::-1]
    # Directions with (numerically) zero variance carry rounding noise only.
    keep = w > w[0] * max(m, d) * np.finfo(np.float32).eps
    scale = np.divide(1.0, np.sqrt(np.maximum(w, 0.0)), out=np.zeros_like(w), where=keep)
    with np.errstate(over="ignore", invalid="ignore"):
        basis[:] = a.T @ (v * scale).astype(np.float32)
    variances[keep] = w[keep] / m
    return basis, variances, spread, magnitude


def _products(a, basis):
    with np.errstate(over="ignore", invalid="ignore"):  # non-finite layers: caller warns
        return a @ basis


def _compiled(adapter, refs, group, kind):
    """A ``tf.function`` over the model for the layers ``refs[i] for i in group``.

    ``"activations"``: preprocessed images → those layers' outputs. ``"products"``:
    (preprocessed images, per layer its D×r basis) → per layer the N×r products, so
    activations never leave the graph. The bases are arguments, not
    constants, and the batch size is open, so one trace serves every projection on this
    model with the same layers; it is kept on the adapter (one per model, never shared
    between models), and tracing it twice in a race is only wasted time.
    """
    import keras
    import tensorflow as tf

    functions = adapter.__dict__.setdefault(_FUNCTIONS, {})
    key = (kind, tuple(refs[i].name for i in group))
    if key in functions:
        return functions[key]
    model_input = adapter.model.inputs[0]
    sub = keras.Model(model_input, [refs[i].tensor for i in group])
    image = tf.TensorSpec((None, *model_input.shape[1:]), tf.float32)

    def outputs(x):
        outs = sub(x, training=False)
        return list(outs) if isinstance(outs, (list, tuple)) else [outs]

    if kind == "activations":
        fn = tf.function(outputs, input_signature=[image])
    else:
        def products(x, bases):
            return [tf.matmul(tf.reshape(tf.cast(a, tf.float32), (tf.shape(a)[0], -1)), b)
                    for a, b in zip(outputs(x), bases)]

        basis_specs = [tf.TensorSpec((None, None), tf.float32) for _ in group]
        fn = tf.function(products, input_signature=[image, basis_specs])
    functions[key] = fn
    return fn


def _groups(landmark_bytes, budget):
    """Consecutive layer indices grouped so each group's landmark activations fit."""
    groups, current, used = [], [], 0
    for i, b in enumerate(landmark_bytes):
        if current and used + b > budget:
            groups.append(current)
            current, used = [], 0
        current.append(i)
        used += int(b)
    return groups + [current]


def _input_ref(model):
    tensor = model.inputs[0]
    history = getattr(tensor, "_keras_history", None)
    name = getattr(getattr(history, "operation", None), "name", None) or "input"
    return LayerRef(name, "InputLayer", tensor)


def _is_tensor(out) -> bool:
    return hasattr(out, "shape") and hasattr(out, "dtype") and not isinstance(out, (list, tuple, dict))
