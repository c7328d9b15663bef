"""Long work as named tasks with JSON parameters, so a thread or a Celery worker can run it.

A task is ``fn(workspace, params, progress)``; it leaves its result in the disk cache (keyed
by content), where the web process finds it once the job's status says "done".
"""

from __future__ import annotations


def layer_sequence_task(workspace, params: dict, progress=None):
    """The layer animation's projection for ``{"model", "data", "choice"}``, stored under
    its key (see :mod:`deepling.service.projections`)."""
    from deepling.service.projections import ProjectionService

    return ProjectionService(workspace).compute(params["model"], params["data"], params["choice"],
                                                progress)


def layer_sequence_shared(workspace, params: list[dict], progress: list, on_ready=None):
    """Several ``layer_sequence`` jobs of one model and dataset in one shared forward pass:
    (per job its value or exception, image counts); ``on_ready(i, value)`` as each is done."""
    from deepling.service.projections import ProjectionService

    return ProjectionService(workspace).compute_shared(
        params[0]["model"], params[0]["data"], [p["choice"] for p in params], progress, on_ready)


def predictions_task(workspace, params: dict, progress=None):
    """The model's predictions on every image of ``{"model", "data"}`` (a first visit to a
    large dataset, e.g. all 60,000 CIFAR-10 images), stored in the predictions cache."""
    workspace.predictions(params["model"], params["data"], progress=progress)


def robustness_task(workspace, params: dict, progress=None):
    """The testing view's robustness simulation for ``{"model", "data", "size"}``."""
    from deepling.service.robustness import run_robustness

    return run_robustness(workspace, params["model"], params["data"], int(params["size"]),
                          progress=progress)


def attribution_ranking_task(workspace, params: dict, progress=None):
    """The attribution methods ranked by deletion/insertion AUC for ``{"model", "data",
    "size", "layer"}`` (see deepling/service/attributions.py)."""
    from deepling.service.attributions import run_ranking

    return run_ranking(workspace, params["model"], params["data"], int(params["size"]),
                       params.get("layer"), progress=progress)


def sanity_check_task(workspace, params: dict, progress=None):
    """Cascading randomisation for ``{"model", "data", "index", "methods", "layer"}``."""
    from deepling.service.attributions import run_sanity

    return run_sanity(workspace, params["model"], params["data"], int(params["index"]),
                      params["methods"], params.get("layer"), progress=progress)


def training_task(workspace, params: dict, progress=None):
    """A live training run ``{"run", "model", "data", "config"}`` (deepling/service/training.py)."""
    from deepling.service.training import run_training

    return run_training(workspace, params, progress)


def retrain_task(workspace, params: dict, progress=None):
    """Retrain a copy of the open model on picked images (deepling/service/training.py)."""
    from deepling.service.training import run_retrain

    return run_retrain(workspace, params, progress)


def epoch_sequence_task(workspace, params: dict, progress=None):
    """One layer's projection at every snapshot of a run ``{"model", "data", "choice", "layer",
    "snapshots"}``, stored under its key (see :mod:`deepling.service.projections`)."""
    from deepling.service.projections import ProjectionService

    return ProjectionService(workspace).compute_epochs(params["model"], params["data"], params["choice"],
                                                       params["layer"], params["snapshots"], progress)


def shape_workshop_task(workspace, params: dict, progress=None):
    """The shape workshop's "Train and visualise" (see deepling/service/shapes.py)."""
    from deepling.service.shapes import run_workshop_job

    return run_workshop_job(workspace, params, progress)


def class_image_task(workspace, params: dict, progress=None):
    """A class (or channel) image of any open model (see deepling/service/shapes.py)."""
    from deepling.service.shapes import run_class_image_job

    return run_class_image_job(workspace, params, progress)


def neurons_task(workspace, params: dict, progress=None):
    """The Neurons view's atlas (paths, patterns, neuron layouts) for ``{"model", "data"}``."""
    from deepling.service.neurons import compute_atlas

    return compute_atlas(workspace, params["model"], params["data"], progress=progress)


def cka_task(workspace, params: dict, progress=None):
    """CKA between every layer of two models ``{"model_a", "model_b", "data"}``."""
    from deepling.service.similarity import compute_cka

    return compute_cka(workspace, params["model_a"], params["model_b"], params["data"], progress)


def label_errors_task(workspace, params: dict, progress=None):
    """The data card's Suspicious labels for ``{"model", "data"}``."""
    from deepling.service.similarity import compute_label_errors

    return compute_label_errors(workspace, params["model"], params["data"], progress)


def run_task(workspace, name: str, params: dict, progress=None):
    """Run the task called ``name``; ValueError for an unknown name."""
    tasks = {"layer_sequence": layer_sequence_task, "robustness": robustness_task,
             "shape_workshop": shape_workshop_task, "class_image": class_image_task,
             "neurons": neurons_task, "training": training_task, "retrain": retrain_task,
             "epoch_sequence": epoch_sequence_task, "predictions": predictions_task,
             "attribution_ranking": attribution_ranking_task, "sanity_check": sanity_check_task,
             "cka": cka_task, "label_errors": label_errors_task}
    if name not in tasks:
        raise ValueError(f"Unknown task {name!r}; known: {', '.join(sorted(tasks))}.")
    return tasks[name](workspace, params, progress)


# Tasks whose queued jobs the thread pool may run together: name → (the jobs that can share
# a run have equal groups, the shared runner).
SHARED = {"layer_sequence": (lambda p: ("layer_sequence", p["model"], p["data"]), layer_sequence_shared)}


def shared_group(name: str, params: dict):
    """What jobs must have in common to run as one (:data:`SHARED`), or None."""
    return SHARED[name][0](params) if name in SHARED else None


def run_shared(workspace, name: str, params: list[dict], progress: list, on_ready=None):
    """Run jobs of one :func:`shared_group` together: (per job its value or exception, stats);
    ``on_ready(i, value)`` as soon as job ``i`` is done."""
    return SHARED[name][1](workspace, params, progress, on_ready)
