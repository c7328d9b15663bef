"""A new user's first hour (#24): unlabelled images, labels that are not the model's
classes, links that reproduce the view — the library and service side, on real data."""

import numpy as np
import pytest
from PIL import Image

from deepling.data import load_image_folder
from deepling.service.selection import choose_images, from_query, normalise, to_query


def ids_in(component) -> set[str]:
    """Every string id in a Dash component tree."""
    out, stack = set(), [component]
    while stack:
        c = stack.pop()
        if isinstance(c, (list, tuple)):
            stack.extend(c)
            continue
        if isinstance(getattr(c, "id", None), str):
            out.add(c.id)
        children = getattr(c, "children", None)
        if children is not None and not isinstance(children, str):
            stack.append(children)
    return out


def text_of(component) -> str:
    parts, stack = [], [component]
    while stack:
        c = stack.pop()
        if isinstance(c, str):
            parts.append(c)
        elif isinstance(c, (list, tuple)):
            stack.extend(c)
        elif c is not None and not isinstance(c, (int, float)):
            stack.append(getattr(c, "children", None))
            for attr in ("title", "label"):
                if isinstance(getattr(c, attr, None), str):
                    parts.append(getattr(c, attr))
    return " ".join(parts)


@pytest.fixture(scope="module")
def folders(cifar_sample, tmp_path_factory):
    """A flat folder of 12 images (no labels) and a 3-class folder (cat, dog, ship)."""
    root = tmp_path_factory.mktemp("first-hour")
    flat, three = root / "flat", root / "three"
    flat.mkdir()
    for i in range(12):
        Image.fromarray(cifar_sample.images[i * 15]).save(flat / f"photo{i:02d}.png")
    names = cifar_sample.class_names
    for k in (3, 5, 8):
        (three / names[k]).mkdir(parents=True)
        for i in np.flatnonzero(cifar_sample.labels == k)[:4]:
            Image.fromarray(cifar_sample.images[i]).save(three / names[k] / f"{i}.png")
    return flat, three


def workspace_on(path):
    from deepling.service.config import Config
    from deepling.service.workspace import Workspace

    return Workspace(Config.from_env(model=None, data=str(path)))


def test_a_flat_folder_is_unlabelled_and_says_how_to_give_labels(folders):
    ds = load_image_folder(folders[0])
    assert len(ds) == 12 and not ds.labelled and (ds.labels == -1).all()
    assert "unlabelled" in ds.describe() and "0 classes" not in ds.describe()
    assert any("<class>/" in n for n in ds.notes), ds.notes


def test_unlabelled_images_can_be_animated_but_not_as_errors():
    labels, predicted = np.full(30, -1), np.arange(30) % 10
    for mode in ("classes", "random"):  # the page's default choice (per class) takes any images
        assert len(choose_images(labels, predicted, {"mode": mode, "count": 20}, 0)) == 20
    with pytest.raises(ValueError, match="no labels"):
        choose_images(labels, predicted, {"mode": "misclassified"}, 0)


def test_the_page_on_unlabelled_images_colours_by_prediction_and_says_why(folders, capsys):
    from deepling.web.cli import _say_data_notes
    from deepling.web.views.shell import page

    ws = workspace_on(folders[0])
    m, d = ws.default_model_id, ws.default_data_id
    nav, views, _ = page(ws, m, d)
    ids = ids_in(nav)
    assert "nav-unlabelled" in ids and "nav-accuracy" not in ids
    assert ws.class_names(m, d)[0] == "airplane"  # the demo CNN names its own outputs
    view_ids = ids_in(views)
    assert "data-no-matrix" in view_ids
    _say_data_notes(ws)  # what `--data flat.zip` prints at the start
    assert "<class>/" in capsys.readouterr().out


def test_labels_that_are_not_the_models_classes_keep_their_names(folders):
    from deepling.web.views.data import grid_tiles
    from deepling.web.wire import shown_names
    from deepling.web.views.shell import page
    from deepling.web.views.strip import focus_card

    ws = workspace_on(folders[1])
    m, d = ws.default_model_id, ws.default_data_id
    nav, views, _ = page(ws, m, d)
    ids = ids_in(nav)
    assert "nav-mismatch" in ids and "nav-accuracy" not in ids, ids
    assert "don't match" in text_of(nav)
    assert ws.label_names(m, d) == ("cat", "dog", "ship")
    names, offset = shown_names(ws.class_names(m, d), ws.label_names(m, d))
    assert names[:3] == ["cat", "dog", "ship"] and offset == 3 and len(names) == 13
    ds, preds = ws.dataset(m, d), ws.predictions(m, d)
    i = int(np.flatnonzero(ds.labels == 2)[0])  # a ship
    tile = grid_tiles([i], ds.labels, preds.predicted, preds.confidence, ws.class_names(m, d),
                      f"{m}/{d}", label_names=ws.label_names(m, d))[0]
    assert tile.title.startswith(f"#{i}: true ship, predicted "), tile.title
    card = text_of(focus_card(ds.images[i], "", 2, preds.probabilities[i], ws.class_names(m, d),
                              ws.label_names(m, d)))
    assert "ship" in card and "true" in card


@pytest.mark.parametrize("choice", [
    {"mode": "classes", "classes": [3, 5], "count": 5},
    {"mode": "random", "count": 40, "seed": 7},
    {"mode": "cell", "true": 3, "predicted": 5, "count": 9},
    {"mode": "indices", "indices": [4, 8, 15, 16, 23, 42], "count": 50},
])
def test_a_choice_survives_its_link(choice):
    """What the address bar says (selection.to_query, which the page writes) chooses the
    same images again: the link is the view."""
    c = normalise(choice, 10)
    again = normalise(from_query(to_query(c)), 10)
    assert again == c


def test_histogram_legend_says_how_many_images_of_how_many():
    from deepling.service.layers import sample_label

    assert sample_label(64, 500) == "64 of the 500 animated images (evenly spread)"
    assert sample_label(20, 20) == "the 20 animated images"


def test_pause_is_answered_at_once_and_says_until_the_run_halts():
    """The button follows what was asked (the control), the status what the run does."""
    from deepling.web.views.training import steering

    running = "running — epoch 1, batch 3/6"
    assert steering("running", "run", running) == (running, "Pause")
    status, button = steering("running", "pause", running)  # asked, the batch still going
    assert button == "Resume" and status.startswith("pausing")
    assert steering("paused", "pause", "paused") == ("paused", "Resume")
    assert steering("paused", "run", "paused") == ("resuming…", "Pause")
    assert steering("stopped", "pause", "stopped: by the user")[1] == "Pause"


def test_a_run_from_the_demo_cnn_is_not_the_open_uploads_training(tmp_path):
    from deepling.service.training import RunStore, trains_model
    from deepling.web.views.animation import training_choices

    store = RunStore(tmp_path)
    fresh = store.create("a", {"model": "u1", "config": {"source": "demo"}}, max_runs=3)
    copy = store.create("b", {"model": "u1", "config": {"source": "copy"}}, max_runs=3)
    assert not trains_model(store, fresh, "u1") and trains_model(store, copy, "u1")
    assert trains_model(store, fresh, "demo")  # fresh demo weights train the demo CNN
    # the snapshot picker opens on "the open model", never on Select's blank placeholder ("")
    epochs, _ = training_choices([(1, None)], ["fc2"])
    assert epochs[0]["label"] == "the open model" and epochs[0]["value"] != ""


def test_a_strip_targets_a_unit_that_moves_the_image(demo_model, cifar_sample):
    """A pattern's unit that does not fire on the image has a zero gradient (its strip
    would be eight black change maps): live_target passes it over for one that fires."""
    from deepling.methods import Channel, feature_maps, live_target, target_gradient

    image = cifar_sample.images[0]
    fm = feature_maps(demo_model, image, "conv3b")
    peaks = np.asarray(fm.maps).reshape(len(fm.channels), -1).max(1)
    dead = int(fm.channels[int(np.argmin(peaks))])
    live = int(fm.channels[int(np.argmax(peaks))])
    assert peaks.min() <= 0, "every conv3b channel fires on this image"
    assert target_gradient(demo_model, image, Channel("conv3b", dead)) == 0
    assert live_target(demo_model, image, [Channel("conv3b", dead), Channel("conv3b", live)]) \
        == Channel("conv3b", live)
    assert live_target(demo_model, image, [Channel("conv3b", dead)]) is None


def test_a_new_runs_charts_keep_nothing_of_the_last():
    """Each chart's uirevision is the run's: Plotly keeps no axis range or zoom across runs."""
    from deepling.web.views.training import fresh_figures

    first, second = fresh_figures("r1", []), fresh_figures("r2", [])
    revisions = [f.layout.uirevision for f in first + second]
    assert len(set(revisions)) == len(revisions), revisions
