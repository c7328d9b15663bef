"""What the callbacks used to compute themselves, now service functions tested plainly (no
browser): the training poll's reading of deltas and the page's control of a run, a job named
without starting it, the testing view's explanations and embedding, the sample jobs' notes."""

from types import SimpleNamespace

import numpy as np
import pytest

from deepling.service import explanations
from deepling.service.services import Services
from deepling.service.training import RunStore, TrainingService, read_deltas
from deepling.web.views.testing import RANKING_JOB, ROBUSTNESS_JOB


def test_read_deltas_folds_the_run_record_and_says_what_came():
    run = {"run": "r1", "seq": 3, "layers": [], "vetted": 1}
    deltas = [{"start": {"batches_per_epoch": 5}},
              {"batches": {"step": [1, 2, 3]}, "epochs": [{"epoch": 0}]},
              {"filters": {"conv1": [1]}, "freezes": ["conv1"]},
              {"epochs": [{"epoch": 1, "val_accuracy": 0.5}], "filters": {"conv1": [2]}},
              {"saved": {"model": "mem-1", "name": "x.keras"}, "vetted": 2}]
    seen = read_deltas(run, deltas)
    assert seen.run == {**run, "per_epoch": 5, "step": 3, "val": (1, 0.5), "vetted": 2}
    assert run["vetted"] == 1  # the page's record is not changed in place
    assert seen.filters == {"conv1": [2]} and seen.froze
    assert seen.saved == {"model": "mem-1", "name": "x.keras"} and seen.epoch == 2
    quiet = read_deltas(run, [])
    assert (quiet.saved, quiet.filters, quiet.froze, quiet.epoch) == (None, None, False, None)
    assert read_deltas(run, [{"saved": {"model": None}}]).saved is None  # a failed save


def test_the_control_of_a_run_is_read_through_the_service(tmp_path):
    service = TrainingService(None, None, RunStore(tmp_path))
    assert service.control("nothing") == {"command": "run", "frozen": []}
    run = service.store.create("s1", {"model": "demo", "data": "default", "config": {}}, 1)
    service.command(run, "pause")
    assert service.toggle_frozen(run, "conv1") == ["conv1"]
    assert service.control(run) == {"command": "pause", "frozen": ["conv1"]}
    assert service.toggle_frozen(run, "conv1") == []


def test_a_job_is_named_without_starting_it():
    calls = []
    jobs = SimpleNamespace(submit=lambda name, params, owner: calls.append(("submit", name, owner)) or "k1",
                           prepare=lambda name, params: calls.append(("prepare", name)) or (None, params, "k2"))
    services = Services(None, None, jobs, None, None, None, None, owner=lambda: "alice")
    assert services.request("robustness", {"size": 10}, start=False) == "k2"
    assert services.request("robustness", {"size": 10}) == "k1"
    assert calls == [("prepare", "robustness"), ("submit", "robustness", "alice")]


def test_the_sample_jobs_say_how_to_start_them():
    assert RANKING_JOB.not_yet({"size": 1000}).startswith("Not ranked yet on 1,000 images: press Rank methods")
    assert ROBUSTNESS_JOB.not_yet({"size": 200}).startswith("Not run yet on 200 images: press Run simulation")
    assert RANKING_JOB.layered and not ROBUSTNESS_JOB.layered


@pytest.fixture(scope="module")
def workspace(cifar_sample, tmp_path_factory):
    from deepling.service.config import Config
    from deepling.service.workspace import Workspace

    folder = tmp_path_factory.mktemp("thin")
    np.savez(folder / "s.npz", x=cifar_sample.images, y=cifar_sample.labels,
             class_names=np.array(cifar_sample.class_names))
    return Workspace(Config(data=str(folder / "s.npz"), cache=folder / "cache"))


def test_explain_focus_explains_the_image_and_its_edited_copy(workspace):
    rendered = {"model": "demo", "data": "default"}
    label, rows, problem = explanations.explain_focus(workspace, rendered, 3, None, None, None,
                                                      ["saliency"], None)
    assert label == int(workspace.dataset("demo", "default").labels[3]) and problem is None
    assert [r[0] for r in rows] == ["image"] and set(rows[0][3]) == {"saliency"}
    assert rows[0][4].shape == (10,)  # the class probabilities
    _, rows, problem = explanations.explain_focus(workspace, rendered, 3, None, None, None, ["saliency"],
                                                  {"edits": {"rotate": 15.0}, "fgsm": 0})
    assert [r[0] for r in rows] == ["image", "edited"] and problem is None
    assert not np.array_equal(rows[0][2], rows[1][2])


def test_the_embedding_lays_out_a_sample_or_says_why_not(workspace, monkeypatch):
    from deepling.service.projections import ProjectionService

    projections = ProjectionService(workspace)
    idx, source, layer, layout = explanations.embedding(workspace, projections, "demo", "default", None)
    assert source == "a stratified sample" and layout.shape == (len(idx), 2) and layer
    monkeypatch.setattr(explanations, "EMBED_DEFAULT", 1)
    monkeypatch.setattr(explanations, "stratified_sample", lambda labels, n, seed: np.array([0]))
    with pytest.raises(ValueError, match="at least 2 images"):
        explanations.embedding(workspace, projections, "demo", "default", None)


def test_the_raw_choice_is_the_links_or_the_controls():
    from deepling.service.selection import raw_choice

    query = {"mode": "cell", "true": 3, "predicted": 5, "count": 9, "layer": "fc2", "seed": 1}
    assert raw_choice(query) == {"mode": "cell", "true": 3, "predicted": 5, "count": 9, "seed": 1}
    controls = {"mode": "random", "classes": None, "count": 100, "method": "landmarks", "frames": "all"}
    assert raw_choice(query, controls) == {**controls, "true": 3, "predicted": 5, "indices": None}


class _Projections:
    def __init__(self):
        self.calls = []

    def submit(self, model, data, raw, owner):
        self.calls.append(("layers", model, owner))
        return SimpleNamespace(to_dict=lambda: {"key": "k", "model": model, "data": data, "choice": raw})

    def submit_epochs(self, model, data, raw, along, snapshots, owner):
        self.calls.append(("epochs", along, [label for label, _ in snapshots]))
        return SimpleNamespace(to_dict=lambda: {"key": "e", "model": model, "data": data, "choice": raw})


class _Runs:
    def __init__(self, snapshots):
        self._snapshots = snapshots

    def run_of(self, model, run):
        return "r1"

    def snapshots(self, run_id):
        return self._snapshots

    def run_layers(self, run_id):
        return ["conv1", "fc2", "predictions"]

    def snapshot_model(self, run_id, epoch):
        return f"snap-{epoch}"


def test_ask_starts_the_projection_the_animation_asks_for():
    from deepling.service.projections import ACROSS_LAYERS, ACROSS_TRAINING, ask

    projections, two = _Projections(), _Runs([(0, "a"), (1, "b")])
    request, across, along = ask(projections, two, "demo", "default", {}, across=ACROSS_LAYERS,
                                 owner="alice", layer="fc2")
    assert request == {"key": "k", "model": "demo", "data": "default", "choice": {}, "open": "demo",
                       "across": ACROSS_LAYERS, "layer": "fc2", "snapshot": None}
    request, _, _ = ask(projections, two, "demo", "default", {}, across=ACROSS_LAYERS, snapshot="1")
    assert request["model"] == "snap-1" and request["open"] == "demo" and request["snapshot"] == "epoch 1"
    request, across, along = ask(projections, two, "demo", "default", {}, across=ACROSS_TRAINING,
                                 start="epoch 1")
    assert (across, along, request["along"], request["start"]) == (ACROSS_TRAINING, "fc2", "fc2", "epoch 1")
    assert projections.calls[-1] == ("epochs", "fc2", ["epoch 0", "epoch 1"])
    # a link across training where this model has no two snapshots: its layers, at least
    _, across, _ = ask(projections, _Runs([]), "demo", "default", {}, across=ACROSS_TRAINING, from_link=True)
    assert across == ACROSS_LAYERS and projections.calls[-1][0] == "layers"


def test_a_drawn_class_is_added_once_named_and_drawn():
    from deepling.service.shapes import add_drawn_class

    pixels = [0] * (28 * 28 - 1) + [255]
    custom, problem = add_drawn_class([], "blob", pixels)
    assert problem == "" and custom == [{"name": "blob", "pixels": pixels}]
    for name, drawing, said in [("", pixels, "class name first"), ("blob", pixels, "already a class"),
                                ("circle", pixels, "already a class"), ("new", [0] * 784, "canvas is empty"),
                                ("new", [1] * 10, "canvas is empty")]:
        same, problem = add_drawn_class(custom, name, drawing)
        assert same == custom and said in problem


def test_the_workshop_request_is_built_from_the_page_choices():
    from deepling.service.shapes import DRAWN, workshop_request

    custom = [{"name": "blob", "pixels": [1] * 784}]
    params = workshop_request(["circle", DRAWN + "blob", DRAWN + "gone"], custom, None, None, "0.5", "3")
    assert params["classes"] == [{"name": "circle"}, {"name": "blob", "pixels": [1] * 784}]
    # the default start is the workshop's IMAGE_START
    assert (params["model"], params["start"], params["step_size"], params["epochs"]) == ("mlp", "dark gray", 0.5, 3)
    with pytest.raises(ValueError, match="at least two shapes"):
        workshop_request(["circle", DRAWN + "gone"], custom)


def test_a_click_on_the_confusion_matrix_or_its_bars_names_a_cell():
    from deepling.web.views.data import clicked_cell

    names = ["cat", "dog", "ship"]
    assert clicked_cell([{"x": "dog", "y": "cat"}], names) == (0, 1)           # a cell: y true, x predicted
    assert clicked_cell([{"customdata": [2, 0, 17]}], names) == (2, 0)         # a bar of the top confusions
    assert clicked_cell([{"customdata": [5, 0]}], names) is None              # not a class here
    assert clicked_cell([{"x": "cow", "y": "cat"}], names) is None
    assert clicked_cell([], names) is None


def test_the_neurons_view_projects_the_units_layer_else_the_one_shown_else_the_widest_conv():
    from deepling.service.neurons import projected_layer

    layer = lambda name, kind, width: SimpleNamespace(name=name, type=kind, width=width)
    atlas = SimpleNamespace(layers=[layer("conv1", "Conv2D", 32), layer("conv2", "Conv2D", 64),
                                    layer("fc1", "Dense", 256)], names=["conv1", "conv2", "fc1"])
    assert projected_layer(atlas, {"layer": "fc1", "unit": 3}, "conv1") == "fc1"
    assert projected_layer(atlas, {"layer": "gone"}, "conv1") == "conv1"
    assert projected_layer(atlas, None, None) == "conv2"
    dense = SimpleNamespace(layers=[layer("fc1", "Dense", 256), layer("fc2", "Dense", 10)], names=["fc1", "fc2"])
    assert projected_layer(dense, None, "x") == "fc1"


def test_the_layer_in_focus_after_each_event(demo_model):
    from deepling.models.graph import layer_graph
    from deepling.service.layers import KEEP, layer_choice

    graph = layer_graph(demo_model.model)
    assert layer_choice(graph, {"rendered"}, wanted="fc2", picked="conv1a") == (KEEP, "fc2")
    assert layer_choice(graph, {"rendered"}, wanted="nope", picked="conv1a") == (KEEP, KEEP)
    assert layer_choice(graph, {"arch-search"}, query="fc2", picked="conv1a") == ("fc2", "fc2")
    assert layer_choice(graph, {"arch-search"}, query="zzz", picked="conv1a") == (KEEP, KEEP)
    assert layer_choice(graph, {"arch-graph"}, tapped={"id": "conv2a"}, picked="fc2") == ("conv2a", "conv2a")
    assert layer_choice(graph, {"arch-graph"}, tapped={"id": "block 1", "kind": "stage"}) == (KEEP, KEEP)
    assert layer_choice(graph, {"arch-layer"}, picked="fc1", shared="fc2") == ("fc1", KEEP)
    assert layer_choice(graph, {"layer"}, shared="fc1", picked="fc2") == (KEEP, "fc1")
    assert layer_choice(graph, {"layer"}, shared="fc1", picked="fc1") == (KEEP, KEEP)


def test_what_a_send_button_of_the_neurons_view_sends():
    from deepling.service.neurons import sample_sent, selected_unit, sent_images

    layers = [SimpleNamespace(name="conv1", width=4, top_images=np.array([[7, 8], [9, 10], [1, 2], [3, 4]]))]
    patterns = SimpleNamespace(items=lambda p: [("conv1", 1), ("conv1", 2)], images=lambda p: np.array([5, 6, 7]))
    paths = {("conv1", 1): np.array([11, 12, 13]), ("conv1", 3): np.array([14])}
    atlas = SimpleNamespace(names=["conv1"], layers=layers, patterns=patterns, layer=lambda name: layers[0],
                            path_images=lambda layer, unit: paths.get((layer, unit), np.array([], int)))
    assert selected_unit(atlas, {"layer": "conv1", "unit": 3}) == (0, 3)
    assert selected_unit(atlas, {"layer": "conv1", "unit": 4}) is None and selected_unit(atlas, None) is None
    units, images = sent_images(atlas, 0, None)
    assert units == [("conv1", 1), ("conv1", 2)] and list(images) == [5, 6, 7]
    units, images = sent_images(atlas, -1, {"layer": "conv1", "unit": 1})
    assert units == [("conv1", 1)] and list(images) == [11, 12, 13]
    assert list(sent_images(atlas, -1, {"layer": "conv1", "unit": 3})[1]) == [3, 4]  # on no path: its top images
    assert sent_images(atlas, -1, None) is None
    sent = sample_sent(np.arange(100), 10)
    assert len(sent) == 10 and list(sent) == sorted(sent) and list(sent) == list(sample_sent(np.arange(100), 10))


def test_the_class_image_request_is_built_from_the_page_settings():
    from deepling.service.shapes import class_image_request

    names = ["cat", "dog"]
    params, what, score = class_image_request(names, "demo", "default", kind="class", cls="1", steps="5")
    assert (params["target"], params["start"], params["steps"], what, score) == (1, "gray", 5, "class dog", "logit")
    params, what, score = class_image_request(names, "demo", "default", kind="channel", layer="conv1",
                                              channel=3, start="focus", focus=7, jitter=0, tv=0)
    assert params["target"] == {"layer": "conv1", "channel": 3} and params["focus"] == 7
    assert (params["jitter"], params["tv_weight"], what, score) == (0, 0.0, "conv1 channel 3", "mean activation")
    with pytest.raises(ValueError, match="no layer"):
        class_image_request(names, "demo", "default", kind="channel", layer=None)
    with pytest.raises(ValueError, match="No image is in focus"):
        class_image_request(names, "demo", "default", kind="class", start="focus")
