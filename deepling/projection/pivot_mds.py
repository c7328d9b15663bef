"""Pivot MDS: classical multidimensional scaling from distances to a few pivots.

Brandes & Pich (2006), "Eigensolver methods for progressive multidimensional scaling of
large data". Instead of the N×N matrix of classical MDS, Pivot MDS needs only the N×k
squared distances from every point to k pivots chosen by max–min (farthest point)
selection. The double-centred N×k matrix ``C`` stands in for the N×N Gram matrix ``B``;
its leading left singular vectors approximate the leading eigenvectors of ``B``.

Because only the N×k distances are needed, :meth:`PivotMDS.fit_transform_distances`
lays out points whose coordinates were never held together in memory: the layer
projection pipeline streams images through a network and keeps just these distances.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.metrics.pairwise import euclidean_distances
from sklearn.utils import check_array, check_random_state
from sklearn.utils.extmath import svd_flip
from sklearn.utils.validation import check_is_fitted

try:
    from sklearn.utils.validation import validate_data
except ImportError:  # scikit-learn < 1.6 has it as an estimator method
    def validate_data(estimator, X, **kwargs):
        return estimator._validate_data(X, **kwargs)


def maxmin_pivots(X, n_pivots, random_state=None):
    """Choose pivots by max–min (farthest point) selection.

    The first pivot is a random point; every further pivot is the point whose distance to
    its nearest pivot so far is largest. The pivots spread over the data, extremes
    included, which is what makes few of them enough for a layout (Brandes & Pich, 2006).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        The points. Float32 input stays float32 (activation matrices are large); distances
        are accumulated in float64.
    n_pivots : int
        How many pivots; at most ``n_samples`` are returned.
    random_state : int, RandomState instance or None, default=None
        Chooses the first pivot.

    Returns
    -------
    indices : ndarray of int64, shape (k,)
        Rows of ``X`` chosen as pivots, in the order chosen, ``k = min(n_pivots, n_samples)``.
    sq_distances : ndarray of float64, shape (n_samples, k)
        Squared Euclidean distance from every point to every pivot, a by-product of the
        selection and exactly what :meth:`PivotMDS.fit_transform_distances` takes.
    """
    X = check_array(X, dtype=[np.float64, np.float32])
    # Norms once, accumulated in float64 (einsum buffers the cast: no float64 copy of X).
    x_sq = np.einsum("ij,ij->i", X, X, dtype=np.float64).reshape(-1, 1)

    def column(j):
        return euclidean_distances(X, X[j:j + 1], squared=True, X_norm_squared=x_sq)[:, 0]

    return maxmin_select(X.shape[0], n_pivots, column, random_state)


def maxmin_select(n_samples, n_pivots, sq_distance_column, random_state=None):
    """Max–min selection given a way to get squared distances to one point.

    Parameters
    ----------
    n_samples : int
        Number of points to choose from.
    n_pivots : int
        How many pivots; at most ``n_samples`` are returned.
    sq_distance_column : callable
        ``sq_distance_column(j)`` returns the squared distances (shape ``(n_samples,)``)
        from every point to point ``j``. Lets callers that hold a precomputed distance
        matrix, or only some points, share the selection.
    random_state : int, RandomState instance or None, default=None
        Chooses the first pivot.

    Returns
    -------
    indices : ndarray of int64, shape (k,)
    sq_distances : ndarray of float64, shape (n_samples, k)
    """
    if not isinstance(n_pivots, Integral) or isinstance(n_pivots, bool) or n_pivots < 1:
        raise ValueError(f"n_pivots must be a positive integer, got {n_pivots!r}.")
    if n_samples < 1:
        raise ValueError("Cannot choose pivots among 0 points.")
    rng = check_random_state(random_state)
    k = min(int(n_pivots), n_samples)
    indices = np.empty(k, dtype=np.int64)
    sq = np.empty((n_samples, k), dtype=np.float64)
    nearest = np.full(n_samples, np.inf)
    chosen = np.zeros(n_samples, dtype=bool)
    pick = int(rng.randint(n_samples))
    for j in range(k):
        indices[j] = pick
        chosen[pick] = True
        sq[:, j] = np.maximum(sq_distance_column(pick), 0.0)
        np.minimum(nearest, sq[:, j], out=nearest)
        # Points already chosen are excluded, so duplicates cannot be picked twice.
        pick = int(np.argmax(np.where(chosen, -1.0, nearest)))
    return indices, sq


def double_centre(sq_distances):
    """``-1/2 · J D² J`` for an N×k matrix of squared distances (rows and columns centred).

    Parameters
    ----------
    sq_distances : ndarray of shape (n_samples, n_pivots)

    Returns
    -------
    C : ndarray of float64, shape (n_samples, n_pivots)
    """
    d = np.asarray(sq_distances, dtype=np.float64)
    return -0.5 * (d - d.mean(axis=0) - d.mean(axis=1, keepdims=True) + d.mean())


class PivotMDS(TransformerMixin, BaseEstimator):
    """Pivot MDS (Brandes & Pich, 2006): classical MDS from distances to k pivots.

    Pivots are chosen by max–min selection; the N×k matrix of squared distances to them
    is double centred and its leading left singular vectors give the layout. With every
    point a pivot (``n_pivots >= n_samples``) the result is exactly classical (Torgerson)
    MDS. Cost is O(N·k·n_features) for the distances and O(N·k²) for the SVD.

    Parameters
    ----------
    n_components : int, default=2
        Dimensions of the layout.
    n_pivots : int, default=50
        How many pivots. A few dozen usually give layouts close to classical MDS; more
        bring the result closer still, at linear cost. When the data have fewer points,
        all of them are pivots.
    random_state : int, RandomState instance or None, default=None
        Chooses the first pivot; fix it for reproducible layouts.

    Attributes
    ----------
    embedding_ : ndarray of shape (n_samples, n_components)
        The layout of the fitted points.
    pivot_indices_ : ndarray of shape (n_pivots_,)
        Rows of the fitted ``X`` used as pivots (absent after
        :meth:`fit_transform_distances`, where the caller chose them).
    pivots_ : ndarray of shape (n_pivots_, n_features_in_)
        The pivot points, kept so that :meth:`transform` can place new points.
    n_pivots_ : int
        Pivots actually used, ``min(n_pivots, n_samples)``.
    singular_values_ : ndarray of shape (n_components,)
        Leading singular values of the double-centred distance matrix.
    n_features_in_ : int
        Number of features seen in :meth:`fit`.

    Notes
    -----
    Coordinates are ``u_i · sqrt(s_i · sqrt(N / k))`` for the i-th left singular vector
    ``u_i`` and singular value ``s_i`` of ``C``. For k = N, ``C`` is classical MDS's Gram
    matrix and this is its ``u_i · sqrt(lambda_i)``. For k < N, ``C Cᵀ`` approximates
    ``(k / N) · B²`` when the pivots are spread like the data, so ``s_i · sqrt(N / k)``
    estimates the eigenvalue ``lambda_i``. Taking ``C v_i`` (= ``u_i · s_i``) as the
    coordinates instead would stretch the leading axis relative to the others (an
    anisotropic plane comes out distorted); the square root keeps the data's aspect ratio.
    Signs are fixed with :func:`sklearn.utils.extmath.svd_flip`, so a fit is deterministic
    for a fixed ``random_state``.

    References
    ----------
    U. Brandes and C. Pich, "Eigensolver methods for progressive multidimensional scaling
    of large data", Graph Drawing 2006, LNCS 4372, pp. 42–53.

    Examples
    --------
    >>> import numpy as np
    >>> from deepling.projection import PivotMDS
    >>> X = np.random.default_rng(0).normal(size=(500, 64))
    >>> PivotMDS(n_pivots=20, random_state=0).fit_transform(X).shape
    (500, 2)
    """

    def __init__(self, n_components=2, n_pivots=50, random_state=None):
        self.n_components = n_components
        self.n_pivots = n_pivots
        self.random_state = random_state

    def fit(self, X, y=None):
        """Choose pivots in ``X`` and lay out its points.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The points.
        y : None
            Ignored.

        Returns
        -------
        self : PivotMDS
        """
        self._check_params()
        X = validate_data(self, X, dtype=[np.float64, np.float32])
        indices, sq = maxmin_pivots(X, self.n_pivots, self.random_state)
        self._embed(double_centre(sq))
        self._col_mean, self._grand_mean = sq.mean(axis=0), sq.mean()  # for transform()
        self.pivot_indices_ = indices
        self.pivots_ = X[indices].copy()
        return self

    def fit_transform(self, X, y=None):
        """Choose pivots in ``X`` and return the layout of its points.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The points.
        y : None
            Ignored.

        Returns
        -------
        embedding : ndarray of shape (n_samples, n_components)
        """
        return self.fit(X).embedding_

    def fit_transform_distances(self, distances, squared=False):
        """Lay out points given only their distances to pivots chosen elsewhere.

        This is the entry the streaming pipeline uses: it never holds the points, only the
        N×k distances. Pivots should be spread over the data (max–min, see
        :func:`maxmin_pivots`); they need not be among the N points. :meth:`transform` is
        not available afterwards, since the pivot coordinates are unknown here.

        Parameters
        ----------
        distances : array-like of shape (n_samples, n_pivots)
            Euclidean distance from every point to every pivot. ``n_pivots`` (the
            constructor parameter) is ignored: the columns are the pivots.
        squared : bool, default=False
            Whether ``distances`` holds squared distances already.

        Returns
        -------
        embedding : ndarray of shape (n_samples, n_components)
        """
        self._check_params()
        d = check_array(distances, dtype=[np.float64, np.float32])
        if (d < 0).any():
            raise ValueError("Distances must be non-negative; got negative entries. "
                             "Pass Euclidean distances (or squared ones with squared=True).")
        sq = d.astype(np.float64) if squared else np.square(d, dtype=np.float64)
        self._forget_points()
        self._embed(double_centre(sq))
        return self.embedding_

    def fit_transform_inner_products(self, products):
        """Lay out points given their inner products with pivots chosen elsewhere.

        With ``products[i, j] = <x_i, y_j>`` for points ``x_i`` and pivots ``y_j`` (about
        any common origin), the squared distances are ``|x_i|² + |y_j|² - 2 products[i, j]``.
        The first two terms depend on the row alone or the column alone, and double centring
        removes exactly such terms, so the layout equals :meth:`fit_transform_distances` on
        the true distances without the norms ever being computed. A streaming pipeline
        saves two passes over every activation this way. Best accuracy in floating point
        comes from centring the pivots (``y_j`` minus their mean) before the products.

        Parameters
        ----------
        products : array-like of shape (n_samples, n_pivots)
            Inner products of every point with every pivot.

        Returns
        -------
        embedding : ndarray of shape (n_samples, n_components)
        """
        self._check_params()
        g = check_array(products, dtype=[np.float64, np.float32])
        self._forget_points()
        self._embed(double_centre(-2.0 * g.astype(np.float64)))
        return self.embedding_

    def transform(self, X):
        """Place new points into the fitted layout from their distances to the pivots.

        The new points' squared distances to the pivots are centred with the fitted column
        means and projected onto the fitted singular vectors (a Nyström extension). For the
        fitted points this reproduces :attr:`embedding_`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            New points with the features seen in :meth:`fit`.

        Returns
        -------
        embedding : ndarray of shape (n_samples, n_components)
        """
        check_is_fitted(self, "pivots_", msg=(
            "This %(name)s has no pivot coordinates: call fit(X) before transform "
            "(fit_transform_distances knows only distances, so it cannot place new points)."))
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        sq = euclidean_distances(X, self.pivots_, squared=True).astype(np.float64)
        c = -0.5 * (sq - self._col_mean - sq.mean(axis=1, keepdims=True) + self._grand_mean)
        return c @ self._projection

    def _check_params(self):
        for name in ("n_components", "n_pivots"):
            value = getattr(self, name)
            if not isinstance(value, Integral) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}.")

    def _forget_points(self):
        """Drop what only a fit on points gives: the caller chose the pivots elsewhere."""
        for name in ("pivot_indices_", "pivots_", "n_features_in_"):
            if hasattr(self, name):
                delattr(self, name)

    def _embed(self, c):
        """Layout from the double-centred N×k matrix ``c``; sets the fitted attributes.

        The top singular pairs come from the k×k matrix ``cᵀc`` (an eigenproblem of the
        pivots' size, N·k² work) instead of an SVD of the N×k matrix: the same layout, and
        cheap at every N, where LAPACK's SVD of a tall matrix costs a fixed few ms a layer and
        far more when its threads compete for a busy CPU.
        """
        n, k = c.shape
        w, v = np.linalg.eigh(c.T @ c)
        w, v = w[::-1], v[:, ::-1]  # descending
        s = np.sqrt(np.maximum(w, 0.0))
        d = min(self.n_components, k)
        s_d = s[:d]
        # Directions with (numerically) zero singular value carry rounding noise only; from
        # cᵀc a singular value is resolved to about sqrt(eps) of the largest.
        tol = s[0] * max(n, k) * np.sqrt(np.finfo(np.float64).eps)
        keep = s_d > tol
        u = np.divide(c @ v[:, :d], s_d, out=np.zeros((n, d)), where=keep)
        u, vt = svd_flip(u, v[:, :d].T)  # deterministic signs
        weights = np.where(keep, np.sqrt(s_d * np.sqrt(n / k)), 0.0)
        inv = np.divide(weights, s_d, out=np.zeros_like(s_d), where=keep)
        self.embedding_ = np.zeros((n, self.n_components))
        self.embedding_[:, :d] = u * weights
        self._projection = np.zeros((k, self.n_components))  # transform: c_new @ v / s * w
        self._projection[:, :d] = vt.T * inv
        self.singular_values_ = np.pad(s_d, (0, self.n_components - d))
        self.n_pivots_ = k
