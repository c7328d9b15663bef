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
from deepling.models.adapter import ModelAdapter, as_adapter, check_pixels
from deepling.projection.pivot_mds import maxmin_pivots

# Layers that return their input unchanged at inference: their frame would repeat the
# previous one, so the default selection leaves them out (name them to keep them).
IDENTITY_AT_INFERENCE = frozenset({
    "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "AlphaDropout",
    "GaussianDropout", "GaussianNoise", "ActivityRegularization", "Identity",
    "RandomFlip", "RandomRotation", "RandomTranslation", "RandomZoom", "RandomContrast",
    "RandomBrightness",
})

# A model with more layers than this gets its block outputs as default frames.
MAX_DEFAULT_FRAMES = 40
MIN_DEFAULT_FRAMES = 15
# Merges that end a block (a squeeze-and-excitation Multiply does not).
BLOCK_MERGES = frozenset({"Add", "Concatenate", "Average", "Subtract", "Maximum"})
# Landmarks per projection: their principal subspace stands for every image's. More cost
# m²·D for their Gram matrix; 128 already showed ≥ 0.97 of classical MDS's variance in
# every layer of the demo CNN (bench_projection.py).
N_LANDMARKS = 128
# Principal directions of the landmarks streamed per layer: the layout is the data's own
# top-2 PCA within them, so a few more than 2 let all N images choose the plane (8 and
# 16 measured the same).
N_DIRECTIONS = 8
# Landmark activations held at once (all layers together: one pass, see sketch_sizes).
LANDMARK_BUDGET_BYTES = 512 * 2**20
# A layer larger than this is read through a count sketch of this many numbers per image
# when all layers' landmarks would not fit whole; never sketched below MIN_SKETCH.
MAX_SKETCH = 8192
MIN_SKETCH = 256
# The two ways to lay out a layer, both streamed in the same single pass: classical MDS
# in the landmarks' principal subspace (the default, measured better) and Pivot MDS.
METHODS = ("landmarks", "pivot_mds")
N_PIVOTS = 50
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
    method : {"landmarks", "pivot_mds"}
        ``"pivot_mds"``: ``products[l]`` holds each image's squared distances to the
        layer's pivots (max–min among the landmarks) instead, for
        :meth:`~deepling.projection.PivotMDS.fit_transform_distances`.
    sketch : tuple of int
        Numbers per image each layer was read as (its size, or its count sketch's).
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
    method: str = "landmarks"
    sketch: tuple[int, ...] = ()


def select_layers(model, layers=None):
    """The layers to project, input first, in topological order.

    Parameters
    ----------
    model : keras.Model or ModelAdapter
        A built model with one input. A loaded Sequential, or a model with nested models,
        is read unfolded (:func:`deepling.models.flat.flat_model`): every layer counts.
    layers : sequence of str, "all" or None
        Layer names (the input's name included, if wanted); they are put in topological
        order. ``"all"`` takes the input and every layer with a single tensor output,
        except layers that are the identity at inference (:data:`IDENTITY_AT_INFERENCE`).
        ``None`` takes the same for a model of up to :data:`MAX_DEFAULT_FRAMES` such
        layers (the demo CNN: all of them), and the block outputs of a deeper one
        (:func:`block_outputs`).

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
    model = _flat(model)
    entries, skipped, unusable = [_input_ref(model)], [], {}
    calls = _calls(model)
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "InputLayer":
            continue
        # A shared layer has one output per call: which one to show is ambiguous.
        if calls.get(layer.name, 0) > 1:
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

    if layers is None or (isinstance(layers, str) and layers == "all"):
        chosen = [e for e in entries if e.type not in IDENTITY_AT_INFERENCE]
        skipped = list(unusable.values()) + [f"{e.name} ({e.type}): identity at inference"
                                              for e in entries if e.type in IDENTITY_AT_INFERENCE]
        if len(chosen) < 2:
            raise ValueError(
                f"Model {model.name!r} has no layer to project: no layer after the input has a "
                "single tensor output that changes it at inference"
                + (f" (skipped: {'; '.join(skipped)})" if skipped else "") + "."
            )
        if layers is None and len(chosen) > MAX_DEFAULT_FRAMES:
            keep = set(block_outputs(model, [e.name for e in chosen]))
            skipped += [f"{e.name} ({e.type}): inside a block (pass layers='all', or name it)"
                        for e in chosen if e.name not in keep]
            chosen = [e for e in chosen if e.name in keep]
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


def block_outputs(model, names=None, max_frames=None) -> list[str]:
    """The layers an architect thinks in: the input, each block's output (a residual add
    or concatenation where the graph narrows to it again, or the activation right after
    it), the last layer before each downsampling, and the head; in topological order.

    Parameters
    ----------
    model : keras.Model or ModelAdapter
    names : sequence of str, optional
        The layers to choose from (default: every layer).
    max_frames : int, default=MAX_DEFAULT_FRAMES
        More block outputs than this are thinned evenly within each resolution, always
        keeping each resolution's last one (DenseNet121's 58 concatenations: every few).

    Returns
    -------
    list of str
    """
    from deepling.models.graph import _cuts, layer_graph

    model = _flat(model)
    max_frames = MAX_DEFAULT_FRAMES if max_frames is None else max_frames
    graph = layer_graph(model)
    order = [n.name for n in graph.nodes]
    allowed = set(order if names is None else names)
    node = {n.name: n for n in graph.nodes}
    cuts = _cuts(order, list(graph.edges))
    succ = {n: graph.successors(n) for n in order}

    def area(name):
        shape = node[name].output_shape
        return (shape[0] or 0) * (shape[1] or 0) if isinstance(shape, tuple) and len(shape) == 3 else None

    last_spatial = max((i for i, n in enumerate(order) if area(n)), default=-1)
    mandatory, merges = [order[0]], []
    for i, name in enumerate(order):
        if i > last_spatial:  # the head
            mandatory.append(name)
            continue
        if not cuts[i] or i == 0:
            continue
        if node[name].type in BLOCK_MERGES:
            out = name
            after = succ[name]
            if len(after) == 1 and node[after[0]].type in ("Activation", "ReLU") \
                    and len(graph.predecessors(after[0])) == 1:
                out = after[0]  # ResNet's convN_blockM_out
            merges.append((i, out))
            continue
        here = area(name)
        if here and node[name].type != "ZeroPadding2D":
            j = i + 1
            while j < len(order) and node[order[j]].type == "ZeroPadding2D":
                j += 1
            there = area(order[j]) if j < len(order) else None
            if there is not None and there < here or i == last_spatial:
                mandatory.append(name)
    mandatory.append(order[-1])
    merges = [out for _, out in merges]
    room = max(max_frames - len(set(mandatory)), 1)
    if len(merges) > room:
        # thin evenly within each resolution, keeping its last block
        by_area: dict = {}
        for out in merges:
            by_area.setdefault(area(out), []).append(out)
        step = -(-len(merges) // room)
        merges = [out for group in by_area.values()
                  for k, out in enumerate(group) if (len(group) - 1 - k) % step == 0]
    keep = (set(mandatory) | set(merges)) & allowed
    if len(keep) < MIN_DEFAULT_FRAMES:  # blocks Keras does not mark (ConvNeXt adds with ops)
        spare = [n for i, n in enumerate(order) if cuts[i] and n in allowed and n not in keep]
        want = min(len(spare), MIN_DEFAULT_FRAMES + 5 - len(keep))
        keep |= {spare[int(k)] for k in np.linspace(0, len(spare) - 1, want)} if want > 0 else set()
    return [n for n in order if n in keep]


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
                      n_directions=N_DIRECTIONS, batch_size=None, random_state=0,
                      progress=None, method="landmarks", n_pivots=N_PIVOTS) -> LandmarkProducts:
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
    batch_size : int or None, default=None
        Most images per forward pass; None sizes batches by the model's activation memory
        (:func:`deepling.models.memory.batch_size_for`). It does not change the result.
    random_state : int, RandomState instance or None, default=0
        Chooses the landmarks.
    progress : callable, optional
        ``progress(fraction, message)`` with fraction rising from 0 to 1.
    method : {"landmarks", "pivot_mds"}, default="landmarks"
        What is streamed per layer: coordinates in the landmarks' principal subspace, or
        squared distances to ``n_pivots`` max–min pivots among the landmarks (Pivot MDS,
        Brandes & Pich 2006). Both in the same single pass.
    n_pivots : int, default=50
        Pivots per layer for ``method="pivot_mds"`` (at most the landmarks).

    Returns
    -------
    LandmarkProducts
    """
    import tensorflow as tf

    adapter, images, refs = _checked(model, images, layers, batch_size, n_landmarks, n_directions)
    plan = _LandmarkPlan(adapter, refs, images, n_landmarks, n_directions, batch_size,
                         random_state, progress, method, n_pivots)
    if len(plan.rest):
        stream = _traced(adapter, refs, plan.sketch, "products", plan.sizes, plan.report,
                         plan.done / plan.total, "Streaming images through the model")
        bases_t = [tf.constant(b) for b in plan.bases]  # converted once, not per batch
    for start in range(0, len(plan.rest), plan.batch):
        index = plan.rest[start:start + plan.batch]
        outs = stream(adapter.preprocess(images[index]), bases_t)
        for i in range(len(refs)):
            plan.products[i][index] = plan.finish(i, np.asarray(outs[0][i]), np.asarray(outs[1][i]))
        plan.advance(len(index))
    return plan.result()


def _checked(model, images, layers, batch_size, n_landmarks, n_directions):
    """(adapter, images, layer refs) for :func:`landmark_products` and its shared version."""
    adapter = as_adapter(model)
    images = check_images(adapter, images)
    for name, value in (("batch_size", 1 if batch_size is None else batch_size),
                        ("n_landmarks", n_landmarks), ("n_directions", n_directions)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return adapter, images, select_layers(adapter.model, layers)[0]


class _LandmarkPlan:
    """One image set's landmark bases, found (and the landmarks' products filled in);
    what is left is streaming :attr:`rest` into :attr:`products`, then :meth:`result`.

    :func:`landmark_products` streams one plan's images; :func:`shared_landmark_products`
    streams several plans' images in one pass. The landmarks go through the model once,
    all layers together: each layer's activations are kept as a sketch of at most
    :attr:`sketch` numbers per image (the activations themselves where they fit, see
    :func:`sketch_sizes`), so what is held stays within the budget whatever the depth.
    """

    def __init__(self, adapter, refs, images, n_landmarks, n_directions, batch_size,
                 random_state, progress, method=METHODS[0], n_pivots=N_PIVOTS):
        self.refs, self.report = refs, progress or (lambda fraction, message: None)
        self.method = _check_method(method)
        rng = check_random_state(random_state)
        n = len(images)
        self.shapes = _output_shapes(adapter, refs, images)
        self.sizes = sizes = np.array([int(np.prod(s)) for s in self.shapes])
        wanted = min(n, int(n_landmarks))
        self.sketch, m = sketch_sizes(sizes, wanted)
        self.notes = [] if m == wanted else [
            (f"principal directions taken from {m} images, not {wanted}, to keep the landmarks' "
             f"activations of {len(refs)} layers within memory")]
        if np.any(self.sketch < sizes):
            self.notes.append(
                f"{int(np.sum(self.sketch < sizes))} of {len(refs)} layers are larger than "
                f"{int(self.sketch.max()):,} numbers per image: their activations are hashed to "
                "that many (a count sketch, which keeps distances on average) before the layout")
        r = int(min(n_directions, max(m - 1, 1)))
        self.landmarks = landmarks = np.arange(n) if m == n else np.sort(rng.choice(n, m, replace=False))
        self.batch = _batch(adapter, batch_size)
        self.total, self.done = n, 0
        self.report(0.0, f"Finding each layer's principal directions among {m} images")

        sketches = [np.empty((m, int(k)), np.float32) for k in self.sketch]
        try:
            fn = _traced(adapter, refs, self.sketch, "sketch", sizes, self.report, 0.0,
                         f"Finding each layer's principal directions among {m} images")
        except Exception as exc:
            raise ValueError(f"{adapter.name} could not run on these images: {exc}") from exc
        for start in range(0, m, self.batch):
            index = landmarks[start:start + self.batch]
            try:
                outs = fn(adapter.preprocess(images[index]))
            except Exception as exc:
                raise ValueError(f"{adapter.name} could not run on these images: {exc}") from exc
            for held, o in zip(sketches, outs):
                held[start:start + len(index)] = np.asarray(o)
            self.done += len(index)
            self.report(self.done / self.total, f"Finding principal directions ({self.done:,} "
                        f"of {m:,} landmark images through the model)")
        width = r if self.method == "landmarks" else int(min(n_pivots, m))
        self.products = [np.empty((n, width), np.float32) for _ in refs]
        self.bases = [None] * len(refs)  # per layer: k × width (directions, or pivots)
        self.offsets = [None] * len(refs)  # pivots: per layer the pivots' squared norms
        self.variances = np.zeros((len(refs), r))
        self.spreads, self.magnitudes = np.zeros(len(refs)), np.zeros(len(refs))
        for i in range(len(refs)):
            # an eigenproblem per layer takes a moment on wide layers: report each (a cancel
            # stops here rather than after the last layer)
            self.report(self.done / self.total, f"Principal directions of {refs[i].name}")
            a, sketches[i] = sketches[i], None  # free each layer's landmarks when done
            basis, self.variances[i], self.spreads[i], self.magnitudes[i] = _principal_basis(a, r)
            if self.method == "landmarks":
                self.bases[i] = basis
            else:  # Pivot MDS: max-min pivots among the landmarks, distances to them streamed
                pivots, _ = maxmin_pivots(a, width, random_state=0)
                self.bases[i] = np.ascontiguousarray(a[pivots].T)
                self.offsets[i] = np.einsum("ij,ij->j", self.bases[i], self.bases[i])
            self.products[i][landmarks] = self.finish(i, *_products(a, self.bases[i]))
            del a
        self.rest = np.setdiff1d(np.arange(n), landmarks, assume_unique=True)
        self.forwarded = m  # images this plan sent through the model itself

    def finish(self, i, products, norms):
        """A batch's streamed numbers for layer ``i``: its products with the basis, or, for
        Pivot MDS, its squared distances to the pivots."""
        if self.method == "landmarks":
            return products
        with np.errstate(over="ignore", invalid="ignore"):
            return np.maximum(norms[:, None] - 2.0 * products + self.offsets[i][None, :], 0.0)

    def advance(self, count: int) -> None:
        self.done += count
        self.report(self.done / self.total,
                    f"Streaming images through the model ({self.done:,} of {self.total:,})")

    def result(self) -> LandmarkProducts:
        refs = self.refs
        return LandmarkProducts(tuple(r.name for r in refs), tuple(r.type for r in refs),
                                self.shapes, tuple(self.products), self.landmarks,
                                self.variances, self.spreads, self.magnitudes, tuple(self.notes),
                                self.method, tuple(int(k) for k in self.sketch))


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
                             n_directions=N_DIRECTIONS, batch_size=None, random_state=0,
                             progress=None, on_ready=None, method="landmarks",
                             n_pivots=N_PIVOTS) -> SharedProducts:
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
    layers, n_landmarks, n_directions, batch_size, random_state, method, n_pivots
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
        step = plans[live[0]].batch
        forward = _compiled(adapter, refs, plans[live[0]].sketch, "sketch", plans[live[0]].sizes)
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
                    products, norms = gathered(acts, tf.constant(at[lo:hi] - start, tf.int32),
                                               bases_t[j])
                    for i in range(len(refs)):
                        plans[j].products[i][own[lo:hi]] = plans[j].finish(
                            i, np.asarray(products[i]), np.asarray(norms[i]))
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
                n_landmarks, n_directions, batch_size, random_state, reports[j], method, n_pivots)
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
        import keras

        probe = keras.Model(adapter.model.inputs[0], [r.tensor for r in refs])(
            adapter.preprocess(images[:1]), training=False)
        probe = probe if isinstance(probe, (list, tuple)) else [probe]
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
    """(a @ basis, squared row norms of a), as the streamed batches get them."""
    with np.errstate(over="ignore", invalid="ignore"):  # non-finite layers: caller warns
        return a @ basis, np.einsum("ij,ij->i", a, a)


def _compiled(adapter, refs, sketch, kind, sizes):
    """A ``tf.function`` over the model for the layers ``refs``, each read as
    ``sketch[l]`` numbers per image (:func:`_sketched`).

    ``"sketch"``: preprocessed images → per layer the N×k sketches; ``"products"``:
    (preprocessed images, per layer its k×w basis) → (per layer the N×w products, per layer
    the N squared norms), so activations never leave the graph. The bases are arguments,
    not constants, and the batch size is open, so one trace serves every projection on
    this model with the same layers; it is kept on the adapter (one per model, never
    shared between models), and tracing it twice in a race is only wasted time.
    """
    import keras
    import tensorflow as tf

    functions = adapter.__dict__.setdefault(_FUNCTIONS, {})
    sketch = tuple(int(k) for k in sketch)
    sizes = tuple(int(d) for d in sizes)
    key = (kind, tuple(r.name for r in refs), sketch, sizes)
    if key in functions:
        return functions[key]
    model_input = adapter.model.inputs[0]
    sub = keras.Model(model_input, [r.tensor for r in refs])
    image = tf.TensorSpec((None, *model_input.shape[1:]), tf.float32)

    def sketches(x):
        outs = sub(x, training=False)
        outs = list(outs) if isinstance(outs, (list, tuple)) else [outs]
        return [_sketched(a, k, d, seed) for seed, (a, k, d) in enumerate(zip(outs, sketch, sizes))]

    if kind == "sketch":
        fn = tf.function(sketches, input_signature=[image])
    else:
        def products(x, bases):
            s = sketches(x)
            return ([tf.matmul(a, b) for a, b in zip(s, bases)],
                    [tf.reduce_sum(tf.square(a), axis=1) for a in s])

        basis_specs = [tf.TensorSpec((None, None), tf.float32) for _ in refs]
        fn = tf.function(products, input_signature=[image, basis_specs])
    functions[key] = fn
    return fn


def _traced(adapter, refs, sketch, kind, sizes, report, fraction, message):
    """:func:`_compiled`, traced now from its input signature (no image goes through the
    model: the counts of forward passes stay the images'), with a progress report after it:
    the trace is the longest step with no report in it, so a cancel that lands during it is
    seen at once when it ends, not after the first whole batch."""
    fn = _compiled(adapter, refs, sketch, kind, sizes)
    fn.get_concrete_function()
    report(fraction, message)
    return fn


def _sketched(a, k, d, seed):
    """``a`` (N×…) as float32 N×k: itself flattened when it has at most k numbers per
    image, else its count sketch (Charikar et al. 2002): number i, times a random sign,
    added into bucket i mod k. Inner products, hence distances and the Gram matrix, are
    kept on average (an unbiased estimate, relative error about 1/√k of the vectors'
    norms): what lets the landmarks of every layer be held at once. The signs come from
    an integer hash of i, computed in the graph (no D-long constant per layer)."""
    import tensorflow as tf

    flat = tf.reshape(tf.cast(a, tf.float32), (tf.shape(a)[0], d))
    if d <= k:
        return flat
    i = tf.range(d, dtype=tf.int64) + (seed + 1) * 0x9E3779B1
    h = tf.bitwise.bitwise_xor(tf.bitwise.right_shift(i, 16), i) % (1 << 32)
    h = (h * 0x45D9F3B) % (1 << 32)
    h = tf.bitwise.bitwise_xor(tf.bitwise.right_shift(h, 16), h)
    h = (h * 0x45D9F3B) % (1 << 32)
    h = tf.bitwise.bitwise_xor(tf.bitwise.right_shift(h, 16), h)
    signs = tf.cast(1 - 2 * tf.bitwise.bitwise_and(h, 1), tf.float32)
    rows = -(-d // k)
    signed = tf.pad(flat * signs, [[0, 0], [0, rows * k - d]])
    return tf.reduce_sum(tf.reshape(signed, (-1, rows, k)), axis=1)


def _gathered(adapter, n_layers):
    """A ``tf.function``: (per layer N×k sketches, rows, per layer k×w bases) → (per
    layer the rows' products, per layer their squared norms), as the "products" kind
    computes them in one pass; traced once per model and kept on the adapter like
    :func:`_compiled`'s."""
    import tensorflow as tf

    functions = adapter.__dict__.setdefault(_FUNCTIONS, {})
    key = ("gathered", n_layers)
    if key not in functions:
        def products(acts, rows, bases):
            picked = [tf.gather(a, rows) for a in acts]
            return ([tf.matmul(a, b) for a, b in zip(picked, bases)],
                    [tf.reduce_sum(tf.square(a), axis=1) for a in picked])

        matrices = [tf.TensorSpec((None, None), tf.float32) for _ in range(n_layers)]
        functions[key] = tf.function(products, input_signature=[
            matrices, tf.TensorSpec((None,), tf.int32), matrices])
    return functions[key]


def sketch_sizes(sizes, n_landmarks, budget=None):
    """(numbers kept per image for each layer, landmarks) so that the landmarks' kept
    activations of every layer fit ``budget`` bytes together.

    Layers are kept whole when all fit at ``n_landmarks``; otherwise every layer larger
    than a common cap k is sketched to k numbers (:func:`_sketched`), k the largest power
    of two from :data:`MAX_SKETCH` down to :data:`MIN_SKETCH` that fits; below that, fewer
    landmarks (never fewer than 2).
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    budget = LANDMARK_BUDGET_BYTES if budget is None else budget
    m = int(n_landmarks)
    if 4 * m * sizes.sum() <= budget:
        return sizes.copy(), m
    k = MAX_SKETCH
    while k > MIN_SKETCH and 4 * m * np.minimum(sizes, k).sum() > budget:
        k //= 2
    kept = np.minimum(sizes, k)
    m = int(max(min(2, m), min(m, budget // (4 * kept.sum()))))
    return kept, m


def _batch(adapter, batch_size):
    """Images per forward pass: ``batch_size`` at most, and what the model's activation
    memory allows (:func:`deepling.models.memory.batch_size_for`)."""
    from deepling.models.memory import batch_size_for

    fits = batch_size_for(adapter)
    return fits if batch_size is None else int(max(1, min(int(batch_size), fits)))


def _check_method(method):
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(map(repr, METHODS))}, got {method!r}.")
    return method


def _flat(model):
    """The keras.Model behind ``model``, unfolded (an adapter's is already)."""
    from deepling.models.flat import flat_model

    return model.model if isinstance(model, ModelAdapter) else flat_model(model)


def _calls(model) -> dict:
    """How many times each layer is called in ``model``'s own graph."""
    calls: dict = {}
    for nodes in getattr(model, "_nodes_by_depth", {}).values():
        for node in nodes:
            name = getattr(node.operation, "name", None)
            if name is not None:
                calls[name] = calls.get(name, 0) + 1
    return calls


def _input_ref(model):
    tensor = model.inputs[0]
    history = getattr(tensor, "_keras_history", None)
    name = getattr(getattr(history, "operation", None), "name", None) or "input"
    return LayerRef(name, "InputLayer", tensor)


def _is_tensor(out) -> bool:
    return hasattr(out, "shape") and hasattr(out, "dtype") and not isinstance(out, (list, tuple, dict))
