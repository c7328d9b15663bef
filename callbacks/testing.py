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
from deepling.service.focus import focused_image
from deepling.web.progress import progress_bar
from deepling.web.views import testing as view


# --- wiring -----------------------------------------------------------------------------------
def register(app, services) -> None:
    register_embedding(app, services)
    register_explanations(app, services)
    register_sanity(app, services)
    register_sample_job(app, services, view.RANKING_JOB, attributions.RANKING, _show_ranking)
    register_sample_job(app, services, view.ROBUSTNESS_JOB, robustness.SIMULATION, _show_robustness)
    register_robustness_figure(app, services)


def register_embedding(app, services) -> None:
    workspace, projections = services.workspace, services.projections

    @app.callback(Output("test-embed", "figure"), Output("test-embed-caption", "children"),
                  Output("test-embed-points", "data"),
                  Input("anim-request", "data"), State("focus", "data"), State("rendered", "data"))
    def embedding(request, focus, rendered):
        if not rendered:
            return no_update, no_update, no_update
        m, d = rendered["model"], rendered["data"]
        try:
            idx, source, layer, raw = explanations.embedding(workspace, projections, m, d,
                                                             (request or {}).get("choice"))
        except ValueError as exc:
            return view.empty_figure(f"⚠ {exc}", 380), "", None
        ds, preds = workspace.dataset(m, d), workspace.predictions(m, d)
        xy = view.fit_embedding(raw)
        fig = view.embedding_figure(xy, idx, ds.labels[idx], preds.predicted[idx],
                                    preds.confidence[idx], workspace.class_names(m, d), focus)
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


def register_explanations(app, services) -> None:
    workspace = services.workspace

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
        names = workspace.class_names(rendered["model"], rendered["data"])
        methods = attributions.check_methods(methods or list(attributions.DEFAULT_METHODS))
        cls = None if class_value in (None, view.AUTO_CLASS) else int(class_value)
        label, rows, problem = explanations.explain_focus(workspace, rendered, focus, picture, layer,
                                                          cls, methods, whatif)
        said = {"image": f"true {names[label]}" if label is not None else "label unknown",
                "edited": view.describe_whatif(whatif)}
        shown = [view.explanation_row(title, pixels, maps, names, view.verdict(said[which], probs, names),
                                      curves) for which, title, pixels, maps, probs, curves in rows]
        if problem:
            shown.append(html.Div(f"⚠ The what-if edits cannot be applied: {problem}",
                                  className="small text-danger"))
        elif len(rows) == 1:
            shown.append(html.Div("Edit this image in the what-if panel to compare an edited copy "
                                  "here, side by side.", className="dl-test-hint"))
        curve_rows = [(which, curves) for which, _, _, _, _, curves in rows]
        if not any(c for _, c in curve_rows):
            return shown, None
        return shown, dcc.Graph(figure=view.curves_figure(curve_rows), config={"displayModeBar": False},
                                id="test-curves-graph")


def register_sanity(app, services) -> None:
    """The sanity check of the image in focus (background work)."""
    workspace = services.workspace

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
        params = {"model": m, "data": d, "index": min(int(focus), len(workspace.dataset(m, d)) - 1),
                  "methods": attributions.check_methods(methods or list(attributions.DEFAULT_METHODS)),
                  "layer": layer}
        return {**params, "key": services.submit(attributions.SANITY, params)}, False, "starting…"

    def show(result, request):
        pixels = workspace.dataset(request["model"], request["data"]).images[request["index"]]
        return view.sanity_view(result, pixels), f"sanity check of image #{request['index']}"

    @app.callback(Output("test-sanity", "children"),
                  Output("test-sanity-poll", "disabled", allow_duplicate=True),
                  Output("test-sanity-progress", "value"), Output("test-sanity-status", "children"),
                  Output("test-sanity-progress", "className"),
                  Input("test-sanity-poll", "n_intervals"), State("test-sanity-request", "data"),
                  prevent_initial_call=True)
    def poll_sanity(_n, request):
        return _poll(services, attributions.SANITY, request, show)


def register_sample_job(app, services, job, kind, show) -> None:
    """A job over a stratified sample of the labelled images (``job``, a
    :class:`~deepling.web.views.testing.SampleJob`: the method ranking, the robustness
    simulation): asked for when its size (or layer) changes, so a stored result shows at once,
    started by its button, polled; a poll that fires again does not resend a result the page
    has (#24, the page fast)."""
    workspace, prefix = services.workspace, job.prefix
    layer_input = [Input("test-layer", "value")] if job.layered else []

    @app.callback(Output(f"{prefix}-request", "data"), Output(f"{prefix}-poll", "disabled"),
                  Output(f"{prefix}-status", "children", allow_duplicate=True),
                  Input(f"{prefix}-run", "n_clicks"), Input(f"{prefix}-size", "value"),
                  *layer_input, State("rendered", "data"), prevent_initial_call="initial_duplicate")
    def request_job(_clicks, size, *rest):
        rendered, layer = rest[-1], rest[0] if job.layered else None
        if not rendered:
            return no_update, no_update, no_update
        m, d = rendered["model"], rendered["data"]
        if not workspace.dataset(m, d).labelled:
            return None, True, job.unlabelled
        params = {"model": m, "data": d, "size": int(size or job.default),
                  **({"layer": layer} if job.layered else {})}
        started = ctx.triggered_id == f"{prefix}-run"
        key = services.request(kind, params, start=started)  # not started: a stored result, or a note
        return {**params, "key": key, "started": started}, False, "starting…" if started else ""

    @app.callback(Output(f"{prefix}-result", job.result_property),
                  Output(f"{prefix}-poll", "disabled", allow_duplicate=True),
                  Output(f"{prefix}-progress", "value"), Output(f"{prefix}-status", "children"),
                  Output(f"{prefix}-progress", "className"), Output(f"{prefix}-shown", "data"),
                  Input(f"{prefix}-poll", "n_intervals"), State(f"{prefix}-request", "data"),
                  State(f"{prefix}-shown", "data"), prevent_initial_call=True)
    def poll_job(_n, request, shown):
        token = request and f"{request['key']}:{bool(request.get('started'))}"  # a press asks again
        if request and shown == token:
            return no_update, True, no_update, no_update, no_update, no_update
        out = _poll(services, kind, request, show, job.not_yet)
        return (*out, token if out[1] else no_update)


def register_robustness_figure(app, services) -> None:
    workspace = services.workspace

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


def _show_ranking(result, request):
    ranking = attributions.ranking_from_arrays(result)
    return view.ranking_view(ranking), (f"{ranking.n_images:,} test images, stratified by class · layer "
                                        f"{request['layer'] or 'default'} for the CAM methods")


def _show_robustness(result, request):
    result = view.robustness_json(result)
    return result, f"{result['n']:,} test images, stratified by class"


def _poll(services, kind, request, show, not_yet=None):
    """(content, poll disabled, progress, status text, bar class) of one job's poll: its
    result shown by ``show(result, request) -> (content, status)``, ``not_yet(request)``
    for work not asked for and not stored, else its progress."""
    if not request:
        return no_update, True, 0, no_update, HIDDEN
    poll = services.poll(kind, request["key"])
    if poll["result"] is not None:
        content, status = show(poll["result"], request)
        return content, True, 100, status, HIDDEN
    if not_yet and poll["state"] == "unknown" and not request.get("started"):
        return None, True, 0, not_yet(request), HIDDEN
    bar = progress_bar(poll)
    return ((None if bar.failed else no_update), not bar.polling, bar.value, bar.text,
            bar.css("flex-grow-1", hidden=" dl-test-hidden", error=" dl-test-error"))


HIDDEN = "flex-grow-1 dl-test-hidden"  # the bar's class when nothing runs (the status text stays)
