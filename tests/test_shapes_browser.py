"""The Shape workshop in the real app: the four steps, a drawn class, and a result row."""

import os

import pytest

from tests.browser import console_errors, wait_for

pytestmark = pytest.mark.browser


def _set_select(driver, element_id, value):
    driver.execute_script("""const s = document.getElementById(arguments[0]);
        const set = Object.getOwnPropertyDescriptor(HTMLSelectElement.prototype, 'value').set;
        set.call(s, arguments[1]); s.dispatchEvent(new Event('change', {bubbles: true}));""",
                          element_id, value)


def test_four_steps_give_a_result_row(app_url, driver):
    driver.get(app_url + "/")
    tab = wait_for(driver, """return [...document.querySelectorAll('.nav-link')]
        .find(a => a.innerText.trim() === 'Shape workshop')""", timeout=120, message="the workshop tab")
    driver.execute_script("arguments[0].click()", tab)
    # 1: add 'circle' to the two default lines, and draw a fourth class on the canvas
    circle = wait_for(driver, """return [...document.querySelectorAll('#shape-classes label')]
        .find(l => l.innerText.trim() === 'circle')""", message="the circle shape")
    driver.execute_script("arguments[0].click()", circle)
    driver.execute_script("document.querySelector('#shape-step-1 details').open = true")
    canvas = driver.find_element("id", "shape-canvas")
    from selenium.webdriver import ActionChains

    ActionChains(driver).move_to_element_with_offset(canvas, -40, -40).click_and_hold() \
        .move_by_offset(80, 80).release().perform()
    driver.execute_script("""const i = document.getElementById('shape-draw-name');
        const set = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set;
        set.call(i, 'my stroke'); i.dispatchEvent(new Event('input', {bubbles: true}));""")
    driver.execute_script("document.getElementById('shape-draw-add').click()")
    wait_for(driver, """return [...document.querySelectorAll('#shape-classes input:checked')].length === 4""",
             message="four classes chosen, the drawn one among them")
    # 2: the CNN; 3: start from noise, 20 epochs; 4: train and visualise
    driver.execute_script("""[...document.querySelectorAll('#shape-model input')]
        .find(i => i.value === 'cnn').click()""")
    _set_select(driver, "shape-start", "noise")
    driver.execute_script("document.getElementById('shape-run').click()")
    try:
        row = wait_for(driver, """const r = document.querySelector('#shape-results .dl-shape-row');
            return r && r.innerText.includes('Run 1') && r""", timeout=180, message="the first result row")
    except AssertionError as exc:
        status = driver.execute_script("return document.getElementById('shape-status').innerText")
        raise AssertionError(f"{exc}; the workshop's status says {status!r}") from None
    text = row.text
    assert "CNN" in text and "4 classes" in text and "start noise" in text
    assert "training accuracy" in text and "loss" in text
    assert "my stroke" in text
    cells = driver.execute_script("return document.querySelectorAll('#shape-results .dl-shape-cell').length")
    assert cells == 4
    imgs = driver.execute_script(
        "return [...document.querySelectorAll('#shape-results .dl-shape-cell img')].map(i => i.src)")
    assert len(imgs) == 8 and all(s.startswith("data:image/png") for s in imgs)
    coeffs = driver.execute_script(
        "return [...document.querySelectorAll('#shape-results .dl-shape-r')].map(e => e.innerText)")
    assert len(coeffs) == 4
    assert all(0 <= float(c.split()[-1]) <= 1 for c in coeffs)
    # the trained model opens in the other views
    href = driver.execute_script("return document.querySelector('#shape-results .dl-shape-row a').href")
    assert "model=u" in href and "data=u" in href
    if os.environ.get("DEEPLING_SCREENSHOT"):
        driver.set_window_size(1500, 1100)
        driver.save_screenshot(os.environ["DEEPLING_SCREENSHOT"])
    assert console_errors(driver) == []


def test_class_image_panel_on_the_demo_model(app_url, driver):
    driver.get(app_url + "/")
    tab = wait_for(driver, """return [...document.querySelectorAll('#strip-card .nav-link')]
        .find(a => a.innerText.trim() === 'Class image')""", timeout=120, message="the class-image tab")
    driver.execute_script("arguments[0].click()", tab)
    _set_select(driver, "ci-class", "4")
    _set_select(driver, "ci-start", "focus")
    driver.execute_script("""const i = document.getElementById('ci-steps');
        const set = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set;
        set.call(i, '30'); i.dispatchEvent(new Event('input', {bubbles: true}));""")
    driver.execute_script("document.getElementById('ci-run').click()")
    text = wait_for(driver, """const o = document.getElementById('ci-output');
        return o.querySelector('#ci-image') && o.innerText""", timeout=120, message="the class image")
    assert "class deer" in text and "probability" in text
    assert console_errors(driver) == []
