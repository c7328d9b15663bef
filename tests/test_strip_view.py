"""The strip and what-if view's own logic: edits spec, the edited image, the strip PNG."""

import io

import numpy as np
from PIL import Image

from deepling.data import Dataset
from deepling.service.focus import edited_image, focused_image, is_identity, picture_from_upload, whatif_spec
from deepling.web.views.common import image_uri
from deepling.web.views.heatmaps import colormap, heat, strip_png


def test_whatif_spec_leaves_out_identity_edits():
    assert whatif_spec(1.0, 0, 0, 0, [], 8, None) == {}
    spec = whatif_spec(1.2, 30, -15, 0.5, ["horizontal", "vertical"], 6, [3, 4])
    assert spec == {"brightness": {"factor": 1.2}, "hue": 30.0, "rotate": -15.0, "blur": 0.5,
                    "flip": "both", "occlude": {"x": 3, "y": 4, "size": 6, "fill": "gray"}}
    assert whatif_spec(1.0, 0, 0, 0, ["vertical"], 8, None) == {"flip": "vertical"}


def test_edited_image_identity_and_edits(demo_model, cifar_sample):
    img, label = cifar_sample.images[0], int(cifar_sample.labels[0])
    same = edited_image(demo_model, img, label, {"edits": {}, "fgsm": 0})
    np.testing.assert_array_equal(same, img)
    assert is_identity({"edits": {}, "fgsm": 0}) and not is_identity({"edits": {}, "fgsm": 2})
    flipped = edited_image(demo_model, img, label, {"edits": {"flip": "horizontal"}})
    np.testing.assert_array_equal(flipped, img[:, ::-1])
    attacked = edited_image(demo_model, img, label, {"edits": {}, "fgsm": 4})
    change = np.abs(attacked.astype(int) - img.astype(int))
    assert change.max() <= 4 and change.mean() > 1
    p = demo_model.predict_proba(np.stack([img, attacked]))
    assert p[1, label] < p[0, label]  # FGSM pushes away from the true class


class _Workspace:
    """The two calls focused_image makes, on real objects (a Dataset and the demo adapter)."""

    def __init__(self, adapter, ds):
        self.adapter, self.ds = adapter, ds

    def model(self, _id):
        return self.adapter

    def dataset(self, _m, _d):
        return self.ds


def test_focused_image_from_dataset_and_picture(demo_model):
    ds = Dataset(np.arange(2 * 32 * 32 * 3, dtype=np.uint8).reshape(2, 32, 32, 3) % 255,
                 [3, -1], tuple("abcd"), "test")
    ws, rendered = _Workspace(demo_model, ds), {"model": "demo", "data": "default"}
    pixels, label, caption = focused_image(ws, rendered, 0)
    assert label == 3 and caption == "image #0" and pixels.shape == (32, 32, 3)
    assert focused_image(ws, rendered, 1)[1] is None        # unlabelled
    assert focused_image(ws, rendered, 99)[2] == "image #1"  # clamped
    big = np.zeros((64, 48, 3), np.uint8)
    big[:, :24] = 255
    png = image_uri(big).split(",", 1)[1]
    pixels, label, caption = focused_image(ws, rendered, 0, {"png": png, "name": "mine.png"})
    assert pixels.shape == (32, 32, 3) and label is None and caption == "mine.png"
    assert pixels[:, :10].min() > 200 and pixels[:, -10:].max() < 50  # resized, not cropped
    # an upload is stored as the model sees it, and reads back the same
    import base64

    from deepling.data.images import encode_png

    stored = picture_from_upload(demo_model, encode_png(big), "mine.png")
    again, _, caption = focused_image(ws, rendered, 0, stored)
    np.testing.assert_array_equal(again, pixels)
    assert caption == "mine.png" and base64.b64decode(stored["png"])[:4] == b"\x89PNG"


def test_heat_and_strip_png():
    lut = colormap()
    assert lut.shape == (256, 3) and lut.dtype == np.uint8
    h = heat(np.array([[0.0, 5.0], [10.0, 20.0]]), vmax=10)
    np.testing.assert_array_equal(h[1, 1], lut[255])  # clipped at vmax
    np.testing.assert_array_equal(h[0, 0], lut[0])
    frames = [np.full((8, 8, 3), v, np.uint8) for v in (0, 128, 255)]
    png = strip_png(frames, [heat(np.ones((8, 8)))] * 3, ["a\nb"] * 3, "title", scale=4)
    img = Image.open(io.BytesIO(png))
    assert img.size[0] == 8 + 3 * (32 + 8) and img.size[1] > 64


def test_the_pick_is_offered_as_the_strips_image_and_counted_in_the_grid():
    from deepling.web.views.data import grid_count
    from deepling.web.views.strip import SUBSET_SHOWN, subset_chooser

    assert subset_chooser(None, "demo/default") == [] == subset_chooser([], "demo/default")
    note, row = subset_chooser(list(range(30, 0, -1)), "demo/default", focus=3)
    buttons = row.children
    assert [b.id["index"] for b in buttons] == list(range(1, SUBSET_SHOWN + 1))
    assert note.children == "30 picked: click one" and "all in the data view" in note.title
    assert "dl-data-focused" in buttons[2].className and "dl-data-focused" not in buttons[0].className
    assert buttons[0].children.src == "/api/images/demo/default/1.png"
    assert grid_count(7, 7, None, 30) == "7 images match among the 30 picked"
    assert grid_count(0, 0, None, 30).startswith("No image among the 30 picked matches")
    assert grid_count(120, 96, "index") == "120 images match · the first 96 dataset order"
