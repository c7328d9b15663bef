"""Shape workshop wiring: toggle and draw classes, submit "Train and visualise", poll it,
and show the session's runs (background work of the kind ``WORKSHOP``)."""

from __future__ import annotations

from dash import Input, Output, State, html, no_update

from deepling.service.shapes import DRAWN, WORKSHOP, add_drawn_class, cached_workshop, workshop_request
from deepling.web.progress import progress_bar
from deepling.web.views import shapes as view

MAX_RUNS = 12  # rows kept in the session; older ones drop off the bottom


def register(app, services) -> None:
    register_drawing(app, services)
    register_workshop(app, services)


def register_drawing(app, services) -> None:
    """The shape classes and the drawing canvas."""
    @app.callback(Output("shape-classes", "options"), Input("shape-custom", "data"))
    def list_shapes(custom):
        return view.shape_options(custom)

    # The canvas lives in the browser: read it there when "Add as class" is pressed.
    app.clientside_callback(
        """function (n, name) {
            if (!n || !window.deeplingShapeCanvas) return window.dash_clientside.no_update;
            return {name: (name || '').trim(), pixels: window.deeplingShapeCanvas.pixels('shape-canvas'),
                    n: n};
        }""",
        Output("shape-drawn", "data"), Input("shape-draw-add", "n_clicks"),
        State("shape-draw-name", "value"), prevent_initial_call=True)

    app.clientside_callback(
        """function (clear, from, pal) {
            const c = window.deeplingShapeCanvas;
            if (!c) return window.dash_clientside.no_update;
            const trig = window.dash_clientside.callback_context.triggered.map(t => t.prop_id)[0] || '';
            if (trig.startsWith('shape-draw-from') && from && pal && pal[from]) c.load('shape-canvas', pal[from]);
            else c.clear('shape-canvas');
            return '';
        }""",
        Output("shape-draw-status", "children", allow_duplicate=True),
        Input("shape-draw-clear", "n_clicks"), Input("shape-draw-from", "value"),
        State("shape-palette", "data"), prevent_initial_call=True)

    @app.callback(Output("shape-custom", "data"), Output("shape-classes", "value"),
                  Output("shape-draw-status", "children"),
                  Input("shape-drawn", "data"), State("shape-custom", "data"),
                  State("shape-classes", "value"), prevent_initial_call=True)
    def add_drawn(drawn, custom, chosen):
        drawn = drawn or {}
        added, problem = add_drawn_class(custom, drawn.get("name", ""), drawn.get("pixels"))
        if problem:
            return no_update, no_update, problem
        return added, list(chosen or []) + [DRAWN + added[-1]["name"]], ""


def register_workshop(app, services) -> None:
    """A workshop run (background work) and its results."""
    workspace = services.workspace

    @app.callback(Output("shape-request", "data"), Output("shape-poll", "disabled"),
                  Output("shape-status", "children"),
                  Input("shape-run", "n_clicks"),
                  State("shape-classes", "value"), State("shape-custom", "data"),
                  State("shape-model", "value"), State("shape-start", "value"),
                  State("shape-step-size", "value"), State("shape-epochs", "value"),
                  prevent_initial_call=True)
    def start_run(_n, chosen, custom, model, start, step_size, epochs):
        try:
            params = workshop_request(chosen, custom, model, start, step_size, epochs)
        except ValueError as exc:
            return no_update, True, str(exc)
        settings = {k: v for k, v in params.items() if k != "classes"}
        key = services.submit(WORKSHOP, params)
        return {"key": key, "settings": settings}, False, "starting…"

    @app.callback(Output("shape-runs", "data"), Output("shape-poll", "disabled", allow_duplicate=True),
                  Output("shape-progress", "value"), Output("shape-status", "children", allow_duplicate=True),
                  Input("shape-poll", "n_intervals"), State("shape-request", "data"),
                  State("shape-runs", "data"), prevent_initial_call=True)
    def poll(_n, request, runs):
        if not request:
            return no_update, True, 0, no_update
        bar = progress_bar(services.poll(WORKSHOP, request["key"]))
        if bar.done:
            runs = list(runs or [])
            n = (runs[0]["n"] + 1) if runs else 1
            runs.insert(0, {"key": request["key"], "n": n, "settings": request["settings"]})
            return runs[:MAX_RUNS], True, 100, f"run {n} done"
        return no_update, not bar.polling, bar.value, bar.text

    @app.callback(Output("shape-results", "children"), Input("shape-runs", "data"))
    def show_runs(runs):
        rows = []
        for run in runs or []:
            arrays = cached_workshop(workspace, run["key"])
            if arrays is None:  # the cache was cleared since
                rows.append(html.Div(f"Run {run['n']}: no longer in the server's cache; run it again.",
                                     className="small text-muted mb-2"))
            else:
                rows.append(view.result_row(run, arrays))
        return view.results(rows)
