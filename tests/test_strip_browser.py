"""The strip view in the real app: select an image, make a strip, see its frames."""

import pytest

from tests.browser import console_errors, wait_for

pytestmark = pytest.mark.browser


def test_make_strip_for_a_selected_image(app_url, driver):
    driver.get(app_url + "/")
    wait_for(driver, "return document.querySelectorAll('#strip-output .dl-strip-cell').length === 8",
             timeout=120, message="the first strip (the first misclassified image)")
    # focus another image through the data panel, push it towards 'horse', see 8 frames
    tile = wait_for(driver, "return document.querySelector('[id*=data-tile]')", timeout=60,
                    message="a data tile")
    driver.execute_script("arguments[0].click()", tile)
    wait_for(driver, """return document.getElementById('focus-image').innerText.includes('#')""")
    driver.execute_script("""const s = document.getElementById('strip-target-class');
        const set = Object.getOwnPropertyDescriptor(HTMLSelectElement.prototype, 'value').set;
        set.call(s, '7'); s.dispatchEvent(new Event('change', {bubbles: true}));""")
    driver.execute_script("document.getElementById('strip-run').click()")
    text = wait_for(driver, """const o = document.getElementById('strip-output');
        return o.innerText.includes('towards horse') && o.querySelectorAll('.dl-strip-cell').length === 8
               && o.innerText;""", timeout=60, message="a strip towards horse")
    assert "step 0" in text
    # every frame and its change map are images
    assert driver.execute_script(
        "return document.querySelectorAll('#strip-output .dl-strip-cell img').length") == 16
    assert console_errors(driver) == []


def test_bad_target_is_explained_in_the_panel(app_url, driver):
    driver.get(app_url + "/")
    wait_for(driver, "return document.getElementById('strip-target-kind') !== null", timeout=120)
    driver.execute_script("""const s = document.getElementById('strip-target-kind');
        const set = Object.getOwnPropertyDescriptor(HTMLSelectElement.prototype, 'value').set;
        set.call(s, 'channel'); s.dispatchEvent(new Event('change', {bubbles: true}));
        const c = document.getElementById('strip-target-channel');
        const setI = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set;
        setI.call(c, '9999'); c.dispatchEvent(new Event('input', {bubbles: true}));
        c.dispatchEvent(new Event('blur', {bubbles: true}));""")
    driver.execute_script("document.getElementById('strip-run').click()")
    msg = wait_for(driver, """const o = document.getElementById('strip-output');
        return o.innerText.includes('⚠') && o.innerText;""", timeout=60, message="an error message")
    assert "channel" in msg
    # the rest of the app keeps working
    assert driver.execute_script("return document.getElementById('architecture-card') !== null")
