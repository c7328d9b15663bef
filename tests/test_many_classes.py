"""A 1,000-way head (ImageNet's size): class codes, colours, pickers, top confusions and the
model's own class names, without a browser (test_many_classes_browser.py drives the page)."""

import json
import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def test_class_codes_and_payload_keep_classes_past_255():
    from deepling.web.wire import UNKNOWN, b64, class_codes, decode

    codes = class_codes([0, 254, 255, 999, -1])
    assert codes.dtype == np.uint16 and codes.tolist() == [0, 254, 255, 999, UNKNOWN]
    payload = {"labels": b64(codes)}
    assert decode(payload, "labels").tolist() == codes.tolist()


def test_a_palette_for_any_number_of_classes():
    from deepling.web.views.common import PALETTE, class_color, palette_rgb

    colours = [class_color(k) for k in range(1000)]
    assert colours[:10] == list(PALETTE)  # the demo's ten colours are unchanged
    assert len(set(colours)) == 1000  # no two classes share a colour
    assert all(len(c) == 7 and c.startswith("#") for c in colours)
    rgb = palette_rgb(1000)
    assert len(rgb) == 1000 and all(0 <= v <= 255 for c in rgb for v in c)
    # neighbours in index are told apart (the lightness steps with the index)
    diffs = [np.abs(np.subtract(rgb[k], rgb[k + 1])).sum() for k in range(10, 999)]
    assert min(diffs) > 40


def test_class_pickers_are_searchable_for_many_classes():
    import dash_bootstrap_components as dbc
    from dash import dcc

    from deepling.web.views.common import class_picker

    few = class_picker("p", [{"label": str(k), "value": str(k)} for k in range(10)], "0")
    many = class_picker("p", [{"label": f"class {k}", "value": str(k)} for k in range(1000)], "0")
    assert isinstance(few, dbc.Select)
    assert isinstance(many, dcc.Dropdown) and many.searchable and many.value == "0"


def test_top_confusions_are_the_largest_off_diagonal_cells():
    from deepling.evaluation import scores, top_confusions
    from deepling.web.views.data import confusion_section, top_confusions_figure

    cm = np.zeros((1000, 1000), int)
    np.fill_diagonal(cm, 50)  # right answers never count
    cm[281, 282], cm[282, 281], cm[3, 999], cm[7, 8] = 9, 4, 9, 1
    assert top_confusions(cm, 3) == [(3, 999, 9), (281, 282, 9), (282, 281, 4)]
    assert len(top_confusions(cm, 100)) == 4  # zero cells are left out
    labels = np.repeat(np.arange(6), 5)
    predicted = labels.copy()
    predicted[[0, 1, 2]] = 999  # three of class 0 called 999
    predicted[5] = 500
    names = [f"n{k}" for k in range(1000)]
    s = scores(labels, predicted, 1000)
    fig = top_confusions_figure(s, names)
    bar = fig.data[0]
    assert list(bar.y) == ["n0 → n999", "n1 → n500"] and list(bar.x) == [3, 1]
    assert [list(c)[:2] for c in bar.customdata] == [[0, 999], [1, 500]]
    assert bar.customdata[0][2] == 60.0  # % of the true class
    section = confusion_section(s, names)
    assert section[1].hidden is False and section[1].children.value == "top"
    assert confusion_section(scores(labels % 3, labels % 3, 3), names[:3])[1].hidden is True


@pytest.fixture(scope="module")
def head_1000():
    import keras

    inp = keras.Input((8, 8, 3))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inp))
    return keras.Model(inp, keras.layers.Dense(1000, activation="softmax", name="predictions")(x),
                       name="resnet50")


def test_class_names_a_model_carries_and_imagenets_from_the_keras_cache(head_1000, tmp_path,
                                                                        monkeypatch):
    from deepling.models import as_adapter
    from deepling.models.class_names import is_imagenet_head, model_class_names

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert is_imagenet_head(head_1000)
    # offline and nothing cached: no names (the views show indices), and no download tried
    assert model_class_names(head_1000) is None
    assert as_adapter(head_1000).class_names(None)[:2] == ("0", "1")
    # the class index Keras caches in ~/.keras/models
    (tmp_path / "models").mkdir()
    index = {str(k): [f"n{k:08d}", f"name_{k}"] for k in range(1000)}
    index["281"][1] = "tabby"
    (tmp_path / "models" / "imagenet_class_index.json").write_text(json.dumps(index))
    names = model_class_names(head_1000)
    assert len(names) == 1000 and names[281] == "tabby"
    # names the model carries win
    head_1000.class_names = [f"own {k}" for k in range(1000)]
    try:
        assert model_class_names(head_1000)[5] == "own 5"
    finally:
        del head_1000.class_names
