"""Which images go into the layer animation: the user's choice, made reproducible.

A choice is a small dict (also the URL's query): ``mode`` "classes" (``count`` images of
each class in ``classes``), "random" (``count`` images of any class), "misclassified"
(up to ``count`` labelled images the model gets wrong) or "cell" (up to ``count`` images of
true class ``true`` predicted as ``predicted``: a confusion-matrix cell) or "indices" (the
images listed in ``indices``, e.g. a neural pattern's: picked images). The same choice and
seed always pick the same images, so a link reproduces the view.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode

import numpy as np

from deepling.service import schema

MODES = ("classes", "random", "misclassified", "cell", "indices")
DEFAULT = {"mode": "classes", "classes": None, "count": 50, "seed": 0}
MAX_COUNT = schema.MAX_IMAGES


def choose_images(labels: np.ndarray, predicted: np.ndarray, choice: dict,
                  n_classes: int | None = None) -> np.ndarray:
    """Sorted dataset indices for ``choice`` (see module docstring); classes are true
    labels, 0..``n_classes``-1 (default: as many as the labels show).

    Raises
    ------
    ValueError
        Unknown mode, a class out of range, or a choice that selects no image.
    """
    c = normalise(choice, n_classes if n_classes is not None else int(labels.max(initial=-1)) + 1)
    rng = np.random.default_rng(c["seed"])
    unlabelled = not (np.asarray(labels) >= 0).any()
    if unlabelled and c["mode"] in ("misclassified", "cell"):
        raise ValueError("These images have no labels, so none is misclassified and there is no "
                         "confusion matrix; choose 'random sample' (or give them labels: one "
                         "<class>/ folder per class).")
    if c["mode"] == "classes" and unlabelled:  # no classes to take per class: any images
        idx = rng.permutation(len(labels))[: c["count"]]
    elif c["mode"] == "classes":
        picked = [rng.permutation(np.flatnonzero(labels == k))[: c["count"]] for k in c["classes"]]
        idx = np.concatenate(picked) if picked else np.array([], dtype=np.int64)
    elif c["mode"] == "random":
        idx = rng.permutation(len(labels))[: c["count"]]
    elif c["mode"] == "indices":
        idx = np.asarray(c["indices"], dtype=np.int64)
        if len(idx) and idx[-1] >= len(labels):
            raise ValueError(f"image {idx[-1]} does not exist; the dataset has {len(labels):,} images.")
    elif c["mode"] == "cell":
        cell = (labels == c["true"]) & (predicted == c["predicted"])
        idx = rng.permutation(np.flatnonzero(cell))[: c["count"]]
    else:
        # an image whose label is unknown (-1) is not an error, whatever the model says
        idx = rng.permutation(np.flatnonzero((labels >= 0) & (predicted != labels)))[: c["count"]]
    if len(idx) > schema.MAX_IMAGES:  # count per class × many classes: keep the work bounded
        idx = rng.permutation(idx)[: schema.MAX_IMAGES]
    if len(idx) < 2:
        raise ValueError("This choice selects fewer than 2 images; pick more classes or a larger count.")
    return np.sort(idx)


# deepling.projection.activations.METHODS: the layer animation's two layouts.
PROJECTION_METHODS = ("landmarks", "pivot_mds")
# "blocks": the default frames (every layer of a model of up to 40, block outputs of a
# deeper one); "all": every layer.
FRAMES = ("blocks", "all")


def normalise(choice: dict | None, n_classes: int) -> dict:
    """Fill defaults and validate (with :mod:`deepling.service.schema`: a forged choice gets
    an :class:`~deepling.service.schema.InputError`, a ValueError); classes default to all."""
    c = {**DEFAULT, **{k: v for k, v in (choice or {}).items() if v not in (None, "", [])}}
    mode = schema.one_of(c["mode"], "mode", MODES)
    count = schema.integer(c["count"], "count", 1, MAX_COUNT)
    top = max(n_classes - 1, 0)
    classes = list(range(n_classes)) if c["classes"] is None else \
        schema.integers(c["classes"], "classes", 0, schema.MAX_CLASSES)
    if not classes and n_classes:  # unlabelled data has no classes to name
        raise schema.InputError("classes must name at least one class, e.g. [3, 5].")
    if classes and classes[-1] > top:
        raise schema.InputError(f"class {classes[-1]} does not exist; classes are 0..{top}.", 422)
    out = {"mode": mode, "classes": classes, "count": count,
           "seed": schema.integer(c["seed"], "seed", 0, schema.MAX_SEED)}
    if mode == "cell":
        for key in ("true", "predicted"):
            if c.get(key) is None:
                raise schema.InputError(f"A confusion cell needs '{key}' = a class 0..{top}.")
            out[key] = schema.integer(c[key], key, 0, top)
    if c["mode"] == "indices":
        indices = schema.integers(c.get("indices") or [], "indices", 0, schema.MAX_INDEX,
                                   max_len=MAX_COUNT)
        if indices and indices[0] < 0:
            raise ValueError(f"image indices must not be negative, got {indices[0]}.")
        if len(indices) > MAX_COUNT:
            raise ValueError(f"at most {MAX_COUNT:,} images can be listed, got {len(indices):,}.")
        out["indices"] = indices
    # How to lay out and which frames: only named when not the default, so the keys of
    # every other choice stay what they were.
    method = schema.one_of(c.get("method") or "landmarks", "method", PROJECTION_METHODS)
    if method != "landmarks":
        out["method"] = method
    frames = schema.one_of(c.get("frames") or "blocks", "frames", FRAMES)
    if frames != "blocks":
        out["frames"] = frames
    return out


def from_query(search: str | None) -> dict:
    """``?mode=classes&classes=3,5&count=5&layer=conv2b`` → a choice dict (plus layer, and
    ``compare``: the comparison view's second model)."""
    q = {k: v[-1] for k, v in parse_qs((search or "").lstrip("?")).items()}
    out = {}
    for key in ("mode", "model", "data", "layer", "compare", "method", "frames"):
        if q.get(key):
            out[key] = q[key]
    for key in ("count", "seed", "true", "predicted"):
        if q.get(key, "").lstrip("-").isdigit():
            out[key] = int(q[key])
    if q.get("indices"):
        out["indices"] = [int(i) for i in q["indices"].split(",") if i.strip().isdigit()]
    if q.get("classes"):
        out["classes"] = [int(k) for k in q["classes"].split(",") if k.strip().lstrip("-").isdigit()]
    return out


def to_query(choice: dict, **extra) -> str:
    q = {"mode": choice["mode"], "count": choice["count"]}
    if choice["mode"] == "classes":
        q["classes"] = ",".join(map(str, choice["classes"]))
    if choice["mode"] == "cell":
        q.update(true=choice["true"], predicted=choice["predicted"])
    if choice["mode"] == "indices":
        q["indices"] = ",".join(map(str, choice["indices"]))
    if choice.get("seed"):
        q["seed"] = choice["seed"]
    for key in ("method", "frames"):
        if choice.get(key):
            q[key] = choice[key]
    q.update({k: v for k, v in extra.items() if v is not None})
    return "?" + urlencode(q, safe=",")


CHOICE_KEYS = ("mode", "classes", "count", "seed", "true", "predicted", "indices", "method", "frames")


def raw_choice(query: dict, controls: dict | None = None) -> dict:
    """The images asked for (not normalised yet): the link's (``query``, :func:`from_query`),
    or the animation's controls (``{"mode", "classes", "count", "method", "frames"}``) when
    they were pressed, which keep a confusion cell or a pick the link names."""
    if controls is None:
        return {k: v for k, v in query.items() if k in CHOICE_KEYS}
    return {**{k: controls.get(k) for k in ("mode", "classes", "count", "method", "frames")},
            **{k: query.get(k) for k in ("true", "predicted", "indices")}}
