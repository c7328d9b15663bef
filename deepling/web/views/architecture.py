"""Architecture view: the model as a graph of layers, and an inspector for one layer.

The graph is drawn by dash-cytoscape with a *preset* layout computed here: each stage
(:func:`deepling.models.graph.layer_graph`) is a column in which data flows downwards,
and the columns read left to right (wrapping in a snake when there are many), so a
20-layer CNN fits the narrow column beside the animation at a readable size. Layers
in parallel branches sit side by side. Clicking a stage's frame folds it into one node.
The positions are computed in Python, so no layout extension (dagre...) is needed.

The inspector shows, for the layer in focus, the feature maps of the image in focus, the
images that drive a chosen channel hardest, and weight and activation histograms.
"""

from __future__ import annotations

import dash_bootstrap_components as dbc
import dash_cytoscape as cyto
import numpy as np
import plotly.graph_objects as go
from dash import dcc, html

from deepling.models.graph import LayerGraph, layer_graph
from deepling.models.summary import format_count
from deepling.web.views.common import PALETTE, card, class_color, image_uri, note_list

KIND_COLORS = {
    "input": "#8c8c8c", "conv": "#4e79a7", "norm": "#76b7b2", "pool": "#f28e2b",
    "dense": "#59a14f", "merge": "#b07aa1", "model": "#9c755f", "other": "#a9a9a9",
}
KIND_LABELS = {"input": "input", "conv": "conv", "norm": "norm", "pool": "pool", "dense": "dense",
               "merge": "merge", "model": "nested model", "other": "other"}

# Model units of the preset layout; cytoscape zooms it to the canvas.
NODE_W, NODE_H = 76, 30
GAP_X, GAP_Y = 8, 9
PAD, LABEL_H, COLUMN_GAP, ROW_GAP = 6, 16, 18, 28
# px: the graph's width in the 1/3-width column of a 1400 px wide window, and the range
# of heights it may take (a deep model's unfolded stage wants more)
CANVAS_W, CANVAS_H = 400, (180, 440)
FIT_PAD = 6  # px cytoscape keeps around the drawing
SIDE = 12  # room right of a column for a skip connection that bows around its layers
# Fold every stage at first past this many layers; one column per stage still fits.
FOLD_ABOVE = 40
MAX_MAPS = 48
TOP_K = 10
STAGE_PREFIX = "stage:"
BLOCK_PREFIX = "block:"
# A stage of blocks puts at most this many in a column, then starts the next column.
BLOCKS_PER_COLUMN = 6
BLOCK_GAP = 14
HOVER_HINT = "click a layer to inspect it · click a frame to fold it, a folded node to unfold it"


def layout(ctx) -> dbc.Card:
    adapter = ctx["adapter"]
    workspace = ctx["workspace"]
    graph = layer_graph(adapter.model)
    model_id = ctx.get("model_id") or workspace.default_model_id
    data_id = ctx.get("data_id") or workspace.default_data_id
    focus = default_layer(graph)
    collapsed = default_collapsed(graph, focus)
    ends = [fmt_shape(graph.node(names[0]).output_shape) if names else "?"
            for names in (graph.inputs, graph.outputs)]
    summary = html.Div([
        html.Span(f"{len(graph.nodes)} layers · {format_count(graph.params)} parameters · "
                  f"{ends[0]} → {ends[1]}", className="small text-muted me-auto"),
        html.Button("unfold all" if collapsed == all_folds(graph) else "fold all",
                    id="arch-fold", className="btn btn-sm btn-link p-0 dl-arch-fold",
                    title="fold or unfold every stage and block (or click one frame)"),
    ], className="d-flex align-items-center gap-2 mb-1")
    search = html.Div([
        dcc.Input(id="arch-search", type="search", debounce=0.3, placeholder="find layers by name…",
                  className="form-control form-control-sm dl-arch-search", autoComplete="off"),
        html.Span(id="arch-found", className="small text-muted text-nowrap"),
    ], className="d-flex align-items-center gap-2 mb-1")
    cy = cyto.Cytoscape(
        id="arch-graph", elements=graph_elements(graph, collapsed, focus),
        stylesheet=stylesheet(), layout={"name": "preset", "fit": True, "padding": 6},
        style=canvas_style(graph, collapsed), className="dl-arch-graph",
        autoungrabify=True, autounselectify=True, boxSelectionEnabled=False,
        minZoom=0.3, maxZoom=2.5, responsive=True, clearOnUnhover=True,
    )
    picker = dcc.Dropdown(
        id="arch-layer", value=focus, clearable=False, searchable=True,
        options=[{"label": f"{n.name} · {n.type}", "value": n.name} for n in graph.nodes],
    )
    inspector = html.Div([
        html.Div(id="arch-layer-title", className="dl-arch-title"),
        dbc.Tabs([
            dbc.Tab(html.Div(id="arch-maps", className="dl-arch-pane"), label="Feature maps",
                    tab_id="maps"),
            dbc.Tab(html.Div([
                html.Div([
                    dbc.InputGroup([dbc.InputGroupText("channel"),
                                    dbc.Input(id="arch-channel", type="number", min=0, step=1,
                                              value=0, debounce=True)],
                                   size="sm", style={"width": "9.5rem"}),
                    html.Span("or click a feature map", className="small text-muted"),
                ], className="d-flex align-items-center gap-2 mb-2"),
                dcc.Loading(html.Div(id="arch-top"), type="dot", color="#4e79a7"),
            ], className="dl-arch-pane"), label="Top images", tab_id="top"),
            dbc.Tab(dcc.Loading(html.Div(id="arch-hist", className="dl-arch-pane"), type="dot",
                                color="#4e79a7"),
                    label="Histograms", tab_id="hist"),
        ], id="arch-tabs", active_tab="maps", className="dl-arch-tabs mt-1"),
    ], className="dl-arch-inspector")
    body = [
        summary,
        search,
        html.Div(cy, className="dl-arch-canvas"),
        html.Div(HOVER_HINT, id="arch-hover", className="dl-arch-hover small text-muted"),
        legend(graph),
        inspector,
        note_list([*adapter.notes, *graph.notes]),
        dcc.Store(id="arch-ids", data={"model": model_id, "data": data_id}),
        dcc.Store(id="arch-collapsed", data=sorted(collapsed)),
        dcc.Store(id="arch-animated"),  # the layers the layer animation shows (its payload's)
    ]
    return card("Architecture", body, "architecture-card",
                extra=html.Div(picker, className="dl-arch-picker"))



def default_layer(graph: LayerGraph) -> str:
    """The last convolution before the model goes flat (its maps are the most telling);
    else the first layer that can be inspected."""
    convs = [n.name for n in graph.nodes if n.kind == "conv" and n.inspectable
             and isinstance(n.output_shape, tuple) and len(n.output_shape) == 3]
    if convs:
        return convs[-1]
    usable = [n.name for n in graph.nodes if n.inspectable and n.kind != "input"]
    return (usable or [graph.nodes[0].name])[0]


def default_collapsed(graph: LayerGraph, focus: str | None = None) -> set[str]:
    """What is folded at first: nothing for a small model; for a big one every stage but
    the focus's, and every block but the focus's."""
    if len(graph.nodes) <= FOLD_ABOVE:
        return set()
    node = graph.node(focus) if focus else None
    folded = {stage_id(s.index) for s in graph.stages if node is None or s.index != node.stage}
    folded |= {block_id(s.index, b.index) for s in graph.stages for b in s.blocks
               if node is None or (s.index, b.index) != (node.stage, node.block)}
    return folded


def all_folds(graph: LayerGraph) -> set[str]:
    return {stage_id(s.index) for s in graph.stages} | \
        {block_id(s.index, b.index) for s in graph.stages for b in s.blocks}


def fold_ids(collapsed) -> set[str]:
    """Folded stages and blocks as element ids (a bare int is a stage's index)."""
    return {stage_id(c) if isinstance(c, int) else str(c) for c in (collapsed or ())}


def unfold_to(graph: LayerGraph, collapsed, name: str) -> set[str]:
    """``collapsed`` with the stage and block of layer ``name`` unfolded."""
    node = graph.node(name)
    return fold_ids(collapsed) - {stage_id(node.stage), block_id(node.stage, node.block)}


def stage_id(index: int) -> str:
    return f"{STAGE_PREFIX}{index}"


def block_id(stage: int, block: int) -> str:
    return f"{BLOCK_PREFIX}{stage}:{block}"


def fmt_shape(shape) -> str:
    if shape is None:
        return "?"
    if isinstance(shape, list):
        return ", ".join(fmt_shape(s) for s in shape)
    return "×".join("?" if d is None else str(d) for d in shape) or "scalar"


def found_text(graph: LayerGraph, query) -> str:
    """What a search found, and where: ``58 layers · conv2 6, pool2 1, …`` (Enter: the first)."""
    found = graph.search(query or "")
    if not (query or "").strip():
        return ""
    if not found:
        return "no layer name contains that"
    where: dict[str, int] = {}
    for name in found:
        label = graph.stages[graph.node(name).stage].label
        where[label] = where.get(label, 0) + 1
    parts = [f"{k} {v}" for k, v in where.items()]
    text = ", ".join(parts[:4]) + (f", +{len(parts) - 4} more" if len(parts) > 4 else "")
    return f"{len(found)} layer{'s' if len(found) > 1 else ''} · {text} · Enter: the first"


def layer_info(node) -> str:
    """One line about a layer: the hover text and the inspector's title."""
    return f"{node.name} · {node.type} · {fmt_shape(node.output_shape)} · " \
           f"{node.params:,} parameters"


# --- the graph -----------------------------------------------------------------------
def graph_elements(graph: LayerGraph, collapsed=(), focus: str | None = None,
                   animated=(), search: str = "") -> list[dict]:
    """Cytoscape elements with preset positions.

    Parameters
    ----------
    graph : LayerGraph
    collapsed : iterable of str (or int)
        Folded stages (``"stage:<k>"``, or just ``k``) and blocks (``"block:<k>:<j>"``),
        each drawn as one node.
    focus : str, optional
        The layer to mark as in focus (the node that holds it, when that is folded).
    animated : iterable of str
        Layers the layer animation shows: marked (a folded node says how many it holds).
    search : str
        Layers whose name contains it are marked as found (folded nodes: how many).

    Returns
    -------
    list of dict
        Stage frames (compound nodes) or folded stage nodes with id ``"stage:<k>"``, block
        frames inside them or folded block nodes (``"block:<k>:<j>"``), layer nodes with
        the layer's name as id, and edges; data carries ``kind`` and ``info``. The flow
        between two frames is drawn frame to frame, except where one outside layer feeds
        several layers of an unfolded frame (a residual block's input): a small *port* node
        named after that layer (id ``"port:<frame>:<layer>"``) then sits at the top of the
        frame and fans out, so the skip connection reads as one edge around the block.
    """
    collapsed = fold_ids(collapsed)
    by_name = {n.name: n for n in graph.nodes}
    animated = {a for a in animated if a in by_name}
    found = set(graph.search(search))
    tree = _placement(graph, collapsed)
    elements, where = [], {}

    def marks(names) -> str:
        out = ""
        if focus in names:
            out += " focus"
        if animated & names:
            out += " animated"
        if found & names:
            out += " found"
        return out

    def counts(names) -> str:
        parts = []
        if found & names:
            parts.append(f"{len(found & names)} found")
        if animated & names:
            parts.append(f"{len(animated & names)} animated")
        return (" · " + ", ".join(parts)) if parts else ""

    def emit(box, x0, y0, parent):
        for child in box["children"]:
            cx, cy = x0 + child["at"][0], y0 + child["at"][1]
            kind, cid = child["kind"], child["id"]
            names = set(child.get("layers", ()))
            if kind == "layer":
                n = by_name[cid]
                where[cid] = (cx, cy)
                classes = f"layer k-{n.kind}" + marks({cid}) + ("" if n.inspectable else " opaque")
                elements.append({
                    "data": {"id": cid, "parent": parent, "label": _label(n, child.get("within")),
                             "kind": n.kind,
                             "type": n.type, "info": layer_info(n)
                             + (" · animated" if cid in animated else "")},
                    "position": {"x": cx, "y": cy}, "classes": classes})
            elif kind == "port":
                source = child["layer"]
                where[cid] = (cx, cy)
                elements.append({
                    "data": {"id": cid, "parent": parent, "label": _short(source), "kind": "port",
                             "layer": source,
                             "info": f"the output of {source} (in {graph.where(source)}), used by "
                                     f"{child['fan']} layers here"},
                    "position": {"x": cx, "y": cy}, "classes": "port"})
            elif child["folded"]:
                where[cid] = (cx, cy)
                what = f"{child['blocks']} blocks" if child.get("blocks") else f"{len(names)} layers"
                data = {"id": cid, "label": f"{_short(child['display'], 14)}\n{what}",
                        "kind": kind, "info": child["info"] + counts(names) + " · click: unfold",
                        "stage": child["stage"]}
                if parent:
                    data["parent"] = parent
                elements.append({"data": data, "position": {"x": cx, "y": cy},
                                 "classes": f"{kind} folded" + marks(names)})
            else:
                data = {"id": cid, "label": child["display"], "kind": kind,
                        "info": child["info"] + counts(names) + " · click the frame: fold",
                        "stage": child["stage"]}
                if parent:
                    data["parent"] = parent
                elements.append({"data": data, "classes": kind + (" found" if found & names else "")})
                emit(child, cx, cy, cid)

    emit(tree, 0.0, 0.0, None)
    _edges(graph, tree, collapsed, elements, where)
    return elements


def _edges(graph, tree, collapsed, elements, where) -> None:
    """Edges between what is visible: layer to layer inside a column; otherwise between the
    children of the innermost frame holding both ends (frame or folded node), into a port
    where there is one."""
    path, ports, order = tree["paths"], tree["ports"], tree["order"]
    seen = set()

    def edge(a, b, classes):
        if (a, b) not in seen and a != b:
            seen.add((a, b))
            side = classes == "flow" and _beside(where, a, b)
            elements.append({"data": {"id": f"{a}->{b}", "source": a, "target": b},
                             "classes": classes + (" side" if side else "")})

    for src, dst in graph.edges:
        ps, pt = path.get(src), path.get(dst)
        if ps is None or pt is None or ps == pt:
            continue
        if ps[:-1] == pt[:-1] and ps[-1] == src and pt[-1] == dst:
            edge(src, dst, "flow")
            continue
        common = 0
        while common < min(len(ps), len(pt)) - 1 and ps[common] == pt[common]:
            common += 1
        a = ps[common]
        column = pt[-2] if pt[-1] == dst and len(pt) > 1 else None
        port = port_id(column, src) if column and src in ports.get(column, {}) else None
        if port:
            if a == column:  # cannot happen: a port's source is outside its frame
                continue
            edge(a, port, "between")
            edge(port, dst, "flow")
            continue
        b = pt[common]
        far = " skip" if abs(order.get(a, 0) - order.get(b, 0)) > 1 else ""
        edge(a, b, "between" + far)


def port_id(frame: str, layer: str) -> str:
    return f"port:{frame}:{layer}"


def _beside(where, a, b) -> bool:
    """An edge that would run straight through the layers between its ends."""
    if a not in where or b not in where:
        return False
    (xa, ya), (xb, yb) = where[a], where[b]
    return abs(xa - xb) < 1 and abs(yb - ya) > NODE_H + GAP_Y + 1


def _short(name: str, limit: int = 13) -> str:
    return name if len(name) <= limit else name[:limit - 1] + "…"


def _label(node, within: str | None = None) -> str:
    """Name and shape; inside a named frame (``conv2_block1``) the name without it
    (``1_conv``): the frame says the rest, the hover the whole name."""
    name = node.name
    if within and within + "_" in name:
        name = name.split(within + "_", 1)[1] or name
    return f"{_short(name)}\n{fmt_shape(node.output_shape)}"


def _within(label: str, outer: str | None) -> str:
    """A block's name as drawn inside its stage: ``block1`` in ``conv2`` (``conv2_block1``)."""
    if outer and label.startswith(outer + "_") and len(label) > len(outer) + 1:
        return label[len(outer) + 1:]
    if outer and "_" + outer + "_" in label:
        return label.split("_" + outer + "_", 1)[1]
    return label


def canvas_style(graph: LayerGraph, collapsed=()) -> dict:
    """The graph's CSS box: full width, and the height that shows the drawing at the
    scale the width allows (capped: cytoscape zooms out past that)."""
    w, h = _placement(graph, fold_ids(collapsed))["size"]
    zoom = min(1.0, (CANVAS_W - 2 * FIT_PAD) / w)
    height = min(max(h * zoom + 2 * FIT_PAD, CANVAS_H[0]), CANVAS_H[1])
    return {"width": "100%", "height": f"{round(height)}px"}


def _placement(graph, collapsed) -> dict:
    """The drawing as a tree of boxes: ``{"size", "children": [{"kind", "id", "at"
    (centre, or top-left corner for a frame), ...}], "paths": {layer: visible ids from the
    outermost frame down}, "ports": {frame: {source: targets}}, "order": {id: position
    among its siblings}}``."""
    by_name = {n.name: n for n in graph.nodes}
    paths, ports, order = {}, {}, {}
    children = []
    for s in graph.stages:
        sid = stage_id(s.index)
        info = f"{s.label} · {len(s.layers)} layers" + \
            (f" in {len(s.blocks)} blocks" if s.blocks else "") + \
            f" · {format_count(s.params)} parameters"
        order[sid] = s.index
        if sid in collapsed:
            for n in s.layers:
                paths[n] = (sid,)
            children.append(_folded("stage", sid, s.label, s.layers, info, s.index,
                                    len(s.blocks)))
        elif not s.blocks:
            children.append(_column(graph, sid, "stage", s.label, s.layers, info, s.index,
                                    by_name, paths, ports, (sid,)))
        else:
            blocks = []
            for b in s.blocks:
                bid = block_id(s.index, b.index)
                order[bid] = b.index
                binfo = f"{b.label} (in {s.label}) · {len(b.layers)} layers · " \
                        f"{format_count(b.params)} parameters"
                if bid in collapsed:
                    for n in b.layers:
                        paths[n] = (sid, bid)
                    blocks.append(_folded("block", bid, b.label, b.layers, binfo, s.index,
                                          outer=s.label))
                else:
                    blocks.append(_column(graph, bid, "block", b.label, b.layers, binfo, s.index,
                                          by_name, paths, ports, (sid, bid), outer=s.label))
            children.append(_grid(sid, s.label, s.layers, info, s.index, blocks))
    corners, size = _arrange([c["size"] for c in children])
    for child, corner in zip(children, corners):
        child["at"] = _anchor(child, corner)
    return {"size": size, "children": children, "paths": paths, "ports": ports, "order": order}


def _anchor(child, corner):
    """Where a child is placed: a folded node or layer by its centre, a frame by its corner."""
    if child["kind"] in ("layer", "port") or child.get("folded"):
        return (corner[0] + child["size"][0] / 2, corner[1] + child["size"][1] / 2)
    return corner


def _folded(kind, fid, label, layers, info, stage, blocks=0, outer=None) -> dict:
    return {"kind": kind, "id": fid, "label": label, "display": _within(label, outer),
            "layers": tuple(layers), "info": info, "stage": stage, "blocks": blocks,
            "folded": True, "size": (NODE_W, NODE_H + 8)}


def _grid(sid, label, layers, info, stage, blocks) -> dict:
    """A stage of blocks: the blocks top to bottom in columns of at most
    :data:`BLOCKS_PER_COLUMN`, the columns left to right."""
    columns = [blocks[i:i + BLOCKS_PER_COLUMN] for i in range(0, len(blocks), BLOCKS_PER_COLUMN)]
    x, height = PAD, 0.0
    for col in columns:
        width = max(b["size"][0] for b in col)
        y = LABEL_H + PAD
        for b in col:
            b["at"] = _anchor(b, (x + (width - b["size"][0]) / 2, y))
            y += b["size"][1] + BLOCK_GAP
        height = max(height, y - BLOCK_GAP + PAD)
        x += width + COLUMN_GAP
    return {"kind": "stage", "id": sid, "label": label, "display": label, "layers": tuple(layers),
            "info": info, "stage": stage, "folded": False, "children": blocks,
            "size": (x - COLUMN_GAP + PAD, height)}


def _column(graph, fid, kind, label, layers, info, stage, by_name, paths, ports, prefix,
            outer=None) -> dict:
    """A frame of layers, data flowing down; layers in parallel branches side by side;
    a port on top for each outside layer that feeds more than one of them."""
    members = set(layers)
    fan: dict[str, list[str]] = {}
    for name in layers:
        paths[name] = (*prefix, name)
        for p in graph.predecessors(name):
            if p not in members:
                fan.setdefault(p, []).append(name)
    fan = {p: targets for p, targets in fan.items() if len(targets) > 1}
    ports[fid] = fan
    first = 1 if fan else 0
    row = {}
    for name in layers:  # topological order: predecessors come first
        inside = [p for p in graph.predecessors(name) if p in members]
        row[name] = 1 + max(row[p] for p in inside) if inside else first
    rows: dict[int, list[str]] = {}
    port_ids = {port_id(fid, p): p for p in fan}
    if port_ids:
        rows[0] = list(port_ids)
    for name in layers:
        rows.setdefault(row[name], []).append(name)
    width = max(len(r) for r in rows.values())
    inner_w = width * NODE_W + (width - 1) * GAP_X
    positions, children = {}, []
    for r, names in rows.items():
        span = len(names) * NODE_W + (len(names) - 1) * GAP_X
        for j, name in enumerate(names):
            x = PAD + (inner_w - span) / 2 + j * (NODE_W + GAP_X) + NODE_W / 2
            y = LABEL_H + PAD + r * (NODE_H + GAP_Y) + NODE_H / 2
            positions[name] = (x, y)
            if name in port_ids:
                children.append({"kind": "port", "id": name, "layer": port_ids[name],
                                 "fan": len(fan[port_ids[name]]), "at": (x, y)})
            else:
                children.append({"kind": "layer", "id": name, "at": (x, y),
                                 "within": label if kind == "block" or len(layers) > 1 else None})
    # edges inside the column, ports included: one that skips rows bows out to the right
    inner = [(a, b) for a, b in graph.edges if a in members and b in members]
    inner += [(port_id(fid, p), t) for p, targets in fan.items() for t in targets]
    side = SIDE if any(_beside(positions, a, b) for a, b in inner) else 0
    n_rows = max(rows) + 1
    height = LABEL_H + 2 * PAD + n_rows * NODE_H + (n_rows - 1) * GAP_Y
    return {"kind": kind, "id": fid, "label": label, "display": _within(label, outer),
            "layers": tuple(layers), "info": info, "stage": stage, "folded": False,
            "children": children,
            "size": (inner_w + 2 * PAD + side, height)}


def _arrange(sizes):
    """Top-left corners for the stage columns, and the drawing's size: columns left to
    right, wrapping in a snake, as many per row as let the drawing show largest."""
    best = None
    for per_row in range(1, len(sizes) + 1):
        rows = [list(range(i, min(i + per_row, len(sizes)))) for i in range(0, len(sizes), per_row)]
        widths = [sum(sizes[k][0] for k in r) + COLUMN_GAP * (len(r) - 1) for r in rows]
        heights = [max(sizes[k][1] for k in r) for r in rows]
        total_w, total_h = max(widths), sum(heights) + ROW_GAP * (len(rows) - 1)
        zoom = min((CANVAS_W - 2 * FIT_PAD) / total_w, (CANVAS_H[1] - 2 * FIT_PAD) / total_h, 1.0)
        # larger drawing first; then the lower one (it leaves room for the inspector)
        if best is None or (zoom, -total_h) > (best[0] + 1e-9, -best[5]):
            best = (zoom, rows, widths, heights, total_w, total_h)
    _, rows, widths, heights, total_w, total_h = best
    origins, y = [None] * len(sizes), 0.0
    for r, (members, width, height) in enumerate(zip(rows, widths, heights)):
        order = members if r % 2 == 0 else members[::-1]  # snake: the flow turns at the edge
        x = 0.0 if r % 2 == 0 else total_w - width
        for k in order:
            origins[k] = (x, y)
            x += sizes[k][0] + COLUMN_GAP
        y += height + ROW_GAP
    return origins, (total_w, total_h)


def stylesheet() -> list[dict]:
    rules = [
        {"selector": "node.layer", "style": {
            "shape": "round-rectangle", "width": NODE_W, "height": NODE_H,
            "label": "data(label)", "text-wrap": "wrap", "text-valign": "center",
            "text-halign": "center", "font-size": 9.5, "line-height": 1.15, "color": "#1f2933",
            "font-family": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
            "background-color": "#f3f4f6", "border-width": 1.5, "border-color": "#a9a9a9"}},
        {"selector": "node.stage", "style": {
            "shape": "round-rectangle", "background-color": "#f8f9fb", "background-opacity": 1,
            "border-width": 1, "border-color": "#d5d9e0", "padding": PAD, "label": "data(label)",
            "text-valign": "top", "text-halign": "center", "text-margin-y": -3, "font-size": 10,
            "font-weight": 600, "color": "#5b6470", "compound-sizing-wrt-labels": "exclude",
            "font-family": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"}},
        {"selector": "node.stage.folded", "style": {
            "width": NODE_W, "height": NODE_H + 8, "text-valign": "center", "text-wrap": "wrap",
            "text-margin-y": 0, "background-color": "#e9edf3", "border-width": 1.5,
            "border-style": "dashed", "border-color": "#8a94a3", "color": "#1f2933"}},
        {"selector": "node.block", "style": {
            "shape": "round-rectangle", "background-color": "#ffffff", "background-opacity": 1,
            "border-width": 1, "border-color": "#c4cad3", "padding": PAD, "label": "data(label)",
            "text-valign": "top", "text-halign": "center", "text-margin-y": -2, "font-size": 9,
            "color": "#5b6470", "compound-sizing-wrt-labels": "exclude",
            "font-family": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"}},
        {"selector": "node.block.folded", "style": {
            "width": NODE_W, "height": NODE_H + 8, "text-valign": "center", "text-wrap": "wrap",
            "text-margin-y": 0, "background-color": "#f3f5f8", "border-width": 1.2,
            "border-style": "dashed", "border-color": "#a3acb9", "color": "#1f2933",
            "font-size": 9}},
        {"selector": "node.opaque", "style": {"border-style": "dashed"}},
        # the layers the animation shows (and folded nodes that hold some): a green underline
        {"selector": "node.animated", "style": {
            "underlay-color": "#2a9d8f", "underlay-opacity": 0.55, "underlay-padding": 3,
            "underlay-shape": "round-rectangle"}},
        {"selector": "node.found", "style": {
            "outline-color": "#e15759", "outline-width": 2.5, "outline-offset": 1,
            "outline-opacity": 1}},
        {"selector": "node.port", "style": {
            "shape": "round-rectangle", "width": NODE_W, "height": NODE_H * 0.6,
            "label": "data(label)", "text-valign": "center", "font-size": 8.5,
            "font-style": "italic", "color": "#5b6470", "background-color": "#ffffff",
            "border-width": 1, "border-style": "dotted", "border-color": "#8a94a3"}},
        {"selector": "node.focus", "style": {
            "border-width": 3, "border-color": "#1f2933", "background-color": "#fff3c4",
            "font-weight": 700}},
        {"selector": "edge", "style": {
            "width": 1.4, "line-color": "#9aa3ad", "target-arrow-color": "#9aa3ad",
            "target-arrow-shape": "triangle", "arrow-scale": 0.7, "curve-style": "bezier"}},
        {"selector": "edge.between", "style": {"width": 2, "line-color": "#7b8794",
                                               "target-arrow-color": "#7b8794"}},
        {"selector": "edge.skip", "style": {"curve-style": "unbundled-bezier",
                                            "control-point-distances": -40,
                                            "control-point-weights": 0.5}},
        # a skip inside a column bows out to the side instead of crossing the layers
        {"selector": "edge.side", "style": {"curve-style": "unbundled-bezier",
                                            "control-point-distances": -(NODE_W + 2 * SIDE - 4),
                                            "control-point-weights": 0.5,
                                            "line-color": "#b07aa1",
                                            "target-arrow-color": "#b07aa1"}},
    ]
    for kind, color in KIND_COLORS.items():
        rules.insert(1, {"selector": f"node.k-{kind}", "style": {
            "border-color": color, "background-color": _tint(color, 0.16)}})
    return rules


def _tint(hex_color: str, amount: float) -> str:
    """``hex_color`` mixed with white: a fill light enough for dark text."""
    rgb = [int(hex_color[i:i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(255 - (255 - c) * amount):02x}" for c in rgb)


def legend(graph: LayerGraph) -> html.Div:
    present = [k for k in KIND_COLORS if any(n.kind == k for n in graph.nodes)]
    return html.Div([
        html.Span([html.Span(className="dl-arch-swatch",
                             style={"borderColor": KIND_COLORS[k],
                                    "background": _tint(KIND_COLORS[k], 0.16)}),
                   KIND_LABELS[k]], className="dl-arch-key")
        for k in present
    ] + [html.Span([html.Span(className="dl-arch-swatch dl-arch-swatch-opaque"),
                    "cannot be inspected"], className="dl-arch-key")
         if any(not n.inspectable for n in graph.nodes) else None] + [
        html.Span([html.Span(className="dl-arch-swatch dl-arch-swatch-animated"),
                   "in the layer animation"], className="dl-arch-key")],
        className="dl-arch-legend")


# --- the inspector -------------------------------------------------------------------
def layer_title(node) -> html.Div:
    return html.Div([
        html.Span(node.name, className="fw-semibold me-2"),
        html.Span(f"{node.type} · {fmt_shape(node.output_shape)} · {node.params:,} parameters",
                  className="small text-muted"),
    ])


def problem(message: str) -> html.Div:
    """A note in place of a view that cannot be drawn; never an empty or broken box."""
    return html.Div(message, className="dl-arch-note small")


def graph(figure) -> dcc.Graph:
    return dcc.Graph(figure=figure, config={"displayModeBar": False})


def focus_label(ids: dict, index: int, true: int, predicted: int, class_names) -> html.Span:
    """The image in focus, small: thumbnail, index, true → predicted class."""
    truth = class_names[true] if true >= 0 else "?"
    return html.Span([
        html.Img(src=f"/api/images/{ids['model']}/{ids['data']}/{index}.png", width=22, height=22,
                 className="dl-pixelated dl-arch-focus-img", alt=""),
        f" #{index} ", html.B(truth), f" → {class_names[predicted]}"],
        title=f"the image in focus: #{index}, true {truth}, predicted {class_names[predicted]}")


def maps_panel(fm, image_label, output_names=None):
    """The feature-maps tab: a grid of maps, or a bar per unit for a vector layer
    (named by class when it is the model's output, ``output_names``)."""
    if not fm.is_vector:
        return map_grid(fm, image_label)
    return html.Div([
        html.Div([image_label, f" · {fm.n_channels} units"],
                 title="click a bar: its top images", className="small mb-1"),
        dcc.Graph(id="arch-vector", config={"displayModeBar": False},
                  figure=vector_figure(fm, output_names)),
    ])


def top_panel(top, means, indices, labels, predicted, class_names, ids) -> html.Div:
    """The top-images tab: the channel's top images and its mean activation per class."""
    return html.Div([
        top_images(top, indices, labels, predicted, class_names, ids, len(indices)),
        dcc.Graph(figure=class_profile(means[:, top.channel], labels, class_names),
                  config={"displayModeBar": False}, className="mt-1"),
    ])


def map_grid(fm, image_label, max_maps: int = MAX_MAPS) -> html.Div:
    """The channels of ``fm`` as small heat maps on one shared colour scale.

    The scale is a square root of the value's place between the smallest and largest
    value: after ReLU most values are 0 and a few are large, and a linear scale would
    leave all but the strongest maps black.
    """
    from plotly.colors import sample_colorscale

    shown = fm.maps[:max_maps]
    lo, hi = float(min(shown.min(), 0.0)), float(shown.max())
    scale = hi - lo if hi > lo else 1.0
    lut = np.array([[int(v) for v in c[4:-1].split(",")]
                    for c in sample_colorscale("Viridis", np.linspace(0, 1, 256))], np.uint8)
    tiles = []
    for ch, mean, m in zip(fm.channels, fm.means, shown):
        idx = (np.sqrt(np.clip((m - lo) / scale, 0, 1)) * 255).astype(np.uint8)
        title = f"channel {ch} · mean {mean:.3g} · max {m.max():.3g} — click: top images"
        tiles.append(html.Button(
            html.Img(src=image_uri(lut[idx]), className="dl-pixelated dl-arch-map-img", alt=""),
            id={"type": "arch-map", "channel": int(ch)}, className="dl-arch-map", title=title))
    shown_note = f"the {len(shown)} strongest shown" if len(shown) < fm.n_channels else "all shown"
    caption = [image_label, f" · {fm.n_channels} channels by mean activation, {shown_note}"]
    scale_note = html.Div([
        html.Span(f"{lo:.3g}", className="me-1"),
        html.Span(className="dl-arch-ramp"),
        html.Span(f"{hi:.3g}", className="ms-1"),
        html.Span("· one square-root scale for all maps", className="text-muted ms-1"),
    ], className="d-flex align-items-center small mt-1")
    return html.Div([html.Div(caption, className="small mb-1"),
                     html.Div(tiles, className="dl-arch-maps"), scale_note])


def vector_figure(fm, class_names=None) -> go.Figure:
    """A dense layer's activations as bars, in unit order; class names for the output."""
    v = fm.vector
    n = len(v)
    labels = list(class_names) if class_names is not None and len(class_names) == n else None
    x = labels or list(range(n))
    colors = [class_color(k) for k in range(n)] if labels else "#4e79a7"
    fig = go.Figure(go.Bar(
        x=x, y=v, marker_color=colors, marker_line_width=0,
        customdata=np.arange(n),
        hovertemplate=("%{x}" if labels else "unit %{x}") + ": %{y:.4g}<extra></extra>"))
    fig.update_layout(
        height=170, margin=dict(l=36, r=6, t=6, b=28 if labels else 22),
        bargap=0.1 if n < 40 else 0,
        plot_bgcolor="white", paper_bgcolor="white", clickmode="event",
        xaxis=dict(fixedrange=True, type="category" if labels else "linear",
                   tickfont=dict(size=9), title=None),
        yaxis=dict(fixedrange=True, gridcolor="#eceef1", zeroline=True, zerolinecolor="#9aa3ad",
                   tickfont=dict(size=9)))
    return fig


def top_images(top, indices, labels, predicted, class_names, ids, n_images: int) -> html.Div:
    """Thumbnails of the top images for a channel, strongest first; click one to focus it."""
    tiles = []
    for pos, value in zip(top.indices, top.values):
        i = int(indices[pos])
        true, pred = int(labels[pos]), int(predicted[pos])
        name = class_names[true] if 0 <= true < len(class_names) else "?"
        title = (f"#{i}: true {name}, predicted {class_names[pred]} — mean activation "
                 f"{value:.3g}. Click to focus it.")
        tiles.append(html.Button([
            html.Img(src=f"/api/images/{ids['model']}/{ids['data']}/{i}.png", width=52,
                     height=52, className="dl-pixelated", alt=""),
            html.Div(name, className="dl-arch-top-name", style={"color": class_color(true)}),
            html.Div(f"{value:.3g}", className="dl-arch-top-value"),
        ], id={"type": "arch-top-image", "index": i}, className="dl-arch-top", title=title))
    head = html.Div([f"{top.layer} channel {top.channel}: the {len(tiles)} strongest of the ",
                     html.B(f"{n_images:,}"), " images the animation shows"],
                    className="small mb-1")
    return html.Div([head, html.Div(tiles, className="dl-arch-tops")])


def class_profile(values: np.ndarray, labels: np.ndarray, class_names) -> go.Figure:
    """Mean of a channel per true class: which classes the unit responds to."""
    k = len(class_names)
    sums = np.bincount(labels[labels >= 0], values[labels >= 0], minlength=k)[:k]
    counts = np.maximum(np.bincount(labels[labels >= 0], minlength=k)[:k], 1)
    fig = go.Figure(go.Bar(x=list(class_names), y=sums / counts,
                           marker_color=[PALETTE[j % len(PALETTE)] for j in range(k)],
                           hovertemplate="%{x}: mean %{y:.3g}<extra></extra>"))
    fig.update_layout(height=130, margin=dict(l=36, r=6, t=18, b=24), plot_bgcolor="white",
                      paper_bgcolor="white", showlegend=False,
                      title=dict(text="mean activation by true class", font=dict(size=11),
                                 x=0.01, y=0.97),
                      xaxis=dict(fixedrange=True, tickfont=dict(size=9)),
                      yaxis=dict(fixedrange=True, gridcolor="#eceef1", tickfont=dict(size=9)))
    return fig


def histogram_figure(hists, title: str, overlay=None, overlay_name: str = "",
                     log: bool = False) -> go.Figure:
    """Histograms as bars of the fraction of values per bin.

    The first histogram is shown, the others start hidden (click the legend): a kernel and
    its bias, or batch-norm's four vectors, have unrelated ranges. ``overlay`` is drawn as
    a line on the same bins; ``log`` suits activations, whose ReLU zeros would flatten the
    rest on a linear scale.
    """
    colors = ["#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#9c755f"]
    fig = go.Figure()
    for j, h in enumerate(hists):
        frac = h.counts / max(h.total, 1)
        fig.add_bar(x=h.centers, y=np.where(frac > 0, frac, np.nan) if log else frac,
                    width=np.diff(h.edges), name=h.label,
                    marker_color=colors[j % len(colors)], marker_line_width=0,
                    visible=True if j == 0 else "legendonly",
                    hovertemplate="%{x:.3g}: %{y:.2%}<extra>" + h.label + "</extra>")
    if overlay is not None:
        frac = overlay.counts / max(overlay.total, 1)
        fig.add_scatter(x=overlay.centers, y=np.where(frac > 0, frac, np.nan) if log else frac,
                        mode="lines", line=dict(color="#e15759", width=1.6, shape="hvh"),
                        name=overlay_name, connectgaps=False,
                        hovertemplate="%{x:.3g}: %{y:.2%}<extra>" + overlay_name + "</extra>")
    fig.update_layout(
        height=150, margin=dict(l=42, r=6, t=22, b=22), barmode="overlay", bargap=0,
        plot_bgcolor="white", paper_bgcolor="white",
        title=dict(text=title, font=dict(size=11), x=0.01, y=0.98),
        showlegend=len(hists) > 1 or overlay is not None,
        legend=dict(orientation="h", y=1.0, x=1, xanchor="right", yanchor="bottom",
                    font=dict(size=9), bgcolor="rgba(0,0,0,0)"),
        xaxis=dict(fixedrange=True, tickfont=dict(size=9), zeroline=False),
        yaxis=dict(fixedrange=True, type="log" if log else "linear", tickformat="~%",
                   gridcolor="#eceef1", tickfont=dict(size=9), title=None))
    return fig
