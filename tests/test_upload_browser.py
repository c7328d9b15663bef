"""The "Open model / data" dialog as a browser user drives it: pick a file, watch it upload
and load, press Open, and the app switches to it; a hostile file gets its reason in the dialog."""

import io
import zipfile

import keras
import numpy as np
import pytest
from keras import layers
from PIL import Image

from tests import hostile
from tests.browser import console_errors, make_driver, quit_driver, wait_for

pytestmark = pytest.mark.browser


@pytest.fixture
def fresh_driver():
    d = make_driver()
    yield d
    quit_driver(d)


def _choose_file(driver, kind, path):
    """What the file picker does: the dialog's button makes a hidden file input; give it a file."""
    driver.find_element("id", "open-button").click()
    wait_for(driver, f"return document.getElementById('upload-{kind}-pick')", message="the dialog")
    driver.execute_script(
        "const i = window.Deepling.fileInput(arguments[0], ''); i.hidden = false; return i;", kind)
    driver.find_element("id", f"upload-{kind}-file").send_keys(str(path))


def _status(driver, kind):
    return driver.execute_script(f"return document.getElementById('upload-{kind}-status').innerText")


def test_upload_a_model_and_data_in_the_browser_and_open_them(app_url, tmp_path, fresh_driver):
    driver = fresh_driver
    inp = keras.Input((24, 24, 1))
    x = layers.Conv2D(4, 3, activation="relu", name="gray_conv")(layers.Rescaling(1 / 255.0)(inp))
    out = layers.Dense(3, activation="softmax", name="gray_out")(layers.GlobalAveragePooling2D()(x))
    model_path = tmp_path / "gray_model.keras"
    keras.Model(inp, out).save(model_path)

    rng = np.random.default_rng(0)
    data_path = tmp_path / "shapes.zip"
    with zipfile.ZipFile(data_path, "w") as z:
        for cls in ("circle", "square", "star"):
            for i in range(8):
                buf = io.BytesIO()
                Image.fromarray(rng.integers(0, 256, (30, 30, 3), dtype=np.uint8)).save(buf, "PNG")
                z.writestr(f"shapes/{cls}/{i}.png", buf.getvalue())

    driver.get(app_url + "/")
    wait_for(driver, "return document.getElementById('nav-model')", timeout=120, message="the page")
    _choose_file(driver, "model", model_path)
    wait_for(driver, "return document.getElementById('upload-model-status').innerText.includes('Press Open')",
             timeout=120, message="the model upload to finish")
    assert "input 24×24×1" in _status(driver, "model")
    driver.execute_script("window.Deepling.fileInput('data', '').hidden = false")
    driver.find_element("id", "upload-data-file").send_keys(str(data_path))
    wait_for(driver, "return document.getElementById('upload-data-status').innerText.includes('Press Open')",
             timeout=120, message="the data upload to finish")
    assert "24 images" in _status(driver, "data") and "3 classes" in _status(driver, "data")

    driver.find_element("id", "open-apply").click()
    wait_for(driver, "const b = document.getElementById('nav-model'); "
                     "return b && b.innerText === 'gray_model.keras'", timeout=120,
             message="the app to switch to the uploaded model")
    wait_for(driver, "const b = document.getElementById('nav-data'); return b && b.innerText.includes('shapes')",
             timeout=60, message="the uploaded data in the navbar")
    # the switched page is a working page: the architecture shows the uploaded model's layers
    wait_for(driver, "return document.body.innerText.includes('gray_conv')", timeout=60,
             message="the uploaded model's layers")
    assert console_errors(driver) == []
    # the address bar is the link to this view: another browser opening it sees the same
    wait_for(driver, "return location.search.includes('layer=')", timeout=120,
             message="the animation's state in the address")
    link = driver.current_url
    assert "model=" in link and "data=" in link
    other = make_driver()
    try:
        other.get(link)
        wait_for(other, "const b = document.getElementById('nav-model'); "
                        "return b && b.innerText === 'gray_model.keras'", timeout=120,
                 message="the link to open the uploaded model")
    finally:
        quit_driver(other)


def test_a_hostile_model_is_refused_in_the_dialog(app_url, tmp_path, marker_dir_browser, fresh_driver):
    driver = fresh_driver
    marker = marker_dir_browser / "ran"
    path = tmp_path / "evil.keras"
    hostile.write_keras(path, hostile.sequential(hostile.lambda_layer(marker), hostile.dense()))
    driver.get(app_url + "/")
    wait_for(driver, "return document.getElementById('nav-model')", timeout=120, message="the page")
    before = driver.execute_script("return document.getElementById('nav-model').innerText")
    _choose_file(driver, "model", path)
    wait_for(driver, "return document.querySelector('#upload-model-status.text-danger')", timeout=120,
             message="the refusal")
    assert "Lambda" in _status(driver, "model")
    assert not marker.exists()
    assert driver.execute_script("return document.getElementById('nav-model').innerText") == before


@pytest.fixture
def marker_dir_browser(tmp_path_factory):
    return tmp_path_factory.mktemp("browser-markers")
