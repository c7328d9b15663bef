"""The Neurons view in a real browser: mine, click a unit, click an image, see patterns.

The app runs on the demo model and 300 CIFAR-10 test images (an .npz made here), so the
mining job takes seconds; the view is the one a user gets on the full test set.
"""

import time

import numpy as np
import pytest
from selenium.webdriver import ActionChains

from tests.browser import console_errors, running_app, wait_for

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def small_app(cifar_test, tmp_path_factory):
    rng = np.random.default_rng(0)
    idx = np.sort(rng.choice(len(cifar_test), 300, replace=False))
    path = tmp_path_factory.mktemp("neurons") / "cifar300.npz"
    np.savez(path, x=cifar_test.images[idx], y=cifar_test.labels[idx],
             class_names=np.array(cifar_test.class_names))
    with running_app("--data", str(path)) as url:
        yield url


def click_point(driver, graph_id, trace, index):
    """A real mouse click on point ``index`` of trace ``trace`` of a Plotly graph."""
    gd = driver.execute_script(f"return document.querySelector('#{graph_id} .js-plotly-plot')")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", gd)
    where = """const gd = arguments[0], L = gd._fullLayout, r = gd.getBoundingClientRect(),
                     t = gd._fullData[arguments[1]];
        return [L.xaxis._offset + L.xaxis.l2p(t.x[arguments[2]]),
                L.yaxis._offset + L.yaxis.l2p(t.y[arguments[2]]), r.width, r.height];"""
    before, deadline = None, time.time() + 20
    while time.time() < deadline:  # click once the plot has stopped resizing
        now = driver.execute_script(where, gd, trace, index)
        if now == before:
            break
        before = now
        time.sleep(0.3)
    x, y, w, h = now
    ActionChains(driver).move_to_element_with_offset(gd, int(x - w / 2), int(y - h / 2)).click().perform()


PIES = "return document.querySelectorAll('#neu-patterns .dl-neu-pie .slice').length"


def test_click_a_unit_and_an_image_and_see_patterns_with_class_pies(small_app, driver):
    driver.get(small_app)
    wait_for(driver, "return !!document.querySelector('#page-tabs')", 120, "the page")
    tab = driver.execute_script("""return Array.from(document.querySelectorAll('#page-tabs a'))
        .find((a) => a.innerText.trim() === 'Neurons')""")
    tab.click()
    wait_for(driver, "return document.querySelectorAll('#neu-units .scatterlayer .point').length > 800",
             180, "every unit of the demo CNN drawn once mining is done")

    # the unit that most images' paths go through in conv2b: it has patterns
    best = driver.execute_script("""const t = document.querySelector('#neu-units .js-plotly-plot')
        ._fullData[3]; const s = Array.from(t.marker.size); return s.indexOf(Math.max(...s));""")
    click_point(driver, "neu-units", 3, best)
    wait_for(driver, f"return document.getElementById('neu-unit-panel').innerText.includes('conv2b · unit {best}')",
             30, "the unit panel for the clicked unit")
    wait_for(driver, f"""return document.getElementById('neu-patterns').innerText
        .includes('patterns through conv2b unit {best}') && ({PIES.removeprefix('return ')}) > 0""",
             30, "the unit's patterns with class pies")
    chips = driver.execute_script("""return Array.from(document.querySelectorAll(
        '#neu-patterns .dl-neu-pattern')).map((p) => p.querySelector('.dl-neu-path').innerText)""")
    assert chips and all(f"conv2b:{best}" in c for c in chips), chips
    # the neuron projection moved to that layer and rings the unit and its neighbours
    wait_for(driver, f"""return document.getElementById('neu-proj-info').innerText
        .includes('unit {best} of conv2b: most correlated with units')""", 30, "the neighbours")

    # click one of the unit's top images: it becomes the image in focus, with its patterns
    image = driver.execute_script("""const b = document.querySelector('#neu-unit-panel button.dl-arch-top');
        b.click(); return JSON.parse(b.id).index;""")
    wait_for(driver, f"return document.getElementById('neu-focus').innerText.includes('#{image}')",
             30, "the clicked image in focus")
    wait_for(driver, f"""const t = document.getElementById('neu-patterns').innerText;
        return t.includes('image #{image} is in') && ({PIES.removeprefix('return ')}) > 0""",
             30, "the image's patterns with class pies")
    n = int(driver.find_element("id", "neu-patterns").text.split(" is in ")[1].split()[0])
    assert n >= 1  # its path goes through the unit that tops most images
    # its path is drawn through the unit view
    assert driver.execute_script("""return document.querySelector('#neu-units .js-plotly-plot')
        ._fullData.some((t) => t.name === "image's path")""")
    assert not [e for e in console_errors(driver) if "favicon" not in e]

    # #24: a pattern's images sent to the layer animation: the address bar is the link to
    # them (its indices), so the same link opened afresh shows the same images
    sent = driver.execute_script("""const id = (x) => { try { return JSON.parse(x.id); } catch (e) { return {}; } };
        const b = Array.from(document.querySelectorAll('#neu-patterns button'))
            .find((x) => id(x).type === 'neu-send' && id(x).index >= 0);
        b.click(); return b.innerText;""")
    assert "layer animation" in sent
    n = wait_for(driver, """const m = (document.getElementById('neu-sent') || {}).innerText || '';
        const k = m.match(/([\\d,]+) images sent/); return k && Number(k[1].replace(',', ''));""",
                 30, "the pattern's images sent")
    wait_for(driver, f"""const v = window.Deepling.animationView;
        return v.data && v.data.n === {n} && location.search.includes('mode=indices');""",
             120, f"the animation of the pattern's {n} images")
    from urllib.parse import parse_qs, urlparse

    query = parse_qs(urlparse(driver.current_url).query)
    shown = driver.execute_script("return Array.from(window.Deepling.animationView.data.indices)")
    assert sorted(int(i) for i in query["indices"][0].split(",")) == sorted(shown), query
