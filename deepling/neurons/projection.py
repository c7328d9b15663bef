"""Neurons as points: units that fire together over the images sit together.

Rauber et al. (2017, "Visualizing the hidden activity of artificial neural networks")
project *neurons* rather than images: each unit is described by its activations over a set
of images, and two units are close when those activations are correlated. The distance
used here is the correlation distance ``sqrt(2 (1 - r))``, which is exactly the Euclidean
distance between the units' z-scored activation vectors scaled by ``1/sqrt(N)``. So
:class:`~deepling.projection.PivotMDS` lays them out from those vectors directly, with no
C×C distance matrix.

A unit whose activation never changes over the images (a dead ReLU) has no correlation
with anything: its z-scores are 0, it sits at distance 1 from every other unit, and it is
marked in ``dead_``.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import check_array

from deepling.projection.pivot_mds import PivotMDS


class NeuronProjection(BaseEstimator):
    """Lay out the units of one layer by the correlation of their activations.

    Parameters
    ----------
    n_pivots : int, default=50
        Pivots for Pivot MDS (all units when the layer has fewer).
    n_neighbors : int, default=5
        How many most correlated units to keep per unit in ``neighbors_``.
    random_state : int, RandomState instance or None, default=0

    Attributes
    ----------
    embedding_ : ndarray of shape (n_units, 2)
    correlation_ : ndarray of float32, shape (n_units, n_units)
        Pearson correlation of the units' activations over the images (0 for dead units).
    neighbors_ : ndarray of int64, shape (n_units, n_neighbors)
        Per unit, the other units with the highest correlation, highest first.
    class_means_ : ndarray of float32, shape (n_units, n_classes)
        Mean activation of each unit over the images of each class (NaN for a class
        without images); only when ``fit`` got labels.
    preferred_class_ : ndarray of int64, shape (n_units,)
        The class each unit responds to most (largest class mean); -1 without labels or
        for a dead unit.
    dead_ : ndarray of bool, shape (n_units,)
        Units whose activation is the same for every image.
    """

    def __init__(self, n_pivots=50, n_neighbors=5, random_state=0):
        self.n_pivots = n_pivots
        self.n_neighbors = n_neighbors
        self.random_state = random_state

    def fit(self, activations, labels=None, n_classes=None):
        """Fit on one layer's activations.

        Parameters
        ----------
        activations : array-like of shape (n_images, n_units)
            Each unit's (mean) activation per image, e.g. ``UnitActivations.means[l]``.
        labels : array-like of int, shape (n_images,), optional
            Class per image (-1: unknown), for ``class_means_`` and ``preferred_class_``.
        n_classes : int, optional
            Default: ``labels.max() + 1``.

        Returns
        -------
        self : NeuronProjection
        """
        a = check_array(activations, dtype=[np.float32, np.float64])
        n, c = a.shape
        if n < 2 or c < 2:
            raise ValueError(f"A neuron projection needs at least 2 images and 2 units; got "
                             f"{n} images × {c} units.")
        centred = a - a.mean(axis=0, dtype=np.float64)
        std = np.sqrt((centred ** 2).mean(axis=0))
        scale = np.abs(a).max(axis=0) + 1e-30
        self.dead_ = std <= 1e-6 * scale
        z = np.divide(centred, std * np.sqrt(n), out=np.zeros_like(centred, dtype=np.float64),
                      where=~self.dead_)
        units = np.ascontiguousarray(z.T)  # one row per unit
        self.embedding_ = PivotMDS(n_components=2, n_pivots=min(int(self.n_pivots), c),
                                   random_state=self.random_state).fit_transform(units)
        corr = units @ units.T
        self.correlation_ = np.clip(corr, -1.0, 1.0).astype(np.float32)
        ranked = corr.copy()
        np.fill_diagonal(ranked, -np.inf)
        ranked[:, self.dead_] = -np.inf  # a dead unit is nobody's neighbour
        k = min(int(self.n_neighbors), c - 1)
        self.neighbors_ = np.argsort(-ranked, axis=1, kind="stable")[:, :k]
        if labels is None:
            self.preferred_class_ = np.full(c, -1, np.int64)
            return self
        labels = np.asarray(labels)
        if labels.shape != (n,):
            raise ValueError(f"labels has shape {labels.shape}; expected ({n},).")
        k_classes = int(n_classes if n_classes is not None else labels.max(initial=-1) + 1)
        sums = np.zeros((k_classes, c))
        known = (labels >= 0) & (labels < k_classes)
        np.add.at(sums, labels[known], a[known])
        counts = np.bincount(labels[known], minlength=k_classes)
        with np.errstate(invalid="ignore", divide="ignore"):
            means = (sums / counts[:, None]).T
        self.class_means_ = means.astype(np.float32)
        best = np.where(np.isnan(means), -np.inf, means).argmax(axis=1) if k_classes else \
            np.full(c, -1)
        self.preferred_class_ = np.where(self.dead_ | (k_classes == 0), -1, best).astype(np.int64)
        return self

    def fit_transform(self, activations, labels=None, n_classes=None):
        return self.fit(activations, labels, n_classes).embedding_
