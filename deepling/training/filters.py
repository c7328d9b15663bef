"""Filter embedding (ReVACNN): a conv layer's filters as points laid out by their weights.

Each filter's kernel is flattened to one vector and the vectors are laid out by PivotMDS:
filters close together compute nearly the same thing (redundant), a spread-out cloud is a
diverse layer. Each point can be drawn as its filter, an RGB image for a first layer.
"""

from __future__ import annotations

import numpy as np

from deepling.projection import PivotMDS


def filter_embedding(model, layer: str, random_state: int = 0) -> dict:
    """Layout and pictures of the filters of ``layer``.

    Returns
    -------
    dict
        ``xy`` (n_filters × 2), ``images`` (n_filters × kh × kw × 3 uint8: the kernel itself
        when it reads 3 channels, else its mean over input channels in grey), ``norms``
        (the kernel's L2 norm per filter).
    """
    kernel = np.asarray(model.get_layer(layer).kernel)
    if kernel.ndim != 4:
        raise ValueError(f"{layer} is not a 2-D convolution: it has no filter images.")
    kh, kw, cin, cout = kernel.shape
    flat = kernel.reshape(-1, cout).T.astype(np.float64)
    xy = PivotMDS(n_pivots=min(50, cout), random_state=random_state).fit_transform(flat)
    pics = kernel if cin == 3 else np.repeat(kernel.mean(axis=2, keepdims=True), 3, axis=2)
    pics = np.moveaxis(pics, -1, 0)  # cout × kh × kw × 3
    lo = pics.min(axis=(1, 2, 3), keepdims=True)
    hi = pics.max(axis=(1, 2, 3), keepdims=True)
    images = np.round(255 * (pics - lo) / np.maximum(hi - lo, 1e-12)).astype(np.uint8)
    return {"xy": xy, "images": images, "norms": np.linalg.norm(flat, axis=1)}
