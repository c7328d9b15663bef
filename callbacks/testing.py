"""Testing view callbacks: confidence embedding, explanations, robustness simulation.

The embedding and the explanations take well under a second once the model's functions
are traced, so the callbacks ask :mod:`deepling.service.explanations` for them directly.
The robustness simulation (every augmentation at every magnitude over up to 2,000 images)
runs as background work of the kind ``SIMULATION`` (:mod:`deepling.service.robustness`)
and the page polls its progress, as the layer animation does.
"""

from __future__ import annotations

from dash import Input, Output, State, ctx, dcc, html, no_update

from deepling.service import attributions, explanations, robustness
from deepling.service.focus import edited_image, focused_image, is_identity
from deepling.web.progress import progress_bar
from deepling.web.views import testing as view


# --- wiring -----------------------------------------------------------------------------------
def register(app, services) -> None:
    workspace, projections = services.workspace, services.projections

    @app.callback(Output("test-embed", "figure"), Output("test-embed-caption", "children"),
                  Output("test-embed-points", "data"),
                  Input("anim-request", "data"), State("focus", "data"), State("rendered", "data"))
    def embedding(request, focus, rendered):
        if not rendered:
            return no_update, no_update, no_update
        m, d = rendered["model"], rendered["data"]
        adapter, ds = workspace.model(m), workspace.dataset(m, d)
        preds, names = workspace.predictions(m, d), workspace.class_names(m, d)
        chosen = explanations.animation_images(projections, m, d, (request or {}).get("choice"))
        idx, source = explanations.embedding_indices(ds.labels, chosen)
        if len(idx) < 2:
            return view.empty_figure("The embedding needs at least 2 images.", 380), "", None
        try:
            layer, raw = explanations.compute_embedding(workspace.cache("projections"), adapter,
                                                        ds.images[idx])
        except ValueError as exc:
            return view.empty_figure(f"⚠ {exc}", 380), "", None
        xy = view.fit_embedding(raw)
        fig = view.embedding_figure(xy, idx, ds.labels[idx], preds.predicted[idx],
                                    preds.confidence[idx], names, focus)
        caption = [html.B(layer), f" (the layer before the classifier) · {len(idx):,} images, {source}"]
        points = {"indices": idx.tolist(), "x": xy[:, 0].tolist(), "y": xy[:, 1].tolist(),
                  "marker": len(fig.data) - 1}
        return fig, caption, points

    # The ring on the focused point moves in the browser: no round trip, no spinner over
    # the plot while the user is clicking in it.
    app.clientside_callback(
        """function (focus, points) {
            const gd = document.querySelector('#test-embed .js-plotly-plot');
            if (!gd || !points || !gd.data || gd.data.length <= points.marker) {
                return window.dash_clientside.no_update;
            }
            const j = points.indices.indexOf(focus);
            window.Plotly.restyle(gd, {x: [j >= 0 ? [points.x[j]] : []], y: [j >= 0 ? [points.y[j]] : []]},
                                  [points.marker]);
            return window.dash_clientside.no_update;
        }""",
        Output("test-embed-sink", "children"), Input("focus", "data"), State("test-embed-points", "data"))

    @app.callback(Output("focus", "data", allow_duplicate=True),
                  Input("test-embed", "clickData"), prevent_initial_call=True)
    def focus_from_embedding(click):
        points = (click or {}).get("points") or []
        if not points or not points[0].get("customdata"):
            return no_update
        return int(points[0]["customdata"][0])

    @app.callback(Output("test-layer", "value", allow_duplicate=True), Input("layer", "data"),
                  State("test-layer", "options"), prevent_initial_call=True)
    def follow_architecture_layer(layer, options):
        # A spatial layer picked in the architecture view is the one to explain.
        if layer and any(o["value"] == layer for o in options or []):
            return layer
        return no_update

    @app.callback(Output("test-explain", "children"), Output("test-curves", "children"),
                  Input("focus", "data"), Input("picture", "data"), Input("test-layer", "value"),
                  Input("test-class", "value"), Input("whatif-edits", "data"),
                  Input("test-methods", "value"), State("rendered", "data"))
    def explain(focus, picture, layer, class_value, whatif, methods, rendered):
        if not rendered or (focus is None and not picture):
            return no_update, no_update
        m, d = rendered["model"], rendered["data"]
        adapter, names = workspace.model(m), workspace.class_names(m, d)
        methods = attributions.check_methods(methods or list(attributions.DEFAULT_METHODS))
        pixels, label, caption = focused_image(workspace, rendered, focus, picture)
        cls = None if class_value in (None, view.AUTO_CLASS) else int(class_value)
        truth = f"true {names[label]}" if label is not None else "label unknown"
        maps, probs = explanations.explain_image(adapter, pixels, layer, cls, methods)
        curves = attributions.map_curves(adapter, pixels, maps)
        rows = [view.explanation_row(caption, pixels, maps, names, view.verdict(truth, probs, names),
                                     curves)]
        curve_rows = [("image", curves)]
        if is_identity(whatif):
            rows.append(html.Div("Edit this image in the what-if panel to compare an edited copy "
                                 "here, side by side.", className="dl-test-hint"))
        else:
            try:
                edited = edited_image(adapter, pixels, label, whatif)
            except ValueError as exc:
                rows.append(html.Div(f"⚠ The what-if edits cannot be applied: {exc}",
                                     className="small text-danger"))
            else:
                maps, probs = explanations.explain_image(adapter, edited, layer, cls, methods)
                edited_curves = attributions.map_curves(adapter, edited, maps)
                rows.append(view.explanation_row("edited", edited, maps, names,
                                                 view.verdict(view.describe_whatif(whatif), probs, names),
                                                 edited_curves))
                curve_rows.append(("edited", edited_curves))
        if not any(c for _, c in curve_rows):
            return rows, None
        return rows, dcc.Graph(figure=view.curves_figure(curve_rows), config={"displayModeBar": False},
                               id="test-curves-graph")

    # --- sanity check of the image in focus (background task) -----------------------------
    @app.callback(Output("test-sanity-request", "data"), Output("test-sanity-poll", "disabled"),
                  Output("test-sanity-status", "children", allow_duplicate=True),
                  Input("test-sanity-run", "n_clicks"), State("focus", "data"), State("picture", "data"),
                  State("test-methods", "value"), State("test-layer", "value"), State("rendered", "data"),
                  prevent_initial_call=True)
    def request_sanity(_clicks, focus, picture, methods, layer, rendered):
        if not rendered:
            return no_update, no_update, no_update
        if picture or focus is None:
            return None, True, "The sanity check runs on the dataset's images: focus one first."
        m, d = rendered["model"], rendered["data"]
        ds = workspace.dataset(m, d)
        methods = attributions.check_methods(methods or list(attributions.DEFAULT_METHODS))
        index = min(int(focus), len(ds) - 1)
        key = services.submit(attributions.SANITY, {"model": m, "data": d, "index": index,
                                                    "methods": methods, "layer": layer})
        return ({"key": key, "model": m, "data": d, "index": index, "methods": methods,
                 "layer": layer}, False, "starting…")

    @app.callback(Output("test-sanity", "children"),
                  Output("test-sanity-poll", "disabled", allow_duplicate=True),
                  Output("test-sanity-progress", "value"), Output("test-sanity-status", "children"),
                  Output("test-sanity-progress", "className"),
                  Input("test-sanity-poll", "n_intervals"), State("test-sanity-request", "data"),
                  prevent_initial_call=True)
    def poll_sanity(_n, request):
        if not request:
            return no_update, True, 0, no_update, _bar_class(False)
        poll = services.poll(attributions.SANITY, request["key"])
        if poll["result"] is not None:
            pixels = workspace.dataset(request["model"], request["data"]).images[request["index"]]
            return (view.sanity_view(poll["result"], pixels), True, 100,
                    f"sanity check of image #{request['index']}", _bar_class(False))
        return _job_state(poll)

    # --- which method to trust: the ranking over a sample (background task) ----------------
    @app.callback(Output("test-rank-request", "data"), Output("test-rank-poll", "disabled"),
                  Output("test-rank-status", "children", allow_duplicate=True),
                  Input("test-rank-run", "n_clicks"), Input("test-rank-size", "value"),
                  Input("test-layer", "value"), State("rendered", "data"),
                  prevent_initial_call="initial_duplicate")
    def request_ranking(_clicks, size, layer, rendered):
        if not rendered:
            return no_update, no_update, no_update
        m, d = rendered["model"], rendered["data"]
        size = int(size or attributions.DEFAULT_RANKING)
        ds = workspace.dataset(m, d)
        if not (ds.labels >= 0).any():
            return None, True, "The ranking samples by class; this dataset has no labels."
        params = {"model": m, "data": d, "size": size, "layer": layer}
        started = ctx.triggered_id == "test-rank-run"
        if started:
            key = services.submit(attributions.RANKING, params)
        else:
            key = services.jobs.prepare(attributions.RANKING.name, params)[2]
        return ({"key": key, "size": size, "model": m, "data": d, "layer": layer, "started": started},
                False, "starting…" if started else "")

    @app.callback(Output("test-rank-result", "children"),
                  Output("test-rank-poll", "disabled", allow_duplicate=True),
                  Output("test-rank-progress", "value"), Output("test-rank-status", "children"),
                  Output("test-rank-progress", "className"),
                  Input("test-rank-poll", "n_intervals"), State("test-rank-request", "data"),
                  prevent_initial_call=True)
    def poll_ranking(_n, request):
        if not request:
            return no_update, True, 0, no_update, _bar_class(False)
        poll = services.poll(attributions.RANKING, request["key"])
        if poll["result"] is not None:
            ranking = attributions.ranking_from_arrays(poll["result"])
            return (view.ranking_view(ranking), True, 100,
                    f"{ranking.n_images:,} test images, stratified by class · layer "
                    f"{request['layer'] or 'default'} for the CAM methods", _bar_class(False))
        if poll["state"] == "unknown" and not request.get("started"):
            return (None, True, 0, f"Not ranked yet on {request['size']:,} images: press Rank methods "
                    "(a few minutes per 200 images on two cores).", _bar_class(False))
        return _job_state(poll)

    @app.callback(Output("test-robust-request", "data"), Output("test-robust-poll", "disabled"),
                  Output("test-robust-status", "children", allow_duplicate=True),
                  Input("test-robust-run", "n_clicks"), Input("test-robust-size", "value"),
                  State("rendered", "data"), prevent_initial_call="initial_duplicate")
    def request_robustness(_clicks, size, rendered):
        if not rendered:
            return no_update, no_update, no_update
        m, d = rendered["model"], rendered["data"]
        size = int(size or view.DEFAULT_SAMPLE)
        ds = workspace.dataset(m, d)
        if not (ds.labels >= 0).any():
            return None, True, "The simulation needs labelled images; this dataset has none."
        params = {"model": m, "data": d, "size": size}
        started = ctx.triggered_id == "test-robust-run"
        if started:
            key = services.submit(robustness.SIMULATION, params)
        else:
            key = services.jobs.prepare(robustness.SIMULATION.name, params)[2]
        # Not started: the poll shows a cached result at once, or says how to get one.
        return ({"key": key, "size": size, "model": m, "data": d, "started": started}, False,
                "starting…" if started else "")

    @app.callback(Output("test-robust-result", "data"),
                  Output("test-robust-poll", "disabled", allow_duplicate=True),
                  Output("test-robust-progress", "value"), Output("test-robust-status", "children"),
                  Output("test-robust-progress", "className"), Output("test-robust-shown", "data"),
                  Input("test-robust-poll", "n_intervals"), State("test-robust-request", "data"),
                  State("test-robust-shown", "data"), prevent_initial_call=True)
    def poll_robustness(_n, request, shown):
        if not request:
            return no_update, True, 0, no_update, _bar_class(False), no_update
        # A poll that fires again (a slow server queues them) does not resend what the page
        # has: every resent result redrew the figure (#24, the page fast).
        token = f"{request['key']}:{bool(request.get('started'))}"  # a Run press asks again
        if shown == token:
            return no_update, True, no_update, no_update, no_update, no_update
        poll = services.poll(robustness.SIMULATION, request["key"])
        if poll["result"] is not None:
            result = view.robustness_json(poll["result"])
            return (result, True, 100, f"{result['n']:,} test images, stratified by class",
                    _bar_class(False), token)
        if poll["state"] == "unknown" and not request.get("started"):
            note = (f"Not run yet on {request['size']:,} images: press Run simulation "
                    "(about half a minute per 1,000 images on a quiet two-core machine, minutes on a busy "
                    "one; the bar shows how far it is).")
            return None, True, 0, note, _bar_class(False), token
        return (*_job_state(poll), no_update)

    @app.callback(Output("test-robust-graph", "figure"),
                  Input("test-robust-result", "data"), Input("focus", "data"), Input("picture", "data"),
                  State("rendered", "data"))
    def draw_robustness(result, focus, picture, rendered):
        if not rendered:
            return no_update
        m, d = rendered["model"], rendered["data"]
        adapter, names = workspace.model(m), workspace.class_names(m, d)
        curves, label_text = None, "image in focus"
        if focus is not None or picture:
            pixels, label, caption = focused_image(workspace, rendered, focus, picture)
            curves, target = explanations.image_curves(adapter, pixels, label)
            label_text = f"{caption} ({names[target]}{'' if label is not None else ', predicted'})"
        return view.robustness_figure(result, curves, names, label_text)


def _job_state(poll: dict):
    """(result, poll disabled, progress, status text, bar class) while a job is not done."""
    bar = progress_bar(poll)
    return ((None if bar.failed else no_update), not bar.polling, bar.value, bar.text,
            bar.css("flex-grow-1", hidden=" dl-test-hidden", error=" dl-test-error"))


def _bar_class(visible: bool, error: bool = False) -> str:
    """Class of the progress bar: hidden when nothing runs (the status text stays)."""
    return "flex-grow-1" + ("" if visible else " dl-test-hidden") + (" dl-test-error" if error else "")
