"""Deepling outside the app: plot helpers on results from a plain keras.Model, in-memory
models and arrays in a workspace, the comparison's arithmetic, precompute and the report."""

import dataclasses

import numpy as np
import plotly.graph_objects as go
import pytest

from deepling.data import DataError, dataset_from_arrays
from deepling.methods import adversarial_strip, gradcam, robustness_curves
from deepling.projection import layer_sequence
from deepling.projection.compare import align_to_reference, match_by_depth
from deepling.service.compare import compare_predictions
from deepling.service.config import Config
from deepling.service.workspace import Predictions, Workspace


@pytest.fixture(scope="module")
def plain(demo_model):
    return demo_model.model  # a keras.Model, as a notebook holds it


def test_plot_helpers_on_results_of_a_plain_keras_model(plain, cifar_sample):
    x, y, names = cifar_sample.images[:30], cifar_sample.labels[:30], cifar_sample.class_names
    strip = adversarial_strip(plain, x[0], target=7, steps=7)
    fig = strip.plot(names)
    assert isinstance(fig, go.Figure) and sum(t.type == "image" for t in fig.data) == 16
    assert "horse" in fig.layout.title.text

    seq = layer_sequence(plain, x, n_directions=6)
    one = seq.plot(layer="conv2b", labels=y, class_names=names)
    assert "conv2b" in one.layout.title.text
    assert sum(len(t.x) for t in one.data) == len(x)  # every image, split by class
    assert len(seq.plot(labels=y).frames) == len(seq)  # all layers: an animation
    with pytest.raises(KeyError, match="conv2b"):
        seq.plot(layer="no_such_layer")

    cam = gradcam(plain, x[0])
    assert [t.type for t in cam.plot(x[0], names).data] == ["image", "heatmap", "image", "heatmap"]
    curves = robustness_curves(plain, x[:10], y[:10], "noise", magnitudes=[0, 32])
    assert curves.plot(names).data[-2].name == "accuracy"


def test_in_memory_model_and_arrays_are_registered_without_files(demo_model, cifar_sample, tmp_path):
    workspace = Workspace(dataclasses.replace(Config(), cache=tmp_path))
    floats = cifar_sample.images[:40].astype(np.float32) / 255.0  # a notebook's 0..1 arrays
    ds = dataset_from_arrays(floats, np.eye(10)[cifar_sample.labels[:40]], cifar_sample.class_names)
    np.testing.assert_array_equal(ds.images, cifar_sample.images[:40])
    model_id, data_id = workspace.register(demo_model, ds, default=True)
    assert model_id.startswith("mem-") and data_id.startswith("mem-")
    assert (workspace.default_model_id, workspace.default_data_id) == (model_id, data_id)
    assert workspace.model() is demo_model and workspace.registered("model") == [model_id]
    assert workspace.predictions().probabilities.shape == (40, 10)
    # the same objects get the same ids; nothing beside the cache was written
    assert workspace.register(demo_model, ds) == (model_id, data_id)
    assert {p.name for p in tmp_path.iterdir()} <= {"predictions", "uploads"}
    with pytest.raises(DataError, match="x must be"):
        dataset_from_arrays(np.zeros((3, 4)), [0, 1, 2])


def test_layers_matched_by_relative_depth():
    assert match_by_depth(5, 5).tolist() == [0, 1, 2, 3, 4]
    assert match_by_depth(3, 9).tolist() == [0, 4, 8]
    assert match_by_depth(9, 3).tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert match_by_depth(1, 4).tolist() == [0]


def test_second_model_is_turned_onto_the_first(plain, cifar_sample):
    x = cifar_sample.images[:40]
    a = layer_sequence(plain, x, n_directions=6)
    # the same layouts mirrored and rotated: alignment must undo it
    turn = np.array([[0.0, -1.0], [-1.0, 0.0]])
    b = dataclasses.replace(a, layouts=(np.asarray(a.layouts) @ turn).astype(np.float32))
    aligned, matched = align_to_reference(a, b)
    assert matched.tolist() == list(range(len(a)))
    live = ~np.asarray(a.collapsed)
    np.testing.assert_allclose(aligned.layouts[live], a.layouts[live], atol=1e-4)
    with pytest.raises(ValueError, match="same images"):
        align_to_reference(a, layer_sequence(plain, x[:20], n_directions=6))


def test_comparison_difference_sums_to_zero():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 200)
    labels[:5] = -1  # unlabelled images count in neither matrix
    pa = Predictions(np.eye(4, dtype=np.float32)[np.where(rng.random(200) < 0.8, labels.clip(0), 2)])
    pb = Predictions(np.eye(4, dtype=np.float32)[np.where(rng.random(200) < 0.5, labels.clip(0), 1)])
    c = compare_predictions(labels, pa, pb, 4)
    assert c.difference.sum() == 0 and c.cm_a.sum() == c.cm_b.sum() == 195
    right_a, right_b = pa.predicted == labels, pb.predicted == labels
    assert set(c.only_a) == set(np.flatnonzero(right_a & ~right_b))
    assert set(c.only_b) == set(np.flatnonzero(right_b & ~right_a))
    np.testing.assert_allclose(c.accuracy_a, [right_a[labels == k].mean() for k in range(4)])


def test_precompute_fills_the_cache_the_app_reads(cifar_sample, tmp_path, capsys):
    from deepling.service.robustness import cached_robustness
    from deepling.service.projections import ProjectionService, Request
    from deepling.web.cli import main
    from deepling.web.views.testing import DEFAULT_SAMPLE

    npz = tmp_path / "sample.npz"
    pick = np.concatenate([np.flatnonzero(cifar_sample.labels == k)[:3] for k in range(10)])
    np.savez(npz, x=cifar_sample.images[pick], y=cifar_sample.labels[pick])
    assert main(["precompute", "--data", str(npz)]) == 0
    out = capsys.readouterr().out
    assert "[100%] done" in out and "Cached:" in out and "layer animation of 30 images" in out

    # what the first page asks for is already there: no job needed
    workspace = Workspace(Config.from_env(data=str(npz)))
    service = ProjectionService(workspace)
    choice, _ = service.choose("demo", "default", {})
    request = Request(service.key("demo", "default", choice), "demo", "default", choice)
    assert service.result(request) is not None
    assert cached_robustness(workspace, "demo", "default", DEFAULT_SAMPLE) is not None
    assert main(["report", "--data", str(tmp_path / "missing")]) == 2
