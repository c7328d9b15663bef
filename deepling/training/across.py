"""One layer's projection across training: the images laid out at every snapshot.

Each snapshot's activations of the chosen layer are laid out by PivotMDS (real projections
of each snapshot, not interpolations), and each epoch's layout is turned onto the previous
one by Procrustes analysis with the mirroring test, as the layer animation does across
layers, so a point moves only as far as the model changed.
"""

from __future__ import annotations

import numpy as np

from deepling.projection import PivotMDS, procrustes_align


def projection_across_training(models, images, layer: str, *, n_pivots: int = 50,
                               batch_size: int = 256, random_state: int = 0, progress=None) -> dict:
    """Layouts of ``images`` at ``layer`` for each model in ``models`` (the snapshots, in order).

    Returns
    -------
    dict
        ``layouts`` (n_models × n_images × 2, each aligned on the one before), ``mirrored``
        (per transition), ``residuals`` (RMS residual after alignment, per transition).
    """
    import keras

    layouts, mirrored, residuals = [], [], []
    x = np.asarray(images, np.float32)
    for i, model in enumerate(models):
        probe = keras.Model(model.inputs, model.get_layer(layer).output)
        act = np.concatenate([np.asarray(probe(x[j:j + batch_size], training=False))
                              for j in range(0, len(x), batch_size)])
        xy = PivotMDS(n_pivots=n_pivots, random_state=random_state).fit_transform(
            act.reshape(len(x), -1).astype(np.float64))
        if layouts and np.ptp(layouts[-1], axis=0).min() > 0:
            a = procrustes_align(layouts[-1], xy, scaling="match_rms")
            xy = a.layout
            mirrored.append(bool(a.mirrored)), residuals.append(float(a.residual_after))
        layouts.append(xy)
        if progress:
            progress((i + 1) / len(models), f"snapshot {i + 1}/{len(models)}")
    return {"layouts": np.stack(layouts), "mirrored": mirrored, "residuals": residuals}
