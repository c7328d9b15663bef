"""RISE (Petsiuk et al. 2018): the class probability of the image under many random,
smooth masks, averaged per pixel with each mask as the weight."""

from __future__ import annotations

import numpy as np

from deepling.methods._maps import check_count, fixed_classes, relative
from deepling.methods._probe import ModelProbe
from deepling.methods.saliency import attributions


def rise_masks(n: int, size: tuple[int, int], cells: int = 7, keep: float = 0.5,
               seed=0) -> np.ndarray:
    """``n`` RISE masks (n×H×W, float32 in 0..1), as in the paper.

    A ``cells``×``cells`` grid of cells kept with probability ``keep`` is upsampled
    bilinearly to (cells + 1) × the cell size and cropped at a random shift within one cell,
    so the masks are smooth and not aligned to a grid. Seeded: the same ``seed`` gives the
    same masks.
    """
    import tensorflow as tf

    n, cells = check_count("masks", n), check_count("cells", cells)
    if not 0 < keep < 1:
        raise ValueError(f"keep is the probability that a cell is kept, strictly between 0 and 1; got {keep}.")
    h, w = size
    rng = np.random.default_rng(seed)
    grid = (rng.random((n, cells, cells)) < keep).astype(np.float32)
    ch, cw = int(np.ceil(h / cells)), int(np.ceil(w / cells))
    up = np.asarray(tf.image.resize(grid[..., None], ((cells + 1) * ch, (cells + 1) * cw),
                                    method="bilinear"))[..., 0]
    dy, dx = rng.integers(0, ch, n), rng.integers(0, cw, n)
    return np.stack([up[i, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(n)])


def rise(model, image, target=None, masks: int = 2000, cells: int = 7, keep: float = 0.5,
         seed=0, batch_size: int = 500, progress=None):
    """RISE saliency: ``S = Σ_i p_c(x ∘ M_i) M_i / (n · keep)``.

    Parameters
    ----------
    model : keras.Model, ModelAdapter or ModelProbe
    image : array, shape (H, W, C) or (N, H, W, C)
        Pixels in 0..255; masked pixels become black.
    target : int or array of int, optional
        Class to explain; the predicted class by default.
    masks : int
        Number of random masks (the same masks for every image of a batch).
    cells, keep, seed
        The masks' grid, the probability a cell is kept, the seed (:func:`rise_masks`).
    batch_size : int
        Masked images per forward call.
    progress : callable(fraction, message), optional

    Returns
    -------
    Attribution, or a list of them for a batch
        ``native``: the expected probability per pixel (H×W); ``heatmap``: min–max
        scaled to 0..1.
    """
    import tensorflow as tf

    probe = ModelProbe.of(model)
    x, single = probe.as_batch(image)
    classes, probs = fixed_classes(probe, x, target)
    m = rise_masks(masks, x.shape[1:3], cells, keep, seed)
    chunks = [tf.constant(m[s:s + batch_size]) for s in range(0, len(m), batch_size)]
    run = _weighted_masks(probe)
    maps = np.empty(x.shape[:3], np.float32)
    for i in range(len(x)):
        image_i, class_i = tf.constant(x[i]), tf.constant(int(classes[i]))
        total = sum(np.asarray(run(image_i, chunk, class_i), np.float64) for chunk in chunks)
        maps[i] = total / (len(m) * keep)
        if progress is not None:
            progress((i + 1) / len(x), f"RISE: {i + 1}/{len(x)} images")
    return attributions(maps, classes, probs, lambda raw: relative(raw - raw.min()), "rise",
                        "expected probability (relative)", single)


def _weighted_masks(probe: ModelProbe):
    """Compiled ``(image H×W×C, masks n×H×W, class) → Σ_i p_class(image ∘ mask_i) mask_i``:
    the masking, the forward pass and the weighted sum in one graph call."""
    import tensorflow as tf

    def build():
        shape = probe.image_shape

        @tf.function(input_signature=[tf.TensorSpec(shape, tf.float32),
                                      tf.TensorSpec((None,) + tuple(shape[:2]), tf.float32),
                                      tf.TensorSpec((), tf.int32)])
        def run(image, masks, c):
            probs, _, _ = probe._forward(image[None] * masks[..., None], None)
            return tf.tensordot(probs[:, c], masks, axes=1)

        return run

    return probe._compiled(("rise_weighted_masks",), build)
