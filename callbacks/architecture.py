"""Architecture view callbacks: pick a layer, fold stages, and inspect the layer in focus.

Picking a layer (a click on the graph, or the dropdown) sets the shared ``layer`` store;
the animation's clientside callback moves its slider there. The inspector reads the image
in focus (``focus``) for the feature maps and the animation's images (``anim-request``)
for the top images and activation histograms.
"""

from __future__ import annotations

import json

from dash import ALL, Input, Output, State, ctx, html, no_update

from deepling.models.graph import layer_graph
from deepling.service import layers
from deepling.service.selection import from_query
from deepling.web.clicks import clicked
from deepling.web.views import architecture as view


def register(app, services) -> None:
    register_layer_choice(app, services)
    register_graph(app, services)
    register_maps(app, services)
    register_inspector(app, services)


def register_layer_choice(app, services) -> None:
    """The layer in focus: a click on the graph, the list, the search box or the shared store."""
    workspace = services.workspace

    @app.callback(
        Output("layer", "data"), Output("arch-layer", "value"),
        Input("arch-graph", "tapNodeData"), Input("arch-layer", "value"),
        Input("layer", "data"), Input("rendered", "data"), Input("arch-search", "n_submit"),
        State("url", "search"), State("arch-ids", "data"), State("arch-search", "value"),
        # Page-level stores exist before this view does: wait for the page ("rendered").
        prevent_initial_call=True,
    )
    def choose_layer(tapped, picked, shared, _rendered, _submit, search, ids, query):
        """One callback keeps the shared store and the view's own picker in step (Dash
        allows that loop only within one callback)."""
        chosen = layers.layer_choice(graph_for(workspace, ids), set(ctx.triggered_prop_ids.values()),
                                     tapped=tapped, picked=picked, shared=shared,
                                     wanted=from_query(search).get("layer"), query=query)
        return tuple(no_update if c is layers.KEEP else c for c in chosen)


def register_graph(app, services) -> None:
    """The graph: folds, marks of the animated layers, the hover text."""
    workspace = services.workspace

    @app.callback(
        Output("arch-graph", "elements"), Output("arch-graph", "style"),
        Output("arch-collapsed", "data"), Output("arch-fold", "children"),
        Output("arch-found", "children"),
        Input("arch-layer", "value"), Input("arch-graph", "tapNodeData"),
        Input("arch-fold", "n_clicks"), Input("arch-search", "value"),
        Input("arch-animated", "data"),
        State("arch-collapsed", "data"), State("arch-ids", "data"),
        prevent_initial_call=True,
    )
    def redraw(focus, tapped, _fold, search, animated, collapsed, ids):
        graph = graph_for(workspace, ids)
        collapsed = view.fold_ids(collapsed)
        triggered = set(ctx.triggered_prop_ids.values())
        fold_tap = "arch-graph" in triggered and (tapped or {}).get("kind") in ("stage", "block")
        if not (fold_tap or triggered & {"arch-fold", "arch-layer", "arch-search", "arch-animated"}):
            return (no_update,) * 5  # a layer tap: arch-layer follows
        everything = view.all_folds(graph)
        if "arch-fold" in triggered:
            collapsed = set() if collapsed == everything else everything
        if fold_tap:
            collapsed ^= {tapped["id"]}
        elif "arch-layer" in triggered and focus in {n.name for n in graph.nodes}:
            # a layer picked from the list (or found) inside a folded stage: unfold to it
            collapsed = view.unfold_to(graph, collapsed, focus)
        label = "unfold all" if collapsed == everything else "fold all"
        return (view.graph_elements(graph, collapsed, focus, animated or (), search or ""),
                view.canvas_style(graph, collapsed), sorted(collapsed), label,
                view.found_text(graph, search))

    # the layers the animation shows, from its payload (across layers only), for the marks
    app.clientside_callback(
        """function (p) {
            if (!p || !p.layers || p.across === 'training') { return []; }
            return p.layers.map((L) => L.name);
        }""",
        Output("arch-animated", "data"), Input("anim-payload", "data"))

    hint = json.dumps(view.HOVER_HINT)
    app.clientside_callback(
        f"function (node) {{ return (node && node.info) ? node.info : {hint}; }}",
        Output("arch-hover", "children"), Input("arch-graph", "mouseoverNodeData"))


def register_maps(app, services) -> None:
    """The feature maps of the image in focus, and picking a channel or image from them."""
    workspace = services.workspace

    @app.callback(
        Output("arch-layer-title", "children"), Output("arch-maps", "children"),
        Output("arch-channel", "value"), Output("arch-channel", "max"),
        Input("arch-layer", "value"), Input("focus", "data"), Input("rendered", "data"),
        State("arch-ids", "data"), prevent_initial_call=True,
    )
    def show_maps(layer, focus, _rendered, ids):
        graph = graph_for(workspace, ids)
        try:
            node = graph.node(layer)
        except ValueError as exc:
            return None, view.problem(str(exc)), no_update, no_update
        if not node.inspectable:
            return view.layer_title(node), view.problem(node.note), no_update, no_update
        title = html.Div([view.layer_title(node),
                          view.problem(node.note) if node.note else None])
        ds = workspace.dataset(ids["model"], ids["data"])
        preds = workspace.predictions(ids["model"], ids["data"])
        names = workspace.class_names(ids["model"], ids["data"])
        i = min(max(int(focus or 0), 0), len(ds) - 1)
        try:
            fm = layers.image_feature_maps(workspace, ids["model"], ids["data"], i, layer)
        except ValueError as exc:
            return title, view.problem(str(exc)), no_update, no_update
        label = view.focus_label(ids, i, int(ds.labels[i]), int(preds.predicted[i]), names)
        body = view.maps_panel(fm, label, names if node.name in graph.outputs else None)
        # a new layer starts at the channel this image drives hardest
        new_layer = "arch-layer" in ctx.triggered_prop_ids.values() or \
            "rendered" in ctx.triggered_prop_ids.values()
        channel = int(fm.channels[0]) if new_layer else no_update
        return title, body, channel, fm.n_channels - 1

    @app.callback(
        Output("arch-channel", "value", allow_duplicate=True),
        Output("arch-tabs", "active_tab", allow_duplicate=True),
        Input({"type": "arch-map", "channel": ALL}, "n_clicks"), prevent_initial_call=True)
    def pick_map(clicks):
        channel = clicked("channel")
        return (no_update, no_update) if channel is None else (channel, "top")

    @app.callback(
        Output("arch-channel", "value", allow_duplicate=True),
        Output("arch-tabs", "active_tab", allow_duplicate=True),
        Input("arch-vector", "clickData"), prevent_initial_call=True)
    def pick_unit(click):
        points = (click or {}).get("points") or []
        if not points:
            return no_update, no_update
        return int(points[0].get("customdata", points[0].get("pointIndex", 0))), "top"

    @app.callback(
        Output("focus", "data", allow_duplicate=True),
        Input({"type": "arch-top-image", "index": ALL}, "n_clicks"), prevent_initial_call=True)
    def focus_top_image(clicks):
        index = clicked()
        return no_update if index is None else int(index)


def register_inspector(app, services) -> None:
    """The top images and the histograms of the layer in focus (on their tabs)."""
    workspace, projections = services.workspace, services.projections

    @app.callback(
        Output("arch-top", "children"),
        Input("arch-layer", "value"), Input("arch-channel", "value"),
        Input("arch-tabs", "active_tab"), Input("anim-request", "data"), State("arch-ids", "data"),
        prevent_initial_call=True,
    )
    def show_top(layer, channel, tab, request, ids):
        if tab != "top":
            return no_update  # computed when the tab is opened
        graph = graph_for(workspace, ids)
        try:
            node = graph.node(layer)
        except ValueError as exc:
            return view.problem(str(exc))
        if not node.inspectable:
            return view.problem(node.note)
        ds = workspace.dataset(ids["model"], ids["data"])
        preds = workspace.predictions(ids["model"], ids["data"])
        names = workspace.class_names(ids["model"], ids["data"])
        try:
            indices = sampled(projections, ids, request)
            means, top = layers.top_images(workspace, ids["model"], ids["data"], indices, layer,
                                           int(channel if channel is not None else 0), view.TOP_K)
        except ValueError as exc:
            return view.problem(str(exc))
        return view.top_panel(top, means, indices, ds.labels[indices], preds.predicted[indices],
                              names, ids)

    @app.callback(
        Output("arch-hist", "children"),
        Input("arch-layer", "value"), Input("arch-tabs", "active_tab"), Input("focus", "data"),
        Input("anim-request", "data"), State("arch-ids", "data"), prevent_initial_call=True,
    )
    def show_histograms(layer, tab, focus, request, ids):
        if tab != "hist":
            return no_update
        graph = graph_for(workspace, ids)
        try:
            node = graph.node(layer)
        except ValueError as exc:
            return view.problem(str(exc))
        ds = workspace.dataset(ids["model"], ids["data"])
        parts = []
        try:
            weights = layers.weight_histograms(workspace, ids["model"], layer)
            parts.append(view.graph(view.histogram_figure(weights, f"weights of {layer}")))
        except ValueError as exc:
            parts.append(view.problem(str(exc)))
        if not node.inspectable:
            parts.append(view.problem(f"No activations: {node.note}"))
            return parts
        try:
            indices = sampled(projections, ids, request)
            sample = layers.sample_histogram(workspace, ids["model"], ids["data"], indices, layer)
            i = min(max(int(focus or 0), 0), len(ds) - 1)
            one = layers.image_histogram(workspace, ids["model"], ids["data"], i, layer, sample)
        except ValueError as exc:
            parts.append(view.problem(str(exc)))
            return parts
        zero_note = f" · {sample.zeros:.0%} exactly 0" if sample.zeros >= 0.01 else ""
        parts.append(view.graph(view.histogram_figure(
            [sample], f"activations of {layer}{zero_note}", one, f"image #{i}", log=True)))
        return parts


def graph_for(workspace, ids):
    # layer_graph reads only the loaded model: cheap enough to redo per call, and no
    # per-process state to keep in step with the workspace's own model cache.
    return layer_graph(workspace.model(ids["model"]).model)


def sampled(projections, ids, request):
    """The animation's images (its current choice), as dataset indices."""
    request = request or {}
    same = request.get("model") == ids["model"] and request.get("data") == ids["data"]
    return projections.choose(ids["model"], ids["data"], request.get("choice") if same else None)[1]
