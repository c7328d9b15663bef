"""The layer graph: nodes, edges and stages of real Keras models, and how the view lays
them out."""

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="module")
def keras():
    import keras

    return keras


@pytest.fixture(scope="module")
def branchy(keras):
    """Two branches merged by Add, a skip merged by Concatenate, a shared layer, a nested
    model, a layer with two outputs, and two model outputs."""
    from keras import layers

    class Split(layers.Layer):
        def call(self, x):
            return x[..., :4], x[..., 4:]

    inp = keras.Input((16, 16, 3), name="img")
    stem = layers.Conv2D(4, 3, padding="same", name="stem")(inp)
    left = layers.Conv2D(4, 1, name="left")(stem)
    right = layers.Conv2D(4, 3, padding="same", name="right")(stem)
    added = layers.Add(name="add")([left, right])
    joined = layers.Concatenate(name="concat")([added, stem])
    shared = layers.Conv2D(8, 1, name="shared")
    a = shared(joined)
    b = shared(layers.Concatenate(name="concat2")([added, left]))
    inner = keras.Sequential([keras.Input((16, 16, 8)), layers.Conv2D(2, 1, name="inner_conv"),
                              layers.ReLU(name="inner_relu")], name="inner")
    x = layers.MaxPooling2D(name="pool")(inner(a))
    lo, hi = Split(name="split")(b)
    out1 = layers.Dense(3, name="out1")(layers.GlobalAveragePooling2D(name="gap")(x))
    out2 = layers.Dense(2, name="out2")(layers.Flatten(name="flat")(layers.Add(name="add2")([lo, hi])))
    return keras.Model(inp, [out1, out2], name="branchy")


def test_sequential_model_is_a_chain(keras):
    from keras import layers

    from deepling.models.graph import layer_graph

    model = keras.Sequential([keras.Input((28, 28, 1), name="pixels"),
                              layers.Conv2D(8, 3, name="c"), layers.MaxPooling2D(name="p"),
                              layers.Flatten(name="f"), layers.Dense(10, name="d")], name="seq")
    g = layer_graph(model)
    assert [n.name for n in g.nodes] == ["pixels", "c", "p", "f", "d"]
    assert g.edges == (("pixels", "c"), ("c", "p"), ("p", "f"), ("f", "d"))
    assert [n.kind for n in g.nodes] == ["input", "conv", "pool", "other", "dense"]
    assert g.node("c").output_shape == (26, 26, 8) and g.node("c").params == 80
    assert g.params == model.count_params()
    assert g.inputs == ("pixels",) and g.outputs == ("d",)
    # a stage ends at the pooling layer; what follows is the head
    assert [(s.label, s.layers) for s in g.stages] == [("block 1", ("pixels", "c", "p")),
                                                       ("head", ("f", "d"))]
    assert all(n.inspectable for n in g.nodes) and g.notes == ()


def test_demo_cnn_has_its_three_blocks_and_head():
    from deepling.models.demo import build_demo_model
    from deepling.models.graph import layer_graph

    g = layer_graph(build_demo_model())
    assert len(g.nodes) == 20 and len(g.edges) == 19
    assert [s.label for s in g.stages] == ["block 1", "block 2", "block 3", "head"]
    assert g.stages[1].layers == ("conv2a", "norm2", "conv2b", "pool2")
    assert g.stages[3].layers[0] == "flatten" and g.stages[3].layers[-1] == "predictions"
    assert g.node("norm2").kind == "norm" and g.node("fc1").kind == "dense"
    assert sum(s.params for s in g.stages) == g.params


def test_branches_and_merges_are_drawn_as_such(branchy):
    from deepling.models.graph import layer_graph

    g = layer_graph(branchy)
    edges = set(g.edges)
    assert {("stem", "left"), ("stem", "right"), ("left", "add"), ("right", "add"),
            ("add", "concat"), ("stem", "concat"), ("add", "concat2"), ("left", "concat2"),
            ("concat", "shared"), ("concat2", "shared")} <= edges
    assert len(edges) == len(g.edges)  # no duplicates
    assert g.predecessors("add") == ["left", "right"] and g.node("add").kind == "merge"
    assert g.node("concat").kind == "merge"
    # parallel branches sit at the same depth; every edge goes down the order
    assert g.node("left").depth == g.node("right").depth == g.node("stem").depth + 1
    position = {n.name: i for i, n in enumerate(g.nodes)}
    assert all(position[s] < position[t] for s, t in g.edges)
    # a stage never cuts through a branch
    stage = {n.name: n.stage for n in g.nodes}
    assert stage["left"] == stage["right"] == stage["add"] == stage["stem"]


def test_awkward_layers_get_notes_not_crashes(branchy):
    from deepling.models.graph import layer_graph

    g = layer_graph(branchy)
    inner = g.node("inner")
    assert inner.kind == "model" and inner.inspectable and "nested model" in inner.note
    assert "inner_conv" not in {n.name for n in g.nodes}  # nested models are not expanded
    split = g.node("split")
    assert not split.inspectable and "2 outputs" in split.note
    assert split.output_shape == [(16, 16, 4), (16, 16, 4)]
    assert g.successors("split") == ["add2"]
    shared = g.node("shared")
    assert shared.inspectable and "2 places" in shared.note
    assert g.outputs == ("out1", "out2")
    text = " ".join(g.notes)
    assert "2 outputs" in text and "inner" in text and "shared ×2" in text


def test_unbuilt_and_subclassed_models_still_give_a_graph(keras):
    from keras import layers

    from deepling.models.graph import layer_graph

    unbuilt = keras.Sequential([layers.Dense(4, name="a"), layers.Dense(2, name="b")], name="u")
    g = layer_graph(unbuilt)
    assert [n.name for n in g.nodes] == ["a", "b"] and g.edges == (("a", "b"),)
    assert g.node("a").output_shape is None and not g.node("a").inspectable
    assert "not built" in g.notes[0]

    class Sub(keras.Model):
        def __init__(self):
            super().__init__(name="sub")
            self.d1, self.d2 = layers.Dense(3, name="d1"), layers.Dense(2, name="d2")

        def call(self, x):
            return self.d2(self.d1(x))

    model = Sub()
    model(keras.ops.zeros((1, 5)))
    g = layer_graph(model)
    assert [n.name for n in g.nodes] == ["d1", "d2"] and g.edges == ()
    assert "subclassed" in g.notes[0]


def test_layout_fits_the_demo_at_a_readable_size():
    """All 20 layers of the demo CNN in the 1/3-width column, drawn at least ~0.9×."""
    from deepling.models.demo import build_demo_model
    from deepling.models.graph import layer_graph
    from deepling.web.views.architecture import (
        CANVAS_W, NODE_H, NODE_W, canvas_style, graph_elements,
    )

    g = layer_graph(build_demo_model())
    elements = graph_elements(g, focus="conv2b")
    canvas_h = float(canvas_style(g)["height"].removesuffix("px"))
    assert canvas_h <= 300  # leaves room for the inspector beside the animation
    layers = [e for e in elements if "layer" in e.get("classes", "").split()]
    assert {e["data"]["id"] for e in layers} == {n.name for n in g.nodes}
    xs = [e["position"]["x"] for e in layers]
    ys = [e["position"]["y"] for e in layers]
    width, height = max(xs) - min(xs) + NODE_W, max(ys) - min(ys) + NODE_H
    assert min(CANVAS_W / width, canvas_h / height) >= 0.9
    # no two layer boxes overlap
    boxes = sorted((x, y) for x, y in zip(xs, ys))
    for i, (x1, y1) in enumerate(boxes):
        for x2, y2 in boxes[i + 1:]:
            assert abs(x1 - x2) >= NODE_W or abs(y1 - y2) >= NODE_H
    focus = [e for e in layers if "focus" in e["classes"].split()]
    assert [e["data"]["id"] for e in focus] == ["conv2b"]
    # stages are compound frames; the flow between them is drawn frame to frame
    assert {e["data"]["parent"] for e in layers} == {f"stage:{k}" for k in range(4)}
    between = [e["data"] for e in elements if "between" in e.get("classes", "")]
    assert [(d["source"], d["target"]) for d in between] == [
        ("stage:0", "stage:1"), ("stage:1", "stage:2"), ("stage:2", "stage:3")]


def test_folding_a_stage_replaces_it_by_one_node(branchy):
    from deepling.models.graph import layer_graph
    from deepling.web.views.architecture import graph_elements

    g = layer_graph(branchy)
    folded = graph_elements(g, collapsed={0})
    ids = {e["data"]["id"] for e in folded}
    assert "stem" not in ids and "stage:0" in ids
    stage0 = next(e for e in folded if e["data"]["id"] == "stage:0")
    assert "folded" in stage0["classes"] and "position" in stage0
    edges = [e["data"] for e in folded if "source" in e["data"]]
    assert all(d["source"] in ids and d["target"] in ids for d in edges)
    assert any(d["source"] == "stage:0" for d in edges)


def test_a_residual_skip_is_drawn_inside_its_stage(keras):
    """Stages split between residual blocks; the block's input then fans out from a port at
    the top of the column, and the skip bows around the layers it passes."""
    from keras import layers

    from deepling.models.graph import layer_graph
    from deepling.web.views.architecture import graph_elements

    x = inp = keras.Input((8, 8, 4), name="img")
    for k in range(3):
        y = layers.Conv2D(4, 3, padding="same", name=f"r{k}_conv1")(x)
        y = layers.BatchNormalization(name=f"r{k}_bn1")(y)
        y = layers.ReLU(name=f"r{k}_relu")(y)
        y = layers.Conv2D(4, 3, padding="same", name=f"r{k}_conv2")(y)
        y = layers.BatchNormalization(name=f"r{k}_bn2")(y)
        x = layers.ReLU(name=f"r{k}_out")(layers.Add(name=f"r{k}_add")([x, y]))
    g = layer_graph(keras.Model(inp, x))
    # every stage ends where one tensor is left, so no block is cut in two
    assert [s.layers[-1] for s in g.stages] == ["r0_out", "r1_out", "r2_out"]
    assert all(len(s.layers) <= 8 for s in g.stages)
    elements = graph_elements(g)
    port = next(e for e in elements if e["data"]["id"] == "port:stage:1:r0_out")
    assert port["data"]["layer"] == "r0_out" and port["data"]["parent"] == "stage:1"
    edges = {(e["data"]["source"], e["data"]["target"]): e["classes"]
             for e in elements if "source" in e["data"]}
    assert ("stage:0", "port:stage:1:r0_out") in edges
    assert ("port:stage:1:r0_out", "r1_conv1") in edges
    assert "side" in edges[("port:stage:1:r0_out", "r1_add")].split()
    assert ("stage:0", "stage:1") not in edges  # the port replaces the frame-to-frame edge
