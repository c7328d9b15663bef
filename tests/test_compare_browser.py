"""The comparison view: a second model on the same images, one slider driving both."""

import json

import keras
import numpy as np
import pytest
from keras import layers

from tests.browser import console_errors, drawn_pixels, running_app, wait_for

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


def test_two_models_side_by_side_with_one_slider(compare_app, driver):
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

    # CKA of every layer pair: the heatmap; a click on a cell shows those two layers
    wait_for(driver, "return !document.getElementById('cmp-cka-wrap').hidden", timeout=180,
             message="the CKA heatmap")
    names_a, names_b, z = driver.execute_script("""const g = document.querySelector(
        '#cmp-cka-graph .js-plotly-plot'); const t = g.data[0]; return [t.y, t.x, t.z]""")
    z = np.array(z, dtype=float)
    assert z.shape == (len(names_a), len(names_b)) and len(names_b) > len(names_a) > 3
    assert np.nanmax(z) <= 1.05 and z[0, 0] > 0.9  # the input against the input
    driver.execute_script("""const g = document.querySelector('#cmp-cka-graph .js-plotly-plot');
        g.emit('plotly_click', {points: [{x: arguments[1], y: arguments[0]}]});""",
                          names_a[-3], names_b[1])
    wait_for(driver, f"""const l = window.Deepling.compareView.linked;
        return l.data[0].layers[Math.round(l.scatters[0].getLayer())].name === '{names_a[-3]}'
            && l.data[1].layers[Math.round(l.scatters[1].getLayer())].name === '{names_b[1]}'""",
             timeout=30, message="the clicked cell's layers side by side")
    assert console_errors(driver) == []


def test_suspicious_labels(compare_app, driver):
    """The data card ranks the labels; rows mark, focus, export and animate."""
    driver.get(compare_app + "/")
    run = wait_for(driver, "return document.getElementById('sus-run')", timeout=180)
    driver.execute_script("arguments[0].scrollIntoView(); arguments[0].click()", run)
    wait_for(driver, "return document.querySelectorAll('.dl-sus-row').length >= 10", timeout=180,
             message="ranked rows")
    first = driver.find_element("css selector", ".dl-sus-row")
    index = json.loads(first.get_attribute("id"))["index"]
    assert len(first.find_elements("css selector", ".dl-sus-neighbour")) == 10
    wrong = driver.find_element("css selector", "[id*=sus-mark-wrong]")
    driver.execute_script("arguments[0].click()", wrong)
    wait_for(driver, "return document.getElementById('sus-status').innerText.includes('1 marked (1 wrong)')",
             timeout=30, message="the mark counted")
    tile = driver.find_element("css selector", "[id*=sus-tile]")
    driver.execute_script("arguments[0].click()", tile)
    wait_for(driver, f"return document.getElementById('focus-image').innerText.includes('#{index}')",
             timeout=60, message="the suspicious image in focus")
    animate = driver.find_element("css selector", "[id*=sus-animate]")
    driver.execute_script("arguments[0].click()", animate)
    wait_for(driver, "return window.location.search.includes('mode=indices')", timeout=30,
             message="the selection sent to the layer animation")
    assert console_errors(driver) == []
