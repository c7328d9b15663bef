"""The comparison view: a second model on the same images, one slider driving both."""

import json

import keras
import numpy as np
import pytest
from keras import layers

from tests.browser import console_errors, drawn_pixels, make_driver, quit_driver, running_app, wait_for

pytestmark = pytest.mark.browser

@pytest.fixture(scope="module")
def compare_app(tmp_path_factory, cifar_sample):
    """The app on a small second CNN and 60 images; the demo CNN is the other model."""
    folder = tmp_path_factory.mktemp("compare")
    keras.utils.set_random_seed(0)
    inp = keras.Input((32, 32, 3))
    x = layers.Conv2D(6, 3, activation="relu", name="small_conv")(layers.Rescaling(1 / 255.0)(inp))
    x = layers.Dense(16, activation="relu", name="hidden")(layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inp, layers.Dense(10, activation="softmax", name="probs")(x))
    model.save(folder / "small.keras")
    pick = np.concatenate([np.flatnonzero(cifar_sample.labels == k)[:6] for k in range(10)])
    np.savez(folder / "sample.npz", x=cifar_sample.images[pick], y=cifar_sample.labels[pick],
             class_names=np.array(cifar_sample.class_names))
    with running_app("--model", str(folder / "small.keras"), "--data", str(folder / "sample.npz")) as url:
        yield url


def test_two_models_side_by_side_with_one_slider(compare_app):
    driver = make_driver()
    try:
        driver.get(compare_app + "/?model=default&data=default&compare=demo")
        wait_for(driver, "return !!(window.Deepling.compareView && window.Deepling.compareView.linked)",
                 timeout=180, message="both animations mounted")
        assert driver.execute_script(
            "return document.querySelector('#page-tabs .nav-link.active').innerText") == "Compare models"
        assert "compare=demo" in driver.current_url  # the link to this comparison
        n = driver.execute_script("""const l = window.Deepling.compareView.linked;
            return [l.data[0].n, l.data[1].n, l.data[0].nLayers, l.data[1].nLayers,
                    l.scatters.map(s => s.webgl)]""")
        assert n[0] == n[1] == 60 and n[2] < n[3] and all(n[4])  # same images, different depths
        for k in (0, 1):
            ink = drawn_pixels(driver, f"window.Deepling.compareView.linked.scatters[{k}]")
            assert ink > 100, f"panel {k} looks blank ({ink} drawn pixels)"

        # one slider drives both, by relative depth
        before = driver.execute_script(
            "return window.Deepling.compareView.linked.scatters.map(s => s.screenPosition(0))")
        driver.execute_script("""const s = document.getElementById('cmp-slider');
            s.value = '0.5'; s.dispatchEvent(new Event('input'));""")
        layers_now, after = driver.execute_script("""const l = window.Deepling.compareView.linked;
            return [l.scatters.map(s => s.getLayer()), l.scatters.map(s => s.screenPosition(0))]""")
        assert layers_now[0] == pytest.approx(0.5 * (n[2] - 1))
        assert layers_now[1] == pytest.approx(0.5 * (n[3] - 1))
        for k in (0, 1):
            assert np.hypot(after[k][0] - before[k][0], after[k][1] - before[k][1]) > 1

        # the matrices: B − A is the difference of the two, and sums to zero
        z = driver.execute_script("""return ['cmp-cm-a', 'cmp-cm-b', 'cmp-cm-diff'].map(id =>
            JSON.stringify(document.querySelector('#' + id + ' .js-plotly-plot').data[0].z))""")
        cm_a, cm_b, diff = (np.array(json.loads(m)) for m in z)
        assert cm_a.sum() == cm_b.sum() == 60
        np.testing.assert_array_equal(diff, cm_b - cm_a)
        assert diff.sum() == 0

        # a disagreement is clickable: it becomes the image in focus
        tile = wait_for(driver, "return document.querySelector('[id*=cmp-tile]')", timeout=30)
        index = json.loads(tile.get_attribute("id"))["index"]
        driver.execute_script("arguments[0].click()", tile)
        wait_for(driver, f"return document.getElementById('focus-image').innerText.includes('#{index}')",
                 timeout=60, message="the clicked image in focus")
        assert console_errors(driver) == []
    finally:
        quit_driver(driver)
