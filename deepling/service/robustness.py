"""The testing view's robustness simulation as a service: keyed by content, run as the
work kind :data:`SIMULATION` (``robustness``), kept in the disk cache; the page polls and
only reads."""

from __future__ import annotations

import numpy as np

from deepling.evaluation import ROBUSTNESS_SEED, simulate_robustness, stratified_sample
from deepling.service import schema
from deepling.service.cache import cache_key
from deepling.service.work import Kind

# Bump when the simulation's computation changes, so old cache entries are not reused.
ROBUSTNESS_VERSION = 1


def robustness_key(adapter, dataset, size: int, seed: int = ROBUSTNESS_SEED) -> str:
    """Cache key (and job key) of one simulation: model, data, sample and the grids."""
    from deepling.methods import AUGMENTATIONS

    size = schema.integer(size, "sample size", 1, schema.MAX_ROBUSTNESS_IMAGES)  # from the page
    grids = {name: list(a.grid) for name, a in AUGMENTATIONS.items()}
    return cache_key("robustness-sim", ROBUSTNESS_VERSION, adapter.fingerprint,
                     adapter.input_key, dataset.fingerprint, size, int(seed), grids)


def run_robustness(workspace, model_id, data_id, size: int, progress=None) -> dict[str, np.ndarray]:
    """:func:`simulate_robustness` on a stratified sample of ``size`` labelled images.

    Disk-cached under :func:`robustness_key`; the result also holds the sample's dataset
    ``indices``. This is what the ``robustness`` background task runs.
    """
    adapter, ds = workspace.model(model_id), workspace.dataset(model_id, data_id)

    def compute():
        idx = stratified_sample(ds.labels, size, ROBUSTNESS_SEED)
        arrays = simulate_robustness(adapter, ds.images[idx], ds.labels[idx], progress=progress)
        arrays["indices"] = idx
        return arrays

    return workspace.cache("robustness").get_or_compute(robustness_key(adapter, ds, size), compute)


def cached_robustness(workspace, model_id, data_id, size: int) -> dict[str, np.ndarray] | None:
    """The simulation's result if it is in the disk cache, else None (never computes)."""
    adapter, ds = workspace.model(model_id), workspace.dataset(model_id, data_id)
    return workspace.cache("robustness").get(robustness_key(adapter, ds, size))


def simulation_key(workspace, params: dict) -> str:
    adapter, ds = workspace.model(params["model"]), workspace.dataset(params["model"], params["data"])
    return robustness_key(adapter, ds, params["size"])


SIMULATION = Kind("robustness", check=lambda ws, p: schema.robustness_params(p), key=simulation_key,
                  compute=lambda ws, p, progress: run_robustness(ws, p["model"], p["data"], p["size"],
                                                                 progress=progress),
                  load=lambda ws, key: ws.cache("robustness").get(key))
