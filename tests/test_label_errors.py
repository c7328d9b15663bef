"""Suspicious labels (deepling/projection/label_errors.py): flipped labels rise to the top,
unlabelled data say why they cannot be ranked, the result survives the cache's arrays."""

import numpy as np
import pytest

from deepling.projection.label_errors import LabelErrors, label_errors


@pytest.fixture(scope="module")
def flipped(cifar_test, demo_model):
    # every 25th: 400 images of every class (the local split may be sorted by class)
    x, y = cifar_test.images[::25][:400], cifar_test.labels[::25][:400].copy()
    probs = demo_model.predict_proba(x)
    rng = np.random.default_rng(0)
    # flip 12 images the model gets right (so a wrong label is there to be found)
    right = np.flatnonzero(probs.argmax(1) == y)
    which = rng.choice(right, 12, replace=False)
    y[which] = (y[which] + rng.integers(1, 10, 12)) % 10
    return x, y, probs, which


@pytest.fixture(scope="module")
def ranked(demo_model, flipped):
    """One ranking of the flipped sample, shared by the tests that read it."""
    x, y, probs, _ = flipped
    return label_errors(demo_model, x, y, probabilities=probs, n_top=30)


def test_flipped_labels_rank_first(flipped, ranked):
    x, y, probs, which = flipped
    result = ranked
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


def test_export_carries_the_marks(ranked):
    """CSV and JSON of the ranked list, with the session's marks (the view's export)."""
    import csv
    import io
    import json

    from deepling.web.views.suspicious import export

    result = ranked
    first, second = (int(i) for i in result.top[:2])
    marks = {str(first): "wrong", str(second): "fine"}
    names = [f"class {k}" for k in range(10)]
    table = list(csv.DictReader(io.StringIO(export(result, names, marks, "csv"))))
    assert len(table) == 30 and [r["mark"] for r in table[:3]] == ["wrong", "fine", ""]
    assert table[0]["index"] == str(first) and table[0]["given"].startswith("class ")
    assert len(table[0]["neighbours"].split()) == 10
    doc = json.loads(export(result, names, marks, "json"))
    assert doc["images"][0]["mark"] == "wrong" and doc["notes"] == list(result.notes)


def test_the_view_says_why_it_is_empty():
    """Unlabelled data, too few labels, or classes other than the model's outputs."""
    from types import SimpleNamespace

    from deepling.service.similarity import why_no_labels

    def workspace(labels, n_classes=10, outputs=10):
        ds = SimpleNamespace(labels=np.asarray(labels), n_classes=n_classes)
        model = SimpleNamespace(n_outputs=outputs)
        return SimpleNamespace(dataset=lambda m, d: ds, model=lambda m: model)

    assert "no labels" in why_no_labels(workspace([-1] * 50), "m", "d")
    assert "Only 5" in why_no_labels(workspace([0, 1, 2, 3, 4] + [-1] * 45), "m", "d")
    assert "6 classes" in why_no_labels(workspace(np.arange(60) % 6, n_classes=6), "m", "d")
    assert why_no_labels(workspace(np.arange(60) % 10), "m", "d") is None
