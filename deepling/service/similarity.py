"""CKA between two models' layers and the ranked suspicious labels, as cached background work.

Both read every image of a sample or dataset, so they run as work kinds (:data:`CKA` and
:data:`LABEL_ERRORS`, see :mod:`deepling.service.work`); their results go to the disk cache
under keys made of the models' and the data's fingerprints and the parameters, where every
later page (and every server process) finds them. Callbacks submit, poll and read; they
never compute.
"""

from __future__ import annotations

from deepling.service import schema
from deepling.service.cache import cache_key
from deepling.service.work import Kind

# Bump when a result's arrays change meaning: old cache entries are then ignored.
VERSION = 2  # 2: CKA blocks are random subsets (1: in index order, wrong on class-sorted data)
LABEL_ERRORS_VERSION = 3  # 2: "moved at" is where the neighbours take their final class; 3: the product score
CKA_IMAGES = 2000
CKA_EPOCH_IMAGES = 1000  # across training: every snapshot goes through once


def cka_key(workspace, model_a: str, model_b: str, data_id: str) -> str:
    a, b = workspace.model(model_a), workspace.model(model_b)
    ds = workspace.dataset(model_a, data_id)
    return cache_key("cka", VERSION, a.fingerprint, a.input_range, b.fingerprint, b.input_range,
                     ds.fingerprint, CKA_IMAGES)


def cached_cka(workspace, model_a: str, model_b: str, data_id: str):
    """The CKA result if it was computed already, else None (never computes in the caller)."""
    from deepling.projection.cka import CKAResult

    arrays = workspace.cache("cka").get(cka_key(workspace, model_a, model_b, data_id))
    return None if arrays is None else CKAResult.from_arrays(arrays)


def compute_cka(workspace, model_a: str, model_b: str, data_id: str, progress=None):
    """CKA of every layer of A with every layer of B on a 2,000-image sample (or the cache):
    the body of the ``cka`` task."""
    from deepling.projection.cka import CKAResult, cka

    a, b = workspace.model(model_a), workspace.model(model_b)
    ds = workspace.dataset(model_a, data_id)
    arrays = workspace.cache("cka").get_or_compute(
        cka_key(workspace, model_a, model_b, data_id),
        lambda: cka(a, None if model_a == model_b else b, ds.images, n_images=CKA_IMAGES,
                    progress=progress).to_arrays())
    return CKAResult.from_arrays(arrays)


def load_cka(workspace, key: str):
    from deepling.projection.cka import CKAResult

    arrays = workspace.cache("cka").get(key)
    return None if arrays is None else CKAResult.from_arrays(arrays)


def cka_epochs_key(workspace, model_id: str, data_id: str, layer: str, snapshots) -> str:
    from deepling.models.adapter import file_fingerprint

    ds = workspace.dataset(model_id, data_id)
    return cache_key("cka_epochs", VERSION, [file_fingerprint(p) for _, p in snapshots],
                     [str(label) for label, _ in snapshots], ds.fingerprint, str(layer),
                     CKA_EPOCH_IMAGES)


def compute_cka_epochs(workspace, model_id: str, data_id: str, layer: str, snapshots,
                       progress=None):
    """CKA of ``layer`` between every pair of a run's snapshots (epoch × epoch), on a
    1,000-image sample of the open data: the body of the ``cka_epochs`` task."""
    import keras

    from deepling.models import ModelAdapter
    from deepling.projection.cka import CKAResult, cka_across_training

    ds = workspace.dataset(model_id, data_id)

    def compute():
        adapters = [ModelAdapter.from_model(keras.models.load_model(p, compile=False, safe_mode=True),
                                            label) for label, p in snapshots]
        return cka_across_training(adapters, ds.images, layer, labels=[label for label, _ in snapshots],
                                   n_images=CKA_EPOCH_IMAGES, progress=progress).to_arrays()

    arrays = workspace.cache("cka").get_or_compute(
        cka_epochs_key(workspace, model_id, data_id, layer, snapshots), compute)
    return CKAResult.from_arrays(arrays)


def label_errors_key(workspace, model_id: str, data_id: str) -> str:
    adapter, ds = workspace.model(model_id), workspace.dataset(model_id, data_id)
    return cache_key("label_errors", LABEL_ERRORS_VERSION, adapter.fingerprint, adapter.input_range,
                     ds.fingerprint)


def cached_label_errors(workspace, model_id: str, data_id: str):
    """The ranked labels if computed already, else None (never computes in the caller)."""
    from deepling.projection.label_errors import LabelErrors

    arrays = workspace.cache("label_errors").get(label_errors_key(workspace, model_id, data_id))
    return None if arrays is None else LabelErrors.from_arrays(arrays)


def compute_label_errors(workspace, model_id: str, data_id: str, progress=None):
    """Rank the data's labels (or read the cache): the body of the ``label_errors`` task."""
    from deepling.projection.label_errors import LabelErrors, label_errors

    adapter, ds = workspace.model(model_id), workspace.dataset(model_id, data_id)
    report = progress or (lambda fraction, message="": None)
    # the app's cached predictions (predicted here, reported per chunk, if not yet)
    probabilities = workspace.predictions(
        model_id, data_id, progress=lambda f, m="": report(0.05 * f, m)).probabilities
    arrays = workspace.cache("label_errors").get_or_compute(
        label_errors_key(workspace, model_id, data_id),
        lambda: label_errors(adapter, ds.images, ds.labels, probabilities=probabilities,
                             progress=progress).to_arrays())
    return LabelErrors.from_arrays(arrays)


def load_label_errors(workspace, key: str):
    from deepling.projection.label_errors import LabelErrors

    arrays = workspace.cache("label_errors").get(key)
    return None if arrays is None else LabelErrors.from_arrays(arrays)


def _check_cka(workspace, params: dict) -> dict:
    params = schema.json_object(params, "the CKA job", '{"model_a": "demo", "model_b": "...", "data": "default"}')
    return {"model_a": schema.identifier(params.get("model_a"), "model A"),
            "model_b": schema.identifier(params.get("model_b"), "model B"),
            "data": schema.identifier(params.get("data"), "data")}


CKA = Kind("cka", check=_check_cka,
           key=lambda ws, p: cka_key(ws, p["model_a"], p["model_b"], p["data"]),
           compute=lambda ws, p, progress: compute_cka(ws, p["model_a"], p["model_b"], p["data"], progress),
           load=load_cka)
def _check_cka_epochs(workspace, params: dict) -> dict:
    from pathlib import Path

    out = schema.model_data(params, "CKA across training")
    snapshots = [(str(label), str(path)) for label, path in params.get("snapshots") or []]
    if len(snapshots) < 2:
        raise ValueError("The run has fewer than two snapshots yet: wait for its first epoch.")
    for _, path in snapshots:  # snapshots the runs wrote: Keras files, loaded in safe mode
        if not (path.endswith(".keras") and Path(path).is_file()):
            raise ValueError(f"No snapshot file {path!r}: the run may have thinned it out.")
    return {**out, "layer": schema.text(params.get("layer"), "layer"), "snapshots": snapshots}


CKA_EPOCHS = Kind("cka_epochs", check=_check_cka_epochs, lane="training",
                  key=lambda ws, p: cka_epochs_key(ws, p["model"], p["data"], p["layer"], p["snapshots"]),
                  compute=lambda ws, p, progress: compute_cka_epochs(
                      ws, p["model"], p["data"], p["layer"], p["snapshots"], progress),
                  load=load_cka)
LABEL_ERRORS = Kind("label_errors", check=lambda ws, p: schema.model_data(p, "the suspicious labels"),
                    key=lambda ws, p: label_errors_key(ws, p["model"], p["data"]),
                    compute=lambda ws, p, progress: compute_label_errors(ws, p["model"], p["data"], progress),
                    load=load_label_errors)


def why_no_labels(workspace, model_id: str, data_id: str) -> str | None:
    """Why the Suspicious labels view must stay empty for these data, or None."""
    ds = workspace.dataset(model_id, data_id)
    n_known = int((ds.labels >= 0).sum())
    if n_known == 0:
        return ("These images have no labels, so no label can be suspicious. Open labelled data: "
                "an image folder with one sub-folder per class, or an .npz with y.")
    if n_known < 12:
        return f"Only {n_known} images have labels; label errors need at least 12."
    if ds.n_classes != workspace.model(model_id).n_outputs:
        return (f"The data have {ds.n_classes} classes but the model has "
                f"{workspace.model(model_id).n_outputs} outputs: the labels cannot be checked "
                "against its predictions.")
    return None


def suspicious_selection(result, index: int, per_class: int = 40, seed: int = 0) -> list[int]:
    """What the layer animation shows for one suspicious image: the image, its neighbours at
    the penultimate layer, and ``per_class`` images each of its given class and of the
    class it was predicted as (or moved to), so it is seen leaving one for the other."""
    import numpy as np

    labels = result.labels
    rank = np.flatnonzero(result.top == index)
    picked = {int(index)}
    if len(rank):
        picked.update(int(j) for j in result.neighbours[rank[0]])
    other = int(result.predicted[index])
    if len(rank) and result.moved_to[rank[0]] >= 0:
        other = int(result.moved_to[rank[0]])
    rng = np.random.default_rng(seed)
    for k in {int(labels[index]), other}:
        pool = np.flatnonzero(labels == k)
        picked.update(int(j) for j in rng.permutation(pool)[:per_class])
    return sorted(picked)
