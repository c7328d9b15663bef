"""Testing view: confidence embedding, explanation panels, robustness aggregation and figure.

The methods themselves (Grad-CAM, robustness_curves…) are tested in their own modules;
here: what the view computes from them and shows. The last tests drive the real app.
"""

import numpy as np
import pytest

from deepling.evaluation import image_robustness, simulate_robustness, stratified_sample
from deepling.methods import AUGMENTATIONS, spatial_layers
from deepling.projection import penultimate_layer
from deepling.service.cache import ArrayCache
from deepling.service.explanations import (
    EMBED_MAX,
    compute_embedding,
    embedding_indices,
    explain_image,
)
from deepling.service.robustness import cached_robustness, run_robustness
from deepling.service.selection import choose_images
from deepling.web.views import testing as view


@pytest.fixture(scope="module")
def fitted(demo_model, cifar_sample):
    return demo_model.fit_dataset(cifar_sample)


@pytest.fixture(scope="module")
def small(fitted):
    """30 images, 3 per class."""
    idx = stratified_sample(fitted.labels, 30, seed=0)
    return fitted.images[idx], fitted.labels[idx]


def test_penultimate_layer_skips_dropout_and_a_separate_softmax(demo_model):
    import keras
    from keras import layers

    assert penultimate_layer(demo_model.model) == "fc2" == penultimate_layer(demo_model)
    inputs = keras.Input((8, 8, 3))
    x = layers.Flatten(name="flat")(inputs)
    x = layers.Dense(16, name="features")(x)
    x = layers.Dropout(0.5, name="drop")(x)
    x = layers.Dense(3, name="logits")(x)
    model = keras.Model(inputs, layers.Softmax(name="probs")(x))
    assert penultimate_layer(model) == "features"
    assert spatial_layers(demo_model.model)[-1] == "pool3"
    assert "fc1" not in spatial_layers(demo_model.model)


def test_simulation_at_magnitude_zero_equals_the_unaugmented_probabilities(demo_model, small):
    images, labels = small
    calls = []
    arrays = simulate_robustness(demo_model, images, labels, batch_size=32,
                                 progress=lambda f, m: calls.append(f))
    p_true = demo_model.predict_proba(images, batch_size=32)[np.arange(len(labels)), labels]
    by_class = np.array([p_true[labels == k].mean() for k in range(10)])
    for name, aug in AUGMENTATIONS.items():
        mags = arrays[f"{name}/magnitudes"]
        assert mags.tolist() == list(aug.grid)
        zero = int(np.flatnonzero(mags == 0)[0])
        np.testing.assert_allclose(arrays[f"{name}/per_class"][:, zero], by_class, rtol=1e-5)
        assert arrays[f"{name}/mean"][zero] == pytest.approx(p_true.mean(), rel=1e-5)
        assert arrays[f"{name}/per_class"].shape == (10, len(mags))
    assert arrays["counts"].tolist() == [3] * 10
    # the strongest FGSM step hurts: the curves mean something
    assert arrays["fgsm/mean"][-1] < arrays["fgsm/mean"][0]
    assert calls == sorted(calls) and calls[-1] == pytest.approx(1.0)


def test_run_robustness_samples_by_class_caches_and_serialises():
    from deepling.service.config import Config
    from deepling.service.workspace import Workspace

    ws = Workspace(Config(model=None, data="cifar10"))
    m, d = ws.default_model_id, ws.default_data_id
    assert cached_robustness(ws, m, d, 20) is None
    arrays = run_robustness(ws, m, d, 20)
    labels = ws.dataset(m, d).labels[arrays["indices"]]
    assert np.bincount(labels, minlength=10).tolist() == [2] * 10
    again = cached_robustness(ws, m, d, 20)
    np.testing.assert_array_equal(again["rotation/per_class"], arrays["rotation/per_class"])
    result = view.robustness_json(arrays)
    assert result["n"] == 20 and [a["name"] for a in result["augs"]] == list(AUGMENTATIONS)
    assert len(result["augs"][0]["per_class"]) == 10


def test_robustness_json_turns_a_class_without_images_into_gaps():
    arrays = {"rotation/magnitudes": np.array([0.0, 10.0]),
              "rotation/per_class": np.array([[0.9, 0.5], [np.nan, np.nan]]),
              "rotation/mean": np.array([0.9, 0.5]), "rotation/accuracy": np.array([1.0, 0.5]),
              "counts": np.array([4, 0]), "indices": np.arange(4)}
    result = view.robustness_json(arrays)
    assert result["augs"][0]["per_class"] == [[0.9, 0.5], [None, None]]
    fig = view.robustness_figure(result, None, ["a", "b"])
    names = [t.name for t in fig.data]
    assert names == ["a", "all classes"]  # no line for the empty class


def test_image_robustness_at_zero_is_the_models_probability(demo_model, fitted):
    image, label = fitted.images[7], int(fitted.labels[7])
    p = float(demo_model.predict_proba(image[None])[0, label])
    curves = image_robustness(demo_model, image, label)
    assert set(curves) == set(AUGMENTATIONS)
    for name, c in curves.items():
        zero = c["magnitudes"].index(0)
        assert c["probability"][zero] == pytest.approx(p, rel=1e-5), name


def test_embedding_follows_the_animation_choice_or_samples():
    labels = np.repeat(np.arange(10), 600)
    predicted = labels.copy()
    def chosen(choice):
        return choose_images(labels, predicted, choice)

    idx, source = embedding_indices(labels, chosen({"mode": "classes", "classes": [2, 4], "count": 7}))
    assert len(idx) == 14 and set(labels[idx]) == {2, 4} and "animation" in source
    idx, source = embedding_indices(labels, None)  # no choice, or one that is not valid
    assert len(idx) == 500 and np.bincount(labels[idx]).tolist() == [50] * 10 and "sample" in source
    idx, source = embedding_indices(labels, chosen({"mode": "random", "count": 5000}))
    assert len(idx) == EMBED_MAX and len(set(idx)) == EMBED_MAX and f"{EMBED_MAX:,} of" in source


def test_embedding_figure_makes_unsure_points_stand_out(demo_model, fitted, tmp_path):
    images = fitted.images[:60]
    store = ArrayCache("projections", tmp_path)
    layer, raw = compute_embedding(store, demo_model, images)
    xy = view.fit_embedding(raw)
    assert compute_embedding(store, demo_model, images)[1].tolist() == raw.tolist()  # cached
    assert len(list(store.dir.glob("*.npz"))) == 1
    assert layer == "fc2" and xy.shape == (60, 2) and np.isfinite(xy).all()
    probs = demo_model.predict_proba(images)
    conf, pred = probs.max(1), probs.argmax(1)
    fig = view.embedding_figure(xy, np.arange(60), fitted.labels[:60], pred, conf,
                                fitted.class_names, focus=5)
    sizes, confs = [], []
    for trace in fig.data[:-1]:
        sizes += list(trace.marker.size)
        confs += [c[1] for c in trace.customdata]
    order = np.argsort(confs)
    assert np.all(np.diff(np.array(sizes)[order]) <= 1e-9)  # less confident → larger
    ring = fig.data[-1]
    assert (ring.x[0], ring.y[0]) == (pytest.approx(xy[5, 0]), pytest.approx(xy[5, 1]))


def test_explanation_row_shows_image_and_three_maps(demo_model, fitted):
    image = fitted.images[3]
    maps, probs = explain_image(demo_model, image, None, None)
    assert probs.shape == (10,) and maps["saliency"].target == int(probs.argmax())
    assert {m.method for m in maps.values()} == {"gradcam", "saliency", "occlusion"}
    row = view.explanation_row("image #3", image, maps, fitted.class_names, "true cat")
    kinds = [p.to_plotly_json()["props"].get("data-method") for p in row.children]
    assert kinds == ["image", "gradcam", "saliency", "occlusion"]
    picture, scale = view.overlay(image, maps["occlusion"].heatmap, "occlusion")
    assert picture.shape == (160, 160, 3) and picture.dtype == np.uint8
    assert scale == pytest.approx(float(np.abs(maps["occlusion"].heatmap).max()))
    # a dense layer cannot be explained by Grad-CAM: that panel says so, the others stand
    maps, _ = explain_image(demo_model, image, "fc1", None)
    assert isinstance(maps["gradcam"], ValueError) and "spatial" in str(maps["gradcam"])
    assert maps["saliency"].heatmap.shape == (32, 32)


def test_colour_maps_run_from_dark_to_bright_and_blue_to_red():
    ramp = view.colorize(np.linspace(0, 1, 5), view._INFERNO)
    assert np.all(np.diff(ramp.sum(axis=1)) > 0)
    div = view.colorize(np.array([0.0, 0.5, 1.0]), view._DIVERGING)
    assert div[0, 2] > div[0, 0] and div[2, 0] > div[2, 2] and div[1].min() > 230


def test_describe_whatif():
    spec = {"edits": {"rotate": 15.0, "brightness": {"factor": 1.2},
                      "occlude": {"x": 3, "y": 4, "size": 8, "fill": "gray"}}, "fgsm": 4.0}
    assert view.describe_whatif(spec) == "rotate 15, brightness factor 1.2, occlude size 8, FGSM ε 4"


# --- in the browser ---------------------------------------------------------------------------
@pytest.mark.browser
def test_clicking_the_embedding_focuses_and_explains_that_image(app_url, driver):
    from selenium.webdriver.common.action_chains import ActionChains

    from tests.browser import console_errors, wait_for

    driver.get(app_url + "/?mode=classes&classes=0,1&count=15")
    graph = "document.querySelector('#test-embed .js-plotly-plot')"
    wait_for(driver, f"return {graph} && {graph}._fullData && {graph}._fullData.length > 1 && "
                     f"document.getElementById('test-embed-caption').innerText.includes('30 images')",
             timeout=180, message="the embedding of the animation's 30 images")
    # the most isolated point, so the click cannot land on a neighbour
    gd = driver.execute_script(f"return {graph}")
    index, x, y, w, h = driver.execute_script("""
        const gd = arguments[0], L = gd._fullLayout, pts = [];
        gd._fullData.slice(0, -1).forEach((t) => Array.from(t.x).forEach((x, j) =>
            pts.push([t.customdata[j][0], L.xaxis._offset + L.xaxis.l2p(x), L.yaxis._offset + L.yaxis.l2p(t.y[j])])));
        let best = null, far = -1;
        for (const p of pts) {
            let near = Infinity;
            for (const q of pts) if (q !== p) near = Math.min(near, Math.hypot(p[1] - q[1], p[2] - q[2]));
            if (near > far) { far = near; best = p; }
        }
        const r = gd.getBoundingClientRect();
        return [best[0], best[1], best[2], r.width, r.height];""", gd)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", gd)
    ActionChains(driver).move_to_element_with_offset(gd, int(x - w / 2), int(y - h / 2)).click().perform()
    wait_for(driver, f"return document.getElementById('test-explain').innerText.includes('image #{int(index)}')",
             timeout=120, message=f"the explanations of image #{int(index)}")
    methods = driver.execute_script(
        "return Array.from(document.querySelectorAll('#test-explain [data-method]'), (f) => f.dataset.method)")
    assert methods[:4] == ["image", "gradcam", "saliency", "occlusion"]
    assert console_errors(driver) == []


@pytest.mark.browser
def test_robustness_simulation_runs_in_the_background_with_progress(app_url, driver):
    from tests.browser import console_errors, wait_for

    driver.get(app_url + "/?mode=classes&classes=0,1&count=5")
    wait_for(driver, "return document.getElementById('test-robust-status') && "
                     "document.getElementById('test-robust-status').innerText.includes('Not run yet')",
             timeout=120, message="the simulation's 'not run yet' note")
    driver.execute_script("""const s = document.getElementById('test-robust-size');
        const set = Object.getOwnPropertyDescriptor(HTMLSelectElement.prototype, 'value').set;
        set.call(s, '200'); s.dispatchEvent(new Event('change', {bubbles: true}));""")
    wait_for(driver, "return document.getElementById('test-robust-status').innerText.includes('200 images')",
             message="the note for 200 images")
    driver.execute_script("document.getElementById('test-robust-run').click()")
    wait_for(driver, """const b = document.getElementById('test-robust-progress');
        return !b.className.includes('dl-test-hidden') &&
               /\\(\\d\\/6\\)|starting|waiting/.test(document.getElementById('test-robust-status').innerText);""",
             timeout=30, message="a visible progress bar")
    wait_for(driver, "return document.getElementById('test-robust-status').innerText.includes('200 test images')",
             timeout=300, message="the simulation to finish")
    names = wait_for(driver, """const gd = document.querySelector('#test-robust-graph .js-plotly-plot');
        const names = gd.data.map((t) => t.name);
        return names.includes('all classes') && names;""", timeout=60, message="the curves drawn")
    assert names.count("all classes") == len(AUGMENTATIONS)
    assert sum(n == "cat" for n in names) == len(AUGMENTATIONS)
    assert console_errors(driver) == []
