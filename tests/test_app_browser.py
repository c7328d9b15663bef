"""The real app on the demo model, in headless Chromium, as a new user sees it."""

import json
import urllib.request

import pytest

from tests.browser import console_errors, wait_for

pytestmark = pytest.mark.browser

REGIONS = ("animation-card", "architecture-card", "strip-card", "data-card")


def test_health(app_url):
    with urllib.request.urlopen(app_url + "/health") as r:
        body = json.load(r)
    assert body["status"] == "ok" and body["model"]


def test_main_regions_render_without_console_errors(app_url, driver):
    driver.get(app_url)
    for region in REGIONS:
        wait_for(driver, f"return document.getElementById('{region}') !== null", message=region)
    # the strip view shows the image in focus and what the model predicts for it
    wait_for(driver, "return document.getElementById('focus-image').innerText.includes('predicted')",
             message="the image in focus")
    text = driver.execute_script("return document.body.innerText")
    assert "accuracy" in text and "conv1a" in text
    assert console_errors(driver) == []
