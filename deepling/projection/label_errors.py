"""Which labels are wrong: the model's predictions and its own representations, together.

Two scores per labelled image, each a *label quality* in [0, 1] (low = suspicious):

- **cleanlab** (confident learning; ``cleanlab.rank.get_label_quality_scores``, its
  default ``self_confidence``: the predicted probability of the given label). Confident
  learning wants *out-of-sample* probabilities. We use the model's predictions on the
  data as they are: out-of-sample when the model was not trained on these images (the
  demo CNN on CIFAR-10's test split). On a model's own training images they are
  in-sample and over-confident, so the score then finds fewer errors — the view says so.
- **kNN label agreement** in the network's representation: the share of an image's
  50 nearest neighbours that carry the same given label, at the *last convolutional
  representation* (the deepest layer with a spatial output before the penultimate one:
  pool3 on the demo CNN; the penultimate layer when there is none). There, before the
  dense head collapses it onto the prediction, the neighbourhood says most that the
  prediction does not. The neighbours are found in the *streamed landmark space*
  (:func:`~deepling.projection.landmark_products`: each image's coordinates along the
  layer's leading principal directions), never on raw activations. It is out-of-sample
  with respect to an image's own label by construction (the image is not its own
  neighbour), and it reads the *given labels of similar images*, which the prediction
  does not.

The combined quality is the product ``cleanlab · (kNN + 0.05) / 1.05``: an image is
suspicious when the model doubts its label *and* its neighbours do. Chosen on 10,000
CIFAR-10 test images, 2 % flipped, seeds 0–2 among layer × k × {mean, weighted mean, rank
mean, product}, and checked on seeds 3–7 (``benchmarks/results/label_errors.md``); the
plain mean of the two qualities at the penultimate layer lost to cleanlab alone there. For the most suspicious
images the neighbours are also found in every layer: the **layer at which it moved** to
another class's neighbourhood is the first layer from which, up to the penultimate one,
most of its neighbours carry another label, and stay so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from deepling.projection.activations import landmark_products, penultimate_layer, select_layers

# Neighbours per image shown in the view (at the penultimate layer).
N_NEIGHBOURS = 10
# Neighbours per image for the kNN label agreement (at the score's layer).
N_SCORE_NEIGHBOURS = 50
# Added to the kNN agreement in the product, so no agreement still ranks by cleanlab's part.
KNN_FLOOR = 0.05
# Principal directions per layer for the neighbours: more than the animation's 8, as
# neighbours need more of the layer's geometry than a 2-D layout.
N_DIRECTIONS = 32
# Images for which the per-layer neighbourhoods are found (the view's list).
N_TOP = 200


_ARRAYS = ("order", "score", "cleanlab_quality", "knn_quality", "labels", "predicted", "top",
           "neighbours", "moved_layer", "moved_to")


@dataclass(frozen=True, eq=False)
class LabelErrors:
    """Images ranked by how likely their given label is wrong.

    Attributes
    ----------
    order : ndarray of int
        Labelled images, most suspicious first.
    score : ndarray of float, shape (N,)
        Label-error score in [0, 1] (1 − cleanlab · (kNN + 0.05) / 1.05); NaN where the
        label is unknown.
    cleanlab_quality, knn_quality : ndarray of float, shape (N,)
        The two label qualities (NaN where the label is unknown).
    labels, predicted : ndarray of int, shape (N,)
        Given labels (−1 unknown) and the model's predictions.
    top : ndarray of int, shape (T,)
        ``order[:T]``: the images the per-layer details below are for.
    neighbours : ndarray of int, shape (T, k)
        Their nearest neighbours at the penultimate layer (dataset indices, nearest first).
    moved_layer : ndarray of int, shape (T,)
        Index into ``layer_names`` of the layer at which each moved to another class's
        neighbourhood; −1 when its penultimate neighbours mostly share its label.
    moved_to : ndarray of int, shape (T,)
        The class most of its neighbours carry from that layer on (−1 when not moved).
    layer_names : tuple of str
        The layers searched, input first; the last is the penultimate one.
    notes : tuple of str
        How the scores were made, for the user to read.
    """

    order: np.ndarray
    score: np.ndarray
    cleanlab_quality: np.ndarray
    knn_quality: np.ndarray
    labels: np.ndarray
    predicted: np.ndarray
    top: np.ndarray
    neighbours: np.ndarray
    moved_layer: np.ndarray
    moved_to: np.ndarray
    layer_names: tuple[str, ...]
    notes: tuple[str, ...]
    products: object = field(default=None, repr=False)  # the landmark products (not stored)

    @property
    def penultimate(self) -> str:
        return self.layer_names[-1]

    def to_arrays(self) -> dict:
        """Plain arrays (strings as unicode arrays): what the service's cache stores."""
        out = {f: np.asarray(getattr(self, f)) for f in _ARRAYS}
        out["layer_names"] = np.array(self.layer_names, dtype=str)
        out["notes"] = np.array(self.notes, dtype=str)
        return out

    @classmethod
    def from_arrays(cls, arrays: dict) -> "LabelErrors":
        return cls(**{f: np.asarray(arrays[f]) for f in _ARRAYS},
                   layer_names=tuple(str(s) for s in arrays["layer_names"]),
                   notes=tuple(str(s) for s in arrays["notes"]))

    def rows(self, n: int | None = None, class_names=None) -> list[dict]:
        """The ``n`` most suspicious images as plain dicts (for a table, CSV or JSON)."""
        name = (lambda k: str(class_names[k]) if class_names is not None and 0 <= k < len(class_names)
                else str(k))
        out = []
        for rank, i in enumerate(self.top[:n] if n is not None else self.top):
            moved = int(self.moved_layer[rank])
            out.append({
                "rank": rank + 1, "index": int(i), "score": round(float(self.score[i]), 4),
                "given": name(int(self.labels[i])), "predicted": name(int(self.predicted[i])),
                "cleanlab_quality": round(float(self.cleanlab_quality[i]), 4),
                "knn_quality": round(float(self.knn_quality[i]), 4),
                "moved_at": self.layer_names[moved] if moved >= 0 else "",
                "moved_to": name(int(self.moved_to[rank])) if moved >= 0 else "",
                "neighbours": [int(j) for j in self.neighbours[rank]],
            })
        return out

    def plot(self, images, n: int = 12, class_names=None):
        """The ``n`` most suspicious images with given label → prediction (Plotly)."""
        from deepling.plots import plot_label_errors

        return plot_label_errors(self, images, n=n, class_names=class_names)


def label_errors(model, images, labels, *, probabilities=None, k: int = N_NEIGHBOURS,
                 k_score: int = N_SCORE_NEIGHBOURS,
                 n_directions: int = N_DIRECTIONS, n_top: int = N_TOP, layers=None,
                 random_state=0, progress=None, products=None) -> LabelErrors:
    """Rank labelled images by a label-error score (cleanlab + kNN in the representation).

    Parameters
    ----------
    model : keras.Model or ModelAdapter
    images : ndarray of uint8, shape (N, H, W, C), or Dataset
        Fitted to the model; pixels 0..255.
    labels : array of int, shape (N,)
        Given labels, −1 where unknown (those images are not scored).
    probabilities : ndarray of float, shape (N, K), optional
        The model's class probabilities on ``images`` if already known (the app's cached
        predictions); else computed.
    k : int, default=10
        Neighbours per image at the penultimate layer (the view's thumbnails, "moved at").
    k_score : int, default=50
        Neighbours per image for the kNN label agreement, at the last layer with a spatial
        output before the penultimate one (else the penultimate one).
    n_directions : int, default=32
        Principal directions per layer of the streamed landmark space.
    n_top : int, default=200
        Images for which neighbours are found in every layer (the ranked list's head).
    layers : sequence of str, optional
        Layers to search for the "moved at" layer, ending at the penultimate one; default:
        every layer up to the penultimate one.
    random_state, progress
        As for :func:`~deepling.projection.landmark_products` (the landmarks; progress
        may raise to cancel).
    products : LandmarkProducts, optional
        The labelled images' landmark products from an earlier call (``result`` does not
        depend on the labels, so re-ranking other labels of the same images reuses it).

    Returns
    -------
    LabelErrors
    """
    from cleanlab.rank import get_label_quality_scores
    from sklearn.neighbors import NearestNeighbors

    from deepling.models.adapter import as_adapter

    adapter = as_adapter(model)
    report = progress or (lambda fraction, message: None)
    pixels = getattr(images, "images", images)
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    n = len(labels)
    if len(pixels) != n:
        raise ValueError(f"{len(pixels)} images but {n} labels.")
    known = np.flatnonzero(labels >= 0)
    if len(known) < k + 2:
        raise ValueError("These data have no labels (or too few): label errors need the given "
                         "label of every image. Open a labelled dataset (an image folder "
                         "with one folder per class, or an .npz with y).")
    if probabilities is None:  # in chunks, each reported (a cancel stops between them)
        from deepling.models.memory import batch_size_for

        chunk, parts = batch_size_for(adapter), []  # one batch per report, whatever the model
        for start in range(0, n, chunk):
            report(0.05 * start / n, f"Predicting ({start:,} of {n:,} images)")
            parts.append(adapter.predict_proba(pixels[start:start + chunk]))
        probabilities = np.concatenate(parts)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    n_classes = probabilities.shape[1]
    if labels.max() >= n_classes:
        raise ValueError(f"Label {labels.max()} but the model has {n_classes} outputs: the "
                         "data's classes must be the model's.")

    penultimate = penultimate_layer(adapter)
    if layers is None:
        names = [r.name for r in select_layers(adapter.model)[0]]
        layers = names[:names.index(penultimate) + 1]
    layers = list(layers)
    if layers[-1] != penultimate:
        layers.append(penultimate)
    if products is None:
        products = landmark_products(
            adapter, pixels[known], layers, n_directions=n_directions, random_state=random_state,
            progress=lambda f, m: report(0.05 + 0.8 * f, m))
    names = products.names
    coords = [p - p.mean(axis=0) for p in products.products]

    # cleanlab's label quality from the predictions
    given = labels[known]
    q_clean = get_label_quality_scores(given, probabilities[known] / probabilities[known].sum(1, keepdims=True))

    # kNN label agreement at the penultimate layer (the point itself left out)
    report(0.88, f"Neighbours at {names[-1]}")
    kk = min(k, len(known) - 1)
    nn = NearestNeighbors(n_neighbors=kk + 1).fit(coords[-1])
    _, neigh = nn.kneighbors(coords[-1])
    neigh = _drop_self(neigh, kk)
    # kNN label agreement at the last spatial layer (the point itself left out)
    at = _score_layer(products)
    report(0.9, f"Neighbours at {names[at]}")
    ks = min(k_score, len(known) - 1)
    if at == len(names) - 1 and ks == kk:
        wide = neigh
    else:
        _, wide = NearestNeighbors(n_neighbors=ks + 1).fit(coords[at]).kneighbors(coords[at])
        wide = _drop_self(wide, ks)
    q_knn = (given[wide] == given[:, None]).mean(axis=1)

    combined = 1.0 - q_clean * (q_knn + KNN_FLOOR) / (1.0 + KNN_FLOOR)
    order_known = np.lexsort((np.arange(len(known)), -combined))  # stable, most suspicious first
    score = np.full(n, np.nan)
    score[known] = combined
    cl, kq = np.full(n, np.nan), np.full(n, np.nan)
    cl[known], kq[known] = q_clean, q_knn

    # for the head of the list: the layer at which each moved to another class's neighbourhood
    report(0.92, "Where each suspicious image changed neighbourhood")
    head = order_known[:min(n_top, len(known))]
    majority = np.zeros((len(names), len(head)), np.int64)
    for li, c in enumerate(coords):
        # a kNN fit per layer takes a moment on 10,000 images: report each (a cancel stops here)
        report(0.92 + 0.08 * li / len(coords), f"Neighbourhoods at {names[li]}")
        if li == len(coords) - 1:
            nb = neigh[head]
        else:
            _, nb = NearestNeighbors(n_neighbors=kk + 1).fit(c).kneighbors(c[head])
            nb = _drop_self(nb, kk, head)
        votes = np.apply_along_axis(np.bincount, 1, given[nb], minlength=n_classes)
        majority[li] = votes.argmax(axis=1)
    moved_layer = np.full(len(head), -1)
    moved_to = np.full(len(head), -1)
    for j in range(len(head)):
        final = majority[-1, j]
        if final != given[head[j]]:
            # the first layer from which its neighbours are mostly of that class, to the end
            elsewhere = np.flatnonzero(majority[:, j] != final)
            moved_layer[j] = elsewhere[-1] + 1 if len(elsewhere) else 0
            moved_to[j] = final
    report(1.0, f"{len(known):,} labels scored")
    notes = (
        "cleanlab: label quality 'self_confidence' from the model's predicted probabilities, "
        "out-of-sample only if the model was not trained on these images",
        f"kNN: share of the {ks} nearest neighbours at {names[at]} with the same label, in "
        f"the landmark space ({n_directions} principal directions of "
        f"{len(products.landmarks)} landmark images)",
        f"score: 1 − cleanlab · (kNN + {KNN_FLOOR}) / {1 + KNN_FLOOR}",
    ) + products.notes
    return LabelErrors(
        products=products, order=known[order_known], score=score, cleanlab_quality=cl, knn_quality=kq,
        labels=labels, predicted=probabilities.argmax(axis=1), top=known[head],
        neighbours=known[neigh[head]], moved_layer=moved_layer, moved_to=moved_to,
        layer_names=tuple(names), notes=notes)


# Layers that only rescale or crop the pixels: no representation of the network's own.
_PIXEL_LAYERS = {"InputLayer", "Rescaling", "Normalization", "Resizing", "CenterCrop", "Cropping2D"}


def _score_layer(products) -> int:
    """Index of the kNN score's layer: the last with a spatial output (H×W×C) before the
    penultimate one, else the penultimate one."""
    spatial = [i for i, (shape, kind) in enumerate(zip(products.shapes[:-1], products.types[:-1]))
               if i > 0 and len(shape) == 3 and kind not in _PIXEL_LAYERS]
    return spatial[-1] if spatial else len(products.names) - 1


def _drop_self(neigh: np.ndarray, k: int, rows=None) -> np.ndarray:
    """Each row's neighbours without the point itself (first, unless ties put it later)."""
    rows = np.arange(len(neigh)) if rows is None else np.asarray(rows)
    out = np.empty((len(neigh), k), np.int64)
    for i, (r, nb) in enumerate(zip(rows, neigh)):
        kept = nb[nb != r]
        out[i] = kept[:k]
    return out
