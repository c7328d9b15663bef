"""Occlusion sensitivity (Zeiler & Fergus 2014): how much the class probability drops when a
patch of the image is covered, for every patch position."""

from __future__ import annotations

import numpy as np

from deepling.methods._probe import ModelProbe
from deepling.methods.edits import fill_value
from deepling.methods.saliency import Attribution, pick_class


def _positions(length: int, patch: int, stride: int) -> np.ndarray:
    """Patch starts every ``stride`` pixels, plus one flush with the far edge if needed."""
    starts = list(range(0, length - patch + 1, stride))
    if starts[-1] != length - patch:
        starts.append(length - patch)
    return np.array(starts)


def occlusion_sensitivity(model, image, target: int | None = None, patch: int = 8,
                          stride: int = 4, fill="gray", batch_size: int = 256) -> Attribution:
    """Probability drop for class ``target`` when a ``patch``×``patch`` square is covered.

    All occluded copies go through the model in batches of ``batch_size``.

    Parameters
    ----------
    model : keras.Model, ModelAdapter or ModelProbe
    image : array, shape (H, W, C)
        Pixels in 0..255.
    target : int, optional
        Class to explain; the predicted class by default.
    patch, stride : int
        Square side and step between positions, in pixels (stride ≤ patch). The last
        row/column of positions sits flush with the border so every pixel gets covered.
    fill : 'gray', 'black', 'mean', number or colour
        What covers the patch (see :func:`deepling.methods.edits.fill_value`).

    Returns
    -------
    Attribution
        ``native``: drop per position (rows × columns); ``heatmap``: per pixel, the mean drop
        over the patches covering it.
    """
    probe = ModelProbe.of(model)
    x, _ = probe.as_batch(image)
    if len(x) != 1:
        raise ValueError(f"occlusion_sensitivity takes one image (H×W×C); got {len(x)}.")
    h, w = x.shape[1:3]
    if not (0 < patch <= min(h, w)) or not (1 <= stride <= patch):
        raise ValueError(f"patch must be 1..{min(h, w)} pixels and stride 1..patch (so every "
                         f"pixel gets covered); got patch {patch}, stride {stride}.")
    colour = fill_value(x[0], fill).astype(np.float32)

    p0 = probe.predict(x)[0]
    c = pick_class(probe, p0, target)
    ys, xs = _positions(h, patch, stride), _positions(w, patch, stride)
    grid = np.empty((len(ys), len(xs)), np.float32)
    coords = [(i, j) for i in range(len(ys)) for j in range(len(xs))]
    for start in range(0, len(coords), batch_size):
        chunk = coords[start:start + batch_size]
        batch = np.repeat(x, len(chunk), axis=0)
        for b, (i, j) in enumerate(chunk):
            batch[b, ys[i]:ys[i] + patch, xs[j]:xs[j] + patch, :] = colour
        probs = probe.predict(batch)[:, c]
        for b, (i, j) in enumerate(chunk):
            grid[i, j] = p0[c] - probs[b]

    total = np.zeros((h, w), np.float64)
    count = np.zeros((h, w), np.float64)
    for i, y0 in enumerate(ys):
        for j, x0 in enumerate(xs):
            total[y0:y0 + patch, x0:x0 + patch] += grid[i, j]
            count[y0:y0 + patch, x0:x0 + patch] += 1
    heat = (total / count).astype(np.float32)
    return Attribution(heat, grid, c, float(p0[c]), "occlusion", None,
                       "drop in probability")
