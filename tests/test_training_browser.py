"""The Training view in a real browser: start a run, see the charts move, freeze a layer, stop.

The app runs on a tiny image folder with train/ and test/ (a few CIFAR-10 images), so one
epoch is a few batches.
"""

import numpy as np
import pytest
from PIL import Image

from tests.browser import console_errors, make_driver, quit_driver, running_app, wait_for

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory, cifar_test):
    root = tmp_path_factory.mktemp("tiny-cifar")
    rng = np.random.default_rng(0)
    for split, per_class in (("train", 16), ("test", 6)):
        for k, name in enumerate(cifar_test.class_names):
            folder = root / split / name
            folder.mkdir(parents=True)
            for j, i in enumerate(rng.choice(np.flatnonzero(cifar_test.labels == k), per_class, replace=False)):
                Image.fromarray(cifar_test.images[i]).save(folder / f"{j}.png")
    return root


def _points(driver, graph):
    return driver.execute_script(
        f"var g = document.querySelector('#{graph} .js-plotly-plot');"
        "return g && g.data ? g.data[0].x.length : 0")


def test_start_watch_freeze_and_stop(tiny_folder):
    with running_app("--data", str(tiny_folder)) as url:
        d = make_driver()
        try:
            d.get(url)
            wait_for(d, "return document.getElementById('train-start')", 120, "the Training view")
            # 96 of the folder's 160: not a multiple of 500 from 64 (the field once dropped
            # such values and the run took its default): 6 batches of 16 per epoch, not 10
            for field, value in (("train-subset", "96"), ("train-batch", "16"), ("train-epochs", "60")):
                el = d.find_element("id", field)
                el.send_keys("\b" * 8 + value)
            d.execute_script("arguments[0].click()", d.find_element("id", "train-start"))
            wait_for(d, "return document.querySelector('#train-loss .js-plotly-plot').data[0].x.length > 2",
                     180, "batch losses on the chart")
            wait_for(d, "return /batch \\d+\\/6\\b/.test(document.getElementById('train-status').textContent)",
                     60, "6 batches per epoch (96 images) in the status",
                     state="document.getElementById('train-status').textContent")
            first = _points(d, "train-loss")
            wait_for(d, f"return document.querySelector('#train-loss .js-plotly-plot').data[0].x.length > {first}",
                     60, "the loss chart to move")
            wait_for(d, "var g = document.querySelector('#train-network .js-plotly-plot');"
                        "return g.data.slice(g.data.length / 2).some(t => t.y.some(v => v > 0))",
                     60, "gradient bars")
            # A click on a layer's bar freezes it (the event Plotly emits for a click on a bar).
            d.execute_script("document.querySelector('#train-network .js-plotly-plot').emit('plotly_click',"
                             "{points: [{curveNumber: 0, pointNumber: 3, customdata: ['conv1a', 3]}]})")
            wait_for(d, "return document.getElementById('train-frozen').textContent.includes('conv1a')",
                     30, "conv1a frozen")
            wait_for(d, "return document.querySelector('#train-loss .js-plotly-plot').data[2].x.length > 0",
                     60, "the freeze mark on the loss chart")
            wait_for(d, "return document.querySelector('#train-epochs-chart .js-plotly-plot').data[0].x.length > 0",
                     120, "a whole epoch (so the run saves a model when stopped)")
            # #24: Pause answers at once (Resume on the button, "pausing…" until the run halts)
            d.execute_script("arguments[0].click()", d.find_element("id", "train-pause"))
            status = "[document.getElementById('train-status').textContent, document.getElementById('train-pause').textContent]"
            wait_for(d, "return document.getElementById('train-pause').textContent === 'Resume'",
                     30, "the button to offer Resume", state=status)
            wait_for(d, "return document.getElementById('train-status').textContent === 'paused'",
                     60, "the run to halt", state=status)
            d.execute_script("arguments[0].click()", d.find_element("id", "train-pause"))
            wait_for(d, "return document.getElementById('train-pause').textContent === 'Pause'",
                     30, "the button to offer Pause again", state=status)
            d.execute_script("arguments[0].click()", d.find_element("id", "train-stop"))
            wait_for(d, "return document.getElementById('train-status').textContent.startsWith('stopped')",
                     120, "the run to stop")
            # #24: a new run starts clean: no saved link, hover map or chart axes of the last one
            wait_for(d, "return !!document.getElementById('train-saved-link')", 60, "the saved link")
            first_rev = d.execute_script("return document.querySelector('#train-loss .js-plotly-plot').layout.uirevision")
            d.execute_script("arguments[0].click()", d.find_element("id", "train-start"))
            wait_for(d, """return !document.getElementById('train-saved-link') &&
                document.querySelector('#train-loss .js-plotly-plot').layout.uirevision !== arguments[0]"""
                     .replace("arguments[0]", repr(first_rev)), 30, "the second run's clean card")
            d.execute_script("arguments[0].click()", d.find_element("id", "train-stop"))
            wait_for(d, "return document.getElementById('train-status').textContent.startsWith('stopped')",
                     120, "the second run to stop")
            assert not [e for e in console_errors(d) if "dash-version" not in e]
        finally:
            quit_driver(d)
