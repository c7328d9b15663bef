"""What the server sends the layer view, and how a choice of images is made."""

import json

import numpy as np
import pytest

from deepling.web.views.animation import layouts_csv
from deepling.projection import LayerSequence
from deepling.service.selection import choose_images, from_query, normalise, to_query
from deepling.web.wire import dequantise, fit_view, quantise, sequence_payload, unb64


def _sequence(n_layers=12, n=10_000, seed=0):
    rng = np.random.default_rng(seed)
    layouts = rng.uniform(-1, 1, (n_layers, n, 2)).astype(np.float32)
    t = n_layers - 1
    return LayerSequence(
        names=tuple(f"layer{i}" for i in range(n_layers)), types=("Conv2D",) * n_layers,
        shapes=((8, 8, 16),) * n_layers, layouts=layouts, collapsed=np.zeros(n_layers, bool),
        mirrored=np.arange(t) % 2 == 0, rotation_deg=np.full(t, 10.0),
        residual_before=np.full(t, 0.5), residual_after=np.r_[np.nan, np.full(t - 1, 0.2)],
        residual_alternative=np.full(t, 0.6))


def test_payload_is_compact_typed_arrays():
    seq = _sequence()
    n = seq.n_images
    labels = np.arange(n) % 10
    payload = sequence_payload(seq, np.arange(n), labels, (labels + 1) % 10,
                               np.linspace(0, 1, n), [str(k) for k in range(10)], "demo/default")
    text = json.dumps(payload)  # must be valid JSON: no NaN, no numpy types
    # 12 layers × 10,000 points × 2 coordinates at 2 bytes, base64: ~0.64 MB, not ~5 MB of floats
    assert len(text) < 12 * n * 2 * 2 * 1.4 + 200_000
    assert isinstance(payload["positions"], str)
    back = dequantise(unb64(payload["positions"], "<u2")).reshape(seq.layouts.shape)
    # points travel in a shuffled order; their dataset indices say which is which
    order = unb64(payload["indices"], "<i4")
    assert sorted(order) == list(range(n)) and (order[:100] != np.arange(100)).any()
    assert np.abs(back - fit_view(seq.layouts)[:, order]).max() < 2.0 / 65535
    np.testing.assert_array_equal(unb64(payload["labels"], np.uint16), labels[order])
    assert payload["layers"][1]["mirrored"] is True and payload["layers"][2]["mirrored"] is False
    assert payload["layers"][1]["residualAfter"] is None  # NaN becomes null
    assert "mirrored" not in payload["layers"][0]


def test_quantise_clips_to_viewport():
    q = quantise(np.array([-2.0, -1.0, 0.0, 1.0, 3.0]))
    assert q.dtype == np.dtype("<u2") and q[0] == 0 and q[-1] == 65535
    assert abs(dequantise(q)[2]) < 1e-4


def test_choose_images_modes():
    labels = np.repeat(np.arange(10), 100)
    predicted = labels.copy()
    predicted[::7] = (predicted[::7] + 1) % 10
    cats_dogs = choose_images(labels, predicted, {"mode": "classes", "classes": [3, 5], "count": 5})
    assert len(cats_dogs) == 10 and set(labels[cats_dogs]) == {3, 5}
    again = choose_images(labels, predicted, {"mode": "classes", "classes": [5, 3], "count": 5})
    np.testing.assert_array_equal(cats_dogs, again)  # reproducible, order-free
    wrong = choose_images(labels, predicted, {"mode": "misclassified", "count": 10_000})
    assert len(wrong) == (predicted != labels).sum() and (predicted[wrong] != labels[wrong]).all()
    assert len(choose_images(labels, predicted, {"mode": "random", "count": 300})) == 300


def test_choice_errors_are_clear():
    labels = np.repeat(np.arange(3), 4)
    with pytest.raises(ValueError, match="class 7 does not exist"):
        choose_images(labels, labels, {"mode": "classes", "classes": [7]})
    with pytest.raises(ValueError, match="mode must be one of"):
        normalise({"mode": "everything"}, 3)
    with pytest.raises(ValueError, match="fewer than 2 images"):
        choose_images(labels, labels, {"mode": "misclassified"})
    with pytest.raises(ValueError, match="count must be between"):
        normalise({"count": 0}, 3)


def test_url_round_trip():
    choice = normalise({"mode": "classes", "classes": [3, 5], "count": 5}, 10)
    query = to_query(choice, layer="conv2b")
    back = from_query(query)
    assert back["layer"] == "conv2b"
    assert normalise(back, 10) == choice
    assert from_query("?classes=a,3&count=x") == {"classes": [3]}


def test_csv_export_has_a_row_per_image_and_layer():
    seq = _sequence(n_layers=3, n=4)
    text = layouts_csv(seq, np.array([10, 11, 12, 13]), np.array([0, 1, 0, 1]),
                       np.array([0, 0, 0, 1]), ["cat", "dog"])
    rows = text.strip().splitlines()
    assert rows[0].startswith("layer_index,layer,image_index") and len(rows) == 1 + 3 * 4
    assert rows[2].split(",")[:5] == ["0", "layer0", "11", "dog", "cat"]


def test_confusion_cell_choice():
    labels = np.repeat(np.arange(3), 10)
    predicted = labels.copy()
    predicted[:4] = 2  # four class-0 images taken for class 2
    choice = normalise(from_query("?mode=cell&true=0&predicted=2&count=50"), 3)
    idx = choose_images(labels, predicted, choice)
    np.testing.assert_array_equal(idx, [0, 1, 2, 3])
    assert normalise(from_query(to_query(choice)), 3) == choice
    with pytest.raises(ValueError, match="needs 'predicted'"):
        normalise({"mode": "cell", "true": 0}, 3)


def test_view_fits_the_bulk_and_keeps_far_points_inside_in_order():
    rng = np.random.default_rng(1)
    frames = rng.normal(scale=0.05, size=(4, 1000, 2)) * np.array([1, 1, 3, 0])[:, None, None]
    frames[1, :5] = [[0.9, 0.0], [0.0, -0.95], [0.7, 0.7], [0.3, 0.0], [0.5, 0.0]]  # far points
    fitted = fit_view(frames)
    r_in, r_out = np.hypot(*frames.transpose(2, 0, 1)), np.hypot(*fitted.transpose(2, 0, 1))
    for f in range(3):
        # each frame's bulk: one scale factor, and it now fills most of the view
        bulk = r_in[f] <= np.quantile(r_in[f], 0.99)
        factors = r_out[f][bulk] / r_in[f][bulk]
        assert np.ptp(factors) < 1e-4 * factors.mean() and 0.8 < r_out[f][bulk].max() <= 0.85 + 1e-6
    assert (fitted[3] == 0).all()  # a collapsed frame stays in the centre
    # far points: inside the view, directions kept, order of radii kept
    assert r_out.max() < 1.0
    far = frames[1, :5]
    np.testing.assert_allclose(fitted[1, :5] / r_out[1, :5, None], far / r_in[1, :5, None], atol=1e-5)
    assert (np.argsort(r_out[1, :5]) == np.argsort(r_in[1, :5])).all()
