"""A Keras model as a graph of layers, grouped into stages: plain data for the views.

:func:`layer_graph` reads the model as it is built: the functional graph for functional
and Sequential models (branches and merges such as ``Add`` or ``Concatenate`` become
nodes with several inbound edges), one node per layer. Nested models are **not
expanded**: a model used as a layer is one node of kind ``"model"``, with a note naming
how many layers it hides (the layer animation treats it the same way).

Stages make a deep model readable. A stage ends only where the graph narrows to a
single tensor (a *cut*: every edge leaving the layers so far starts at one layer), so a
branch is never split between stages; a stage ends after a pooling layer that keeps spatial
maps and after the last layer with spatial (H×W×C) output; longer runs are split at the
last cut that keeps a stage within :data:`MAX_STAGE` layers (one residual block each, in
a ResNet). For the demo CNN this gives the three conv blocks (each ending at its pooling
layer) and the dense head.

A big model (more than :data:`NAMED_ABOVE` layers) is grouped by **its own names** when they
carry a structure (:func:`named_stages`): ``conv2_block1_1_conv`` is layer ``1_conv`` of
block ``conv2_block1`` of stage ``conv2`` (ResNet, DenseNet), ``block2a_dwconv`` of block
``block2a`` of stage ``block2`` (EfficientNet), ``…_stage_0_block_1_…`` (ConvNeXt);
numbered blocks without stages (MobileNetV2's ``block_N``) form stages where their output
shape changes. What comes before the first stage is the ``stem``, what comes after the last
the ``head``; a group between stages (DenseNet's ``pool2`` transition) is a stage of its own.
Stages then hold :class:`Block` s, and a layer's ``block`` says which.
"""

from __future__ import annotations

import heapq
import re
from dataclasses import dataclass

# Colour groups for the views; ``input`` and ``model`` (a nested model) besides the layer
# families the issue names.
KINDS = ("input", "conv", "norm", "pool", "dense", "merge", "model", "other")
MERGE_TYPES = frozenset({"Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum",
                         "Concatenate", "Dot"})
# Past this many layers a stage closes at the next cut, so no column of the drawing grows
# taller than the view.
MAX_STAGE = 8
# Past this many layers the model's own names are used for stages and blocks, if they have any.
NAMED_ABOVE = 40


@dataclass(frozen=True)
class LayerNode:
    """One layer (or functional operation) of the model.

    Attributes
    ----------
    name, type : str
        The layer's name and class name.
    kind : str
        One of :data:`KINDS`.
    output_shape : tuple, list of tuple, or None
        Without the batch axis (``None`` for open sizes); a list for a layer with several
        outputs; ``None`` when unknown (model not built).
    params : int
        Parameter count (trainable and not).
    stage : int
        Index into :attr:`LayerGraph.stages`.
    depth : int
        Longest path from an input: layers at the same depth can sit side by side.
    inspectable : bool
        Whether the layer's output is one tensor that a sub-model can read (feature maps,
        channel means); ``note`` says why not, or what to keep in mind.
    note : str or None
    """

    name: str
    type: str
    kind: str
    output_shape: tuple | list | None
    params: int
    stage: int
    depth: int
    inspectable: bool
    note: str | None = None
    block: int = -1


@dataclass(frozen=True)
class Block:
    """Consecutive layers of a stage that the model's names make one block
    (``conv2_block1``); ``index`` counts within the stage."""

    index: int
    label: str
    layers: tuple[str, ...]
    params: int


@dataclass(frozen=True)
class Stage:
    """Consecutive layers drawn (and collapsed) together; ``blocks`` (empty for a stage of
    plain layers) partition ``layers`` when the model's names give blocks."""

    index: int
    label: str
    layers: tuple[str, ...]
    params: int
    blocks: tuple[Block, ...] = ()


@dataclass(frozen=True)
class LayerGraph:
    """Nodes in topological order, edges ``(source, target)`` by name, and stages."""

    name: str
    nodes: tuple[LayerNode, ...]
    edges: tuple[tuple[str, str], ...]
    stages: tuple[Stage, ...]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    notes: tuple[str, ...]

    def node(self, name: str) -> LayerNode:
        for n in self.nodes:
            if n.name == name:
                return n
        raise ValueError(f"No layer named {name!r} in {self.name!r}; its layers are: "
                         f"{', '.join(n.name for n in self.nodes)}.")

    @property
    def params(self) -> int:
        return sum(n.params for n in self.nodes)

    def predecessors(self, name: str) -> list[str]:
        return [s for s, t in self.edges if t == name]

    def successors(self, name: str) -> list[str]:
        return [t for s, t in self.edges if s == name]

    def search(self, query: str) -> list[str]:
        """Layers whose name (or type) contains ``query``, case-insensitively, in order."""
        q = (query or "").strip().lower()
        if not q:
            return []
        return [n.name for n in self.nodes if q in n.name.lower() or q == n.type.lower()]

    def where(self, name: str) -> str:
        """``stage › block`` of a layer, in words."""
        node = self.node(name)
        stage = self.stages[node.stage]
        return stage.label if node.block < 0 else \
            f"{stage.label} › {stage.blocks[node.block].label}"


def layer_kind(layer) -> str:
    """The colour group of a layer (see :data:`KINDS`)."""
    import keras

    kind = type(layer).__name__
    if kind == "InputLayer":
        return "input"
    if isinstance(layer, keras.Model):
        return "model"
    if not isinstance(layer, keras.layers.Layer):  # a keras.ops call such as x * 2
        return "other"
    if kind in MERGE_TYPES:
        return "merge"
    if "Conv" in kind:
        return "conv"
    if kind.endswith("Normalization") and kind != "Normalization":  # that one is preprocessing
        return "norm"
    if "Pooling" in kind:
        return "pool"
    if kind in ("Dense", "EinsumDense"):
        return "dense"
    return "other"


def layer_graph(model) -> LayerGraph:
    """The model's layers, how they connect, and their stages.

    Parameters
    ----------
    model : keras.Model
        Functional or Sequential (built or not) or subclassed; see the module docstring
        for what each gives.

    Returns
    -------
    LayerGraph
    """
    notes: list[str] = []
    ops, calls, edges = _read_graph(model, notes)
    order = _topological(ops, edges)
    depth = _depths(order, edges)
    params = {name: _params(ops[name][0]) for name in order}
    named = named_stages(order, {name: type(ops[name][0]).__name__ for name in order},
                         {name: _shape(ops[name][1][0]) if len(ops[name][1]) == 1 else None
                          for name in order}, params) if len(order) > NAMED_ABOVE else None
    if named is not None:
        stages = named
        stage_of = {n: s.index for s in stages for n in s.layers}
    else:
        stage_of, stages = _stages(order, edges, {name: _spatial(ops[name][1]) for name in order},
                                   {name: layer_kind(ops[name][0]) for name in order}, params)
    block_of = {n: b.index for s in stages for b in s.blocks for n in b.layers}
    nodes = []
    for name in order:
        op, outputs = ops[name]
        inspectable, note = _inspectable(op, outputs, calls[name])
        shapes = [_shape(t) for t in outputs]
        nodes.append(LayerNode(
            name=name, type=type(op).__name__, kind=layer_kind(op),
            output_shape=None if not shapes else shapes[0] if len(shapes) == 1 else shapes,
            params=_params(op), stage=stage_of[name], depth=depth[name],
            inspectable=inspectable, note=note, block=block_of.get(name, -1),
        ))
    inputs, outputs = _ends(model, order, edges)
    if len(inputs) > 1:
        notes.append(f"{len(inputs)} inputs ({', '.join(inputs)}): the views feed images to "
                     "the first only.")
    if len(outputs) > 1:
        notes.append(f"{len(outputs)} outputs ({', '.join(outputs)}): predictions are read "
                     "from the first.")
    nested = [n for n in nodes if n.kind == "model"]
    if nested:
        notes.append("Nested models are shown as one node each (" +
                     ", ".join(n.name for n in nested) + "); their inner layers are not expanded.")
    return LayerGraph(name=model.name, nodes=tuple(nodes), edges=tuple(edges),
                      stages=tuple(stages), inputs=tuple(inputs), outputs=tuple(outputs),
                      notes=tuple(notes))


# --- reading the model ---------------------------------------------------------------
def _read_graph(model, notes):
    """``{name: (operation, output tensors)}``, ``{name: calls}`` and the edge list."""
    functional = _functional(model)
    if functional is None:
        layers = list(model.layers)
        ops = {layer.name: (layer, _outputs_of(layer)) for layer in layers}
        calls = {layer.name: 1 for layer in layers}
        if type(model).__name__ == "Sequential":
            notes.append(f"{model.name} is not built yet, so output shapes are unknown; "
                         "build it with model.build(input_shape) or call it on data first.")
            edges = [(a.name, b.name) for a, b in zip(layers, layers[1:])]
        else:
            notes.append(f"{model.name} is a subclassed model: Keras does not record how its "
                         "layers connect, so they are listed in the order they were created, "
                         "without edges.")
            edges = []
        return ops, calls, edges

    ops, calls, edges = {}, {}, []
    for depth in sorted(functional._nodes_by_depth, reverse=True):  # inputs first
        for node in functional._nodes_by_depth[depth]:
            op = node.operation
            if op.name not in ops:
                ops[op.name] = (op, list(node.output_tensors))
                calls[op.name] = 0
            calls[op.name] += 1
            for t in node.input_tensors:
                history = getattr(t, "_keras_history", None)
                if history is not None and (history[0].name, op.name) not in edges:
                    edges.append((history[0].name, op.name))
    shared = [n for n, c in calls.items() if c > 1]
    if shared:
        notes.append("Used at several places (one node each, all its edges drawn): "
                     + ", ".join(f"{n} ×{calls[n]}" for n in shared) + ".")
    # keep the model's own order (topological, as the user wrote it) for ties
    rank = {op.name: i for i, op in enumerate(functional._operations)}
    ops = dict(sorted(ops.items(), key=lambda kv: rank.get(kv[0], len(rank))))
    return ops, calls, edges


def _functional(model):
    """The functional graph behind ``model``: itself, a Sequential's, or None."""
    if hasattr(model, "_nodes_by_depth") and type(model).__name__ != "Sequential":
        return model
    inner = getattr(model, "_functional", None)
    return inner if inner is not None and hasattr(inner, "_nodes_by_depth") else None


def _outputs_of(layer) -> list:
    try:
        out = layer.output
    except (AttributeError, ValueError):
        return []
    return list(out) if isinstance(out, (list, tuple)) else [out]


def _shape(tensor) -> tuple | None:
    shape = getattr(tensor, "shape", None)
    return None if shape is None else tuple(None if d is None else int(d) for d in shape[1:])


def _params(op) -> int:
    try:
        return int(op.count_params()) if getattr(op, "built", False) else 0
    except (AttributeError, ValueError):
        return 0


def _spatial(outputs) -> bool:
    """One output with H×W×C maps."""
    return len(outputs) == 1 and len(_shape(outputs[0]) or ()) == 3


def _inspectable(op, outputs, calls) -> tuple[bool, str | None]:
    import keras

    is_layer = isinstance(op, keras.layers.Layer)
    if not is_layer:
        return False, (f"{op.name} is a keras.ops operation ({type(op).__name__}), not a "
                       "layer: its output cannot be read by name.")
    if not outputs:
        return False, (f"{op.name} has no output tensor yet (the model is not built); "
                       "build the model to inspect it.")
    if len(outputs) > 1:
        return False, (f"{op.name} has {len(outputs)} outputs; Deepling inspects layers "
                       "with a single tensor output.")
    if isinstance(op, keras.Model):
        inner = len(getattr(op, "layers", []))
        return True, (f"{op.name} is a nested model ({inner} layers, not expanded): its output "
                      "is shown as one layer's.")
    if calls > 1:
        return True, f"{op.name} is used at {calls} places; its first use is inspected."
    return True, None


# --- order, depth and stages ---------------------------------------------------------
def _topological(ops, edges) -> list[str]:
    """Kahn's algorithm, ties broken by the model's own order."""
    rank = {name: i for i, name in enumerate(ops)}
    indeg = {name: 0 for name in ops}
    succ = {name: [] for name in ops}
    for s, t in edges:
        if s in ops and t in ops:
            indeg[t] += 1
            succ[s].append(t)
    heap = [(rank[n], n) for n, d in indeg.items() if d == 0]
    heapq.heapify(heap)
    order = []
    while heap:
        _, n = heapq.heappop(heap)
        order.append(n)
        for t in succ[n]:
            indeg[t] -= 1
            if indeg[t] == 0:
                heapq.heappush(heap, (rank[t], t))
    # A cycle cannot come from Keras; keep any leftover in model order rather than drop it.
    return order + [n for n in ops if n not in set(order)]


def _depths(order, edges) -> dict[str, int]:
    depth = {n: 0 for n in order}
    preds = {n: [] for n in order}
    for s, t in edges:
        if s in preds and t in preds:
            preds[t].append(s)
    for n in order:
        if preds[n]:
            depth[n] = 1 + max(depth[p] for p in preds[n])
    # no edges at all (subclassed): one after the other
    return depth if edges else {n: i for i, n in enumerate(order)}


def _cuts(order, edges) -> list[bool]:
    """``cut[i]``: every edge from ``order[:i+1]`` to later layers starts at ``order[i]``."""
    pos = {n: i for i, n in enumerate(order)}
    reach = [-1] * len(order)  # farthest target of each layer's edges
    for s, t in edges:
        if s in pos and t in pos:
            reach[pos[s]] = max(reach[pos[s]], pos[t])
    cut, open_until = [], -1
    for i in range(len(order)):
        # layers before i whose edges go past i, or layers with no edge at all when the
        # graph has edges (a second input not yet merged) keep the cut open
        cut.append(open_until <= i)
        unmerged = reach[i] == -1 and edges and i < len(order) - 1
        open_until = max(open_until, reach[i] if not unmerged else len(order))
    return cut


def _stages(order, edges, spatial, kinds, params):
    cuts = _cuts(order, edges)
    n = len(order)
    last_spatial = max((i for i, name in enumerate(order) if spatial[name]), default=-1)
    # Where a stage must end: after a pooling layer that keeps spatial maps (a global
    # pooling belongs to the head), and after the last spatial layer.
    ends = [i for i in range(n - 1) if cuts[i] and (
        (kinds[order[i]] == "pool" and spatial[order[i]]) or i == last_spatial)] + [n - 1]
    groups, start = [], 0
    for end in ends:
        # A long run is split at the last cut that keeps a stage within MAX_STAGE (at the
        # first cut after it when there is none), so a residual block stays whole.
        while end - start + 1 > MAX_STAGE:
            options = [i for i in range(start, end) if cuts[i]]
            if not options:
                break
            within = [i for i in options if i - start + 1 <= MAX_STAGE]
            cut = within[-1] if within else options[0]
            groups.append(order[start:cut + 1])
            start = cut + 1
        groups.append(order[start:end + 1])
        start = end + 1
    stages, stage_of, block = [], {}, 0
    for k, members in enumerate(groups):
        flat = not any(spatial[n] for n in members)
        if flat and k == len(groups) - 1 and k > 0 and last_spatial >= 0:
            label = "head"
        else:
            block += 1
            label = f"block {block}"
        stages.append(Stage(k, label, tuple(members), sum(params[n] for n in members)))
        for n in members:
            stage_of[n] = k
    return stage_of, stages


def _ends(model, order, edges):
    def names(tensors):
        out = []
        for t in tensors or []:
            history = getattr(t, "_keras_history", None)
            if history is not None:
                out.append(history[0].name)
        return out

    inputs = names(getattr(model, "inputs", None)) if _functional(model) is not None else []
    outputs = names(getattr(model, "outputs", None)) if _functional(model) is not None else []
    if not inputs:
        targets = {t for _, t in edges}
        inputs = [n for n in order if n not in targets][:1]
    if not outputs:
        sources = {s for s, _ in edges}
        outputs = [n for n in order if n not in sources][-1:]
    return inputs, outputs


# --- the model's own stages and blocks ----------------------------------------------
_AUTO = re.compile(r"_\d+$")
_LETTERED = re.compile(r"^([A-Za-z]+\d+)([a-z])$")      # block2a: stage block2, block block2a
_BLOCKISH = re.compile(r"block", re.IGNORECASE)
_MIN_BLOCK = 3  # layers in a group of numbered blocks (MobileNetV2's block_N)


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _auto_named(name: str, type_name: str) -> bool:
    """A name Keras made up from the class (``add_3``, ``zero_padding2d``): no structure."""
    base = _AUTO.sub("", name)
    return base in (_snake(type_name), type_name.lower()) or base.startswith("input_layer")


def _tokens(name: str) -> list[str]:
    """``stage_0_block_1_gelu`` → ``stage_0``, ``block_1``, ``gelu``: a word and the
    number after it are one token."""
    out: list[str] = []
    for part in name.split("_"):
        if part.isdigit() and out and out[-1].isalpha():
            out[-1] += "_" + part
        else:
            out.append(part)
    return out


def _keys(name: str) -> tuple[str, str | None, bool]:
    """(stage key, block key or None, whether the block key names a block)."""
    tokens = _tokens(name)
    lettered = _LETTERED.match(tokens[0])
    if lettered:
        return lettered.group(1), tokens[0], True
    if len(tokens) < 2:
        return tokens[0], None, False
    return tokens[0], "_".join(tokens[:2]), bool(_BLOCKISH.search(tokens[1]))


def _runs(items, key):
    """Consecutive runs of equal ``key``: ``[(key, [items])]``."""
    runs: list = []
    for item in items:
        k = key(item)
        if runs and runs[-1][0] == k:
            runs[-1][1].append(item)
        else:
            runs.append((k, [item]))
    return runs


def named_stages(order, types, shapes, params) -> tuple[Stage, ...] | None:
    """Stages and blocks from the layers' names, or None when the names give none.

    Parameters
    ----------
    order : list of str
        Layer names in topological order (a block's layers are consecutive in it).
    types : dict
        Class name per layer (to tell names Keras made up, which join the layer before).
    shapes : dict
        Output shape per layer (to group numbered blocks into stages).
    params : dict
        Parameters per layer.
    """
    if len(order) < 2:
        return None
    prefix = _common_prefix([n for n in order if not _auto_named(n, types[n])])
    keys, last = {}, None
    for name in order:
        if _auto_named(name, types[name]) and last is not None:
            keys[name] = last  # add_3 after a block's identity belongs to that block
        else:
            short = name[len(prefix):] or name
            keys[name] = last = (*_keys(short), short)
    groups = []  # (stage key, [(block key, [layers])], named blocks)
    for k1, members in _runs(order, lambda n: keys[n][0]):
        blocks = _runs(members, lambda n: keys[n][1])
        # blocks the names call so (conv2_block1), of more than one layer each
        named = any(keys[n][2] for n in members) and any(len(b) > 1 for _, b in blocks)
        groups.append((k1, blocks if named else None, members))
    if not any(blocks for _, blocks, _ in groups):
        groups = _numbered_blocks(groups, shapes, keys)
        if groups is None:
            return None
    with_blocks = [i for i, (_, blocks, _) in enumerate(groups) if blocks]
    if len(with_blocks) < 2:
        return None
    first, end = with_blocks[0], with_blocks[-1]
    merged = ([("stem", None, [n for g in groups[:first] for n in g[2]])] if first else [])
    merged += groups[first:end + 1]
    if end + 1 < len(groups):
        merged.append(("head", None, [n for g in groups[end + 1:] for n in g[2]]))
    stages = []
    for k, (label, blocks, members) in enumerate(merged):
        if not blocks and len(members) == 1 and label not in ("stem", "head"):
            label = keys[members[0]][3]
        made = tuple(Block(j, _block_label(b_key, b, keys), tuple(b),
                           sum(params[n] for n in b))
                     for j, (b_key, b) in enumerate(blocks or ()))
        stages.append(Stage(k, label, tuple(members), sum(params[n] for n in members), made))
    return tuple(stages)


def _block_label(key, members, keys) -> str:
    return key if key is not None else keys[members[0]][3]


def _numbered_blocks(groups, shapes, keys):
    """Runs of three or more big groups (MobileNetV2: ``expanded_conv``, ``block_1`` …
    ``block_16``) are blocks; consecutive blocks with the same output shape form a stage."""
    big = [len(members) >= _MIN_BLOCK for _, _, members in groups]
    start = next((i for i in range(len(groups) - 2) if all(big[i:i + 3])), None)
    if start is None:
        return None
    end = start
    while end + 1 < len(groups) and big[end + 1] and \
            (_BLOCKISH.search(groups[end + 1][0]) or not _BLOCKISH.search(groups[end][0])):
        end += 1
    blocks = groups[start:end + 1]
    blocks = [(_common_prefix([keys[n][3] for n in g[2]], whole=True).rstrip("_") or g[0],
               g[1], g[2]) for g in blocks]
    stages = _runs(blocks, lambda g: shapes.get(g[2][-1]))
    out = list(groups[:start])
    for _, members in stages:
        names = [g[0] for g in members]
        label = names[0] if len(names) == 1 else f"{names[0]}…{names[-1]}"
        out.append((label, [(g[0], g[2]) for g in members], [n for g in members for n in g[2]]))
    return out + list(groups[end + 1:])


def _common_prefix(names, whole: bool = False) -> str:
    """The longest ``_``-ended prefix all names share (``convnext_tiny_``); with ``whole``,
    a name that is all prefix counts as ending in ``_`` (``block_1`` of ``block_1_pad``)."""
    if len(names) < 2 and not whole:
        return ""
    if whole:
        names = [n + "_" for n in names]
    first, last = min(names), max(names)
    i = 0
    while i < min(len(first), len(last)) and first[i] == last[i]:
        i += 1
    cut = first[:i].rfind("_")
    return first[:cut + 1] if cut > 0 else ""
