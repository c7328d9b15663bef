"""The architecture view in the real app, in headless Chromium: the layer graph drives the
inspector and the layer animation."""

import pytest

from tests.browser import console_errors, wait_for

pytestmark = pytest.mark.browser

# dash-cytoscape keeps the Cytoscape.js instance on its container (Cytoscape.js's own
# registry), so tests can find where a node is drawn.
CY = "document.querySelector('#arch-graph')._cyreg.cy"
QUERY = "?mode=classes&classes=3,5&count=10"


@pytest.fixture(scope="module")
def page(app_url, driver):
    """One page load for the module (a load costs seconds); each test sets the layer and
    tab it needs, so the tests do not depend on their order."""
    open_page(driver, app_url)
    return driver


def open_page(driver, app_url, query=QUERY):
    driver.get(app_url + "/" + query)
    wait_for(driver, f"""const g = document.querySelector('#arch-graph');
                        const m = document.getElementById('arch-maps');
                        return g && g._cyreg && {CY}.nodes().length > 0 && m && m.innerText.length;""",
             timeout=180, message="the layer graph and the inspector")
    wait_for(driver, "const v = window.Deepling && window.Deepling.animationView; return v && v.data;",
             timeout=180, message="the animation to load")


def click(driver, element_id, where="centre"):
    """A real mouse click where Cytoscape draws a node (or, for a stage, its frame)."""
    from selenium.webdriver.common.action_chains import ActionChains

    x, y, w, h = driver.execute_script(f"""
        const cy = {CY}, n = cy.getElementById(arguments[0]), r = cy.container().getBoundingClientRect();
        const b = n.renderedBoundingBox({{includeLabels: false}});
        const p = arguments[1] === 'centre' ? n.renderedPosition() : {{x: (b.x1 + b.x2) / 2, y: b.y2 - 4}};
        return [p.x, p.y, r.width, r.height];""", element_id, where)
    host = driver.execute_script(f"return {CY}.container()")
    ActionChains(driver).move_to_element_with_offset(host, int(x - w / 2), int(y - h / 2)).click().perform()


def show_tab(driver, label):
    driver.execute_script("""[...document.querySelectorAll('#arch-tabs .nav-link')]
        .find((a) => a.innerText.includes(arguments[0])).click()""", label)


def inspect(driver, name):
    """Click a layer's node and wait for the inspector to show it."""
    click(driver, name)
    wait_for(driver, f"return document.getElementById('arch-layer-title').innerText.startsWith('{name}')",
             timeout=30, message=f"the inspector to show {name}")


def animation_index(driver, name):
    return driver.execute_script(
        "return window.Deepling.animationView.data.layers.map((L) => L.name).indexOf(arguments[0])", name)


def test_a_link_with_a_layer_opens_the_inspector_there(app_url, driver):
    open_page(driver, app_url, QUERY + "&layer=fc1")
    wait_for(driver, "return document.getElementById('arch-layer-title').innerText.startsWith('fc1')",
             timeout=30, message="the inspector to open at the link's layer")
    assert driver.execute_script(f"return {CY}.getElementById('fc1').hasClass('focus')")


def test_clicking_a_layer_inspects_it_and_moves_the_animation(page):
    driver = page
    index = animation_index(driver, "conv2b")
    assert index > 0
    show_tab(driver, "Feature maps")
    inspect(driver, "conv2b")
    wait_for(driver, "return document.getElementById('arch-maps').innerText.includes('64 channels')",
             timeout=30, message="conv2b's 64 feature maps")
    assert driver.execute_script("return document.querySelectorAll('.dl-arch-map').length") == 48
    wait_for(driver, f"return window.Deepling.animationView.scatter.getLayer() === {index}",
             timeout=10, message="the animation slider to jump to conv2b")
    assert driver.execute_script(f"return {CY}.getElementById('conv2b').hasClass('focus')")
    assert "conv2b" in driver.execute_script("return document.getElementById('anim-layer-info').innerText")
    assert console_errors(driver) == []


def test_dropdown_picks_a_dense_layer_shown_as_bars(page):
    driver = page
    show_tab(driver, "Feature maps")
    driver.find_element("id", "arch-layer").click()
    option = wait_for(driver, """return [...document.querySelectorAll('[role=option]')]
                                 .find((o) => o.innerText.startsWith('fc2 '));""",
                      timeout=10, message="the layer list to open")
    option.click()
    wait_for(driver, "return document.getElementById('arch-layer-title').innerText.startsWith('fc2')",
             timeout=30, message="the inspector to show fc2")
    wait_for(driver, "return document.querySelector('#arch-vector .js-plotly-plot .bars')",
             timeout=30, message="fc2's activations as bars")
    assert "128 units" in driver.execute_script("return document.getElementById('arch-maps').innerText")
    index = animation_index(driver, "fc2")
    wait_for(driver, f"return window.Deepling.animationView.scatter.getLayer() === {index}",
             timeout=10, message="the animation slider to jump to fc2")
    assert driver.execute_script(f"return {CY}.getElementById('fc2').hasClass('focus')")


def test_a_stage_folds_and_unfolds_on_click(page):
    driver = page
    inspect(driver, "conv3b")
    before = driver.execute_script(f"return {CY}.nodes().length")
    click(driver, "stage:1", where="frame")
    wait_for(driver, f"return {CY}.getElementById('stage:1').hasClass('folded')", timeout=20,
             message="block 2 to fold")
    assert driver.execute_script(f"return {CY}.nodes().length") == before - 4
    assert driver.execute_script(f"return {CY}.getElementById('conv2a').length") == 0
    # folding is not picking: the inspector keeps its layer
    assert driver.execute_script("return document.getElementById('arch-layer-title').innerText").startswith("conv3b")
    click(driver, "stage:1")
    wait_for(driver, f"return {CY}.getElementById('conv2a').length === 1", timeout=20,
             message="block 2 to unfold")


def test_a_feature_map_leads_to_its_top_images_and_one_to_focus(page):
    driver = page
    show_tab(driver, "Feature maps")
    inspect(driver, "conv3b")
    wait_for(driver, "return document.querySelectorAll('.dl-arch-map').length === 48", timeout=30,
             message="conv3b's feature maps")
    channel = driver.execute_script("""const t = document.querySelectorAll('.dl-arch-map')[1];
        t.click(); return JSON.parse(t.id).channel;""")
    # scoped to the panel: the neurons view styles its image tiles with the same class
    wait_for(driver, "const p = document.getElementById('arch-top'); "
             f"return p.querySelectorAll('.dl-arch-top').length === 10 && p.innerText.includes('channel {channel}:')",
             timeout=60, message="the top 10 images of the channel",
             state="return [document.getElementById('arch-top').innerText.slice(0, 300), "
                   "(document.getElementById('banner') || {}).innerText, "
                   "document.querySelectorAll('.dl-arch-top').length]")
    head = driver.execute_script("return document.getElementById('arch-top').innerText")
    assert f"channel {channel}" in head and "20 images" in head
    assert driver.execute_script("return document.getElementById('arch-channel').value") == str(channel)
    picked = driver.execute_script("""const b = document.querySelectorAll('#arch-top .dl-arch-top')[0];
        b.click(); return JSON.parse(b.id).index;""")
    wait_for(driver, f"return document.getElementById('arch-maps').innerText.includes('#{picked} ')",
             timeout=30, message="the feature maps to follow the new image in focus")
    assert console_errors(driver) == []


def test_histograms_for_weights_and_activations(page):
    driver = page
    inspect(driver, "conv3b")
    show_tab(driver, "Histograms")
    wait_for(driver, "return document.querySelectorAll('#arch-hist .js-plotly-plot').length === 2",
             timeout=60, message="weight and activation histograms")
    text = driver.execute_script("return document.getElementById('arch-hist').innerText")
    assert "weights of conv3b" in text and "activations of conv3b" in text
    click(driver, "pool2")
    wait_for(driver, "return document.getElementById('arch-hist').innerText.includes('has no weights')",
             timeout=30, message="a note for a layer without weights")
    assert driver.execute_script("return document.querySelectorAll('#arch-hist .js-plotly-plot').length") == 1


def test_search_finds_layers_and_the_animated_layers_are_marked(page):
    driver = page
    # the layers the animation shows carry the mark (the demo's: all but the dropouts)
    shown = driver.execute_script("return window.Deepling.animationView.data.layers.map((L) => L.name)")
    wait_for(driver, f"return {CY}.nodes('.layer.animated').length === {len(shown)}", timeout=30,
             message="the animated layers marked")
    assert set(driver.execute_script(f"return {CY}.nodes('.layer.animated').map((n) => n.id())")) == set(shown)
    box = driver.find_element("id", "arch-search")
    box.clear()
    box.send_keys("pool")
    wait_for(driver, "return document.getElementById('arch-found').innerText.startsWith('3 layers')",
             timeout=30, message="the search to find pool1-3")
    assert sorted(driver.execute_script(f"return {CY}.nodes('.layer.found').map((n) => n.id())")) == \
        ["pool1", "pool2", "pool3"]
    box.send_keys("\n")  # Enter: the first found layer is inspected
    wait_for(driver, "return document.getElementById('arch-layer-title').innerText.startsWith('pool1')",
             timeout=30, message="Enter to inspect pool1")
    # select-all + delete: real key events (selenium's clear() sets the value without the
    # input event React listens to)
    from selenium.webdriver.common.keys import Keys
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.DELETE)
    wait_for(driver, f"return {CY}.nodes('.found').length === 0", timeout=30, message="the marks cleared")
