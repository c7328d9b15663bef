"""What a client may send, checked and capped in one place.

The HTTP API and the service functions behind the Dash callbacks both read user input
through these checks, so a forged request (a list where a number belongs, ``Infinity``,
``10**9`` images, a 1 MB id) gets one clear :class:`InputError` — a 400/422 with what is
wrong and what to send — and never reaches heavy work. Every work parameter has a cap here.
"""

from __future__ import annotations

import math
import re

# --- caps on work a request may ask for -----------------------------------------------------
MAX_IMAGES = 65_536          # images in one projection (all 60,000 CIFAR-10 images fit, #17)
MAX_CLASSES = 1_000          # class indices in one request
MAX_SEED = 2**31 - 1
MAX_STEPS = 200              # adversarial strip: gradient steps (each is a forward+backward pass)
MAX_STEP_SIZE = 64.0         # pixel levels per step
MAX_CHANGE = 255.0
MAX_BLUR_SIGMA = 16.0        # what-if blur, pixels: beyond this an image is a flat colour
MAX_ROTATE = 360.0
MAX_FGSM = 64.0              # what-if FGSM ε, pixel levels
MAX_ID_LENGTH = 64
MAX_INDEX = 10**9            # a dataset index (checked against the dataset's length later)

# An id may name another split of the server's data: "default@train", "default@all" (#17).
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}(@[a-z]{1,8})?$")
_INT_TEXT = re.compile(r"^[+-]?\d{1,12}$")


class InputError(ValueError):
    """A request field that is missing, of the wrong type or out of range.

    ``status`` is the HTTP code: 400 for a malformed request, 422 for a well-formed one that
    names something that does not exist or cannot be done.
    """

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def shown(value, limit: int = 40) -> str:
    """``repr(value)`` cut short: an error message never echoes a megabyte back."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def integer(value, name: str, lo: int, hi: int) -> int:
    """A whole number in ``lo..hi``; accepts 3, 3.0 and "3", refuses True, 3.5, inf, [3]."""
    number = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and math.isfinite(value) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and _INT_TEXT.match(value.strip()):
        number = int(value.strip())
    if number is None or not lo <= number <= hi:
        raise InputError(f"{name} must be between {lo:,} and {hi:,} (a whole number); got {shown(value)}.")
    return number


def number(value, name: str, lo: float, hi: float) -> float:
    """A finite number in ``lo..hi`` (ints, floats, numeric strings)."""
    x = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        x = float(value)
    elif isinstance(value, str) and len(value) < 32:
        try:
            x = float(value)
        except ValueError:
            x = None
    if x is None or not math.isfinite(x) or not lo <= x <= hi:
        raise InputError(f"{name} must be between {lo:g} and {hi:g} (a number); got {shown(value)}.")
    return x


def integers(value, name: str, lo: int, hi: int, max_len: int = MAX_CLASSES) -> list[int]:
    """A list of whole numbers in ``lo..hi`` (at most ``max_len``), sorted and unique."""
    if not isinstance(value, (list, tuple)) or len(value) > max_len:
        raise InputError(f"{name} must be a list of at most {max_len:,} whole numbers "
                         f"from {lo} to {hi}, e.g. [3, 5]; got {shown(value)}.")
    return sorted({integer(v, f"each of {name}", lo, hi) for v in value})


def one_of(value, name: str, options) -> str:
    if not isinstance(value, str) or value not in options:
        raise InputError(f"{name} must be one of {', '.join(map(repr, options))}; got {shown(value)}.")
    return value


def span(value, name: str, lo: float, hi: float) -> tuple[float, float]:
    """A ``[low, high]`` pair with ``lo <= low <= high <= hi`` (a range slider's value)."""
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise InputError(f"{name} must be a pair [low, high] within {lo:g}..{hi:g}; got {shown(value)}.")
    a, b = (number(v, name, lo, hi) for v in value)
    if a > b:
        raise InputError(f"{name} must have low ≤ high; got {shown(value)}.")
    return a, b


def identifier(value, name: str) -> str:
    """A model or data id: letters, digits, '-' and '_', at most 64 characters, and
    optionally '@' and a split ("default@all")."""
    if not isinstance(value, str) or not _ID.match(value):
        raise InputError(f"{name} must be an id such as 'demo', 'default' or the id an upload "
                         f"returned (letters, digits, - and _, at most {MAX_ID_LENGTH}); "
                         f"got {shown(value)}.")
    return value


def json_object(body, what: str, example: str) -> dict:
    """The decoded JSON body, which must be an object."""
    if not isinstance(body, dict):
        raise InputError(f"Send {what} as a JSON object, e.g. {example}; got {shown(body)}.")
    return body


def known_fields(body: dict, fields, example: str) -> None:
    unknown = sorted(set(body) - set(fields))
    if unknown:
        raise InputError(f"Unknown field {shown(unknown[0])}; the fields are "
                         f"{', '.join(sorted(fields))}, e.g. {example}.")


# --- the projection choice (the API body and the animation's controls) -------------------------
PROJECTION_EXAMPLE = '{"model": "demo", "mode": "classes", "classes": [3, 5], "count": 50}'
PROJECTION_FIELDS = ("model", "data", "mode", "classes", "count", "seed", "true", "predicted",
                     "indices", "method", "frames")


def projection_body(body) -> dict:
    """``POST /api/projections``' body → ``{"model", "data", <raw choice fields>}``.

    Types and caps are checked here; classes against the data's classes later, in
    :func:`deepling.service.selection.normalise` (which uses the same checks).
    """
    body = json_object(body, "the projection request", PROJECTION_EXAMPLE)
    known_fields(body, PROJECTION_FIELDS, PROJECTION_EXAMPLE)
    out = {}
    for key in ("model", "data"):
        if body.get(key) is not None:
            out[key] = identifier(body[key], key)
    return {**body, **out}


_KEY = re.compile(r"^[0-9a-f]{32}$")


def job_key(value, name: str = "id") -> str:
    """A job's / result's key as :func:`deepling.service.cache.cache_key` makes them."""
    if not isinstance(value, str) or not _KEY.match(value):
        raise InputError(f"{name} must be a projection id (32 hexadecimal characters) as "
                         f"POST /api/projections returned it; got {shown(value)}.", 404)
    return value


def projection_request(d) -> dict:
    """The page's record of a submitted projection (``{"key", "model", "data", "choice"}``),
    as it comes back from the browser."""
    d = json_object(d, "the projection request", '{"key": ..., "model": ..., "data": ..., "choice": {...}}')
    if not isinstance(d.get("choice"), dict):
        raise InputError(f"choice must be an object; got {shown(d.get('choice'))}.")
    return {"key": job_key(d.get("key"), "key"), "model": identifier(d.get("model"), "model"),
            "data": identifier(d.get("data"), "data"), "choice": dict(d["choice"])}


# --- the image views (strip, what-if, data grid, robustness) ----------------------------------
MAX_ROBUSTNESS_IMAGES = 2_000
# Each edit's arguments and their bounds: (low, high), or the allowed words.
_EDIT_ARGS = {
    "rotate": {"degrees": (-MAX_ROTATE, MAX_ROTATE), "fill": ("reflect", "constant", "nearest", "wrap")},
    "flip": {"direction": ("horizontal", "vertical", "both")},
    "brightness": {"delta": (-255.0, 255.0), "factor": (0.0, 10.0)},
    "hue": {"shift": (-360.0, 360.0)},
    "blur": {"sigma": (0.0, MAX_BLUR_SIGMA)},
    "noise": {"sigma": (0.0, 255.0), "seed": (0, MAX_SEED)},
    "occlude": {"x": (-4096, 4096), "y": (-4096, 4096), "size": (0, 4096),
                "fill": ("gray", "black", "mean")},
}
_MAIN_ARG = {"rotate": "degrees", "flip": "direction", "brightness": "delta", "hue": "shift",
             "blur": "sigma", "noise": "sigma"}


def whatif(value) -> dict | None:
    """A what-if spec ``{"edits": {...}, "fgsm": ε}`` with every magnitude within its cap
    (a blur of σ = 10⁶ would take a minute; the slider stops at 8)."""
    if value is None:
        return None
    value = json_object(value, "the what-if edits", '{"edits": {"blur": 1.5}, "fgsm": 0}')
    known_fields(value, ("edits", "fgsm"), '{"edits": {"blur": 1.5}, "fgsm": 0}')
    edits = value.get("edits") or {}
    edits = json_object(edits, "the edits", '{"blur": 1.5, "flip": "horizontal"}')
    known_fields(edits, tuple(_EDIT_ARGS), '{"blur": 1.5}')
    checked = {}
    for name, arg in edits.items():
        args = arg if isinstance(arg, dict) else ({} if arg in (None, False) else {_MAIN_ARG.get(name, "?"): arg})
        known_fields(args, tuple(_EDIT_ARGS[name]), f'{{"{name}": {{...}}}}')
        out = {}
        for key, v in args.items():
            bound = _EDIT_ARGS[name][key]
            if isinstance(bound[0], str):
                if not (key == "fill" and isinstance(v, list) and len(v) <= 4):
                    v = one_of(v, f"{name} {key}", bound)
            elif isinstance(bound[0], int) and isinstance(bound[1], int):
                v = integer(v, f"{name} {key}", *bound)
            else:
                v = number(v, f"{name} {key}", *bound)
            out[key] = v
        if out:
            checked[name] = out
    return {"edits": checked, "fgsm": number(value.get("fgsm") or 0, "FGSM ε", 0.0, MAX_FGSM)}


def strip_settings(steps, step_size, max_change, channel=None) -> dict:
    """The adversarial strip's knobs, capped: each step is a forward and backward pass."""
    return {"steps": integer(8 if steps in (None, "") else steps, "steps", 1, MAX_STEPS),
            "step_size": number(1 if step_size in (None, "") else step_size, "step size",
                                0.0, MAX_STEP_SIZE),
            "max_change": (number(max_change, "max change", 0.0, MAX_CHANGE) or None)
            if max_change not in (None, "") else None,
            "channel": integer(channel or 0, "channel", 0, 1 << 16)}


# --- every job kind's parameters (checked when a job is submitted, whatever path it came by) ---
MAX_CLASS_IMAGE_STEPS = 1_000     # class image: gradient steps (the default is 200)
MAX_WORKSHOP_EPOCHS = 200         # shape workshop (the default is 15)
MAX_WORKSHOP_CLASSES = 12
MAX_TRAIN_EPOCHS = 200            # live training
MAX_BATCH = 1_024
MIN_LEARNING_RATE, MAX_LEARNING_RATE = 1e-7, 1.0
MAX_TRAIN_SUBSET = 100_000
MAX_RETRAIN_ITERATIONS = 1_000
MAX_TEXT = 200                    # a layer or class name
SHAPE_PIXELS = 28 * 28

TASK_FIELDS = {
    "layer_sequence": ("model", "data", "choice"),
    "epoch_sequence": ("model", "data", "choice", "layer", "snapshots"),
    "predictions": ("model", "data"),
    "neurons": ("model", "data"),
    "robustness": ("model", "data", "size"),
    "class_image": ("model", "data", "target", "start", "focus", "steps", "step_size", "jitter",
                    "tv_weight"),
    "shape_workshop": ("classes", "model", "start", "step_size", "epochs", "seed"),
    "training": ("run", "model", "data", "config"),
    "retrain": ("side", "model", "data", "indices", "iterations", "batch_size", "learning_rate"),
    "attribution_ranking": ("model", "data", "size", "layer"),
    "sanity_check": ("model", "data", "index", "methods", "layer"),
    "cka": ("model_a", "model_b", "data"),
    "cka_epochs": ("model", "data", "layer", "snapshots"),
    "label_errors": ("model", "data"),
}


def text(value, name: str, max_len: int = MAX_TEXT) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= max_len:
        raise InputError(f"{name} must be a name of 1 to {max_len} characters; got {shown(value)}.")
    return value


def _optional(params: dict, key: str, check, *args):
    if params.get(key) not in (None, ""):
        params[key] = check(params[key], key.replace("_", " "), *args)


def task_params(task: str, params) -> dict:
    """``params`` of a job of kind ``task``, checked: every number within its cap, every id
    an id, no unknown field. Called by the job runners' ``submit``, so a forged callback, an
    HTTP request and a script all meet the same caps (:class:`InputError` otherwise)."""
    params = dict(json_object(params, f"the {task} job's parameters", "{...}"))
    if task not in TASK_FIELDS:
        raise InputError(f"Unknown job kind {shown(task)}.")
    known_fields(params, TASK_FIELDS[task], f"the fields of a {task} job")
    for key in ("model", "data", "model_a", "model_b"):
        if key in params and not (task == "shape_workshop" and key == "model"):
            params[key] = identifier(params[key], key)
    if task in ("layer_sequence", "epoch_sequence"):
        choice = json_object(params.get("choice") or {}, "choice", PROJECTION_EXAMPLE)
        if choice.get("count") not in (None, ""):
            integer(choice["count"], "count", 1, MAX_IMAGES)
        if choice.get("indices") is not None:
            integers(choice["indices"], "indices", 0, MAX_INDEX, MAX_IMAGES)
        if task == "epoch_sequence":
            params["layer"] = text(params.get("layer"), "layer")
            if not isinstance(params.get("snapshots"), list) or len(params["snapshots"]) > 1_000:
                raise InputError("snapshots must be a list of at most 1,000 (label, file) pairs.")
    elif task == "cka_epochs":
        params["layer"] = text(params.get("layer"), "layer")
        if not isinstance(params.get("snapshots"), list) or len(params["snapshots"]) > 200:
            raise InputError("snapshots must be a list of at most 200 (label, file) pairs.")
    elif task in ("attribution_ranking", "sanity_check"):
        if task == "attribution_ranking":
            params["size"] = integer(params.get("size"), "sample size", 1, MAX_ROBUSTNESS_IMAGES)
        else:
            params["index"] = integer(params.get("index"), "image", 0, MAX_INDEX)
            methods = params.get("methods")
            if not isinstance(methods, list) or len(methods) > 32:
                raise InputError(f"methods must be a list of at most 32 method names; got {shown(methods)}.")
            params["methods"] = [text(m, "method", 40) for m in methods]
        if params.get("layer") not in (None, ""):
            params["layer"] = text(params["layer"], "layer")
    elif task == "robustness":
        params["size"] = integer(params.get("size"), "sample size", 1, MAX_ROBUSTNESS_IMAGES)
    elif task == "class_image":
        target = params.get("target")
        if isinstance(target, dict):
            known_fields(target, ("layer", "channel"), '{"layer": "conv2b", "channel": 3}')
            params["target"] = {"layer": text(target.get("layer"), "layer"),
                                "channel": integer(target.get("channel"), "channel", 0, 1 << 16)}
        else:
            params["target"] = integer(target, "class", 0, MAX_CLASSES)
        params["start"] = one_of(params.get("start") or "gray", "start",
                                 ("gray", "black", "white", "noise", "blurred noise", "focus"))
        _optional(params, "focus", integer, 0, MAX_INDEX)
        _optional(params, "steps", integer, 1, MAX_CLASS_IMAGE_STEPS)
        _optional(params, "step_size", number, 1e-6, 10.0)
        _optional(params, "jitter", integer, 0, 16)
        _optional(params, "tv_weight", number, 0.0, 100.0)
    elif task == "shape_workshop":
        classes = params.get("classes")
        if not isinstance(classes, list) or not 2 <= len(classes) <= MAX_WORKSHOP_CLASSES:
            raise InputError(f"classes must be a list of 2 to {MAX_WORKSHOP_CLASSES} shapes; "
                             f"got {shown(classes)}.")
        for c in classes:
            c = json_object(c, "each class", '{"name": "circle"}')
            known_fields(c, ("name", "pixels"), '{"name": "circle"}')
            text(c.get("name"), "class name", 80)
            if c.get("pixels") is not None and (not isinstance(c["pixels"], list)
                                                 or len(c["pixels"]) > SHAPE_PIXELS):
                raise InputError(f"pixels must be a list of {SHAPE_PIXELS} values.")
        params["model"] = one_of(params.get("model") or "mlp", "model", ("mlp", "cnn"))
        _optional(params, "step_size", number, 1e-6, 10.0)
        _optional(params, "epochs", integer, 1, MAX_WORKSHOP_EPOCHS)
        _optional(params, "seed", integer, 0, MAX_SEED)
        if params.get("start") is not None:
            text(params["start"], "start", 40)
    elif task == "training":
        text(params.get("run"), "run", 64)
        config = dict(json_object(params.get("config") or {}, "the training settings",
                                  '{"epochs": 5, "batch_size": 64, "learning_rate": 0.001}'))
        known_fields(config, ("source", "subset", "epochs", "batch_size", "learning_rate",
                              "optimizer", "validation", "seed"), '{"epochs": 5}')
        _optional(config, "epochs", integer, 1, MAX_TRAIN_EPOCHS)
        _optional(config, "batch_size", integer, 1, MAX_BATCH)
        _optional(config, "learning_rate", number, MIN_LEARNING_RATE, MAX_LEARNING_RATE)
        _optional(config, "subset", integer, 1, MAX_TRAIN_SUBSET)
        _optional(config, "validation", integer, 0, MAX_TRAIN_SUBSET)
        _optional(config, "seed", integer, 0, MAX_SEED)
        if config.get("optimizer") not in (None, ""):
            config["optimizer"] = one_of(str(config["optimizer"]).lower(), "optimizer",
                                         ("adam", "adamw", "sgd", "rmsprop"))
        if config.get("source") not in (None, ""):
            config["source"] = one_of(config["source"], "source", ("demo", "copy"))
        params["config"] = config
    elif task == "retrain":
        text(params.get("side"), "side", 64)
        params["indices"] = integers(params.get("indices"), "indices", 0, MAX_INDEX, MAX_IMAGES)
        if not params["indices"]:
            raise InputError("Pick at least one image to retrain on.")
        _optional(params, "iterations", integer, 1, MAX_RETRAIN_ITERATIONS)
        _optional(params, "batch_size", integer, 1, MAX_BATCH)
        _optional(params, "learning_rate", number, MIN_LEARNING_RATE, MAX_LEARNING_RATE)
    return params


# --- background work: each work kind's parameters (deepling/service/work.py) -----------------
# Every kind's ``check`` reads its parameters through one of these before any key or job, so
# a forged callback or API body gets the same caps as the page's controls.
# (the caps are task_params' above; these also normalise, for the kinds' keys)
MAX_RETRAIN_IMAGES = 10_000
_RUN_ID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


def model_data(params, what: str = "the job") -> dict:
    """``{"model", "data"}`` of a job's parameters, checked."""
    params = json_object(params, f"{what}'s parameters", '{"model": "demo", "data": "default"}')
    return {"model": identifier(params.get("model"), "model"),
            "data": identifier(params.get("data"), "data")}


def run_id(value, name: str = "run") -> str:
    if not isinstance(value, str) or not _RUN_ID.match(value):
        raise InputError(f"{name} must be a run id as the server gave it; got {shown(value)}.")
    return value


def robustness_params(params) -> dict:
    return {**model_data(params, "the robustness simulation"),
            "size": integer(params.get("size"), "sample size", 1, MAX_ROBUSTNESS_IMAGES)}


def class_image_params(params, starts) -> dict:
    """A class image's knobs: the target (class or ``{"layer", "channel"}``), the start
    (one of ``starts`` or ``"focus"`` with a dataset index) and the optimiser's settings."""
    out = model_data(params, "the class image")
    t = params.get("target")
    if isinstance(t, dict):
        known_fields(t, ("layer", "channel"), '{"layer": "conv2a", "channel": 3}')
        if not isinstance(t.get("layer"), str) or len(t["layer"]) > 256:
            raise InputError(f"target layer must be a layer's name; got {shown(t.get('layer'))}.")
        target = {"layer": t["layer"], "channel": integer(t.get("channel"), "channel", 0, 1 << 16)}
    else:
        target = integer(t, "target class", 0, MAX_CLASSES)
    start = one_of(params.get("start") or "gray", "start", (*starts, "focus"))
    focus = params.get("focus")
    return {**out, "target": target, "start": start,
            "focus": None if focus is None else integer(focus, "image", 0, MAX_INDEX),
            "steps": integer(params.get("steps"), "steps", 1, MAX_CLASS_IMAGE_STEPS),
            "step_size": number(params.get("step_size"), "step size", 1e-6, 10.0),
            "jitter": integer(params.get("jitter"), "jitter", 0, 64),
            "tv_weight": number(params.get("tv_weight"), "smoothness", 0.0, 1e3)}


def workshop_params(params, models, starts, pixels: int) -> dict:
    """The shape workshop's run: 2..12 classes (a palette name, or a drawing of ``pixels``
    values 0..255), the model, the start and the training's length."""
    params = json_object(params, "the workshop run", '{"classes": [{"name": "circle"}, ...]}')
    classes = params.get("classes")
    if not isinstance(classes, list) or not 2 <= len(classes) <= MAX_WORKSHOP_CLASSES:
        raise InputError(f"classes must be a list of 2 to {MAX_WORKSHOP_CLASSES} shapes; got {shown(classes)}.")
    checked = []
    for c in classes:
        c = json_object(c, "each class", '{"name": "circle"}')
        name = c.get("name")
        if not isinstance(name, str) or not 0 < len(name) <= 40:
            raise InputError(f"each class needs a name of 1 to 40 characters; got {shown(name)}.")
        px = c.get("pixels")
        if px is not None:
            if not isinstance(px, list) or len(px) != pixels:
                raise InputError(f"a drawn class has {pixels} pixel values; got {shown(px)}.")
            px = [integer(v, "a pixel", 0, 255) for v in px]
        checked.append({"name": name, "pixels": px} if px is not None else {"name": name})
    return {"classes": checked, "model": one_of(params.get("model") or "mlp", "model", models),
            "start": one_of(params.get("start") or "black", "start", starts),
            "step_size": number(params.get("step_size"), "step size", 1e-6, 10.0),
            "epochs": integer(params.get("epochs"), "epochs", 1, MAX_WORKSHOP_EPOCHS),
            "seed": integer(params.get("seed") or 0, "seed", 0, MAX_SEED)}


def training_config(config) -> dict:
    """A training run's settings (the Training card's), each capped; missing ones take
    the defaults later."""
    config = json_object(config or {}, "the training settings", '{"epochs": 5, "batch_size": 64}')
    checks = {"source": lambda v: one_of(v, "source", ("demo", "copy")),
              "subset": lambda v: integer(v, "training images", 1, MAX_TRAIN_SUBSET),
              "epochs": lambda v: integer(v, "epochs", 1, MAX_TRAIN_EPOCHS),
              "batch_size": lambda v: integer(v, "batch size", 1, MAX_BATCH),
              "learning_rate": lambda v: number(v, "learning rate", MIN_LEARNING_RATE, MAX_LEARNING_RATE),
              "optimizer": lambda v: one_of(v, "optimizer", ("adam", "adamw", "sgd", "rmsprop")),
              "validation": lambda v: integer(v, "validation images", 0, MAX_TRAIN_SUBSET),
              "seed": lambda v: integer(v, "seed", 0, MAX_SEED)}
    known_fields(config, checks, '{"epochs": 5}')
    return {k: checks[k](v) for k, v in config.items() if v not in (None, "")}


def training_params(params) -> dict:
    out = model_data(params, "the training run")
    return {**out, "run": run_id(params.get("run")), "config": training_config(params.get("config"))}


def retrain_params(params) -> dict:
    out = model_data(params, "the retraining")
    return {**out, "side": run_id(params.get("side"), "side"),
            "indices": integers(params.get("indices"), "picked images", 0, MAX_INDEX,
                                max_len=MAX_RETRAIN_IMAGES),
            "iterations": integer(params.get("iterations", 30), "iterations", 1, MAX_RETRAIN_ITERATIONS),
            "batch_size": integer(params.get("batch_size", 64), "batch size", 1, MAX_BATCH),
            "learning_rate": number(params.get("learning_rate", 5e-4), "learning rate", MIN_LEARNING_RATE,
                                    MAX_LEARNING_RATE)}
