"""One layer's projection across training: the images laid out at every snapshot.

Each snapshot is projected at the chosen layer by :func:`~deepling.projection.layer_sequence`
itself (the same layouts and collapse checks as across layers: real
projections of each snapshot, not interpolations), and the epochs' layouts are chained by
the animation's own Procrustes alignment with the mirroring test, so a point moves only as
far as the model changed between two epochs.
"""

from __future__ import annotations

import numpy as np

from deepling.projection.sequence import LayerSequence, _align_chain, layer_sequence


def projection_across_training(models, images, layer: str, *, labels=None,
                               random_state: int = 0, progress=None,
                               project=layer_sequence) -> LayerSequence:
    """Layouts of ``images`` at ``layer`` for each model in ``models`` (the snapshots, in order).

    Parameters
    ----------
    models : sequence of keras.Model or ModelAdapter
        The snapshots, oldest first; all share the architecture and input convention.
    images : ndarray of uint8, shape (N, H, W, C)
        Fitted to the models (``adapter.fit_dataset``).
    layer : str
        The layer to project at every snapshot.
    labels : sequence of str, optional
        A name per snapshot (e.g. ``"epoch 3"``); default ``"snapshot k"``.
    random_state, progress
        As for :func:`~deepling.projection.layer_sequence` (one random state for all
        snapshots, so each epoch picks the same landmark images).
    project : callable, default :func:`~deepling.projection.layer_sequence`
        What projects one snapshot (the service passes its cached version, so a run that
        gained an epoch projects only the new snapshot).

    Returns
    -------
    LayerSequence
        One frame per snapshot (``names`` are the labels, ``types`` the layer's class):
        frame ``k`` is snapshot ``k``'s layout turned onto frame ``k - 1`` (``mirrored``,
        ``rotation_deg`` and the residuals describe each turn), all frames within the
        unit disc.
    """
    models = list(models)
    if not models:
        raise ValueError("No snapshots to project: a run keeps one per epoch.")
    labels = list(labels) if labels is not None else [f"snapshot {k}" for k in range(len(models))]
    report = progress or (lambda fraction, message: None)
    raw, collapsed, warnings, first = [], [], [], None
    for k, model in enumerate(models):
        part = (lambda f, m, k=k: report((k + f) / len(models), f"{labels[k]}: {m}"))
        seq = project(model, images, [layer], random_state=random_state, align=False,
                      progress=part)
        first = first or seq
        raw.append(np.asarray(seq.layouts[0], np.float64))
        collapsed.append(bool(seq.collapsed[0]))
        warnings += [f"{labels[k]}: {w}" for w in seq.warnings]
    layouts, diagnostics = _align_chain(raw, collapsed, True)
    radius = np.sqrt((layouts ** 2).sum(axis=2)).max()
    if radius > 0:
        layouts = layouts / radius
    report(1.0, f"{layer} projected at {len(models)} snapshots")
    return LayerSequence(
        names=tuple(labels), types=(first.types[0],) * len(models),
        shapes=(first.shapes[0],) * len(models),
        layouts=np.clip(layouts, -1.0, 1.0).astype(np.float32),
        collapsed=np.array(collapsed, bool), **diagnostics, aligned=True,
        n_landmarks=first.n_landmarks, n_directions=first.n_directions,
        warnings=tuple(warnings), skipped=())
