"""The attribution methods as a service: one image's maps with their deletion/insertion
curves (fast, called directly), and two work kinds kept in the disk cache by content: the
ranking of the methods over a stratified sample (:data:`RANKING`) and the sanity check of
one image (:data:`SANITY`)."""

from __future__ import annotations

import numpy as np

from deepling.methods import ATTRIBUTIONS
from deepling.methods.faithfulness import RANKING_PARAMS, faithfulness_curves, rank_methods
from deepling.methods.sanity import SANITY_PARAMS, cascading_randomization
from deepling.service import schema
from deepling.service.cache import cache_key
from deepling.service.work import Kind

RANKING_VERSION = 1
SANITY_VERSION = 1
RANKING_SEED = 0
RANKING_SIZES = (50, 200, 500, 1000)
DEFAULT_RANKING = 200
CURVE_STEPS = 16          # points per deletion/insertion curve in the panel and the ranking
DEFAULT_METHODS = ("gradcam", "saliency", "occlusion")
# Single-image panel: RISE with fewer masks keeps a click under a few seconds.
PANEL_PARAMS = {"rise": {"masks": 1000}}


def method_options() -> list[dict]:
    return [{"label": m.label, "value": name} for name, m in ATTRIBUTIONS.items()]


def check_methods(methods) -> list[str]:
    """The page's method list, each a known name (order kept, duplicates dropped)."""
    if not isinstance(methods, (list, tuple)) or not methods or len(methods) > len(ATTRIBUTIONS):
        raise schema.InputError(f"Pick 1 to {len(ATTRIBUTIONS)} methods.")
    out = []
    for m in methods:
        if m not in ATTRIBUTIONS:
            raise schema.InputError(f"Unknown method {str(m)[:40]!r}.")
        if m not in out:
            out.append(m)
    return out


def method_params(name: str, image_shape) -> dict:
    """The panel's settings for ``name`` on images of ``image_shape``."""
    if name == "occlusion":
        patch = max(2, min(image_shape[:2]) // 4)  # 8 px on CIFAR's 32 px
        return {"patch": patch, "stride": max(1, patch // 2)}
    return dict(PANEL_PARAMS.get(name, {}))


def map_curves(model, image, maps: dict, steps: int = CURVE_STEPS) -> dict:
    """method → deletion (to black) and insertion (from blurred) curves of its map, for
    the class it explains: ``{"fractions", "deletion", "insertion", "deletion_auc",
    "insertion_auc"}``. Methods that failed (an exception in ``maps``) are left out; all
    the maps' curves go through the model in one batch."""
    good = {m: a for m, a in maps.items() if not isinstance(a, Exception)}
    if not good:
        return {}
    n = len(good)
    fr, dele, ins, _ = faithfulness_curves(model, np.repeat(np.asarray(image)[None], n, axis=0),
                                           np.stack([a.heatmap for a in good.values()]),
                                           [a.target for a in good.values()], steps)
    return {m: {"fractions": fr, "deletion": dele[k], "insertion": ins[k],
                "deletion_auc": float(np.trapezoid(dele[k], fr)),
                "insertion_auc": float(np.trapezoid(ins[k], fr))}
            for k, m in enumerate(good)}


# --- ranking over a sample ---------------------------------------------------------------
def ranking_key(adapter, dataset, size: int, layer: str | None) -> str:
    size = schema.integer(size, "sample size", 1, schema.MAX_ROBUSTNESS_IMAGES)
    return cache_key("attr-ranking", RANKING_VERSION, adapter.fingerprint, list(adapter.input_range),
                     dataset.fingerprint, size, RANKING_SEED, layer or "", CURVE_STEPS,
                     sorted(ATTRIBUTIONS), RANKING_PARAMS)


def run_ranking(workspace, model_id, data_id, size: int, layer: str | None = None,
                progress=None) -> dict[str, np.ndarray]:
    """:func:`~deepling.methods.faithfulness.rank_methods` on a stratified sample of
    ``size`` labelled images, disk-cached under :func:`ranking_key`."""
    from deepling.evaluation import stratified_sample

    adapter, ds = workspace.model(model_id), workspace.dataset(model_id, data_id)

    def compute():
        idx = stratified_sample(ds.labels, size, RANKING_SEED)
        r = rank_methods(adapter, ds.images[idx], layer=layer, steps=CURVE_STEPS, progress=progress)
        return {"methods": np.array(r.methods), "insertion": r.insertion, "deletion": r.deletion,
                "seconds": r.seconds, "indices": idx}

    return workspace.cache("attributions").get_or_compute(ranking_key(adapter, ds, size, layer), compute)


def cached_ranking(workspace, model_id, data_id, size: int, layer: str | None = None):
    adapter, ds = workspace.model(model_id), workspace.dataset(model_id, data_id)
    return workspace.cache("attributions").get(ranking_key(adapter, ds, size, layer))


def ranking_from_arrays(arrays):
    """The cached arrays → a :class:`~deepling.methods.faithfulness.MethodRanking`."""
    from deepling.methods.faithfulness import MethodRanking

    return MethodRanking([str(m) for m in arrays["methods"]], arrays["insertion"], arrays["deletion"],
                         arrays["seconds"], int(arrays["insertion"].shape[1]), CURVE_STEPS)


# --- sanity check ------------------------------------------------------------------------
def sanity_key(adapter, dataset, index: int, methods, layer: str | None) -> str:
    index = schema.integer(index, "image", 0, schema.MAX_INDEX)
    return cache_key("attr-sanity", SANITY_VERSION, adapter.fingerprint, list(adapter.input_range),
                     dataset.fingerprint, index, list(check_methods(methods)), layer or "",
                     SANITY_PARAMS)


def run_sanity(workspace, model_id, data_id, index: int, methods, layer: str | None = None,
               progress=None) -> dict[str, np.ndarray]:
    """Cascading randomisation for dataset image ``index``, disk-cached."""
    adapter, ds = workspace.model(model_id), workspace.dataset(model_id, data_id)
    methods = check_methods(methods)

    def compute():
        check = cascading_randomization(adapter, ds.images[int(index)], methods, layer=layer,
                                        progress=progress)
        arrays = {"steps": np.array(check.steps), "methods": np.array(methods),
                  "target": np.array(check.target)}
        for m in methods:
            arrays[f"{m}/maps"] = check.maps[m].astype(np.float32)
            arrays[f"{m}/correlations"] = check.correlations[m]
        return arrays

    key = sanity_key(adapter, ds, index, methods, layer)
    return workspace.cache("attributions").get_or_compute(key, compute)


def cached_sanity(workspace, model_id, data_id, index: int, methods, layer: str | None = None):
    adapter, ds = workspace.model(model_id), workspace.dataset(model_id, data_id)
    return workspace.cache("attributions").get(sanity_key(adapter, ds, index, methods, layer))


# --- the work kinds (deepling/service/work.py) ---------------------------------------------
def _layer(value):
    if value is not None and (not isinstance(value, str) or len(value) > 256):
        raise schema.InputError(f"layer must be a layer's name; got {schema.shown(value)}.")
    return value


def check_ranking(workspace, params: dict) -> dict:
    return {**schema.model_data(params, "the attribution ranking"),
            "size": schema.integer(params.get("size"), "sample size", 1, schema.MAX_ROBUSTNESS_IMAGES),
            "layer": _layer(params.get("layer"))}


def check_sanity(workspace, params: dict) -> dict:
    return {**schema.model_data(params, "the sanity check"),
            "index": schema.integer(params.get("index"), "image", 0, schema.MAX_INDEX),
            "methods": check_methods(params.get("methods")), "layer": _layer(params.get("layer"))}


RANKING = Kind("attribution_ranking", check=check_ranking,
               key=lambda ws, p: ranking_key(ws.model(p["model"]), ws.dataset(p["model"], p["data"]),
                                             p["size"], p["layer"]),
               compute=lambda ws, p, progress: run_ranking(ws, p["model"], p["data"], p["size"],
                                                           p["layer"], progress=progress),
               load=lambda ws, key: ws.cache("attributions").get(key))
SANITY = Kind("sanity_check", check=check_sanity,
              key=lambda ws, p: sanity_key(ws.model(p["model"]), ws.dataset(p["model"], p["data"]),
                                           p["index"], p["methods"], p["layer"]),
              compute=lambda ws, p, progress: run_sanity(ws, p["model"], p["data"], p["index"],
                                                         p["methods"], p["layer"], progress=progress),
              load=lambda ws, key: ws.cache("attributions").get(key))
