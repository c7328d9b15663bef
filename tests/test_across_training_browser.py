"""Across training in a real browser: a tiny run, then the layer animation's mode switch.

The app runs on a tiny image folder (tests/test_training_browser.py's), a run of two epochs
on 32 images keeps three snapshots; the Training card's button switches the animation to
across training, whose slider and play loop then run over the three epochs of one layer,
with trails; back across layers, the snapshot picker shows one epoch's model.
"""

import pytest

from tests.browser import console_errors, make_driver, quit_driver, running_app, wait_for
from tests.test_training_browser import tiny_folder  # noqa: F401 - the shared fixture

pytestmark = pytest.mark.browser

VIEW = "Deepling.animationView"


def test_the_mode_switch_runs_the_slider_over_epochs(tiny_folder):  # noqa: F811
    with running_app("--data", str(tiny_folder)) as url:
        d = make_driver()
        try:
            d.get(url + "/?count=3")
            wait_for(d, f"return {VIEW}.data && {VIEW}.data.nLayers > 2", 120, "the layer animation")
            for field, value in (("train-subset", "32"), ("train-batch", "32"), ("train-epochs", "2")):
                d.find_element("id", field).send_keys("\b" * 8 + value)
            d.execute_script("arguments[0].click()", d.find_element("id", "train-start"))
            wait_for(d, "return document.getElementById('train-status').textContent.startsWith('finished')",
                     180, "the run to finish")
            wait_for(d, "return !document.getElementById('anim-training-row').hidden", 30,
                     "the across-training controls")
            d.execute_script("arguments[0].click()", d.find_element("id", "train-across-open"))
            wait_for(d, f"return {VIEW}.data.across === 'training'", 120, "the epochs' projection",
                     state="return document.getElementById('anim-status').textContent")
            assert d.execute_script(f"return {VIEW}.data.nLayers") == 3
            assert d.execute_script("return document.getElementById('anim-slider').max") == "2"
            assert d.execute_script(f"return {VIEW}.scatter._trails") is True
            search = d.execute_script("return window.location.search")
            assert "across=training" in search and "along=" in search
            # Play: the slider runs over the epochs, the caption names them.
            d.execute_script("arguments[0].click()", d.find_element("id", "anim-play"))
            wait_for(d, "return parseFloat(document.getElementById('anim-slider').value) > 1.2", 30,
                     "the play loop to reach the last epochs")
            assert "epoch" in d.find_element("id", "anim-layer-info").text
            d.execute_script("arguments[0].click()", d.find_element("id", "anim-play"))
            # Trails draw: between two epochs the picture differs with them off, without GL errors.
            pictures = d.execute_script(f"const s = {VIEW}.scatter; s.setLayer(1.5); const on = s.toPNG();"
                                        "s.setTrails(false); const off = s.toPNG(); s.setTrails(true);"
                                        "return [on !== off, s.gl.getError()]")
            assert pictures == [True, 0]
            # The trails toggle lives in the link.
            d.execute_script("arguments[0].click()", d.find_element("id", "anim-trails"))
            assert d.execute_script(f"return {VIEW}.scatter._trails") is False
            assert "trails=off" in d.execute_script("return window.location.search")
            # Back across layers, on the model of epoch 1.
            d.execute_script("window.dash_clientside.set_props('anim-across', {value: 'layers'});"
                             "window.dash_clientside.set_props('anim-snapshot', {value: '1'})")
            wait_for(d, f"return {VIEW}.data.across === 'layers' && {VIEW}.data.snapshot === 'epoch 1'",
                     120, "the layers of epoch 1's model",
                     state="return document.getElementById('anim-status').textContent")
            assert d.execute_script(f"return {VIEW}.data.nLayers") > 3
            assert "snapshot=1" in d.execute_script("return window.location.search")
            assert not [e for e in console_errors(d) if "dash-version" not in e]
        finally:
            quit_driver(d)
