"""Two models' layer sequences on the same images, put side by side.

Models differ in depth, so layers are matched by relative depth (input to input, output
to output, the rest in proportion); each of the second model's layouts is then turned
onto the first model's layout at the matched layer by Procrustes, so the same image sits
in a comparable place in both animations.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from deepling.projection.procrustes import procrustes_align


def match_by_depth(n_from: int, n_to: int) -> np.ndarray:
    """For each of ``n_from`` layers, the index of the layer at the same relative depth
    among ``n_to`` layers (first to first, last to last)."""
    if n_from < 1 or n_to < 1:
        raise ValueError("Both sequences need at least one layer.")
    if n_from == 1:
        return np.zeros(1, dtype=int)
    return np.rint(np.arange(n_from) / (n_from - 1) * (n_to - 1)).astype(int)


def align_to_reference(reference, sequence):
    """``sequence`` with every layout turned onto ``reference``'s at the matched layer.

    Parameters
    ----------
    reference, sequence : LayerSequence
        Layouts of the same images, in the same order (rows are matched).

    Returns
    -------
    aligned : LayerSequence
        A copy of ``sequence`` whose layouts are aligned (rotation, mirror, RMS size) to
        the reference; collapsed layers, and layers matched to a collapsed one, stay as
        they were.
    matched : ndarray of int
        ``matched[j]`` is the reference layer that layer ``j`` was aligned to.
    """
    if reference.n_images != sequence.n_images:
        raise ValueError(f"The sequences show different images ({reference.n_images} and "
                         f"{sequence.n_images}); project the same images through both models.")
    matched = match_by_depth(len(sequence), len(reference))
    layouts = np.array(sequence.layouts, dtype=np.float64)
    for j, i in enumerate(matched):
        if sequence.collapsed[j] or reference.collapsed[i]:
            continue
        layouts[j] = procrustes_align(reference.layouts[i], layouts[j], scaling="match_rms").layout
    radius = np.hypot(layouts[..., 0], layouts[..., 1]).max()
    if radius > 1:  # keep the viewport convention: every point in the unit disc
        layouts /= radius
    return dataclasses.replace(sequence, layouts=layouts.astype(np.float32)), matched
