"""A new user's first hour (#24), in headless Chromium on the real app: what used to trip
them up, each checked where it happened."""

import time

import pytest

from tests.browser import console_errors, wait_for

pytestmark = pytest.mark.browser

PROBS = "document.querySelector('#whatif-probs .js-plotly-plot')"


def open_page(driver, app_url, query="?mode=classes&classes=3,5&count=5", points=10):
    driver.get(app_url + "/" + query)
    wait_for(driver, f"""const v = window.Deepling && window.Deepling.animationView;
                        return v && v.data && v.data.n === {points};""",
             timeout=180, message=f"{points} points drawn")


def click_tab(driver, label):
    driver.execute_script("""const a = Array.from(document.querySelectorAll('.nav-link'))
        .find((x) => x.innerText.trim() === arguments[0]); a.scrollIntoView({block: 'center'}); a.click();""",
                          label)


FITS = f"""const f = {PROBS}; const row = f.closest('.dash-graph').parentElement;
    return f.offsetParent !== null && f._fullLayout.width > 100
        && f._fullLayout.width <= row.getBoundingClientRect().width - 170;"""  # 170: the image beside


def test_whatif_chart_fits_its_slot_when_shown_and_after_a_resize(app_url, driver):
    open_page(driver, app_url)
    wait_for(driver, f"return !!({PROBS} && {PROBS}._fullLayout)", 60, "the what-if figure")
    # not on screen, not computed: the what-if bars wait for their tab
    assert driver.execute_script(f"return ({PROBS}.data || []).length") == 0
    click_tab(driver, "What-if")
    state = f"JSON.stringify([{PROBS}._fullLayout.width, {PROBS}.closest('.dash-graph').parentElement.clientWidth])"
    wait_for(driver, FITS, 20, "the what-if bars inside their slot", state=state)
    driver.set_window_size(1000, 1000)
    try:
        wait_for(driver, FITS, 20, "the bars to follow a narrower window", state=state)
    finally:
        driver.set_window_size(1400, 1000)
    assert console_errors(driver) == []


def test_double_click_resets_the_zoom_without_focusing_and_retrain_counts_the_pick(app_url, driver):
    from selenium.webdriver.common.action_chains import ActionChains

    open_page(driver, app_url, "?mode=classes&classes=8&count=5&points=dots", 5)
    index = driver.execute_script("return window.Deepling.animationView.data.indices[0]")
    focus = "document.getElementById('focus-image').innerText"
    wait_for(driver, f"return {focus}.includes('#')", 30, "the first image in focus")
    focused = f"return /#{index}(?!\\d)/.test({focus})"  # image #{index} in focus, not #{index}0…
    assert not driver.execute_script(focused)
    xy = driver.execute_script("return window.Deepling.animationView.scatter.screenPosition(0)")
    host = driver.find_element("id", "scatter-host")
    rect = driver.execute_script("return arguments[0].getBoundingClientRect().toJSON()", host)
    at = (int(xy[0] - rect["left"] - rect["width"] / 2), int(xy[1] - rect["top"] - rect["height"] / 2))
    ActionChains(driver).move_to_element_with_offset(host, *at).double_click().perform()
    time.sleep(1.5)  # past the double-click interval and a focus round trip
    assert not driver.execute_script(focused), "a double-click focused an image"
    ActionChains(driver).move_to_element_with_offset(host, *at).click().perform()  # one click does
    wait_for(driver, focused, 20, "a single click to focus the image")

    # the Retrain section says how many images are picked, as they are picked
    picked = "document.getElementById('train-retrain-picked').innerText"
    wait_for(driver, f"return {picked} === 'No images picked yet.'", 20, "the retrain line")
    driver.execute_script("window.dash_clientside.set_props('subset', {data: [3, 5, 8]})")
    wait_for(driver, f"return {picked} === '3 images picked'", 20, "the count of picked images")

    # a strip cell is as wide as its class name: "automobile 100%" is not cut to "automobil"
    overflow = driver.execute_script("""
        const cell = document.createElement('div');
        cell.className = 'dl-strip-cell small';
        cell.innerHTML = '<div class="text-muted">step 40</div><div><b>automobile</b> 100%</div>';
        const row = document.createElement('div');
        row.className = 'dl-strip-row';
        row.appendChild(cell);
        document.getElementById('focus-image').appendChild(row);
        const c = cell.getBoundingClientRect(), b = cell.querySelector('b').getBoundingClientRect();
        row.remove();
        return [b.left - c.left, c.right - b.right];""")
    assert min(overflow) >= -0.5, f"the class name sticks out of its cell by {overflow}"
