"""What the architecture view shows of one layer, computed for a workspace's model and data
and kept in the disk cache by content (model and data fingerprints, images, layer)."""

from __future__ import annotations

import numpy as np

from deepling.methods.feature_maps import (
    FeatureMaps, Histogram, TopImages, activation_histogram, channel_means, feature_maps,
    rank_channel, weight_histogram,
)
from deepling.service.cache import cache_key

# Images whose activations make a layer's histogram: enough for a stable shape, one batch.
HISTOGRAM_IMAGES = 64


def image_feature_maps(workspace, model_id: str, data_id: str, index: int, layer: str) -> FeatureMaps:
    """``layer``'s maps for the dataset image at ``index`` (one image: fast, not cached)."""
    adapter, ds = workspace.model(model_id), workspace.dataset(model_id, data_id)
    return feature_maps(adapter, ds.images[index], layer)


def weight_histograms(workspace, model_id: str, layer: str) -> tuple[Histogram, ...]:
    """One histogram per weight variable of ``layer``; ValueError for a layer without."""
    return weight_histogram(workspace.model(model_id), layer)


def top_images(workspace, model_id: str, data_id: str, indices: np.ndarray, layer: str,
               channel: int, k: int) -> tuple[np.ndarray, TopImages]:
    """(channel means of the images at ``indices``, the ``k`` that drive ``channel`` most)."""
    means = sampled_channel_means(workspace, model_id, data_id, indices, layer)
    return means, rank_channel(means, layer, channel, k)


def sampled_channel_means(workspace, model_id: str, data_id: str, indices: np.ndarray,
                          layer: str) -> np.ndarray:
    """Mean activation of every channel of ``layer`` for the images at ``indices`` (N×C)."""
    adapter, ds = workspace.model(model_id), workspace.dataset(model_id, data_id)
    key = cache_key("channel-means", adapter.fingerprint, adapter.input_key, ds.fingerprint,
                    indices, layer)
    return workspace.cache("channel-means").get_or_compute(
        key, lambda: {"means": channel_means(adapter, ds.images[indices], layer)})["means"]


def sample_histogram(workspace, model_id: str, data_id: str, indices: np.ndarray,
                     layer: str) -> Histogram:
    """Histogram of ``layer``'s activations over up to :data:`HISTOGRAM_IMAGES` of the
    images at ``indices``, spread evenly over them."""
    adapter, ds = workspace.model(model_id), workspace.dataset(model_id, data_id)
    spread = np.linspace(0, len(indices) - 1, min(HISTOGRAM_IMAGES, len(indices)))
    pick = np.asarray(indices)[spread.astype(int)]
    key = cache_key("activation-histogram", adapter.fingerprint, adapter.input_key,
                    ds.fingerprint, pick, layer)

    def compute():
        h = activation_histogram(adapter, ds.images[pick], layer)
        return {"counts": h.counts, "edges": h.edges, "total": np.int64(h.total),
                "zeros": np.float64(h.zeros)}

    z = workspace.cache("activation-histograms").get_or_compute(key, compute)
    return Histogram(sample_label(len(pick), len(indices)), z["counts"], z["edges"],
                     int(z["total"]), float(z["zeros"]))


def sample_label(picked: int, animated: int) -> str:
    """The histogram's legend: how many images make it, of how many animated."""
    if picked >= animated:
        return f"the {animated:,} animated images"
    return f"{picked:,} of the {animated:,} animated images (evenly spread)"


def image_histogram(workspace, model_id: str, data_id: str, index: int, layer: str,
                    like: Histogram) -> Histogram:
    """One image's activations of ``layer``, in the bins of ``like`` (bin by bin comparable)."""
    adapter, ds = workspace.model(model_id), workspace.dataset(model_id, data_id)
    return activation_histogram(adapter, ds.images[index], layer, bins=len(like.counts),
                                value_range=(like.edges[0], like.edges[-1]))


KEEP = object()  # layer_choice's "leave this as it is"


def layer_choice(graph, triggered: set, *, tapped=None, picked=None, shared=None, wanted=None,
                 query=None) -> tuple:
    """The layer in focus after an event: ``(shared store, the view's picker)``, each a layer
    name or :data:`KEEP`. ``triggered`` names what changed: ``"rendered"`` (a new page:
    ``wanted`` is its link's ``?layer=``), ``"arch-search"`` (Enter in the search box:
    ``query``), ``"arch-graph"`` (a tap on ``tapped``, a node's data; a port stands for the
    layer it comes from, a stage or block folds instead), ``"arch-layer"`` (the picker, now
    ``picked``), else the shared store (``shared``) set by another view. One function keeps
    the two in step: Dash allows that loop only within one callback."""
    names = {n.name for n in graph.nodes}
    if "rendered" in triggered:  # Dash lists a new page's fresh inputs as triggered too
        return KEEP, wanted if wanted in names and wanted != picked else KEEP
    if "arch-search" in triggered and "arch-graph" not in triggered:
        found = graph.search(query)
        return (KEEP, KEEP) if not found or found[0] == picked else (found[0], found[0])
    if "arch-graph" in triggered:
        name = (tapped or {}).get("layer") or (tapped or {}).get("id")
        if name not in names:  # a stage or block: folding is the graph's redraw
            return KEEP, KEEP
        return name, name if name != picked else KEEP
    if "arch-layer" in triggered:
        return (picked if picked != shared else KEEP), KEEP
    return KEEP, shared if shared in names and shared != picked else KEEP
