"""Deletion/insertion curves against a plain loop, the method ranking's bookkeeping, and
the cascading-randomisation sanity check on a tiny model."""

import numpy as np
import pytest

from deepling.methods import gradcam_plus, saliency
from deepling.methods.faithfulness import deletion_insertion, rank_methods
from deepling.methods.sanity import cascading_randomization, weighted_layers


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(2).integers(0, 256, (4, 8, 8, 3)).astype(np.uint8)


def _probs(model, x):
    z = np.asarray(model(np.asarray(x, np.float32), training=False))
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def test_deletion_and_insertion_follow_a_plain_loop(tiny_cam_model, images):
    from scipy.ndimage import gaussian_filter

    model, img = tiny_cam_model.model, images[0]
    attr = saliency(tiny_cam_model, img, target=2)
    curves = deletion_insertion(tiny_cam_model, img, attr, steps=8)
    assert curves.target == 2 and curves.deletion_baseline == "black"
    order = np.argsort(-attr.heatmap.ravel(), kind="stable")
    blurred = gaussian_filter(img.astype(np.float32), sigma=(1, 1, 0), mode="nearest")
    dele, ins = [], []
    for k in range(9):
        top = np.zeros(64, bool)
        top[order[:round(k / 8 * 64)]] = True
        top = top.reshape(8, 8, 1)
        dele.append(np.where(top, 0.0, img))
        ins.append(np.where(top, img, blurred))
    np.testing.assert_allclose(curves.deletion, _probs(model, dele)[:, 2], rtol=1e-4)
    np.testing.assert_allclose(curves.insertion, _probs(model, ins)[:, 2], rtol=1e-4)
    assert curves.deletion_auc == pytest.approx(np.trapezoid(curves.deletion, np.linspace(0, 1, 9)))
    assert curves.insertion[-1] == pytest.approx(_probs(model, img[None])[0, 2], rel=1e-4)


def test_ranking_covers_every_method_and_image(tiny_cam_model, images):
    seen = []
    ranking = rank_methods(tiny_cam_model, images, methods=["saliency", "gradcam_plus", "rise"],
                           steps=4, batch_size=2, params={"rise": {"masks": 30}},
                           progress=lambda f, msg: seen.append(f))
    assert sorted(ranking.methods) == ["gradcam_plus", "rise", "saliency"]
    assert ranking.insertion.shape == ranking.deletion.shape == (3, 4)
    rows = ranking.table()
    diffs = [r["difference"] for r in rows]
    assert diffs == sorted(diffs, reverse=True)  # best first
    assert sorted(r["insertion_rank"] for r in rows) == [1, 2, 3]
    # once per batch of each method, once more per image inside RISE's batches (it is slow
    # enough per image that a cancel must not wait for the batch), and the end; never back
    assert seen[-1] == 1.0 and len(seen) == 3 * 2 + 4 + 1
    assert seen == sorted(seen)
    one = deletion_insertion(tiny_cam_model, images[1], gradcam_plus(tiny_cam_model, images[1]), steps=4)
    k = ranking.methods.index("gradcam_plus")
    assert ranking.insertion[k, 1] == pytest.approx(one.insertion_auc, rel=1e-5)


def test_sanity_check_randomises_a_copy_from_the_top(tiny_cam_model, images):
    before = [w.copy() for w in tiny_cam_model.model.get_weights()]
    check = cascading_randomization(tiny_cam_model, images[0], methods=["saliency", "guided_backprop"],
                                    seed=1)
    assert check.steps == ["original"] + weighted_layers(tiny_cam_model.model) == \
        ["original", "logits", "conv"]
    for w0, w1 in zip(before, tiny_cam_model.model.get_weights()):
        np.testing.assert_array_equal(w0, w1)  # the user's model is untouched
    for name in ("saliency", "guided_backprop"):
        assert check.maps[name].shape == (3, 8, 8)
        assert check.correlations[name][0] == pytest.approx(1.0)
        # Every weight re-drawn: the map no longer matches the original's ranking.
        assert check.correlations[name][-1] < 0.9, name


def test_testing_view_draws_the_ranking_curves_and_sanity_check():
    from deepling.methods.faithfulness import MethodRanking
    from deepling.web.views import testing as view

    rng = np.random.default_rng(0)
    ranking = MethodRanking(["rise", "saliency"], rng.random((2, 5)), rng.random((2, 5)),
                            np.array([1.0, 0.1]), 5, 4)
    import json

    import plotly

    def dump(component):
        return json.dumps(component, cls=plotly.utils.PlotlyJSONEncoder, ensure_ascii=False)

    text = dump(view.ranking_view(ranking))
    assert "RISE" in text and "Saliency" in text and '"data-method": "rise"' in text
    fr = np.linspace(0, 1, 5)
    curve = {"fractions": fr, "deletion": 1 - fr, "insertion": fr, "deletion_auc": 0.5, "insertion_auc": 0.5}
    fig = view.curves_figure([("image", {"gradcam": curve}), ("edited", {"gradcam": curve})])
    assert len(fig.data) == 4 and fig.data[2].line.dash == "dash"
    arrays = {"steps": np.array(["original", "logits"]), "methods": np.array(["integrated_gradients"]),
              "integrated_gradients/maps": rng.random((2, 8, 8)).astype(np.float32),
              "integrated_gradients/correlations": np.array([1.0, np.nan])}
    body = dump(view.sanity_view(arrays, rng.integers(0, 255, (8, 8, 3)).astype(np.uint8)))
    assert "ρ 1.00" in body and "after logits" in body


def test_ranking_plot_keeps_close_labels_apart():
    """Methods of nearly equal areas (the CAM family) get different label positions."""
    from deepling.methods.faithfulness import _label_places

    places = _label_places([0.20, 0.201, 0.202, 0.30], [0.63, 0.631, 0.629, 0.45])
    assert len(set(places[:3])) == 3 and places[0] == "top center"
