"""Two browser sessions at once: each keeps its own model, its own focus, its own uploads."""

import keras
import pytest
from keras import layers

from tests.browser import make_driver, quit_driver, wait_for
from tests.test_api import post_file

pytestmark = pytest.mark.browser


def _navbar_model(driver):
    return wait_for(driver, "const b = document.getElementById('nav-model'); return b && b.innerText",
                    timeout=120, message="the navbar's model name")


def _focus_caption(driver):
    return driver.execute_script("return document.getElementById('focus-image').innerText")


def test_two_sessions_keep_their_own_model_and_selection(app_url, tmp_path):
    inp = keras.Input((32, 32, 3))
    x = layers.Conv2D(4, 3, name="other_conv")(layers.Rescaling(1 / 255.0)(inp))
    out = layers.Dense(10, activation="softmax")(layers.GlobalAveragePooling2D()(x))
    path = tmp_path / "other_model.keras"
    keras.Model(inp, out).save(path)
    status, body = post_file(app_url + "/api/models", path)
    assert status == 201, body

    alice, bob = make_driver(), make_driver()
    try:
        alice.get(app_url + body["url"])          # the link the upload returned
        bob.get(app_url + "/")
        assert _navbar_model(alice) == "other_model.keras"
        assert "demo" in _navbar_model(bob).lower()

        # Bob focuses an image from his data panel; Alice's focus does not move.
        wait_for(bob, "return document.querySelector('[id*=data-tile]')", timeout=120)
        wait_for(alice, "return document.getElementById('focus-image').innerText.includes('#')",
                 timeout=120)
        before = _focus_caption(alice)
        tile = bob.execute_script("return document.querySelectorAll('[id*=data-tile]')[3]")
        bob.execute_script("arguments[0].click()", tile)
        wait_for(bob, f"return !document.getElementById('focus-image').innerText.includes("
                      f"{before.splitlines()[0]!r})", timeout=60, message="Bob's new focus")
        assert _focus_caption(alice) == before

        # A reload keeps each tab's own model (sessionStorage), not the other's.
        alice.get(app_url + "/")
        bob.refresh()
        assert _navbar_model(alice) == "other_model.keras"
        assert "demo" in _navbar_model(bob).lower()
    finally:
        quit_driver(alice)
        quit_driver(bob)
