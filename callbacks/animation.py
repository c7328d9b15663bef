"""Layer animation callbacks: choose images → project in the background → send once.

Everything that must feel instant (slider, play loop, hover, legend, colour mode, PNG) is
in ``assets/animation_view.js``; these callbacks only start and watch the projection job.
"""

from __future__ import annotations

import threading

from dash import Input, Output, State, ctx, no_update

from deepling.service.projections import ACROSS_TRAINING, EPOCHS, LAYERS, ask
from deepling.service.selection import from_query, raw_choice
from deepling.web.progress import progress_bar
from deepling.web.views import animation as view


def warm_up(services) -> None:
    """Project the first page's images now, in the background: the first visitor (a
    presenter opening the laptop) then finds the animation ready, and the model's compiled
    functions traced. On a thread of its own, so a slow Celery broker cannot hold up the
    start; errors surface when the page asks for the same projection."""
    projections, workspace = services.projections, services.workspace

    def submit():
        try:
            projections.submit(workspace.default_model_id, workspace.default_data_id, {})
        except Exception:  # noqa: BLE001 - the page's own request reports it
            pass

    threading.Thread(target=submit, name="deepling-warm-up", daemon=True).start()


def register(app, services) -> None:
    register_clientside(app)
    register_training_row(app, services)
    register_request(app, services)
    register_poll(app, services)


def register_training_row(app, services) -> None:
    """Across training: the mode switch and the pickers, once the open model has snapshots."""

    @app.callback(
        Output("anim-training-row", "hidden"), Output("anim-snapshot", "options"),
        Output("anim-along", "options"),
        Input("rendered", "data"), Input("train-run", "data"), Input("train-epoch", "data"))
    def training_row(rendered, run, _epoch):
        """The mode switch and the snapshot picker appear once the open model has a training
        run with snapshots (the page's own run on it, or the run that saved it)."""
        service = services.run_sources  # the app's runs and runs from outside
        if not rendered or service is None:
            return True, no_update, no_update
        run_id = service.run_of(rendered["model"], run)
        snapshots = service.snapshots(run_id)
        if not snapshots:
            return True, no_update, no_update
        epochs, layers = view.training_choices(snapshots, service.run_layers(run_id))
        return False, epochs, layers



def register_request(app, services) -> None:
    """Start (or join) the projection a page, a link, the Project button or the
    across-training controls ask for."""
    workspace, projections = services.workspace, services.projections

    @app.callback(
        Output("anim-request", "data"), Output("anim-poll", "disabled"),
        Output("anim-mode", "value"), Output("anim-classes", "value"), Output("anim-count", "value"),
        Output("anim-status", "children", allow_duplicate=True),
        Output("anim-across", "value"), Output("anim-snapshot", "value"), Output("anim-along", "value"),
        Input("anim-project", "n_clicks"), Input("rendered", "data"), Input("url", "search"),
        Input("anim-across", "value"), Input("anim-snapshot", "value"), Input("anim-along", "value"),
        Input("train-epoch", "data"),
        State("anim-mode", "value"), State("anim-classes", "value"), State("anim-count", "value"),
        State("train-run", "data"), State("anim-method", "value"), State("anim-frames", "value"),
        prevent_initial_call=True,
    )
    def request_projection(_clicks, rendered, search, across, snapshot, along, _epoch,
                           mode, classes, count, run, method, frames):
        """A new page, a new URL query, the Project button or the across-training controls:
        start (or join) a projection."""
        if not rendered:
            return (no_update,) * 9
        model_id, data_id = rendered["model"], rendered["data"]
        query = from_query(search)
        trigger = ctx.triggered_id
        from_url = trigger in ("rendered", "url")
        if from_url:  # the link names the mode, the snapshot and the layer across training
            across, snapshot, along, _ = view.training_query(search, across, snapshot, along)
        elif trigger == "train-epoch" and across != ACROSS_TRAINING:
            return (no_update,) * 9  # a new epoch changes only the across-training frames
        snapshot = "" if snapshot in (None, "", view.OPEN_MODEL) else snapshot
        controls = {"mode": mode, "classes": classes, "count": count, "method": method, "frames": frames}
        raw = raw_choice(query, controls if trigger == "anim-project" else None)
        try:
            request, across, along = ask(
                projections, services.run_sources, model_id, data_id, raw, across=across,
                snapshot=snapshot, along=along, run=run, from_link=from_url, owner=services.owner(),
                layer=query.get("layer"), start=view.training_query(search)[3])
        except ValueError as exc:
            return (no_update, True, no_update, no_update, no_update, f"⚠ {exc}", across,
                    snapshot or view.OPEN_MODEL, along)
        choice = request["choice"]
        all_classes = choice["classes"] == list(range(workspace.dataset(model_id, data_id).n_classes))
        controls = (choice["mode"], None if all_classes else choice["classes"], choice["count"]) \
            if from_url else (no_update,) * 3
        return request, False, *controls, "starting…", across, snapshot or view.OPEN_MODEL, along



def register_poll(app, services) -> None:
    """Watch the projection; once done, send its payload (once) and offer its CSV."""
    workspace = services.workspace

    @app.callback(
        Output("anim-payload", "data"), Output("anim-poll", "disabled", allow_duplicate=True),
        Output("anim-progress", "value"), Output("anim-status", "children"),
        Output("anim-progress-row", "className"), Output("anim-shown", "data"),
        Input("anim-poll", "n_intervals"), State("anim-request", "data"),
        State("anim-shown", "data"), prevent_initial_call=True,
    )
    def poll_projection(_n, request, shown):
        if not request:
            return no_update, True, 0, "", _row(False), no_update
        # Polls queued on a slow server answered the same payload again and again, and each
        # remounted it (#24, the page fast): once sent, a request is not answered again.
        if shown == view.request_token(request):
            return no_update, True, no_update, no_update, no_update, no_update
        poll = services.poll(_kind(request), request["key"])  # the stored result, read once
        bar = progress_bar(poll)
        if not bar.done:
            return no_update, not bar.polling, bar.value, bar.text, bar.css(ROW), no_update
        if poll["result"] is None:
            return (no_update, True, 100, "⚠ The result is gone; press Project again.",
                    _row(True, error=True), no_update)
        payload, summary = view.animation_payload(workspace, request, poll["result"])
        return payload, True, 100, summary, _row(False), view.request_token(request)

    @app.callback(Output("anim-csv-download", "data"), Input("anim-csv", "n_clicks"),
                  State("anim-request", "data"), prevent_initial_call=True)
    def export_csv(_n, request):
        if not request:
            return no_update
        model_id, data_id = request["model"], request["data"]
        result = services.poll(_kind(request), request["key"])["result"]
        if result is None:
            return no_update
        indices, seq = result.indices, result.sequence
        ds, preds = workspace.dataset(model_id, data_id), workspace.predictions(model_id, data_id)
        names = workspace.class_names(model_id, data_id)
        return {"content": view.layouts_csv(seq, indices, ds.labels[indices], preds.predicted[indices], names),
                "filename": "deepling-layouts.csv"}


def _kind(request: dict):
    """The work kind of a projection request: one layer across training, or every layer."""
    return EPOCHS if request.get("across") == ACROSS_TRAINING else LAYERS


ROW = "d-flex align-items-center gap-2 mb-1"


def _row(visible: bool, error: bool = False) -> str:
    return ROW + ("" if visible else " dl-idle") + (" dl-error" if error else "")


def register_clientside(app) -> None:
    """The instant part: mounting the payload, colour mode, jumps from other views."""
    from dash import ClientsideFunction

    app.clientside_callback(ClientsideFunction("deepling", "mount"),
                            Output("anim-mounted", "children"), Input("anim-payload", "data"))
    app.clientside_callback(ClientsideFunction("deepling", "recolor"),
                            Output("anim-color", "id"), Input("anim-color", "value"))
    app.clientside_callback(ClientsideFunction("deepling", "markErrors"),
                            Output("anim-errors", "id"), Input("anim-errors", "value"))
    app.clientside_callback(ClientsideFunction("deepling", "gotoLayer"),
                            Output("layer", "id"), Input("layer", "data"))
    app.clientside_callback(ClientsideFunction("deepling", "focusPoint"),
                            Output("focus", "id"), Input("focus", "data"))
    app.clientside_callback(ClientsideFunction("deepling", "acrossRow"),
                            Output("anim-training-row", "className"), Input("anim-across", "value"))
