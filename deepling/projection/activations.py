"""Streaming a model's layer activations down to k numbers per image and layer.

Pivot MDS lays out a layer from the squared distances of every image to k pivot images in
that layer's activation space. Of those distances it needs only the inner products with
the pivots (:meth:`PivotMDS.fit_transform_inner_products`): the norms the distances also
contain depend on the image alone or on the pivot alone, and double centring removes such
terms. A layer's activations for all N images would not fit in memory (the demo CNN's
first conv block alone is 32,768 floats per image), so they are never collected:

1. **Candidates.** A random subset of the images (128 for 50 pivots) goes through the model
   once; its activations are kept for every layer (in groups of layers when they would
   exceed a memory budget) and pivots are chosen per layer by max–min among them, with
   their exact distances.
2. **Stream.** The other images pass through the model in batches; of each batch only
   the N_batch×k inner products per layer with that layer's (centred) pivots are kept:
   one float32 matrix product inside a compiled function whose outputs are just those
   products, so activations never leave the graph (the candidates' products come from
   their kept activations).

Both passes run as ``tf.function`` graphs that take the pivots as arguments, traced once
per model and layer choice and kept on the model's adapter: the next projection on the
same model, whatever its images and pivots, skips tracing.

Every image is forwarded once (plus the candidates once per layer group), so the cost is
one prediction pass plus, per layer, a k-column matrix product.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.utils import check_random_state

from deepling.data.dataset import Dataset
from deepling.models.adapter import as_adapter, check_pixels
from deepling.projection.pivot_mds import maxmin_select

# Layers that return their input unchanged at inference: their frame would repeat the
# previous one, so the default selection leaves them out (name them to keep them).
IDENTITY_AT_INFERENCE = frozenset({
    "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "AlphaDropout",
    "GaussianDropout", "GaussianNoise", "ActivityRegularization", "Identity",
    "RandomFlip", "RandomRotation", "RandomTranslation", "RandomZoom", "RandomContrast",
    "RandomBrightness",
})

# Pivots are chosen among this many random images (at least 2 per pivot), so pivot choice
# sees enough of the data to find its extremes without a second pass over all of it. More
# candidates cost m²·D for their distance matrix and hardly improved the layouts measured.
MIN_CANDIDATES = 128
CANDIDATES_PER_PIVOT = 2
# Candidate activations held at once; layers are processed in groups that fit.
CANDIDATE_BUDGET_BYTES = 512 * 2**20
# Where the compiled functions live on a ModelAdapter (one dict per model).
_FUNCTIONS = "_deepling_projection_functions"


@dataclass(frozen=True)
class LayerRef:
    """A layer whose output can be projected: its name, class name and symbolic output."""

    name: str
    type: str
    tensor: object


@dataclass(frozen=True, eq=False)
class PivotProducts:
    """Per layer, every image's inner products with that layer's centred pivots.

    Attributes
    ----------
    names, types : tuple of str
        Layer names and class names, input first, in topological order.
    shapes : tuple of tuple of int
        Output shape per layer, without the batch axis.
    products : tuple of ndarray of float32, shape (n_images, k)
        ``products[l][i, j] = <a_i, p_j - c>``: image i's activations in layer l with
        pivot j minus the pivots' mean c. The squared distance is
        ``|a_i - c|² + |p_j - c|² - 2 products[l][i, j]``.
    pivot_indices : ndarray of int64, shape (n_layers, k)
        Which images are each layer's pivots.
    spreads : ndarray of float64, shape (n_layers,)
        Largest distance of a pivot from the pivots' mean: 0 when the layer is constant.
    magnitudes : ndarray of float64, shape (n_layers,)
        Largest pivot norm: the scale to judge whether a spread is real or float32
        rounding.
    notes : tuple of str
        Things the user should hear about (layers whose pivots came from fewer candidates).
    """

    names: tuple[str, ...]
    types: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    products: tuple[np.ndarray, ...]
    pivot_indices: np.ndarray
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


def pivot_products(model, images, layers=None, *, n_pivots=50, batch_size=256,
                   random_state=0, progress=None) -> PivotProducts:
    """Stream ``images`` through ``model``, keeping products with pivots per layer.

    Parameters
    ----------
    model : keras.Model or ModelAdapter
        The model (and its input convention).
    images : ndarray of uint8, shape (N, H, W, C), or Dataset
        Images already fitted to the model (see ``ModelAdapter.fit_dataset``).
    layers : sequence of str or None, default=None
        Which layers; see :func:`select_layers`.
    n_pivots : int, default=50
        Pivots per layer (fewer when there are fewer images).
    batch_size : int, default=256
        Images per forward pass; it bounds memory and does not change the result.
    random_state : int, RandomState instance or None, default=0
        Chooses the candidate images and each layer's first pivot.
    progress : callable, optional
        ``progress(fraction, message)`` with fraction rising from 0 to 1.

    Returns
    -------
    PivotProducts
    """
    import tensorflow as tf

    adapter, images, refs = _checked(model, images, layers, batch_size, n_pivots)
    plan = _PivotPlan(adapter, refs, images, n_pivots, batch_size, random_state, progress)
    every = tuple(range(len(refs)))
    stream = _compiled(adapter, refs, every, "products")
    pivots_t = [tf.constant(c) for c in plan.centred_t]  # converted once, not per batch
    for start in range(0, len(plan.rest), batch_size):
        index = plan.rest[start:start + batch_size]
        for i, g in enumerate(stream(adapter.preprocess(images[index]), pivots_t)):
            plan.products[i][index] = np.asarray(g)
        plan.advance(len(index))
    return plan.result()


def _checked(model, images, layers, batch_size, n_pivots):
    """(adapter, images, layer refs) for :func:`pivot_products` and its shared version."""
    adapter = as_adapter(model)
    images = check_images(adapter, images)
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
    if not isinstance(n_pivots, (int, np.integer)) or n_pivots < 1:
        raise ValueError(f"n_pivots must be a positive integer, got {n_pivots!r}.")
    return adapter, images, select_layers(adapter.model, layers)[0]


class _PivotPlan:
    """One image set's pivots, chosen among its candidates (whose products it fills in);
    what is left is streaming :attr:`rest` into :attr:`products`, then :meth:`result`.

    :func:`pivot_products` streams one plan's images; :func:`shared_pivot_products` streams
    several plans' images in one pass.
    """

    def __init__(self, adapter, refs, images, n_pivots, batch_size, random_state, progress):
        self.refs, self.report = refs, progress or (lambda fraction, message: None)
        rng = check_random_state(random_state)
        n = self.n = len(images)

        def forward(group, index):
            """Activations of the layers ``group`` for the images at ``index``, float32 N×D."""
            outs = _compiled(adapter, refs, group, "activations")(adapter.preprocess(images[index]))
            # np.asarray shares the tensors' memory: no copy of the activations.
            return [np.asarray(o, dtype=np.float32).reshape(len(index), -1) for o in outs]

        # One image gives the real output shapes (a model may leave spatial sizes open) and
        # shows early, with a clear message, if the model cannot run on these images at all.
        every = tuple(range(len(refs)))
        try:
            probe = _compiled(adapter, refs, every, "activations")(adapter.preprocess(images[:1]))
        except Exception as exc:
            raise ValueError(f"{adapter.name} could not run on these images: {exc}") from exc
        self.shapes = tuple(tuple(int(d) for d in o.shape[1:]) for o in probe)
        sizes = np.array([int(np.prod(s)) for s in self.shapes])

        k = min(int(n_pivots), n)
        wanted = min(n, max(MIN_CANDIDATES, CANDIDATES_PER_PIVOT * int(n_pivots)))
        # The largest layer must fit the budget at m candidates; never fewer than k, though.
        m = int(max(k, min(wanted, CANDIDATE_BUDGET_BYTES // (4 * sizes.max()))))
        self.notes = [] if m == wanted else [
            (f"pivots chosen among {m} images, not {wanted}, to keep the activations of layer "
             f"{refs[int(sizes.argmax())].name} within memory")]
        cand = np.arange(n) if m == n else np.sort(rng.choice(n, m, replace=False))
        # Every layer starts max–min from the same image: layers that only rescale or reshape
        # the previous one then get the same pivots, hence the same layout, and do not jitter.
        first_pivot_seed = int(rng.randint(2**31 - 1))
        groups = _groups(sizes * m * 4, CANDIDATE_BUDGET_BYTES)
        self.total = len(groups) * m + (n - m)
        self.done = 0
        self.report(0.0, f"Choosing {k} pivots per layer among {m} images")

        self.products = [np.empty((n, k), np.float32) for _ in refs]
        self.pivot_idx = np.empty((len(refs), k), np.int64)
        self.spreads, self.magnitudes = np.empty(len(refs)), np.empty(len(refs))
        self.centred_t = [None] * len(refs)  # per layer: (pivots - their mean)ᵀ, D × k
        for group in groups:
            acts = [[] for _ in group]
            for start in range(0, m, batch_size):
                index = cand[start:start + batch_size]
                for chunks, a in zip(acts, forward(group, index)):
                    chunks.append(a)
                self.done += len(index)
                self.report(self.done / self.total, f"Choosing pivots ({self.done:,} of "
                            f"{self.total:,} images through the model)")
            for slot, i in enumerate(group):
                chunks, acts[slot] = acts[slot], None  # free each layer's candidates when done
                a = chunks[0] if len(chunks) == 1 else np.concatenate(chunks)
                idx = _maxmin_among(a, k, first_pivot_seed)
                pivots, self.pivot_idx[i] = a[idx], cand[idx]
                self.centred_t[i] = _centred_t(pivots)
                self.products[i][cand] = _products(a, self.centred_t[i])  # as for streamed images
                with np.errstate(over="ignore", invalid="ignore"):  # non-finite: caller warns
                    self.spreads[i] = _max_norm(self.centred_t[i].T)
                    self.magnitudes[i] = _max_norm(pivots)
                del chunks, a, pivots
        self.rest = np.setdiff1d(np.arange(n), cand, assume_unique=True)

    def advance(self, count: int) -> None:
        self.done += count
        self.report(self.done / self.total,
                    f"Streaming images through the model ({self.done:,} of {self.total:,})")

    def result(self) -> PivotProducts:
        refs = self.refs
        return PivotProducts(tuple(r.name for r in refs), tuple(r.type for r in refs), self.shapes,
                             tuple(self.products), self.pivot_idx, self.spreads, self.magnitudes,
                             tuple(self.notes))


@dataclass(frozen=True, eq=False)
class SharedProducts:
    """What :func:`shared_pivot_products` gives back.

    Attributes
    ----------
    results : list of PivotProducts or Exception
        One per subset, in order: its products, or the error that stopped that subset
        alone (an image set the model cannot take, a progress callback that raised to
        cancel it).
    n_requested : int
        Images the subsets hold together (what separate runs would send through the model).
    n_forwarded : int
        Images actually sent through the model: each subset's pivot candidates, plus every
        other image once however many subsets hold it.
    """

    results: list
    n_requested: int
    n_forwarded: int


def shared_pivot_products(model, images, subsets, layers=None, *, n_pivots=50, batch_size=256,
                          random_state=0, progress=None, on_ready=None) -> SharedProducts:
    """:func:`pivot_products` of several subsets of one image array, in one forward pass.

    Each subset's pivots are chosen among its own candidates exactly as
    ``pivot_products(model, images[subset], …)`` would; then every image that some subset
    still needs goes through the model once, and each subset takes the products with its
    own pivots for its own rows out of that pass. Overlapping subsets (two users asking
    for nearly the same images) thus share their forward passes. Smaller subsets go first,
    and each is handed to ``on_ready`` as soon as its last image is through.

    Parameters
    ----------
    model : keras.Model or ModelAdapter
    images : ndarray of uint8, shape (N, H, W, C), or Dataset
        The images every subset indexes into.
    subsets : sequence of array of int
        Indices into ``images``, one array per wanted projection.
    layers, n_pivots, batch_size, random_state
        As for :func:`pivot_products`, the same for every subset.
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

    adapter, images, refs = _checked(model, images, layers, batch_size, n_pivots)
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
        rows, pivots_t = {}, {}
        for j in live:
            at = by_image[np.searchsorted(union, subsets[j][plans[j].rest], sorter=by_image)]
            order = np.argsort(at, kind="stable")
            rows[j] = (at[order], plans[j].rest[order])  # union position → the plan's own row
            pivots_t[j] = [tf.constant(c) for c in plans[j].centred_t]
            plans[j].centred_t = None  # held once, as tensors
        sizes = sum(int(np.prod(s)) for s in plans[live[0]].shapes)
        # a whole batch's activations leave the model: keep one batch within a quarter budget
        step = int(max(1, min(batch_size, CANDIDATE_BUDGET_BYTES // (16 * sizes))))
        forward, gathered = _compiled(adapter, refs, every, "flat"), _gathered(adapter, len(refs))
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
                    products = gathered(acts, tf.constant(at[lo:hi] - start, tf.int32), pivots_t[j])
                    for i, g in enumerate(products):
                        plans[j].products[i][own[lo:hi]] = np.asarray(g)
                    plans[j].advance(hi - lo)
                    if hi == len(at):
                        ready(j, plans[j].result())
                except Exception as exc:  # noqa: BLE001 - cancelled or failed: drop it alone
                    ready(j, exc)
                    pivots_t.pop(j, None)

    # Smallest first, in pivots and in the stream: a small projection is not kept waiting
    # for a big one it shares the pass with. Plans whose pivots would take more than the
    # budget together go in several passes.
    every = tuple(range(len(refs)))
    chunk, held = [], 0
    for j in sorted(range(len(subsets)), key=lambda j: len(subsets[j])):
        subset = subsets[j]
        requested += len(subset)
        try:
            if len(subset) and (subset.min() < 0 or subset.max() >= len(images)):
                raise ValueError(f"subset {j} indexes images outside 0..{len(images) - 1}.")
            plans[j] = plan = _PivotPlan(adapter, refs, check_images(adapter, images[subset]),
                                         n_pivots, batch_size, random_state, reports[j])
            forwarded += 1 + plan.total - len(plan.rest)  # its probe and candidates
            if len(plan.rest) == 0:
                ready(j, plan.result())
                continue
        except Exception as exc:  # noqa: BLE001 - this subset's failure, not the others'
            ready(j, exc)
            continue
        chunk.append(j)
        held += sum(c.nbytes for c in plan.centred_t)
        if held > CANDIDATE_BUDGET_BYTES // 2:  # pivots held for the pass: bounded too
            stream(chunk)
            chunk, held = [], 0
    stream(chunk)
    return SharedProducts(results, requested, forwarded)


def _maxmin_among(a, k, seed):
    """Max–min pivots among the rows of ``a`` (float32 m×D) from their full distance matrix.

    One centred Gram matrix product (m²·D, compute-bound; a symmetric rank-k update, so
    half a general product) is cheaper than k passes over ``a`` (k·m·D, memory-bound) for
    the sizes used here; centring first keeps float32 cancellation small (a float32 mean
    of the m rows is accurate enough for that, and distances do not depend on it).
    """
    from scipy.linalg.blas import ssyrk

    with np.errstate(over="ignore", invalid="ignore"):  # non-finite layers: caller warns
        a = a - a.mean(axis=0)
        norms = np.einsum("ij,ij->i", a, a, dtype=np.float64)
        # aᵀ is Fortran-ordered D×m: BLAS reads it in place; the upper triangle is filled
        upper = ssyrk(1.0, a.T, trans=1)
        gram = np.triu(upper).astype(np.float64)
        gram = gram + np.triu(gram, 1).T
        full = np.maximum(norms[:, None] + norms[None, :] - 2.0 * gram, 0.0)
    np.fill_diagonal(full, 0.0)
    return maxmin_select(len(a), k, lambda j: full[:, j], seed)[0]


def _centred_t(pivots):
    """(pivots − their mean)ᵀ as a contiguous float32 D×k matrix.

    Centring the pivots keeps the products ``a·(p − c)`` accurate in float32: their error
    scales with |a|·|p − c| rather than |a|·|p|, and a constant layer gives exact zeros.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        centre = pivots.mean(axis=0, dtype=np.float64).astype(np.float32)
        return np.ascontiguousarray((pivots - centre).T)


def _products(a, centred_t):
    with np.errstate(over="ignore", invalid="ignore"):  # non-finite layers: caller warns
        return a @ centred_t


def _max_norm(rows):
    return float(np.sqrt(np.einsum("ij,ij->i", rows, rows, dtype=np.float64).max()))


def _compiled(adapter, refs, group, kind):
    """A ``tf.function`` over the model for the layers ``refs[i] for i in group``.

    ``"activations"``: preprocessed images → those layers' outputs. ``"products"``:
    (preprocessed images, per layer the centred pivotsᵀ as D×k) → per layer the N×k
    products, so activations never leave the graph. The pivots are arguments, not
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
        def products(x, pivots_t):
            return [tf.matmul(tf.reshape(tf.cast(a, tf.float32), (tf.shape(a)[0], -1)), p)
                    for a, p in zip(outputs(x), pivots_t)]

        pivot_specs = [tf.TensorSpec((None, None), tf.float32) for _ in group]
        fn = tf.function(products, input_signature=[image, pivot_specs])
    functions[key] = fn
    return fn


def _gathered(adapter, n_layers):
    """A ``tf.function``: (per layer N×D activations, rows, per layer D×k pivotsᵀ) → per
    layer the rows' products, as the "products" kind computes them in one pass; traced
    once per model and kept on the adapter like :func:`_compiled`'s."""
    import tensorflow as tf

    functions = adapter.__dict__.setdefault(_FUNCTIONS, {})
    key = ("gathered", n_layers)
    if key not in functions:
        def products(acts, rows, pivots_t):
            return [tf.matmul(tf.gather(a, rows), p) for a, p in zip(acts, pivots_t)]

        matrices = [tf.TensorSpec((None, None), tf.float32) for _ in range(n_layers)]
        functions[key] = tf.function(products, input_signature=[
            matrices, tf.TensorSpec((None,), tf.int32), matrices])
    return functions[key]


def _groups(candidate_bytes, budget):
    """Consecutive layer indices grouped so each group's candidate activations fit."""
    groups, current, used = [], [], 0
    for i, b in enumerate(candidate_bytes):
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
