"""Scores, confusion matrix, grid filters and the stratified sample (deepling.evaluation)."""

import numpy as np
import pytest

from deepling.evaluation import (
    cell_indices,
    confusion_matrix,
    filter_images,
    scores,
    stratified_sample,
)


def random_predictions(n=1000, k=7, seed=0, unknown=0.05):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    # right 60% of the time, so the matrix has a diagonal and off-diagonal mass
    predicted = np.where(rng.random(n) < 0.6, labels, rng.integers(0, k, n))
    labels[rng.random(n) < unknown] = -1
    confidence = rng.uniform(1 / k, 1, n)
    return labels, predicted, confidence


def test_confusion_matrix_sums_to_labelled_images_and_matches_a_direct_count():
    labels, predicted, _ = random_predictions()
    cm = confusion_matrix(labels, predicted, 7)
    assert cm.shape == (7, 7)
    assert cm.sum() == (labels >= 0).sum()
    direct = np.zeros((7, 7), int)
    for t, p in zip(labels, predicted):
        if t >= 0:
            direct[t, p] += 1
    np.testing.assert_array_equal(cm, direct)


def test_confusion_matrix_of_the_demo_model_on_cifar(demo_model, cifar_sample):
    ds = demo_model.fit_dataset(cifar_sample)
    predicted = demo_model.predict_proba(ds.images).argmax(1)
    cm = confusion_matrix(ds.labels, predicted, 10)
    assert cm.sum() == len(ds) == 200
    assert cm.sum(axis=1).tolist() == [20] * 10  # rows are true classes
    np.testing.assert_array_equal(cm.sum(axis=0), np.bincount(predicted, minlength=10))
    assert np.trace(cm) == (predicted == ds.labels).sum()


def test_scores_agree_with_the_matrix():
    labels, predicted, _ = random_predictions(seed=1)
    s = scores(labels, predicted, 7)
    known = labels >= 0
    assert s.n_labelled == known.sum() and s.n_unlabelled == (~known).sum()
    assert s.accuracy == pytest.approx((labels[known] == predicted[known]).mean())
    for k in range(7):
        mine = labels == k
        assert s.recall[k] == pytest.approx((predicted[mine] == k).mean())
        said = known & (predicted == k)
        assert s.precision[k] == pytest.approx((labels[said] == k).mean())
    assert s.support.tolist() == np.bincount(labels[known], minlength=7).tolist()
    assert s.balanced_accuracy == pytest.approx(s.recall.mean())


def test_a_class_that_never_occurs_has_nan_scores_not_an_error():
    labels = np.array([0, 0, 1, 1])
    predicted = np.array([0, 1, 1, 1])
    s = scores(labels, predicted, 3)
    assert s.confusion[2].sum() == 0 and np.isnan(s.recall[2]) and np.isnan(s.precision[2])
    assert s.balanced_accuracy == pytest.approx((0.5 + 1.0) / 2)


def test_unlabelled_data_has_no_accuracy():
    s = scores(np.full(5, -1), np.zeros(5, int), 2)
    assert np.isnan(s.accuracy) and s.confusion.sum() == 0 and s.n_unlabelled == 5


@pytest.mark.parametrize("labels, predicted, message", [
    ([0, 1], [0], "2 labels but 1 predictions"),
    ([0, 5], [0, 1], "Labels must be"),
    ([0, 1], [0, 3], "Predicted classes must be"),
])
def test_bad_input_says_what_is_wrong(labels, predicted, message):
    with pytest.raises(ValueError, match=message):
        confusion_matrix(labels, predicted, 3)


def test_cell_indices_are_the_cell():
    labels, predicted, _ = random_predictions(seed=2)
    cm = confusion_matrix(labels, predicted, 7)
    for t, p in [(0, 0), (2, 5), (6, 1)]:
        idx = cell_indices(labels, predicted, t, p)
        assert len(idx) == cm[t, p]
        assert (labels[idx] == t).all() and (predicted[idx] == p).all()
        assert (np.diff(idx) > 0).all()


def test_filter_images_filters_and_sorts_least_confident_first():
    labels, predicted, confidence = random_predictions(seed=3)
    idx = filter_images(labels, predicted, confidence, true=2, errors_only=True,
                        confidence_range=(0.3, 0.8))
    expected = np.flatnonzero((labels == 2) & (predicted != 2) & (confidence >= 0.3) & (confidence <= 0.8))
    assert sorted(idx.tolist()) == expected.tolist()
    assert (np.diff(confidence[idx]) >= 0).all()
    desc = filter_images(labels, predicted, confidence, pred=4, sort="confidence-desc")
    assert (predicted[desc] == 4).all() and (np.diff(confidence[desc]) <= 0).all()
    assert filter_images(labels, predicted, confidence, sort="index").tolist() == list(range(len(labels)))


def test_errors_only_never_counts_unlabelled_images_as_errors():
    labels, predicted = np.array([-1, 0, 1]), np.array([1, 1, 1])
    idx = filter_images(labels, predicted, np.full(3, 0.5), errors_only=True)
    assert idx.tolist() == [1]
    with pytest.raises(ValueError, match="sort must be"):
        filter_images(labels, predicted, np.full(3, 0.5), sort="random")


def test_stratified_sample_is_balanced_repeatable_and_fills_from_other_classes():
    labels = np.repeat(np.arange(4), [500, 500, 500, 30])
    labels = np.random.default_rng(0).permutation(np.concatenate([labels, [-1] * 20]))
    idx = stratified_sample(labels, 400, seed=1)
    counts = np.bincount(labels[idx], minlength=4)
    assert len(idx) == 400 and (labels[idx] >= 0).all()
    assert counts[3] == 30  # the small class gives all it has...
    assert counts[:3].max() - counts[:3].min() <= 1  # ...and the others share the rest evenly
    assert np.array_equal(idx, stratified_sample(labels, 400, seed=1))
    assert not np.array_equal(idx, stratified_sample(labels, 400, seed=2))
    assert len(stratified_sample(labels, 10**6)) == (labels >= 0).sum()


def test_stratified_sample_needs_labels():
    with pytest.raises(ValueError, match="No image has a label"):
        stratified_sample(np.full(10, -1), 5)


def test_filter_images_among_a_pick_keeps_only_the_picked():
    labels, predicted, confidence = random_predictions()
    picked = np.array([5, 17, 17, 400, 999, 5000, -3])  # duplicates and out-of-range ignored
    idx = filter_images(labels, predicted, confidence, among=picked, sort="index")
    assert idx.tolist() == [5, 17, 400, 999]
    wrong = filter_images(labels, predicted, confidence, among=picked, errors_only=True, sort="index")
    assert set(wrong) <= {5, 17, 400, 999}
    assert all(labels[i] >= 0 and labels[i] != predicted[i] for i in wrong)
    assert filter_images(labels, predicted, confidence, among=[]).tolist() == []
