"""A new user's first hour (#24), in headless Chromium on the real app: what used to trip
them up, each checked where it happened."""

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
    click_tab(driver, "What-if")
    state = f"JSON.stringify([{PROBS}._fullLayout.width, {PROBS}.closest('.dash-graph').parentElement.clientWidth])"
    wait_for(driver, FITS, 20, "the what-if bars inside their slot", state=state)
    driver.set_window_size(1000, 1000)
    try:
        wait_for(driver, FITS, 20, "the bars to follow a narrower window", state=state)
    finally:
        driver.set_window_size(1400, 1000)
    assert console_errors(driver) == []
