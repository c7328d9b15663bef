"""The shape workshop's library and class activation maximisation, on real small models."""

import numpy as np
import pytest

from deepling.methods import Channel, class_image, class_images
from deepling.shapes import (SHAPES, abs_pearson, build_model, palette, run_workshop,
                             shape_dataset, shape_image, train_model)

LINES = ["vertical line", "horizontal line"]
FOUR = ["vertical line", "horizontal line", "circle", "hollow square"]
EIGHT = ["vertical line", "horizontal line", "diagonal", "anti-diagonal", "circle", "hollow circle",
         "noise", "blurred noise"]


@pytest.fixture(scope="module")
def lines_runs():
    """Vertical vs horizontal line, MLP and CNN, the workshop's defaults."""
    images = [shape_image(n) for n in LINES]
    return {kind: run_workshop(images, LINES, kind) for kind in ("mlp", "cnn")}


@pytest.fixture(scope="module")
def four_cnn():
    ds = shape_dataset([shape_image(n) for n in FOUR], FOUR)
    net = build_model("cnn", len(FOUR), ds.image_shape)
    accuracy, _ = train_model(net, ds)
    return net, ds, accuracy


def test_palette_has_shapeshops_set():
    p = palette()
    assert set(p) >= {"vertical line", "horizontal line", "diagonal", "anti-diagonal", "circle",
                      "hollow circle", "square", "hollow square", "triangle", "cross", "noise",
                      "blurred noise"}
    for name, img in p.items():
        assert img.shape == (28, 28, 1) and img.dtype == np.uint8, name
        assert set(np.unique(img)) <= {0, 255} and 0 < (img > 0).mean() < 0.8, name
    # every pair of shapes differs: each can be its own class
    flat = [img.ravel() for img in p.values()]
    assert len({f.tobytes() for f in flat}) == len(SHAPES)


def test_training_data_are_the_image_and_noisy_copies():
    ds = shape_dataset([shape_image(n) for n in LINES], LINES)
    assert len(ds) == 22 and ds.class_names == tuple(LINES)
    assert np.array_equal(ds.images[0], shape_image(LINES[0]))
    copies = ds.images[1:11].astype(float)
    assert 0 < np.abs(copies - ds.images[0]).mean() < 60  # noisy, yet the same shape
    with pytest.raises(ValueError, match="at least two"):
        shape_dataset([shape_image("circle")], ["circle"])


@pytest.fixture(scope="module")
def eight_runs():
    """ShapeShop's hardest set, the four lines with two circles and two noises: MLP and CNN,
    the workshop's defaults."""
    images = [shape_image(n) for n in EIGHT]
    return {kind: run_workshop(images, EIGHT, kind) for kind in ("mlp", "cnn")}


def test_workshop_models_learn_the_shapes(lines_runs, four_cnn, eight_runs):
    for kind, run in {**lines_runs, **{f"8 {k}": r for k, r in eight_runs.items()}}.items():
        assert run.accuracy >= 0.99, kind
    assert four_cnn[2] >= 0.99


def test_each_line_image_looks_more_like_its_own_class(lines_runs):
    v, h = shape_image(LINES[0]), shape_image(LINES[1])
    for kind, run in lines_runs.items():
        gv, gh = (g.image for g in run.generated)
        assert abs_pearson(gv, v) > abs_pearson(gv, h), kind
        assert abs_pearson(gh, h) > abs_pearson(gh, v), kind
        assert np.allclose(run.correlations, [abs_pearson(gv, v), abs_pearson(gh, h)])


def test_line_class_images_are_readable_from_the_default_start(eight_runs):
    """On the eight classes, from the default start (dark gray) each line class's image
    correlates with its own class more than with any other, for the CNN as for the MLP.
    From black the CNN's ReLUs passed no gradient: near-black images, |r| 0.05-0.5."""
    from deepling.shapes.workshop import IMAGE_START

    images = [shape_image(n) for n in EIGHT]
    for kind, run in eight_runs.items():
        assert run.settings["start"] == IMAGE_START == "dark gray"
        r = np.array([[abs_pearson(g.image, own) for own in images] for g in run.generated])
        for k in range(4):
            others = np.delete(r[k], k)
            assert r[k, k] > others.max(), (kind, EIGHT[k], r[k].round(2))
            assert r[k, k] > 0.5 and run.generated[k].probability > 0.9, (kind, EIGHT[k])


def test_regularised_ascent_raises_the_score_and_keeps_pixels_in_range(four_cnn):
    net, ds, _ = four_cnn
    for start in ("black", "noise"):
        r = class_image(net, 2, start=start, steps=120)  # defaults: Fourier, jitter, TV
        s = r.scores
        assert len(s) == 121 and s[-1] > s[0] + 1.0
        # monotone within noise: a running mean over 10 steps never drops by more than
        # 5 % of the total rise (jitter makes single steps noisy)
        smooth = np.convolve(s, np.ones(10) / 10, mode="valid")
        drops = np.maximum.accumulate(smooth) - smooth
        assert drops.max() <= 0.05 * (s.max() - s.min()) + 1e-6, (start, drops.max())
        assert r.image.dtype == np.uint8 and r.image.shape == (28, 28, 1)
        assert r.image.min() >= 0 and r.image.max() <= 255 and r.image.std() > 0
        assert r.probability > 0.9


def test_class_image_on_a_plain_keras_model():
    import keras

    keras.utils.set_random_seed(3)
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))
    r = class_image(model, 1, steps=40, start="blurred noise")
    assert r.image.shape == (16, 16, 3) and r.scores[-1] > r.scores[0]
    assert r.target == 1 and r.score_name == "logit"
    # Penalties are in score units: tiny activations of an untrained layer need them off.
    ch = class_image(model, Channel("conv", 2), steps=40, parameterization="pixel", start="noise",
                     tv_weight=0, jitter=0)
    assert ch.probability is None and ch.scores[-1] > ch.scores[0]
    both = class_images(model, [0, 2], steps=5)
    assert [b.target for b in both] == [0, 2]
    with pytest.raises(ValueError, match="Unknown start"):
        class_image(model, 0, start="purple")
    with pytest.raises(ValueError, match="out of range"):
        class_image(model, 7)


def test_workshop_run_opens_in_the_workspace_like_an_upload(tmp_path):
    from deepling.service.config import Config
    from deepling.service.shapes import cached_workshop, run_workshop_job, workshop_key
    from deepling.service.workspace import Workspace

    params = {"classes": [{"name": "vertical line"},
                          {"name": "dot", "pixels": [255 if 400 <= i < 410 else 0 for i in range(784)]}],
              "model": "mlp", "start": "black", "step_size": 0.1, "epochs": 10, "seed": 0}
    ws = Workspace(Config(model=None, data=str(tmp_path)))
    out = run_workshop_job(ws, params)
    assert cached_workshop(ws, workshop_key(params)) is not None
    model_id, data_id = str(out["model_id"]), str(out["data_id"])
    # a second workspace (another process) finds both on disk
    other = Workspace(Config(model=None, data=str(tmp_path)))
    adapter, data = other.model(model_id), other.dataset(model_id, data_id)
    assert adapter.input_range == (0.0, 255.0) and data.class_names == ("vertical line", "dot")
    assert other.predictions(model_id, data_id).probabilities.shape == (len(data), 2)


@pytest.mark.slow
def test_demo_class_images_look_like_the_data(demo_model, cifar_test):
    """The demo CNN's ten class images (the defaults: Lucid's colour weights, logit and
    log-probability): each reaches p ≥ 0.99 for its class with a mean HSV saturation within
    0.1 of CIFAR-10's photographs (it was 0.50-0.65 against 0.28 with an unweighted colour
    basis and the logit alone)."""
    from deepling.methods.class_image import hsv_saturation

    data = float(hsv_saturation(cifar_test.images).mean())
    out = class_images(demo_model, list(range(10)))
    sat = hsv_saturation(np.stack([r.image for r in out]))
    for r, s in zip(out, sat):
        assert r.probability >= 0.99, (r.target, r.probability)
        assert abs(s - data) <= 0.1, (r.target, round(float(s), 3), round(data, 3))
