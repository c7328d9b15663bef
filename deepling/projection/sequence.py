"""One 2-D layout of the images per layer, each turned onto the one before.

:func:`layer_sequence` is what the layer animation shows: the images pass through the
model once (:func:`~deepling.projection.activations.landmark_products`), every layer is
laid out by PCA (classical MDS) within its landmarks' principal subspace, each layout is aligned to the previous one with Procrustes (mirror
included) so that only real change moves the points, and all frames share one viewport.
A result converts to plain arrays and back (:meth:`LayerSequence.to_arrays`), which is how
the service (:mod:`deepling.service.projections`) keeps it in its disk cache.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from numbers import Integral

import numpy as np
from threadpoolctl import threadpool_limits

from deepling.models.adapter import as_adapter
from deepling.projection.activations import (N_DIRECTIONS, N_LANDMARKS, N_PIVOTS,
                                              check_images,
                                              landmark_products, select_layers,
                                              shared_landmark_products)
from deepling.projection.procrustes import procrustes_align

# Bump when the computation or the arrays change, so stored results are not reused.
FORMAT_VERSION = 3
# A layer whose landmarks lie within this fraction of their norm of each other has
# collapsed to a point: float32 cannot resolve
# finer differences anyway.
COLLAPSE_RTOL = 1e-5
# Share of the progress bar for streaming; the rest is layout and alignment.
_STREAM_SHARE = 0.95
_DIAGNOSTICS = ("mirrored", "rotation_deg", "residual_before", "residual_after",
                "residual_alternative")


@dataclass(frozen=True, eq=False)
class LayerSequence:
    """Aligned 2-D layouts of the same images, one per layer.

    Attributes
    ----------
    names, types : tuple of str
        Layer names and class names, the input first, in topological order.
    shapes : tuple of tuple of int
        Each layer's output shape without the batch axis.
    layouts : ndarray of float32, shape (n_layers, n_images, 2)
        Layout ``l`` is aligned to layout ``l - 1``; all share one viewport: every point
        lies within the unit disc, so every coordinate is in [-1, 1].
    collapsed : ndarray of bool, shape (n_layers,)
        Layers that could not be laid out, their layout all zeros: activations the same
        for all images, or not finite (the warnings say which).
    mirrored, rotation_deg, residual_before, residual_after, residual_alternative : ndarray
        Shape (n_layers - 1,). Entry ``l - 1`` describes turning layer ``l`` onto the last non-collapsed layer
        before it (see :class:`~deepling.projection.procrustes.Alignment`; residuals are
        relative to that layer's RMS radius). NaN residuals mean there was no such layer.
    aligned : bool
        False when the alignment was measured but not applied (``align=False``).
    n_landmarks : int
        Landmark images actually used (their principal subspace is each layer's).
    n_directions : int
        Principal directions per layer actually streamed.
    warnings : tuple of str
        What the user should know (collapsed layers, fewer landmarks than asked).
    skipped : tuple of str
        Layers left out of the default selection, with the reason.
    method : {"landmarks", "pivot_mds"}
        How each layer was laid out (see :func:`layer_sequence`).
    from_cache : bool
        Whether this result was read back from stored arrays (:meth:`from_arrays`).
    """

    names: tuple[str, ...]
    types: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    layouts: np.ndarray
    collapsed: np.ndarray
    mirrored: np.ndarray
    rotation_deg: np.ndarray
    residual_before: np.ndarray
    residual_after: np.ndarray
    residual_alternative: np.ndarray
    aligned: bool = True
    n_landmarks: int = 0
    n_directions: int = 0
    warnings: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    method: str = "landmarks"
    from_cache: bool = field(default=False, compare=False)

    def __post_init__(self):
        for name in ("layouts", "collapsed", *_DIAGNOSTICS):
            # Read-only views: frozen all the way down, without touching the caller's arrays.
            view = np.asarray(getattr(self, name)).view()
            view.setflags(write=False)
            object.__setattr__(self, name, view)

    def __len__(self) -> int:
        return len(self.names)

    @property
    def n_images(self) -> int:
        return int(self.layouts.shape[1])

    def layout(self, name: str) -> np.ndarray:
        """The N×2 layout of the layer called ``name``."""
        if name not in self.names:
            raise KeyError(f"No layer {name!r} in this sequence; it has: {', '.join(self.names)}.")
        return self.layouts[self.names.index(name)]

    def plot(self, layer=None, labels=None, class_names=None, **kwargs):
        """A Plotly scatter of one layer, or all layers as an animation (:mod:`deepling.plots`)."""
        from deepling.plots import plot_sequence

        return plot_sequence(self, layer, labels, class_names, **kwargs)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays (no objects, no pickling), e.g. for an ``.npz`` file or a disk cache."""
        arrays = {
            "format": np.array(FORMAT_VERSION),
            "names": np.array(self.names, dtype=str),
            "types": np.array(self.types, dtype=str),
            "shapes": np.array([",".join(map(str, s)) for s in self.shapes], dtype=str),
            "aligned": np.array(self.aligned),
            "n_landmarks": np.array(self.n_landmarks),
            "n_directions": np.array(self.n_directions),
            "warnings": np.array(self.warnings, dtype=str),
            "skipped": np.array(self.skipped, dtype=str),
            "method": np.array(self.method),
        }
        for name in ("layouts", "collapsed", *_DIAGNOSTICS):
            arrays[name] = np.asarray(getattr(self, name))
        return arrays

    @classmethod
    def from_arrays(cls, arrays, from_cache: bool = False) -> LayerSequence:
        """Rebuild from :meth:`to_arrays` output; ValueError if it is from another version."""
        if int(arrays.get("format", -1)) != FORMAT_VERSION:
            raise ValueError("These arrays were written by another version of layer_sequence.")
        return cls(
            names=tuple(str(s) for s in arrays["names"]),
            types=tuple(str(s) for s in arrays["types"]),
            shapes=tuple(tuple(int(d) for d in str(s).split(",") if d) for s in arrays["shapes"]),
            layouts=np.asarray(arrays["layouts"], dtype=np.float32),
            collapsed=np.asarray(arrays["collapsed"], dtype=bool),
            mirrored=np.asarray(arrays["mirrored"], dtype=bool),
            **{k: np.asarray(arrays[k], dtype=np.float64) for k in _DIAGNOSTICS[1:]},
            aligned=bool(arrays["aligned"]),
            n_landmarks=int(arrays["n_landmarks"]),
            n_directions=int(arrays["n_directions"]),
            warnings=tuple(str(s) for s in arrays["warnings"]),
            skipped=tuple(str(s) for s in arrays["skipped"]),
            method=str(arrays["method"]),
            from_cache=from_cache,
        )


def layer_sequence(model, images, layers=None, *, n_landmarks=N_LANDMARKS,
                   n_directions=N_DIRECTIONS, batch_size=None, random_state=0, progress=None,
                   align=True, method="landmarks", n_pivots=N_PIVOTS) -> LayerSequence:
    """Lay out ``images`` in every layer of ``model``, aligned frame to frame.

    Parameters
    ----------
    model : keras.Model or ModelAdapter
        The model (a plain model's input range is detected, see ``ModelAdapter.from_model``).
    images : ndarray of uint8, shape (N, H, W, C), or Dataset
        At least 2 images, already fitted to the model (``adapter.fit_dataset``).
    layers : sequence of str, "all" or None, default=None
        Layer names, put in topological order. ``None``: the default frames of
        :func:`~deepling.projection.select_layers` (every layer of a model of up to 40,
        the block outputs of a deeper one); ``"all"``: every layer with a single tensor
        output except those that are the identity at inference.
    n_landmarks : int, default=128
        Images whose activations give each layer's principal directions; a fixed cost
        per layer of an m×m Gram matrix among them (all images when there are fewer).
    n_directions : int, default=8
        Principal directions of the landmarks per layer; the layout is the images' own
        top-2 PCA within them. Streaming cost grows linearly with it.
    batch_size : int or None, default=None
        Most images per forward pass; None sizes batches by the model's activation
        memory. Does not change the result.
    random_state : int, RandomState instance or None, default=0
        Chooses the landmarks; an int makes the result reproducible.
    progress : callable, optional
        ``progress(fraction, message)``, fraction rising from 0 to 1, for a progress bar.
    align : bool, default=True
        Turn each layout onto the previous one. With False, the layouts keep the
        orientation their principal axes gave them (the diagnostics are still measured).
    method : {"landmarks", "pivot_mds"}, default="landmarks"
        ``"landmarks"``: classical MDS within the landmarks' principal subspace (the
        default: measured to show more of each layer's variance). ``"pivot_mds"``: Pivot
        MDS (Brandes & Pich 2006) from each image's distances to ``n_pivots`` max–min
        pivots among the landmarks. Either is streamed in the same single pass.
    n_pivots : int, default=50
        Pivots per layer for Pivot MDS.

    Returns
    -------
    LayerSequence

    Raises
    ------
    ValueError
        Images that do not fit the model, fewer than 2 images, unknown layer names, or a
        model with no layer to project.

    Notes
    -----
    A layer's layout is classical MDS (equivalently PCA) of its activations projected on
    the landmarks' leading principal directions: the plane of largest variance of all N
    images within that subspace. It is centred and scaled to unit RMS radius, then rotated
    (or mirrored and rotated) onto the previous non-collapsed layer's aligned layout
    without changing its size, so frames neither shrink nor grow along the sequence.
    Finally one factor for all frames puts the farthest point of any frame on the unit
    circle.
    """
    adapter = as_adapter(model)
    images = check_images(adapter, images)
    _check_sizes(n_landmarks, n_directions)
    refs, skipped = select_layers(adapter.model, layers)
    report = progress or (lambda fraction, message: None)

    # Many modest matrix products, each too small to gain from BLAS threads: on a busy CPU
    # those only spin against each other (4–5× slower measured on a loaded 2-core machine).
    with threadpool_limits(limits=1, user_api="blas"):
        stream = landmark_products(
            adapter, images, [r.name for r in refs], n_landmarks=n_landmarks,
            n_directions=n_directions, batch_size=batch_size, random_state=random_state,
            progress=lambda f, message: report(_STREAM_SHARE * f, message), method=method,
            n_pivots=n_pivots,
        )
        return _sequence(stream, len(images), skipped, align, report)


@dataclass(frozen=True, eq=False)
class SharedSequences:
    """What :func:`layer_sequences` gives back: ``sequences`` (one LayerSequence, or the
    exception that stopped it alone, per subset), ``n_requested`` (images in all subsets)
    and ``n_forwarded`` (images that went through the model: shared ones once)."""

    sequences: list
    n_requested: int
    n_forwarded: int


def layer_sequences(model, images, subsets, layers=None, *, n_landmarks=N_LANDMARKS,
                    n_directions=N_DIRECTIONS, batch_size=None, random_state=0, progress=None,
                    align=True, on_ready=None, method="landmarks",
                    n_pivots=N_PIVOTS) -> SharedSequences:
    """:func:`layer_sequence` of ``images[subset]`` for several subsets, in one forward pass.

    Each result is the one ``layer_sequence(model, images[subset], …)`` gives, but an
    image in several subsets goes through the model once for all of them
    (:func:`~deepling.projection.activations.shared_landmark_products`): how a server
    serves several users projecting the same model and data at once.

    Parameters
    ----------
    model, layers, n_landmarks, n_directions, batch_size, random_state, align, method, n_pivots
        As for :func:`layer_sequence`, the same for every subset.
    images : ndarray of uint8, shape (N, H, W, C), or Dataset
        The images the subsets index into.
    subsets : sequence of array of int
        Indices into ``images``, one array per projection.
    progress : sequence of callables or None, optional
        One ``progress(fraction, message)`` per subset (or None); one that raises stops
        that subset alone, which is how a caller cancels it.
    on_ready : callable, optional
        ``on_ready(j, sequence_or_exception)``, once per subset as soon as it is done
        (smaller subsets first), before the others are.

    Returns
    -------
    SharedSequences
        A subset that cannot be projected (fewer than 2 images, say) holds its
        ValueError; the others are unaffected.
    """
    adapter = as_adapter(model)
    _check_sizes(n_landmarks, n_directions)
    refs, skipped = select_layers(adapter.model, layers)
    reports = [p or (lambda fraction, message: None)
               for p in (progress if progress is not None else [None] * len(subsets))]
    out = [None] * len(subsets)

    def ready(j, stream):
        if not isinstance(stream, Exception):
            try:
                stream = _sequence(stream, len(subsets[j]), skipped, align, reports[j])
            except Exception as exc:  # noqa: BLE001 - this one's failure alone
                stream = exc
        out[j] = stream
        if on_ready is not None:
            on_ready(j, stream)

    def scaled(report):
        return lambda f, message: report(_STREAM_SHARE * f, message)

    with threadpool_limits(limits=1, user_api="blas"):  # as in layer_sequence
        shared = shared_landmark_products(
            adapter, images, subsets, [r.name for r in refs], n_landmarks=n_landmarks,
            n_directions=n_directions, batch_size=batch_size, random_state=random_state,
            progress=[scaled(r) for r in reports], on_ready=ready, method=method,
            n_pivots=n_pivots)
    return SharedSequences(out, shared.n_requested, shared.n_forwarded)


def _check_sizes(n_landmarks, n_directions):
    for name, value in (("n_landmarks", n_landmarks), ("n_directions", n_directions)):
        if not isinstance(value, Integral) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")


def _sequence(stream, n_images, skipped, align, report) -> LayerSequence:
    """Lay out, align and scale the streamed products of one image set."""
    report(_STREAM_SHARE, "Laying out each layer")
    raw, collapsed, warnings = _layouts(stream, n_images)
    layouts, diagnostics = _align_chain(raw, collapsed, align)
    radius = np.sqrt((layouts ** 2).sum(axis=2)).max()
    if radius > 0:
        layouts = layouts / radius
    result = LayerSequence(
        names=stream.names, types=stream.types, shapes=stream.shapes,
        layouts=np.clip(layouts, -1.0, 1.0).astype(np.float32),
        collapsed=np.array(collapsed, dtype=bool), **diagnostics, aligned=bool(align),
        n_landmarks=len(stream.landmarks), n_directions=int(stream.variances.shape[1]),
        warnings=tuple(warnings),
        skipped=tuple(skipped),
        method=stream.method,
    )
    report(1.0, "Layer projections ready")
    return result


def _layouts(stream, n_images):
    """Each layer's raw layout (zeros where it collapsed), collapsed flags and warnings."""
    raw, collapsed, warnings = [], [], list(stream.notes)
    for name, kind, products, spread, magnitude in zip(
            stream.names, stream.types, stream.products, stream.spreads, stream.magnitudes):
        layout = None
        if not (np.isfinite(products).all() and np.isfinite(magnitude)):
            warnings.append(f"{name} ({kind}): gives NaN or infinite activations for some "
                            "images, so it cannot be laid out; shown as a single point. Check "
                            "the model's input range.")
        elif spread == 0.0 or spread <= COLLAPSE_RTOL * magnitude:
            warnings.append(f"{name} ({kind}): all {n_images} images give the same "
                            "activations; shown as a single point in the centre.")
        else:
            layout = _layout(products) if stream.method == "landmarks" else _pivot_layout(products)
        collapsed.append(layout is None)
        raw.append(np.zeros((n_images, 2)) if layout is None else layout)
    return raw, collapsed, warnings


def _layout(products):
    """Centred, unit-RMS layout from N×r subspace coordinates; None if it has no spread.

    The top-2 principal axes of the coordinates (an r×r eigenproblem), with signs fixed
    so that each axis's largest loading is positive: a fixed input gives one layout.
    """
    x = np.asarray(products, dtype=np.float64)
    x = x - x.mean(axis=0)
    w, v = np.linalg.eigh(x.T @ x)
    v = v[:, ::-1][:, :2]
    if v.shape[1] < 2:
        v = np.column_stack([v, np.zeros(len(v))])
    v = v * np.where(v[np.abs(v).argmax(axis=0), range(2)] < 0, -1.0, 1.0)
    layout = x @ v
    rms = np.sqrt((layout ** 2).sum(axis=1).mean())
    return layout / rms if rms > 0 else None


def _pivot_layout(sq_distances):
    """Pivot MDS from N×k squared distances to pivots: centred, unit RMS, signs fixed as
    :func:`_layout` fixes them; None if it has no spread."""
    from deepling.projection.pivot_mds import PivotMDS

    layout = PivotMDS(n_components=2).fit_transform_distances(sq_distances, squared=True)
    layout = np.asarray(layout, dtype=np.float64)
    if layout.shape[1] < 2:
        layout = np.column_stack([layout, np.zeros(len(layout))])
    layout = layout - layout.mean(axis=0)
    big = np.abs(layout).argmax(axis=0)
    layout = layout * np.where(layout[big, range(2)] < 0, -1.0, 1.0)
    rms = np.sqrt((layout ** 2).sum(axis=1).mean())
    return layout / rms if rms > 0 else None


def _align_chain(raw, collapsed, align):
    """Turn each layout onto the last non-collapsed one before it; collect diagnostics."""
    n_layers, n = len(raw), raw[0].shape[0]
    out = np.zeros((n_layers, n, 2))
    diag = {name: np.full(max(n_layers - 1, 0), np.nan) for name in _DIAGNOSTICS}
    diag["mirrored"] = np.zeros(max(n_layers - 1, 0), dtype=bool)
    reference = None
    for i, layout in enumerate(raw):
        if reference is not None:
            a = procrustes_align(reference, layout, scaling="match_rms")
            for name in _DIAGNOSTICS:
                diag[name][i - 1] = getattr(a, name)
            if align and not collapsed[i]:
                layout = a.layout
        elif i > 0:
            diag["rotation_deg"][i - 1] = 0.0
        out[i] = layout
        if not collapsed[i]:
            reference = out[i]
    return out, diag
