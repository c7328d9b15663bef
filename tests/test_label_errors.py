"""Suspicious labels (deepling/projection/label_errors.py): flipped labels rise to the top,
unlabelled data say why they cannot be ranked, the result survives the cache's arrays."""

import numpy as np
import pytest

from deepling.projection.label_errors import LabelErrors, label_errors


@pytest.fixture(scope="module")
def flipped(cifar_test, demo_model):
    x, y = cifar_test.images[:400], cifar_test.labels[:400].copy()
    probs = demo_model.predict_proba(x)
    rng = np.random.default_rng(0)
    # flip 12 images the model gets right (so a wrong label is there to be found)
    right = np.flatnonzero(probs.argmax(1) == y)
    which = rng.choice(right, 12, replace=False)
    y[which] = (y[which] + rng.integers(1, 10, 12)) % 10
    return x, y, probs, which


def test_flipped_labels_rank_first(demo_model, flipped):
    x, y, probs, which = flipped
    result = label_errors(demo_model, x, y, probabilities=probs, n_top=30)
    head = result.order[:24]
    assert len(np.intersect1d(head, which)) >= 9          # most of the 12 among the top 24
    assert result.layer_names[-1] == "fc2"                 # penultimate: before the classifier
    assert result.neighbours.shape == (30, 10)
    assert not (result.neighbours == result.top[:, None]).any()  # never its own neighbour
    # a flipped image the model is sure of moved into its (true) class's neighbourhood
    rank = {int(i): r for r, i in enumerate(result.top)}
    moved = [rank[i] for i in which if i in rank and result.moved_layer[rank[i]] >= 0]
    assert moved and all(result.moved_to[r] != y[result.top[r]] for r in moved)
    row = result.rows(1, [str(k) for k in range(10)])[0]
    assert set(row) >= {"index", "given", "predicted", "score", "moved_at", "neighbours"}
    again = LabelErrors.from_arrays(result.to_arrays())
    assert np.array_equal(again.order, result.order) and again.layer_names == result.layer_names


def test_unlabelled_data_say_why(demo_model, flipped):
    x = flipped[0][:50]
    with pytest.raises(ValueError, match="no labels"):
        label_errors(demo_model, x, np.full(50, -1))
