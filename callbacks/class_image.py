"""Class-image panel wiring: choose a class or channel and a start, run the class image as
background work (the kind ``CLASS_IMAGE``), poll it, show the result."""

from __future__ import annotations

from dash import Input, Output, State, no_update

from deepling.service.shapes import CLASS_IMAGE, class_image_request
from deepling.web.progress import progress_bar
from deepling.web.views import class_image as view


def register(app, services) -> None:
    workspace = services.workspace

    @app.callback(Output("ci-class", "style"), Output("ci-layer", "style"),
                  Output("ci-channel", "style"), Input("ci-kind", "value"))
    def show_target(kind):
        hide, channel = {"display": "none"}, kind == "channel"
        return ({"width": "9rem"} if not channel else hide,
                {"width": "8rem"} if channel else hide, {"width": "5rem"} if channel else hide)

    @app.callback(Output("ci-layer", "value"), Input("layer", "data"), State("ci-layer", "options"),
                  prevent_initial_call=True)
    def follow_layer(layer, options):
        # The layer in focus in the architecture view is the one whose channels to draw.
        if layer and any(o["value"] == layer for o in options or []):
            return layer
        return no_update

    @app.callback(Output("ci-request", "data"), Output("ci-poll", "disabled"),
                  Output("ci-status", "children"),
                  Input("ci-run", "n_clicks"),
                  State("ci-kind", "value"), State("ci-class", "value"), State("ci-layer", "value"),
                  State("ci-channel", "value"), State("ci-start", "value"), State("ci-steps", "value"),
                  State("ci-step-size", "value"), State("ci-jitter", "value"), State("ci-tv", "value"),
                  State("focus", "data"), State("rendered", "data"), prevent_initial_call=True)
    def start(_n, kind, cls, layer, channel, start, steps, step_size, jitter, tv, focus, rendered):
        if not rendered:
            return no_update, True, no_update
        m, d = rendered["model"], rendered["data"]
        try:
            params, what, score = class_image_request(
                workspace.class_names(m, d), m, d, kind=kind, cls=cls, layer=layer, channel=channel,
                start=start, steps=steps, step_size=step_size, jitter=jitter, tv=tv, focus=focus)
        except ValueError as exc:
            return no_update, True, str(exc)
        key = services.submit(CLASS_IMAGE, params)
        return {"key": key, "what": what, "score": score}, False, "starting…"

    @app.callback(Output("ci-output", "children"), Output("ci-poll", "disabled", allow_duplicate=True),
                  Output("ci-progress", "value"), Output("ci-progress", "className"),
                  Output("ci-status", "children", allow_duplicate=True),
                  Input("ci-poll", "n_intervals"), State("ci-request", "data"),
                  prevent_initial_call=True)
    def poll(_n, request):
        bar = "flex-grow-1"
        if not request:
            return no_update, True, 0, bar + " dl-test-hidden", no_update
        poll = services.poll(CLASS_IMAGE, request["key"])
        progress = progress_bar(poll)
        shown = view.result(poll["result"], request["what"], request["score"]) if progress.done else no_update
        # the bar hides once it has nothing to count (a failure is said in the status line)
        return (shown, not progress.polling, progress.value,
                progress.css(bar, hidden=" dl-test-hidden", error=" dl-test-hidden"), progress.text)
