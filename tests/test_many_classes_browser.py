"""A model with a 1,000-way head in the real app, in headless Chromium: the layer animation
draws (it used to go blank past 256 classes), its legend lists the most frequent classes and
finds any other by name, class pickers are searchable, and the confusion view opens on the
top confusions with the full matrix a click away."""

import numpy as np
import pytest

from tests.browser import console_errors, running_app, wait_for

pytestmark = pytest.mark.browser
N = 300


@pytest.fixture(scope="module")
def app_1000(tmp_path_factory):
    import keras

    folder = tmp_path_factory.mktemp("head1000")
    inp = keras.Input((16, 16, 3), name="pixels")
    x = keras.layers.Conv2D(8, 3, activation="relu", name="conv")(inp)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    out = keras.layers.Dense(1000, activation="softmax", name="head")(x)
    keras.Model(inp, out, name="wide").save(folder / "wide.keras")
    rng = np.random.default_rng(0)
    names = np.array([f"class_{k:03d}" for k in range(1000)])
    names[281] = "tabby cat"
    np.savez(folder / "tiny.npz", x=rng.integers(0, 256, (N, 16, 16, 3), dtype=np.uint8),
             y=np.arange(N) % 1000, class_names=names)
    with running_app("--model", str(folder / "wide.keras"), "--data", str(folder / "tiny.npz")) as url:
        yield url


def test_a_1000_class_head_animates_with_a_usable_legend_pickers_and_top_confusions(app_1000, driver):
    driver.get(app_1000 + f"/?mode=random&count={N}&points=dots")
    wait_for(driver, "const v = window.Deepling && window.Deepling.animationView; return v && v.data && v.scatter;",
             timeout=240, message="the layer animation to load")
    assert driver.execute_script("return window.Deepling.animationView.data.n") == N
    # every point keeps its class past 255: class 281 is drawn in its own colour
    assert driver.execute_script("""const d = window.Deepling.animationView.data;
        return [d.labels.constructor.name, Math.max(...d.labels), d.palette.length];""") == \
        ["Uint16Array", N - 1, 1000]
    # the legend: a search box, the 12 most frequent classes, and how many more
    legend = "document.getElementById('scatter-legend')"
    wait_for(driver, f"return {legend}.querySelector('.dl-legend-search')", timeout=30,
             message="the legend's search box")
    assert driver.execute_script(f"return {legend}.querySelectorAll('.dl-legend-item').length") == 12
    assert f"+ {N - 12} more classes" in driver.execute_script(f"return {legend}.innerText")
    box = driver.find_element("css selector", "#scatter-legend .dl-legend-search")
    box.send_keys("tabby")
    wait_for(driver, f"""const items = [...{legend}.querySelectorAll('.dl-legend-item')];
                         return items.length === 1 && items[0].innerText.includes('tabby cat');""",
             timeout=10, message="the legend to find 'tabby cat'")
    # hiding it from the legend hides it in the renderer, and the search box survives
    driver.execute_script(f"{legend}.querySelector('.dl-legend-item').click()")
    assert driver.execute_script("return window.Deepling.animationView.data.hidden.has(281)")
    assert driver.execute_script(f"return {legend}.querySelector('.dl-legend-search').value") == "tabby"
    # a searchable class picker (the data view's true class)
    driver.execute_script("""const p = document.getElementById('data-true');
        p.scrollIntoView({block: 'center'});
        (p.querySelector('.dash-dropdown-trigger') || p).click();""")
    search = wait_for(driver, "return document.querySelector('input.dash-dropdown-search')",
                      timeout=10, message="the picker's search box")
    search.send_keys("tabby")
    option = wait_for(driver, """return [...document.querySelectorAll('[role=option]')]
                                 .find((o) => o.innerText.includes('tabby cat'));""",
                      timeout=20, message="the picker to offer 'tabby cat'",
                      state="return [...document.querySelectorAll('[role=option]')].slice(0, 5).map((o) => o.innerText)")
    assert driver.execute_script("""return [...document.querySelectorAll('[role=option]')]
        .filter((o) => o.innerText.startsWith('class_')).length""") == 0  # the rest filtered out
    option.click()
    wait_for(driver, "return document.getElementById('data-true').innerText.includes('tabby cat')",
             timeout=10, message="'tabby cat' picked")
    # the confusion view: top confusions, then the full matrix on demand
    wait_for(driver, "return document.querySelector('#data-confusion .js-plotly-plot .barlayer .point')",
             timeout=30, message="the top confusions as bars")
    bars = driver.execute_script(
        "return document.getElementById('data-confusion').querySelectorAll('.barlayer .point').length")
    assert 1 <= bars <= 25
    driver.execute_script("""[...document.querySelectorAll('#data-confusion-mode input')]
                             .find((i) => i.value === 'full').click()""")
    wait_for(driver, "return document.querySelector('#data-confusion .js-plotly-plot .heatmaplayer image, "
                     "#data-confusion .js-plotly-plot .hm image')",
             timeout=60, message="the full 1,000 × 1,000 matrix")
    assert [e for e in console_errors(driver) if "favicon" not in e] == []
