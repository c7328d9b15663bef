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

    adapter, images, refs = _checked(model, images, layers, batch_size, n_landmarks, n_directions)
    plan = _LandmarkPlan(adapter, refs, images, n_landmarks, n_directions, batch_size,
                         random_state, progress)
    if len(plan.rest):
        stream = _compiled(adapter, refs, tuple(range(len(refs))), "products")
        bases_t = [tf.constant(b) for b in plan.bases]  # converted once, not per batch
    for start in range(0, len(plan.rest), batch_size):
        index = plan.rest[start:start + batch_size]
        for i, g in enumerate(stream(adapter.preprocess(images[index]), bases_t)):
            plan.products[i][index] = np.asarray(g)
        plan.advance(len(index))
    return plan.result()


def _checked(model, images, layers, batch_size, n_landmarks, n_directions):
    """(adapter, images, layer refs) for :func:`landmark_products` and its shared version."""
    adapter = as_adapter(model)
    images = check_images(adapter, images)
    for name, value in (("batch_size", batch_size), ("n_landmarks", n_landmarks),
                        ("n_directions", n_directions)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return adapter, images, select_layers(adapter.model, layers)[0]


class _LandmarkPlan:
    """One image set's landmark bases, found (and the landmarks' products filled in);
    what is left is streaming :attr:`rest` into :attr:`products`, then :meth:`result`.

    :func:`landmark_products` streams one plan's images; :func:`shared_landmark_products`
    streams several plans' images in one pass.
    """

    def __init__(self, adapter, refs, images, n_landmarks, n_directions, batch_size,
                 random_state, progress):
        self.refs, self.report = refs, progress or (lambda fraction, message: None)
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

        self.shapes = _output_shapes(adapter, refs, images)
        sizes = np.array([int(np.prod(s)) for s in self.shapes])

        wanted = min(n, int(n_landmarks))
        # The largest layer must fit the budget at m landmarks; never fewer than 2, though.
        m = int(max(min(2, n), min(wanted, LANDMARK_BUDGET_BYTES // (4 * sizes.max()))))
        self.notes = [] if m == wanted else [
            (f"principal directions taken from {m} images, not {wanted}, to keep the activations "
             f"of layer {refs[int(sizes.argmax())].name} within memory")]
        r = int(min(n_directions, max(m - 1, 1)))
        self.landmarks = landmarks = np.arange(n) if m == n else np.sort(rng.choice(n, m, replace=False))
        groups = _groups(sizes * m * 4, LANDMARK_BUDGET_BYTES)
        self.total, self.done = len(groups) * m + (n - m), 0
        self.report(0.0, f"Finding each layer's principal directions among {m} images")

        self.products = [np.empty((n, r), np.float32) for _ in refs]
        self.bases = [None] * len(refs)  # per layer: D × r, orthonormal columns (or zero)
        self.variances = np.zeros((len(refs), r))
        self.spreads, self.magnitudes = np.zeros(len(refs)), np.zeros(len(refs))
        for group in groups:
            acts = [[] for _ in group]
            for start in range(0, m, batch_size):
                index = landmarks[start:start + batch_size]
                for chunks, a in zip(acts, forward(group, index)):
                    chunks.append(a)
                self.done += len(index)
                self.report(self.done / self.total, f"Finding principal directions ({self.done:,} "
                            f"of {self.total:,} images through the model)")
            for slot, i in enumerate(group):
                chunks, acts[slot] = acts[slot], None  # free each layer's landmarks when done
                a = chunks[0] if len(chunks) == 1 else np.concatenate(chunks)
                self.bases[i], self.variances[i], self.spreads[i], self.magnitudes[i] = \
                    _principal_basis(a, r)
                self.products[i][landmarks] = _products(a, self.bases[i])  # as for streamed images
                del chunks, a
        self.rest = np.setdiff1d(np.arange(n), landmarks, assume_unique=True)
        self.forwarded = len(groups) * m  # images this plan sent through the model itself

    def advance(self, count: int) -> None:
        self.done += count
        self.report(self.done / self.total,
                    f"Streaming images through the model ({self.done:,} of {self.total:,})")

    def result(self) -> LandmarkProducts:
        refs = self.refs
        return LandmarkProducts(tuple(r.name for r in refs), tuple(r.type for r in refs),
                                self.shapes, tuple(self.products), self.landmarks,
                                self.variances, self.spreads, self.magnitudes, tuple(self.notes))


@dataclass(frozen=True, eq=False)
class SharedProducts:
    """What :func:`shared_landmark_products` gives back.

    Attributes
    ----------
    results : list of LandmarkProducts or Exception
        One per subset, in order: its products, or the error that stopped that subset
        alone (an image set the model cannot take, a progress callback that raised to
        cancel it).
    n_requested : int
        Images the subsets hold together (what separate runs would send through the model).
    n_forwarded : int
        Images actually sent through the model: each subset's landmarks, plus every other
        image once however many subsets hold it.
    """

    results: list
    n_requested: int
    n_forwarded: int


def shared_landmark_products(model, images, subsets, layers=None, *, n_landmarks=N_LANDMARKS,
                             n_directions=N_DIRECTIONS, batch_size=256, random_state=0,
                             progress=None, on_ready=None) -> SharedProducts:
    """:func:`landmark_products` of several subsets of one image array, in one forward pass.

    Each subset's landmarks and bases are found among its own images exactly as
    ``landmark_products(model, images[subset], …)`` would; then every image that some
    subset still needs goes through the model once, and each subset takes the products
    with its own bases for its own rows out of that pass. Overlapping subsets (two users
    asking for nearly the same images) thus share their forward passes. Smaller subsets go
    first, and each is handed to ``on_ready`` as soon as its last image is through.

    Parameters
    ----------
    model : keras.Model or ModelAdapter
    images : ndarray of uint8, shape (N, H, W, C), or Dataset
        The images every subset indexes into.
    subsets : sequence of array of int
        Indices into ``images``, one array per wanted projection.
    layers, n_landmarks, n_directions, batch_size, random_state
        As for :func:`landmark_products`, the same for every subset.
    progress : sequence of callables or None, optional
        One ``progress(fraction, message)`` per subset (or None). One that raises stops
        that subset only (that is how a caller cancels one of them).
    on_ready : callable, optional
        ``on_ready(j, products_or_exception)``, once per subset, as soon as it is complete.

    Returns
    -------
    SharedProducts
    """
    import tensorflow as tf

    adapter, images, refs = _checked(model, images, layers, batch_size, n_landmarks, n_directions)
    subsets = [np.asarray(s, dtype=np.int64).reshape(-1) for s in subsets]
    reports = list(progress) if progress is not None else [None] * len(subsets)
    results, plans, requested, forwarded = [None] * len(subsets), {}, 0, 0

    def ready(j, value):
        if results[j] is not None:  # its on_ready raised, and came back here: once is enough
            return
        results[j] = value
        plans.pop(j, None)
        if on_ready is not None:
            on_ready(j, value)

    def stream(chunk):
        """One pass over the images the plans in ``chunk`` still want, each image once."""
        nonlocal forwarded
        live = [j for j in chunk if j in plans]
        if not live:
            return
        # The images still wanted, in the plans' order; where each plan's rows sit among them.
        every_wanted = np.concatenate([subsets[j][plans[j].rest] for j in live])
        _, first = np.unique(every_wanted, return_index=True)
        union = every_wanted[np.sort(first)]
        by_image = np.argsort(union)
        rows, bases_t = {}, {}
        for j in live:
            at = by_image[np.searchsorted(union, subsets[j][plans[j].rest], sorter=by_image)]
            order = np.argsort(at, kind="stable")
            rows[j] = (at[order], plans[j].rest[order])  # union position → the plan's own row
            bases_t[j] = [tf.constant(b) for b in plans[j].bases]
            plans[j].bases = None  # held once, as tensors
        sizes = sum(int(np.prod(s)) for s in plans[live[0]].shapes)
        # a whole batch's activations leave the model: keep one batch within a quarter budget
        step = int(max(1, min(batch_size, LANDMARK_BUDGET_BYTES // (16 * sizes))))
        forward = _compiled(adapter, refs, tuple(range(len(refs))), "flat")
        gathered = _gathered(adapter, len(refs))
        for start in range(0, len(union), step):
            stop = min(start + step, len(union))
            acts = None
            for j in [j for j in live if j in plans]:
                at, own = rows[j]
                lo, hi = np.searchsorted(at, [start, stop])
                if lo == hi:
                    continue
                if acts is None:  # the shared pass: each image once, for every plan
                    acts = forward(adapter.preprocess(images[union[start:stop]]))
                    forwarded += stop - start
                try:
                    products = gathered(acts, tf.constant(at[lo:hi] - start, tf.int32), bases_t[j])
                    for i, g in enumerate(products):
                        plans[j].products[i][own[lo:hi]] = np.asarray(g)
                    plans[j].advance(hi - lo)
                    if hi == len(at):
                        ready(j, plans[j].result())
                except Exception as exc:  # noqa: BLE001 - cancelled or failed: drop it alone
                    ready(j, exc)
                    bases_t.pop(j, None)

    # Smallest first, in landmarks and in the stream: a small projection is not kept
    # waiting for a big one it shares the pass with. Plans whose bases would take more
    # than half the landmark budget together go in several passes.
    chunk, held = [], 0
    for j in sorted(range(len(subsets)), key=lambda j: len(subsets[j])):
        subset = subsets[j]
        requested += len(subset)
        try:
            if len(subset) and (subset.min() < 0 or subset.max() >= len(images)):
                raise ValueError(f"subset {j} indexes images outside 0..{len(images) - 1}.")
            everything = np.array_equal(subset, np.arange(len(images)))  # no copy of them all
            plans[j] = plan = _LandmarkPlan(
                adapter, refs, images if everything else check_images(adapter, images[subset]),
                n_landmarks, n_directions, batch_size, random_state, reports[j])
            forwarded += plan.forwarded
            if len(plan.rest) == 0:
                ready(j, plan.result())
                continue
        except Exception as exc:  # noqa: BLE001 - this subset's failure, not the others'
            ready(j, exc)
            continue
        chunk.append(j)
        held += sum(b.nbytes for b in plan.bases)
        if held > LANDMARK_BUDGET_BYTES // 2:  # bases held for the pass: bounded too
            stream(chunk)
            chunk, held = [], 0
    stream(chunk)
    return SharedProducts(results, requested, forwarded)


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

    ``"activations"``: preprocessed images → those layers' outputs; ``"flat"``: the same
    as float32 N×D matrices (for :func:`_gathered`). ``"products"``:
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
    elif kind == "flat":  # activations as float32 N×D, for products taken later
        def flat(x):
            return [tf.reshape(tf.cast(a, tf.float32), (tf.shape(a)[0], -1)) for a in outputs(x)]

        fn = tf.function(flat, input_signature=[image])
    else:
        def products(x, bases):
            return [tf.matmul(tf.reshape(tf.cast(a, tf.float32), (tf.shape(a)[0], -1)), b)
                    for a, b in zip(outputs(x), bases)]

        basis_specs = [tf.TensorSpec((None, None), tf.float32) for _ in group]
        fn = tf.function(products, input_signature=[image, basis_specs])
    functions[key] = fn
    return fn


def _gathered(adapter, n_layers):
    """A ``tf.function``: (per layer N×D activations, rows, per layer D×r bases) → per
    layer the rows' products, as the "products" kind computes them in one pass; traced
    once per model and kept on the adapter like :func:`_compiled`'s."""
    import tensorflow as tf

    functions = adapter.__dict__.setdefault(_FUNCTIONS, {})
    key = ("gathered", n_layers)
    if key not in functions:
        def products(acts, rows, bases):
            return [tf.matmul(tf.gather(a, rows), b) for a, b in zip(acts, bases)]

        matrices = [tf.TensorSpec((None, None), tf.float32) for _ in range(n_layers)]
        functions[key] = tf.function(products, input_signature=[
            matrices, tf.TensorSpec((None,), tf.int32), matrices])
    return functions[key]


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
