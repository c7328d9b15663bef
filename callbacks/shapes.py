"""Shape workshop wiring: toggle and draw classes, submit "Train and visualise", poll it,
and show the session's runs (background work of the kind ``WORKSHOP``)."""

from __future__ import annotations

from dash import Input, Output, State, html, no_update

from deepling.service.shapes import WORKSHOP, cached_workshop
from deepling.shapes.workshop import DEFAULT_EPOCHS, IMAGE_START, IMAGE_STEP_SIZE
from deepling.shapes import SHAPES
from deepling.web.progress import progress_bar
from deepling.web.views import shapes as view

MAX_RUNS = 12  # rows kept in the session; older ones drop off the bottom


def register(app, services) -> None:
    workspace = services.workspace

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
        custom, chosen = list(custom or []), list(chosen or [])
        name, pixels = (drawn or {}).get("name", ""), (drawn or {}).get("pixels") or []
        taken = set(SHAPES) | {c["name"] for c in custom}
        if not name:
            return no_update, no_update, "Give the drawing a class name first."
        if name in taken:
            return no_update, no_update, f"There is already a class called {name!r}; pick another name."
        if len(pixels) != 28 * 28 or not any(pixels):
            return no_update, no_update, "The canvas is empty: draw a shape first."
        custom.append({"name": name, "pixels": [int(p) for p in pixels]})
        return custom, chosen + [view.DRAWN + name], ""

    @app.callback(Output("shape-request", "data"), Output("shape-poll", "disabled"),
                  Output("shape-status", "children"),
                  Input("shape-run", "n_clicks"),
                  State("shape-classes", "value"), State("shape-custom", "data"),
                  State("shape-model", "value"), State("shape-start", "value"),
                  State("shape-step-size", "value"), State("shape-epochs", "value"),
                  prevent_initial_call=True)
    def start_run(_n, chosen, custom, model, start, step_size, epochs):
        drawn = {c["name"]: c["pixels"] for c in custom or []}
        classes = []
        for value in chosen or []:
            if value.startswith(view.DRAWN):
                name = value[len(view.DRAWN):]
                if name in drawn:
                    classes.append({"name": name, "pixels": drawn[name]})
            else:
                classes.append({"name": value})
        if len(classes) < 2:
            return no_update, True, "Select at least two shapes in step 1."
        settings = {"model": model or "mlp", "start": start or IMAGE_START,
                    "step_size": float(step_size or IMAGE_STEP_SIZE),
                    "epochs": int(epochs or DEFAULT_EPOCHS), "seed": 0}
        params = {"classes": classes, **settings}
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
