"""PivotMDS: exact on planar data, close to classical MDS on real activations, sklearn-style."""

import numpy as np
import pytest
from scipy.spatial import procrustes
from scipy.spatial.distance import pdist
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics.pairwise import euclidean_distances
from sklearn.utils.estimator_checks import parametrize_with_checks

from deepling.projection import PivotMDS, maxmin_pivots


def classical_mds(X, n_components=2):
    """Torgerson MDS by eigendecomposition of the double-centred Gram matrix."""
    Xc = X - X.mean(axis=0)
    w, v = np.linalg.eigh(Xc @ Xc.T)
    top = np.argsort(w)[::-1][:n_components]
    return v[:, top] * np.sqrt(np.maximum(w[top], 0))


def stress(X, layout):
    """Kruskal stress-1 after the best uniform scaling of the layout (scale-free)."""
    true, got = pdist(X), pdist(layout)
    got = got * (true @ got) / (got @ got)
    return np.sqrt(np.sum((true - got) ** 2) / np.sum(true ** 2))


def planar_in_high_dim(n=400, dim=512, seed=0):
    rng = np.random.default_rng(seed)
    plane = rng.uniform(-1, 1, size=(n, 2)) * [3.0, 1.0]  # anisotropic on purpose
    basis, _ = np.linalg.qr(rng.normal(size=(dim, 2)))
    return plane, plane @ basis.T + rng.normal(size=dim)  # rotated into 512-D and shifted


def test_planar_configuration_is_recovered():
    plane, X = planar_in_high_dim()
    layout = PivotMDS(n_pivots=30, random_state=0).fit_transform(X)
    assert procrustes(plane, layout)[2] < 1e-3
    # The check can fail: another plane's layout is nowhere near.
    other, _ = planar_in_high_dim(seed=1)
    assert procrustes(other, layout)[2] > 0.5


def test_all_points_as_pivots_is_classical_mds():
    X = np.random.default_rng(2).normal(size=(60, 20))
    layout = PivotMDS(n_pivots=1000, random_state=0).fit_transform(X)
    reference = classical_mds(X)
    signs = np.sign((layout * reference).sum(axis=0))  # each axis is defined up to sign
    np.testing.assert_allclose(layout, reference * signs, atol=1e-9)


def variance_shown(X, layout):
    """Variance of X in the plane a layout spans: what classical MDS (= PCA) maximises."""
    basis, _ = np.linalg.qr(layout - layout.mean(axis=0))
    return np.sum(((X - X.mean(axis=0)).T @ basis) ** 2)


def demo_activations(adapter, images, name):
    import keras

    out = keras.Model(adapter.model.inputs[0], adapter.model.get_layer(name).output)(
        adapter.preprocess(images), training=False)
    return np.asarray(out, dtype=np.float64).reshape(len(images), -1)


def test_stress_close_to_classical_mds_on_demo_activations(demo_model, cifar_sample):
    X = demo_activations(demo_model, cifar_sample.images, "fc1")
    pivot = stress(X, PivotMDS(n_pivots=50, random_state=0).fit_transform(X))
    classical = stress(X, classical_mds(X))
    random = stress(X, np.random.default_rng(0).normal(size=(len(X), 2)))
    assert pivot <= 1.1 * classical, (pivot, classical)
    assert random > 1.2 * classical  # here stress tells a layout from noise (see below)


@pytest.mark.parametrize("name, share", [("conv1b", 0.75), ("pool2", 0.75), ("fc1", 0.95)])
def test_variance_shown_close_to_classical_mds_on_demo_activations(demo_model, cifar_sample,
                                                                   name, share):
    # In wide conv layers distances concentrate and stress barely separates classical MDS
    # from a random layout, so compare what classical MDS optimises instead.
    X = demo_activations(demo_model, cifar_sample.images, name)
    best = variance_shown(X, classical_mds(X))
    assert variance_shown(X, PivotMDS(n_pivots=50, random_state=0).fit_transform(X)) >= share * best
    assert variance_shown(X, np.random.default_rng(0).normal(size=(len(X), 2))) < 0.25 * best


def test_maxmin_picks_the_farthest_point_each_time():
    X = np.random.default_rng(3).normal(size=(200, 5))
    idx, sq = maxmin_pivots(X, 12, random_state=0)
    full = euclidean_distances(X, squared=True)
    np.testing.assert_allclose(sq, full[:, idx], atol=1e-9)
    for j in range(1, len(idx)):
        nearest = full[:, idx[:j]].min(axis=1)
        nearest[idx[:j]] = -1
        assert idx[j] == np.argmax(nearest)
    assert len(set(idx)) == len(idx)


def test_maxmin_does_not_repeat_duplicate_points():
    X = np.repeat(np.eye(3), 4, axis=0)  # 3 distinct points, 4 copies each
    idx, _ = maxmin_pivots(X, 6, random_state=0)
    assert len(set(idx)) == 6
    assert len({tuple(X[i]) for i in idx[:3]}) == 3  # the distinct points come first


def test_from_distances_matches_fit_transform():
    _, X = planar_in_high_dim(n=150)
    est = PivotMDS(n_pivots=20, random_state=4)
    direct = est.fit_transform(X)
    idx, sq = maxmin_pivots(X, 20, random_state=4)
    np.testing.assert_array_equal(idx, est.pivot_indices_)
    from_sq = PivotMDS().fit_transform_distances(sq, squared=True)
    from_d = PivotMDS().fit_transform_distances(np.sqrt(sq))
    np.testing.assert_allclose(from_sq, direct, atol=1e-9)
    np.testing.assert_allclose(from_d, direct, atol=1e-9)


def test_inner_products_give_the_same_layout_as_distances():
    _, X = planar_in_high_dim(n=150)
    idx, sq = maxmin_pivots(X, 20, random_state=4)
    pivots = X[idx]
    from_sq = PivotMDS().fit_transform_distances(sq, squared=True)
    # Any common origin: the norms the products leave out are removed by double centring.
    for origin in (0.0, X.mean(axis=0), pivots.mean(axis=0)):
        products = (X - origin) @ (pivots - origin).T
        np.testing.assert_allclose(PivotMDS().fit_transform_inner_products(products), from_sq,
                                   atol=1e-8)


def test_transform_places_fitted_points_where_fit_put_them():
    X = np.random.default_rng(5).normal(size=(120, 8))
    est = PivotMDS(n_pivots=15, random_state=0).fit(X)
    np.testing.assert_allclose(est.transform(X), est.embedding_, atol=1e-9)
    assert est.transform(X[:3]).shape == (3, 2)


def test_deterministic_for_fixed_random_state():
    X = np.random.default_rng(6).normal(size=(300, 30)).astype(np.float32)
    a = PivotMDS(n_pivots=10, random_state=7).fit(X)
    b = PivotMDS(n_pivots=10, random_state=7).fit(X)
    np.testing.assert_array_equal(a.embedding_, b.embedding_)
    c = PivotMDS(n_pivots=10, random_state=8).fit(X)
    assert not np.array_equal(a.pivot_indices_, c.pivot_indices_)


def test_fewer_points_than_pivots():
    X = np.random.default_rng(7).normal(size=(5, 4))
    est = PivotMDS(n_pivots=50, random_state=0)
    layout = est.fit_transform(X)
    assert est.n_pivots_ == 5 and layout.shape == (5, 2)
    assert procrustes(classical_mds(X), layout)[2] < 1e-12
    assert PivotMDS(n_components=3).fit_transform(X[:2]).shape == (2, 3)  # rank 1: zeros pad


@pytest.mark.parametrize("X", [np.ones((10, 4)), np.zeros((1, 3))])
def test_constant_data_gives_zeros_not_nan(X):
    est = PivotMDS(random_state=0)
    np.testing.assert_array_equal(est.fit_transform(X), 0.0)
    np.testing.assert_array_equal(est.transform(X), 0.0)


def test_bad_input_raises_clear_errors():
    X = np.random.default_rng(8).normal(size=(20, 3))
    with pytest.raises(ValueError, match="NaN"):
        PivotMDS().fit(np.where(X > 1, np.nan, X))
    with pytest.raises(ValueError, match="2D array"):
        PivotMDS().fit(X[:, 0])
    with pytest.raises(ValueError, match="non-negative"):
        PivotMDS().fit_transform_distances(-np.ones((4, 2)))
    with pytest.raises(ValueError, match="n_pivots must be a positive integer"):
        PivotMDS(n_pivots=0).fit(X)
    with pytest.raises(ValueError, match="n_components must be a positive integer"):
        PivotMDS(n_components=1.5).fit(X)
    with pytest.raises(ValueError, match="3 features"):
        PivotMDS().fit(X).transform(np.ones((2, 4)))
    with pytest.raises(NotFittedError, match="call fit"):
        est = PivotMDS()
        est.fit_transform_distances(np.ones((4, 2)))
        est.transform(X)


def test_is_a_scikit_learn_estimator():
    est = PivotMDS(n_components=3, n_pivots=7, random_state=1)
    assert clone(est).get_params() == {"n_components": 3, "n_pivots": 7, "random_state": 1}
    assert "n_pivots=7" in repr(est)


@parametrize_with_checks([PivotMDS(random_state=0)])
def test_passes_scikit_learn_estimator_checks(estimator, check):
    check(estimator)
