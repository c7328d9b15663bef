"""The data view in the real app, in headless Chromium: confusion cells, grid filters, focus."""

import re

import pytest
from selenium.webdriver.common.action_chains import ActionChains

from tests.browser import console_errors, wait_for

pytestmark = pytest.mark.browser

GRAPH = "document.querySelector('#data-confusion .js-plotly-plot')"


def open_page(driver, app_url, query="?mode=classes&classes=3,5&count=20", points=40):
    driver.get(app_url + "/" + query)
    wait_for(driver, f"""const v = window.Deepling && window.Deepling.animationView;
                        return v && v.data && v.data.n === {points};""",
             timeout=180, message=f"the animation's first {points} points")
    wait_for(driver, f"return {GRAPH} && {GRAPH}._fullData && {GRAPH}._fullData.length", message="matrix")


def matrix_counts(driver):
    return driver.execute_script(f"""const t = {GRAPH}._fullData[0].text;
        return Array.from(t, (row) => Array.from(row, Number));""")


def click_cell(driver, true, pred):
    """A real mouse click at the centre of cell (row true, column pred)."""
    gd = driver.execute_script(f"return {GRAPH}")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", gd)
    # Views above may still be growing (and the plot resizing with its column): click
    # once the cell's position has held still between two polls.
    now = wait_for(driver, f"""const gd = {GRAPH}, L = gd._fullLayout, r = gd.getBoundingClientRect();
        const at = JSON.stringify([L.xaxis._offset + L.xaxis.l2p({pred}),
                                   L.yaxis._offset + L.yaxis.l2p({true}), r.width, r.height, r.top]);
        const still = window.dlCellAt === at;
        window.dlCellAt = at;
        return still && JSON.parse(at);""", timeout=30, interval=0.5, message="the matrix to hold still")
    x, y, w, h, _ = now
    ActionChains(driver).move_to_element_with_offset(gd, int(x - w / 2), int(y - h / 2)).click().perform()


def test_clicking_a_confusion_cell_changes_the_selection_in_the_animation(app_url, driver):
    open_page(driver, app_url, "?mode=classes&classes=3,5&count=20&layer=conv2b")
    counts = matrix_counts(driver)
    # the smallest cell that the animation can show (≥ 2 images) and that differs from 40
    cells = [(c, t, p) for t, row in enumerate(counts) for p, c in enumerate(row) if c >= 2 and c != 40]
    assert cells, f"no usable cell in {counts}"
    count, true, pred = min(cells)
    click_cell(driver, true, pred)
    names = driver.execute_script(f"return Array.from({GRAPH}._fullData[0].y)")
    wait_for(driver, "return document.getElementById('data-cell-status').innerText", timeout=30,
             message="the data view to acknowledge the click")
    status = driver.find_element("id", "data-cell-status").text
    assert status.startswith(f"true {names[true]} → predicted {names[pred]}"), status
    try:
        wait_for(driver, f"return window.Deepling.animationView.data.n === {min(count, 2000)}",
                 timeout=240, message=f"the animation to show the cell's {count} images")
    except AssertionError as exc:
        state = driver.execute_script("""return [location.search, window.Deepling.animationView.data.n,
            document.getElementById('anim-status').innerText,
            document.getElementById('data-cell-status').innerText]""")
        raise AssertionError(f"{exc}; url, points, animation status, cell status: {state}") from None
    shown = driver.execute_script("""const d = window.Deepling.animationView.data;
        return [Array.from(d.labels), Array.from(d.predicted)];""")
    assert set(shown[0]) == {true} and set(shown[1]) == {pred}  # exactly that cell
    url = driver.current_url
    assert "mode=cell" in url and f"true={true}" in url and f"predicted={pred}" in url
    # #24: the cell's images are shown at the layer shown before, not back at the input
    assert "layer=conv2b" in url
    assert driver.execute_script("""const v = window.Deepling.animationView;
        return v.data.layers[Math.round(v.scatter.getLayer())].name""") == "conv2b"
    assert "sent to the layer animation" in status
    # the grid shows the same images
    wait_for(driver, f"return document.getElementById('data-grid-count').innerText"
                     f".startsWith('{count:,} image')", message="the grid to follow the cell")
    assert console_errors(driver) == []


def test_grid_filters_sort_and_a_tile_click_focuses(app_url, driver):
    open_page(driver, app_url)
    names = driver.execute_script(f"return Array.from({GRAPH}._fullData[0].y)")
    # keep only true 'cat', least confident first (the default order)
    driver.execute_script("""const s = document.getElementById('data-true');
        const set = Object.getOwnPropertyDescriptor(HTMLSelectElement.prototype, 'value').set;
        set.call(s, '3'); s.dispatchEvent(new Event('change', {bubbles: true}));""")
    wait_for(driver, f"""const t = document.querySelectorAll('.dl-data-tile');
        return t.length && Array.from(t).every((b) => b.title.includes('true {names[3]},'));""",
             message="only cats in the grid")
    titles = driver.execute_script("return Array.from(document.querySelectorAll('.dl-data-tile'), (b) => b.title)")
    conf = [int(re.search(r"\((\d+)%\)", t).group(1)) for t in titles]
    assert conf == sorted(conf)
    index = int(re.match(r"#(\d+):", titles[1]).group(1))
    tile = driver.find_elements("css selector", ".dl-data-tile")[1]
    # a DOM click: the rows above may still be growing, which moves the tile under a pointer
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'}); arguments[0].click()", tile)
    wait_for(driver, f"return document.getElementById('test-explain').innerText.includes('image #{index}')",
             timeout=120, message="the explanations to follow the focused tile")
    assert "dl-data-focused" in tile.get_attribute("class")
    assert console_errors(driver) == []


def test_a_box_pick_in_the_animation_drives_the_grid_and_the_strip(app_url, driver):
    """The ``subset`` store: shift+drag in the layer animation picks images; the data view's
    grid lists exactly them and the strip view offers them as its image."""
    from selenium.webdriver.common.keys import Keys

    open_page(driver, app_url)
    host = driver.find_element("id", "scatter-host")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", host)
    w, h = host.size["width"], host.size["height"]
    (ActionChains(driver).move_to_element_with_offset(host, int(-w * 0.45), int(-h * 0.45))
     .key_down(Keys.SHIFT).click_and_hold().move_by_offset(int(w * 0.45), int(h * 0.9))
     .release().key_up(Keys.SHIFT).perform())
    picked = wait_for(driver, """const v = window.Deepling.animationView;
        const sel = v.scatter && v.scatter._data && v.scatter._data.selected;
        if (!sel) return false;
        const out = [];
        sel.forEach((s, i) => { if (s) out.push(v.data.indices[i]); });
        return out.length && out;""", timeout=30, message="a box selection in the animation")
    assert 0 < len(picked) < 40
    wait_for(driver, f"return document.getElementById('data-grid-count').innerText"
                     f".includes('among the {len(picked):,} picked')", timeout=60,
             message="the grid to follow the pick")
    tiles = driver.execute_script(
        "return Array.from(document.querySelectorAll('.dl-data-tile'), (b) => JSON.parse(b.id).index)")
    assert sorted(tiles) == sorted(picked)  # every picked image, right or wrong, and only those
    offered = wait_for(driver, """const b = document.querySelectorAll('.dl-strip-pick');
        return b.length && Array.from(b, (x) => JSON.parse(x.id).index);""", timeout=60,
                       message="the strip view to offer the picked images")
    assert offered == sorted(picked)[:len(offered)]
    choice = driver.find_elements("css selector", ".dl-strip-pick")[-1]
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'}); arguments[0].click()", choice)
    wait_for(driver, f"return document.getElementById('focus-image').innerText.includes('image #{offered[-1]}')",
             timeout=60, message="the strip's image to be the picked one")
    assert console_errors(driver) == []
