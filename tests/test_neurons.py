"""Neurons library: unit activations, pattern mining, recommendation, neuron projection.

The exact tests run on a constructed model whose most activated unit per layer is set by
the image: three dense layers each copy three of the nine input pixels, so an image's path
is chosen by writing the brightest pixel of each group.
"""

from itertools import combinations

import numpy as np
import pytest

from deepling.neurons import (NeuralPatterns, NeuronAtlas, NeuronProjection, mine_patterns,
                              neuron_atlas, unit_activations, unit_layers)

# 21 images: their designed paths through layers a, b, c (3 units each).
DESIGN = [(0, 1, 2)] * 6 + [(0, 1, 0)] * 4 + [(2, 2, 2)] * 7 + [(1, 0, 2)] * 4


@pytest.fixture(scope="module")
def path_model():
    """Input 1×3×3 → flatten → dense_a / dense_b / dense_c (each: pixels of column j) → out."""
    import keras

    x = keras.Input((1, 3, 3), name="image")
    flat = keras.layers.Flatten(name="flat")(x)
    branches = []
    for j, name in enumerate("abc"):
        kernel = np.zeros((9, 3), np.float32)
        kernel[3 * j + np.arange(3), np.arange(3)] = 1.0  # unit c of layer j = pixel (0, j, c)
        dense = keras.layers.Dense(3, name=f"dense_{name}")
        branches.append(dense(flat))
        dense.set_weights([kernel, np.zeros(3, np.float32)])
    out = keras.layers.Dense(2, activation="softmax", name="out")(
        keras.layers.Concatenate(name="join")(branches))
    return keras.Model(x, out, name="paths")


def designed_images(paths):
    images = np.full((len(paths), 1, 3, 3), 10, np.uint8)
    for i, path in enumerate(paths):
        for j, unit in enumerate(path):
            images[i, 0, j, unit] = 200
    return images


def test_unit_activations_give_the_designed_paths(path_model):
    assert unit_layers(path_model) == ["dense_a", "dense_b", "dense_c"]  # not the output
    acts = unit_activations(path_model, designed_images(DESIGN), batch_size=4)
    assert acts.layers == ("dense_a", "dense_b", "dense_c") and acts.widths == (3, 3, 3)
    np.testing.assert_array_equal(acts.paths, np.array(DESIGN))
    # a plain model without a rescaling layer gets pixels / 255
    np.testing.assert_allclose(acts.means[0][0], [200 / 255, 10 / 255, 10 / 255], rtol=1e-5)


def as_sets(patterns: NeuralPatterns) -> dict:
    return {tuple(patterns.items(p)): tuple(patterns.images(p)) for p in range(len(patterns))}


def test_closed_patterns_and_their_images_are_exactly_the_expected_ones(path_model):
    acts = unit_activations(path_model, designed_images(DESIGN))
    pats = mine_patterns(acts.paths, acts.layers)
    assert as_sets(pats) == {
        (("dense_a", 0), ("dense_b", 1)): tuple(range(0, 10)),
        (("dense_a", 0), ("dense_b", 1), ("dense_c", 2)): tuple(range(0, 6)),
        (("dense_a", 2), ("dense_b", 2), ("dense_c", 2)): tuple(range(10, 17)),
    }
    # below the support threshold: a0·b1·c0 (4 images), a1·b0·c2 (4), a1·c2 (4)
    assert all(("dense_a", 1) not in items and ("dense_c", 0) not in items
               for items in as_sets(pats))


def test_all_frequent_patterns_when_not_closed():
    pats = mine_patterns(np.array(DESIGN), "abc", closed=False)
    assert as_sets(pats) == {
        (("a", 0), ("b", 1)): tuple(range(10)),
        (("a", 0), ("c", 2)): tuple(range(6)), (("b", 1), ("c", 2)): tuple(range(6)),
        (("a", 0), ("b", 1), ("c", 2)): tuple(range(6)),
        (("a", 2), ("b", 2)): tuple(range(10, 17)), (("a", 2), ("c", 2)): tuple(range(10, 17)),
        (("b", 2), ("c", 2)): tuple(range(10, 17)),
        (("a", 2), ("b", 2), ("c", 2)): tuple(range(10, 17)),
    }
    # a lower threshold lets the four-image paths in; a length of 3 keeps only full paths
    low = as_sets(mine_patterns(np.array(DESIGN), "abc", min_support=4))
    assert ((("a", 0), ("b", 1), ("c", 0))) in low and (("a", 1), ("b", 0), ("c", 2)) in low
    long = as_sets(mine_patterns(np.array(DESIGN), "abc", min_length=3, closed=False))
    assert set(long) == {(("a", 0), ("b", 1), ("c", 2)), (("a", 2), ("b", 2), ("c", 2))}


def brute_force(paths, min_support, min_length, closed):
    """Every sub-path of every image, counted; closed = no longer one with the same images."""
    found = {}
    n_layers = paths.shape[1]
    for size in range(min_length, n_layers + 1):
        for layers in combinations(range(n_layers), size):
            keys = {tuple((l, int(paths[i, l])) for l in layers) for i in range(len(paths))}
            for key in keys:
                images = tuple(np.flatnonzero(np.all([paths[:, l] == u for l, u in key], axis=0)))
                if len(images) >= min_support:
                    found[key] = images
    if closed:
        found = {k: v for k, v in found.items()
                 if not any(set(k) < set(k2) and v2 == v for k2, v2 in found.items())}
    return found


@pytest.mark.parametrize("closed", [True, False])
def test_mining_matches_brute_force_on_random_paths(closed):
    rng = np.random.default_rng(3)
    # skewed unit choice, as real layers have a few dominant units
    paths = np.stack([rng.choice(4, 300, p=[0.55, 0.25, 0.15, 0.05]) for _ in range(4)], axis=1)
    pats = mine_patterns(paths, closed=closed)
    got = {tuple((int(l), u) for l, u in pats.items(p)): tuple(pats.images(p)) for p in range(len(pats))}
    expected = brute_force(paths, 5, 2, closed)
    assert got == {tuple((int(l), u) for l, u in k): v for k, v in expected.items()}
    assert (pats.support >= 5).all() and (pats.length >= 2).all()
    if closed:  # the package's own closed search agrees
        from prefixspan import PrefixSpan

        codes = (paths + 4 * np.arange(4)).tolist()
        miner = PrefixSpan(codes)
        miner.minlen = 2
        theirs = {tuple((c // 4, c % 4) for c in patt) for _, patt in miner.frequent(5, closed=True)}
        assert theirs == set(got)


def test_an_item_is_a_layer_and_a_unit():
    """Unit 1 in layer a and unit 1 in layer b are different items."""
    paths = np.array([(1, 0, 0)] * 5 + [(0, 1, 0)] * 5)
    pats = mine_patterns(paths, "abc")
    assert as_sets(pats) == {(("a", 1), ("b", 0), ("c", 0)): tuple(range(5)),
                             (("a", 0), ("b", 1), ("c", 0)): tuple(range(5, 10))}


def test_recommendation_returns_the_patterns_containing_the_chosen_images():
    pats = mine_patterns(np.array(DESIGN), "abc")
    by_items = {tuple(pats.items(p)): p for p in range(len(pats))}
    ab, abc = by_items[(("a", 0), ("b", 1))], by_items[(("a", 0), ("b", 1), ("c", 2))]
    other = by_items[(("a", 2), ("b", 2), ("c", 2))]
    assert pats.recommend(images=[3]).tolist() == [abc, ab]          # longest first
    assert pats.recommend(images=3, by="support").tolist() == [ab, abc]
    assert pats.recommend(images=[7]).tolist() == [ab]
    assert pats.recommend(images=[12]).tolist() == [other]
    assert pats.recommend(images=[18]).tolist() == []                # on no frequent path
    # most of the images first; then longest, then most images
    assert pats.recommend(images=[0, 7, 8, 12]).tolist() == [ab, other, abc]
    assert pats.recommend(unit=("b", 1)).tolist() == [abc, ab]
    assert pats.recommend(unit=("c", 2), by="support").tolist() == [other, abc]
    assert pats.recommend(unit=("a", 1)).tolist() == []
    assert pats.recommend(images=[3], unit=("c", 2)).tolist() == [abc]
    with pytest.raises(ValueError, match="layer"):
        pats.recommend(unit=("zz", 0))
    with pytest.raises(ValueError, match="by must be"):
        pats.recommend(images=[3], by="fame")


def test_bad_paths_are_refused_with_a_reason():
    with pytest.raises(ValueError, match="integer"):
        mine_patterns(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="negative"):
        mine_patterns(np.array([[0, -1]]))
    with pytest.raises(ValueError, match="min_support"):
        mine_patterns(np.zeros((3, 2), int), min_support=0)


def test_neuron_projection_puts_correlated_units_together():
    rng = np.random.default_rng(0)
    n = 600
    labels = rng.integers(0, 3, n)
    signal = np.stack([labels == k for k in range(3)], axis=1) * 2.0 + rng.normal(size=(n, 3))
    a = np.repeat(signal, 3, axis=1) + 0.05 * rng.normal(size=(n, 9))  # 3 groups of 3 units
    a = np.concatenate([a, np.full((n, 1), 0.7)], axis=1)              # unit 9: dead
    proj = NeuronProjection(n_neighbors=2).fit(a.astype(np.float32), labels, 3)
    xy = proj.embedding_
    within = max(np.linalg.norm(xy[g * 3] - xy[g * 3 + 1]) for g in range(3))
    between = min(np.linalg.norm(xy[0] - xy[3]), np.linalg.norm(xy[3] - xy[6]))
    assert within < 0.1 * between
    assert proj.dead_.tolist() == [False] * 9 + [True]
    assert proj.preferred_class_.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, -1]
    assert set(proj.neighbors_[4].tolist()) == {3, 5}
    assert 9 not in proj.neighbors_  # a dead unit is nobody's neighbour
    np.testing.assert_allclose(np.diag(proj.correlation_)[:9], 1.0, atol=1e-5)


def test_atlas_on_the_demo_model_matches_channel_means(demo_model, cifar_sample):
    """The one-pass unit means are the architecture view's channel means; the atlas
    survives the cache's plain arrays."""
    from deepling.methods.feature_maps import channel_means

    images = cifar_sample.images[:60]
    atlas = neuron_atlas(demo_model, images, cifar_sample.labels[:60], n_classes=10)
    assert atlas.names == ("conv1a", "conv1b", "conv2a", "conv2b", "conv3a", "conv3b", "fc1", "fc2")
    expected = channel_means(demo_model, images, "conv2b")
    conv2b = atlas.layer("conv2b")
    np.testing.assert_array_equal(atlas.paths[:, 3], expected.argmax(axis=1))
    np.testing.assert_array_equal(conv2b.top_images[:, 0], expected.argmax(axis=0))
    assert conv2b.embedding.shape == (64, 2) and conv2b.class_means.shape == (64, 10)
    assert conv2b.path_counts.sum() == 60
    again = NeuronAtlas.from_arrays(atlas.to_arrays())
    assert as_sets(again.patterns) == as_sets(atlas.patterns)
    assert len(again.patterns) > 0
    np.testing.assert_array_equal(again.layer("fc1").neighbors, atlas.layer("fc1").neighbors)
