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

MODES = ("classes", "random", "misclassified", "cell", "indices")
DEFAULT = {"mode": "classes", "classes": None, "count": 50, "seed": 0}
MAX_COUNT = 50_000


def choose_images(labels: np.ndarray, predicted: np.ndarray, choice: dict,
                  n_classes: int | None = None) -> np.ndarray:
    """Sorted dataset indices for ``choice`` (see module docstring); classes are true
    labels, 0..``n_classes``-1 (default: as many as the labels show).

    Raises
    ------
    ValueError
        Unknown mode, a class out of range, or a choice that selects no image.
    """
    c = normalise(choice, n_classes if n_classes is not None else int(labels.max(initial=0)) + 1)
    rng = np.random.default_rng(c["seed"])
    if c["mode"] == "classes":
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
    if len(idx) < 2:
        raise ValueError("This choice selects fewer than 2 images; pick more classes or a larger count.")
    return np.sort(idx)


def normalise(choice: dict | None, n_classes: int) -> dict:
    """Fill defaults and validate; classes default to all."""
    c = {**DEFAULT, **{k: v for k, v in (choice or {}).items() if v not in (None, "", [])}}
    if c["mode"] not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {c['mode']!r}.")
    count = int(c["count"])
    if not 1 <= count <= MAX_COUNT:
        raise ValueError(f"count must be between 1 and {MAX_COUNT:,}, got {count}.")
    classes = c["classes"]
    if classes is None:
        classes = list(range(n_classes))
    classes = sorted({int(k) for k in classes})
    bad = [k for k in classes if not 0 <= k < n_classes]
    if bad:
        raise ValueError(f"class {bad[0]} does not exist; classes are 0..{n_classes - 1}.")
    out = {"mode": c["mode"], "classes": classes, "count": count, "seed": int(c["seed"])}
    if c["mode"] == "cell":
        for key in ("true", "predicted"):
            if c.get(key) is None or not 0 <= int(c[key]) < n_classes:
                raise ValueError(f"A confusion cell needs '{key}' = a class 0..{n_classes - 1}.")
            out[key] = int(c[key])
    if c["mode"] == "indices":
        indices = sorted({int(i) for i in c.get("indices") or []})
        if indices and indices[0] < 0:
            raise ValueError(f"image indices must not be negative, got {indices[0]}.")
        if len(indices) > MAX_COUNT:
            raise ValueError(f"at most {MAX_COUNT:,} images can be listed, got {len(indices):,}.")
        out["indices"] = indices
    return out


def from_query(search: str | None) -> dict:
    """``?mode=classes&classes=3,5&count=5&layer=conv2b`` → a choice dict (plus layer, and
    ``compare``: the comparison view's second model)."""
    q = {k: v[-1] for k, v in parse_qs((search or "").lstrip("?")).items()}
    out = {}
    for key in ("mode", "model", "data", "layer", "compare"):
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
    q.update({k: v for k, v in extra.items() if v is not None})
    return "?" + urlencode(q, safe=",")
