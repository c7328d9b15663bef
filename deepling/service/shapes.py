"""The shape workshop's runs and class images of any model, as cached background work.

Both are work kinds (:data:`WORKSHOP`, :data:`CLASS_IMAGE`; see :mod:`deepling.service.work`)
computed into the disk cache under a key made from their parameters and the content they
depend on; the page submits the job, polls it and reads the result by the same key.

A workshop run registers its trained model and training data in the workspace
(:meth:`Workspace.add_trained`), so every other view opens them like uploads.
"""

from __future__ import annotations

import numpy as np

from deepling.methods.class_image import DEFAULT_JITTER, DEFAULT_STEP_SIZE, DEFAULT_STEPS, DEFAULT_TV_WEIGHT
from deepling.service import schema
from deepling.shapes import SHAPES
from deepling.shapes.workshop import DEFAULT_EPOCHS, IMAGE_START, IMAGE_STEP_SIZE
from deepling.service.cache import cache_key
from deepling.service.work import Kind

WORKSHOP_CACHE = "shape-workshop"
CLASS_IMAGE_CACHE = "class-images"


# --- the workshop ---------------------------------------------------------------------------
def workshop_classes(params: dict) -> tuple[list[np.ndarray], list[str]]:
    """The class images and names a run's parameters name: palette shapes or drawn pixels."""
    from deepling.shapes import SIZE, shape_image

    images, names = [], []
    for c in params["classes"]:
        if c.get("pixels") is not None:
            px = np.asarray(c["pixels"], dtype=np.float64).reshape(SIZE, SIZE, 1)
            images.append(np.clip(np.round(px), 0, 255).astype(np.uint8))
        else:
            images.append(shape_image(c["name"]))
        names.append(str(c["name"]))
    return images, names


def workshop_key(params: dict) -> str:
    images, names = workshop_classes(params)
    knobs = {k: params.get(k) for k in ("model", "start", "step_size", "epochs", "seed")}
    return cache_key("shape-workshop-v1", np.stack(images), names, knobs)


def run_workshop_job(workspace, params: dict, progress=None) -> dict[str, np.ndarray]:
    """Train and visualise (``{"classes", "model", "start", "step_size", "epochs"}``)."""
    from deepling.models import ModelAdapter
    from deepling.shapes import run_workshop

    def compute():
        images, names = workshop_classes(params)
        run = run_workshop(images, names, params.get("model", "mlp"),
                           start=params.get("start") or IMAGE_START,
                           step_size=float(params.get("step_size", 0.1)),
                           epochs=int(params.get("epochs", 30)), seed=int(params.get("seed", 0)),
                           progress=progress)
        label = "MLP" if run.settings["model"] == "mlp" else run.settings["model"].upper()
        adapter = ModelAdapter.from_model(run.model, f"shape {label}: {', '.join(names)}")
        if progress:
            progress(1.0, "saving the model for the other views")
        model_id, data_id = workspace.add_trained(adapter, run.dataset)
        return {"generated": np.stack([g.image for g in run.generated]),
                "class_images": run.class_images, "correlations": run.correlations,
                "accuracy": np.float64(run.accuracy), "loss": np.float64(run.loss),
                "names": np.array(names, dtype=str), "model_id": np.array(model_id),
                "data_id": np.array(data_id)}

    return workspace.cache(WORKSHOP_CACHE).get_or_compute(workshop_key(params), compute)


def cached_workshop(workspace, key: str) -> dict[str, np.ndarray] | None:
    """A run's result if it is in the disk cache, else None (never computes)."""
    return workspace.cache(WORKSHOP_CACHE).get(key)


# --- class images of any model ---------------------------------------------------------------
def class_image_target(params: dict):
    """``params["target"]``: a class index, or ``{"layer", "channel"}``."""
    from deepling.methods import Channel

    t = params["target"]
    return Channel(t["layer"], int(t["channel"])) if isinstance(t, dict) else int(t)


def class_image_start(workspace, params: dict):
    """A start by name, or ``"focus"``: the dataset image ``params["focus"]``."""
    if params.get("start") != "focus":
        return params.get("start", "gray")
    ds = workspace.dataset(params["model"], params["data"])
    i = int(params.get("focus") or 0)
    if not 0 <= i < len(ds):
        raise ValueError(f"Image {i} is not in the dataset ({len(ds):,} images).")
    return ds.images[i]


def class_image_key(workspace, params: dict) -> str:
    adapter = workspace.model(params["model"])
    start = params.get("start")
    if start == "focus":  # the image's own bytes, so another dataset cannot hit this entry
        start = workspace.dataset(params["model"], params["data"]).images[int(params.get("focus") or 0)]
    knobs = {k: params.get(k) for k in ("steps", "step_size", "jitter", "tv_weight")}
    return cache_key("class-image-v1", adapter.fingerprint, adapter.input_key, params["target"],
                     start, knobs)


def run_class_image_job(workspace, params: dict, progress=None) -> dict[str, np.ndarray]:
    """:func:`~deepling.methods.class_image.class_image` for ``{"model", "data", "target",
    "start", "focus", "steps", "step_size", "jitter", "tv_weight"}`` (defaults if missing)."""
    from deepling.methods.class_image import (DEFAULT_JITTER, DEFAULT_STEP_SIZE, DEFAULT_STEPS,
                                              DEFAULT_TV_WEIGHT, class_image)

    def compute():
        r = class_image(workspace.model(params["model"]), class_image_target(params),
                        start=class_image_start(workspace, params),
                        steps=int(params.get("steps") or DEFAULT_STEPS),
                        step_size=float(params.get("step_size") or DEFAULT_STEP_SIZE),
                        jitter=int(params.get("jitter", DEFAULT_JITTER)),
                        tv_weight=float(params.get("tv_weight", DEFAULT_TV_WEIGHT)),
                        progress=progress)
        return {"image": r.image, "scores": r.scores,
                "probability": np.float64(np.nan if r.probability is None else r.probability)}

    return workspace.cache(CLASS_IMAGE_CACHE).get_or_compute(class_image_key(workspace, params), compute)


def cached_class_image(workspace, key: str) -> dict[str, np.ndarray] | None:
    """A class image if it is in the disk cache, else None (never computes)."""
    return workspace.cache(CLASS_IMAGE_CACHE).get(key)


# --- what the workshop page asks for -----------------------------------------------------------
DRAWN = "drawn:"  # prefix of a drawn class's value in the page's list of classes


def add_drawn_class(custom: list, name: str, pixels) -> tuple[list, str]:
    """``custom`` (the drawn classes, ``[{"name", "pixels"}]``) with the drawing ``pixels``
    (28×28 values, row-major) added as class ``name``; or, unchanged, with why not."""
    custom, pixels = list(custom or []), list(pixels or [])
    if not name:
        return custom, "Give the drawing a class name first."
    if name in set(SHAPES) | {c["name"] for c in custom}:
        return custom, f"There is already a class called {name!r}; pick another name."
    if len(pixels) != 28 * 28 or not any(pixels):
        return custom, "The canvas is empty: draw a shape first."
    return custom + [{"name": name, "pixels": [int(p) for p in pixels]}], ""


def workshop_request(chosen, custom, model=None, start=None, step_size=None, epochs=None) -> dict:
    """The :data:`WORKSHOP` parameters of the page's choices: the chosen classes (built-in
    names, or ``DRAWN + name`` for a drawn one) and the settings (defaults where empty);
    ValueError for fewer than two classes."""
    drawn = {c["name"]: c["pixels"] for c in custom or []}
    classes = []
    for value in chosen or []:
        name = value[len(DRAWN):] if value.startswith(DRAWN) else None
        if name is None:
            classes.append({"name": value})
        elif name in drawn:
            classes.append({"name": name, "pixels": drawn[name]})
    if len(classes) < 2:
        raise ValueError("Select at least two shapes in step 1.")
    return {"classes": classes, "model": model or "mlp", "start": start or IMAGE_START,
            "step_size": float(step_size or IMAGE_STEP_SIZE), "epochs": int(epochs or DEFAULT_EPOCHS),
            "seed": 0}


def class_image_request(class_names, model_id: str, data_id: str, *, kind: str, cls=None, layer=None,
                        channel=None, start=None, steps=None, step_size=None, jitter=None, tv=None,
                        focus=None) -> tuple[dict, str, str]:
    """The :data:`CLASS_IMAGE` parameters of the page's settings, what is drawn (said under
    the picture) and its score's name: a class (``kind`` "class", ``cls``) or a channel of
    ``layer``; defaults where a box is empty. ValueError for a channel without a layer or a
    start from the image in focus without one."""
    if kind == "channel":
        if not layer:
            raise ValueError("This model has no layer to draw channels of.")
        target, what = {"layer": layer, "channel": int(channel or 0)}, f"{layer} channel {int(channel or 0)}"
    else:
        target, what = int(cls or 0), f"class {class_names[int(cls or 0)]}"
    if start == "focus" and focus is None:
        raise ValueError("No image is in focus: pick one in another view first.")
    params = {"model": model_id, "data": data_id, "target": target, "start": start or "gray",
              "focus": focus, "steps": int(steps or DEFAULT_STEPS),
              "step_size": float(step_size or DEFAULT_STEP_SIZE),
              "jitter": int(jitter if jitter is not None else DEFAULT_JITTER),
              "tv_weight": float(tv if tv is not None else DEFAULT_TV_WEIGHT)}
    return params, what, "mean activation" if kind == "channel" else "logit"


# --- the work kinds -----------------------------------------------------------------------------
def check_workshop(workspace, params: dict) -> dict:
    from deepling.shapes import SIZE
    from deepling.shapes.models import BUILDERS
    from deepling.methods.class_image import STARTS

    params = {"step_size": IMAGE_STEP_SIZE, "epochs": DEFAULT_EPOCHS, **(params or {})}
    params["start"] = params.get("start") or IMAGE_START
    return schema.workshop_params(params, tuple(BUILDERS), STARTS, SIZE * SIZE)


def check_class_image(workspace, params: dict) -> dict:
    from deepling.methods.class_image import (DEFAULT_JITTER, DEFAULT_STEP_SIZE, DEFAULT_STEPS,
                                              DEFAULT_TV_WEIGHT, STARTS)

    defaults = {"steps": DEFAULT_STEPS, "step_size": DEFAULT_STEP_SIZE, "jitter": DEFAULT_JITTER,
                "tv_weight": DEFAULT_TV_WEIGHT}
    params = {**defaults, **{k: v for k, v in (params or {}).items() if v is not None}}
    return schema.class_image_params(params, STARTS)


WORKSHOP = Kind("shape_workshop", check=check_workshop, key=lambda ws, p: workshop_key(p),
                compute=run_workshop_job, load=cached_workshop)
CLASS_IMAGE = Kind("class_image", check=check_class_image, key=class_image_key,
                   compute=run_class_image_job, load=cached_class_image)
