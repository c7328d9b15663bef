"""Real networks' own stages and blocks in the layer graph, and how the architecture view
folds, searches and marks them: keras.applications architectures built with weights=None at
their smallest input (32×32), so they build in seconds."""

import os
import time

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ARCHITECTURES = ("ResNet50", "DenseNet121", "MobileNetV2", "EfficientNetB0", "ConvNeXtTiny")


@pytest.fixture(scope="module")
def graphs():
    import keras

    from deepling.models.graph import layer_graph

    out = {}
    for name in ARCHITECTURES:
        model = getattr(keras.applications, name)(weights=None, input_shape=(32, 32, 3))
        out[name] = layer_graph(model)
        del model
    return out


def outline(g):
    """(stage label, number of blocks) per stage."""
    return [(s.label, len(s.blocks)) for s in g.stages]


def check_partition(g):
    """Stages partition the layers in order; blocks partition their stage's layers; every
    layer knows its stage and block."""
    assert [n for s in g.stages for n in s.layers] == [n.name for n in g.nodes]
    for s in g.stages:
        if s.blocks:
            assert [n for b in s.blocks for n in b.layers] == list(s.layers)
        for name in s.layers:
            node = g.node(name)
            assert node.stage == s.index
            assert (node.block >= 0) == bool(s.blocks)
            if s.blocks:
                assert name in s.blocks[node.block].layers
    assert sum(s.params for s in g.stages) == g.params


def test_resnet50_has_its_four_stages_of_3_4_6_3_bottlenecks(graphs):
    g = graphs["ResNet50"]
    assert outline(g) == [("stem", 0), ("conv2", 3), ("conv3", 4), ("conv4", 6), ("conv5", 3),
                          ("head", 0)]
    assert [b.label for b in g.stages[1].blocks] == ["conv2_block1", "conv2_block2", "conv2_block3"]
    # a bottleneck with its projection shortcut: 1_conv … 3_bn, 0_conv, 0_bn, add, out
    first = g.stages[1].blocks[0].layers
    assert {"conv2_block1_0_conv", "conv2_block1_add", "conv2_block1_out"} <= set(first)
    assert g.stages[0].layers[-1] == "pool1_pool" and g.stages[-1].layers == ("avg_pool", "predictions")
    assert g.where("conv4_block5_2_conv") == "conv4 › conv4_block5"
    check_partition(g)


def test_densenet121_has_dense_blocks_and_transitions(graphs):
    g = graphs["DenseNet121"]
    assert len(g.nodes) == 429
    assert outline(g) == [("stem", 0), ("conv2", 6), ("pool2", 0), ("conv3", 12), ("pool3", 0),
                          ("conv4", 24), ("pool4", 0), ("conv5", 16), ("head", 0)]
    assert g.stages[2].layers == ("pool2_bn", "pool2_relu", "pool2_conv", "pool2_pool")
    assert g.stages[1].blocks[0].layers[-1] == "conv2_block1_concat"
    check_partition(g)


def test_mobilenetv2_blocks_form_stages_where_the_shape_changes(graphs):
    g = graphs["MobileNetV2"]
    # the paper's bottleneck sequences: 1, 2, 3, 4, 3, 3, 1 blocks
    assert outline(g) == [("stem", 0), ("expanded_conv", 1), ("block_1…block_2", 2),
                          ("block_3…block_5", 3), ("block_6…block_9", 4), ("block_10…block_12", 3),
                          ("block_13…block_15", 3), ("block_16", 1), ("head", 0)]
    assert [b.label for b in g.stages[2].blocks] == ["block_1", "block_2"]
    assert "block_2_add" in g.stages[2].blocks[1].layers
    check_partition(g)


def test_efficientnetb0_stages_and_lettered_blocks(graphs):
    g = graphs["EfficientNetB0"]
    assert outline(g) == [("stem", 0), ("block1", 1), ("block2", 2), ("block3", 2), ("block4", 3),
                          ("block5", 3), ("block6", 4), ("block7", 1), ("head", 0)]
    assert [b.label for b in g.stages[6].blocks] == ["block6a", "block6b", "block6c", "block6d"]
    # Keras numbers auto-named layers per process (rescaling, rescaling_3, …): match the stem
    # by prefix, so the test holds whatever ran before it
    stem = g.stages[0].layers
    assert "stem_conv" in stem
    assert any(n.startswith("rescaling") for n in stem) and any(n.startswith("normalization") for n in stem)
    check_partition(g)


def test_convnext_tiny_stages_with_their_residual_adds(graphs):
    g = graphs["ConvNeXtTiny"]
    assert outline(g) == [("stem", 0), ("stage_0", 3), ("downsampling_block_0", 0), ("stage_1", 3),
                          ("downsampling_block_1", 0), ("stage_2", 9), ("downsampling_block_2", 0),
                          ("stage_3", 3), ("head", 0)]
    # Keras names the residual Add layers add, add_1, … (numbered per process): each belongs
    # to the block it closes
    block = g.stages[1].blocks[0]
    assert block.label == "stage_0_block_0" and block.layers[-1].startswith("add")
    assert g.node(block.layers[-1]).type == "Add"
    check_partition(g)


def test_folding_nests_stage_block_layer(graphs):
    from deepling.web.views.architecture import (
        all_folds, block_id, default_collapsed, default_layer, graph_elements, stage_id, unfold_to,
    )

    g = graphs["DenseNet121"]
    by_id = lambda els: {e["data"]["id"]: e for e in els}  # noqa: E731
    # everything folded: one node per stage, chained
    folded = by_id(graph_elements(g, all_folds(g)))
    nodes = [k for k, e in folded.items() if "source" not in e["data"]]
    assert nodes == [stage_id(s.index) for s in g.stages]
    assert folded["stage:5"]["data"]["label"] == "conv4\n24 blocks"
    assert {(e["data"]["source"], e["data"]["target"]) for e in folded.values() if "source" in e["data"]} \
        == {(stage_id(k), stage_id(k + 1)) for k in range(len(g.stages) - 1)}
    # the first view: the focus's stage shows its blocks, the focus's block its layers
    focus = default_layer(g)
    collapsed = default_collapsed(g, focus)
    first = by_id(graph_elements(g, collapsed, focus))
    node = g.node(focus)
    assert len(first) < 80
    assert "folded" not in first[stage_id(node.stage)]["classes"]
    assert first[block_id(node.stage, node.block)]["data"]["parent"] == stage_id(node.stage)
    assert "folded" in first[block_id(node.stage, 0)]["classes"]
    assert first[focus]["data"]["parent"] == block_id(node.stage, node.block)
    assert "focus" in first[focus]["classes"]
    # picking a layer elsewhere unfolds just its stage and block
    opened = by_id(graph_elements(g, unfold_to(g, collapsed, "conv3_block7_1_conv")))
    assert opened["conv3_block7_1_conv"]["data"]["label"].startswith("1_conv\n")  # in its frame
    assert opened["block:3:6"]["data"]["label"] == "block7"
    assert "folded" in opened["block:3:5"]["classes"]
    # every edge joins drawn elements
    for els in (folded, first, opened):
        assert all(e["data"]["source"] in els and e["data"]["target"] in els
                   for e in els.values() if "source" in e["data"])


def test_everything_unfolded_is_quick_and_does_not_overlap(graphs):
    from deepling.web.views.architecture import NODE_H, NODE_W, canvas_style, graph_elements

    g = graphs["DenseNet121"]
    start = time.perf_counter()
    elements = graph_elements(g, ())
    canvas_style(g, ())
    assert time.perf_counter() - start < 1.0
    layers = [e for e in elements if "layer" in e.get("classes", "").split()]
    assert len(layers) == 429
    boxes = sorted((e["position"]["x"], e["position"]["y"]) for e in layers)
    for i, (x1, y1) in enumerate(boxes):
        for x2, y2 in boxes[i + 1:i + 40]:
            assert abs(x1 - x2) >= NODE_W or abs(y1 - y2) >= NODE_H


def test_a_residual_and_a_dense_connection_read_as_one_edge_around_the_block(graphs):
    from deepling.web.views.architecture import graph_elements

    edges = lambda els: {(e["data"]["source"], e["data"]["target"]): e["classes"]  # noqa: E731
                         for e in els if "source" in e["data"]}
    g = graphs["ResNet50"]
    els = graph_elements(g, {"stage:0", "stage:1", "stage:3", "stage:4", "stage:5", "block:2:0",
                             "block:2:2", "block:2:3"})
    port = "port:block:2:1:conv3_block1_out"
    e = edges(els)
    assert ("block:2:0", port) in e  # the previous block into the port…
    assert (port, "conv3_block2_1_conv") in e  # …which feeds the block's first conv
    assert "side" in e[(port, "conv3_block2_add")].split()  # …and, around it, the add
    assert ("stage:1", "stage:2") in e and ("stage:2", "stage:3") in e
    g = graphs["DenseNet121"]
    e = edges(graph_elements(g, {f"stage:{k}" for k in range(9) if k != 1} |
                             {f"block:1:{j}" for j in (0, 2, 3, 4, 5)}))
    port = "port:block:1:1:conv2_block1_concat"
    assert "side" in e[(port, "conv2_block2_concat")].split()
    assert (port, "conv2_block2_0_bn") in e


def test_search_and_animated_layers_are_marked_through_folds(graphs):
    from deepling.web.views.architecture import all_folds, found_text, graph_elements

    g = graphs["DenseNet121"]
    assert len(g.search("concat")) == 6 + 12 + 24 + 16
    assert g.search("CONV5_BLOCK16_2") == ["conv5_block16_2_conv"]
    assert found_text(g, "pool").startswith("14 layers · stem 1, pool2 4")  # pool1, transitions, …
    assert found_text(g, "nothing like this") == "no layer name contains that"
    els = {e["data"]["id"]: e for e in graph_elements(
        g, all_folds(g), search="conv5_block16", animated=["conv2_block3_concat", "pool2_pool"])}
    assert "found" in els["stage:7"]["classes"] and "found" not in els["stage:5"]["classes"]
    assert "7 found" in els["stage:7"]["data"]["info"]
    assert "animated" in els["stage:1"]["classes"] and "animated" in els["stage:2"]["classes"]
    assert "animated" not in els["stage:3"]["classes"]
    assert "1 animated" in els["stage:1"]["data"]["info"]
    unfolded = {e["data"]["id"]: e for e in graph_elements(g, (), animated=["pool2_pool"])}
    assert "animated" in unfolded["pool2_pool"]["classes"]
    assert "animated" not in unfolded["pool2_conv"]["classes"]
