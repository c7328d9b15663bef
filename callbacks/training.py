"""Training view wiring: start/pause/stop, the live poll, freezing by a click, side jobs.

The poll asks the training service for the deltas after the last one it saw and hands the
charts only those (``extendData``, ``Patch``); it never sends a whole history.
"""

from __future__ import annotations

import secrets

from dash import Input, Output, Patch, State, ctx, html, no_update

from deepling.service.training import RETRAIN, TrainingBusy, read_deltas, snapshot_feature_maps
from deepling.web.pacing import answered, paced_poll, tick_id, tock_id
from deepling.web.progress import progress_bar
from deepling.web.views import training as view

DONE = ("finished", "stopped", "failed")


def register(app, services) -> None:
    register_start(app, services)
    register_poll(app, services)
    register_steering(app, services)
    register_snapshot_views(app, services)
    register_retrain(app, services)


def register_start(app, services) -> None:
    """A run started from the page."""
    service = services.training

    @app.callback(Output("train-sid", "data"), Input("train-sid", "data"))
    def session_id(sid):
        return no_update if sid else secrets.token_urlsafe(12)

    @app.callback(
        Output("train-run", "data"), Output("train-poll", "disabled"),
        Output("train-status", "children", allow_duplicate=True),
        Output("train-loss", "figure"), Output("train-accuracy", "figure"),
        Output("train-epochs-chart", "figure"), Output("train-network", "figure", allow_duplicate=True),
        Output("train-saved", "children", allow_duplicate=True),
        Output("train-hover-map", "src", allow_duplicate=True),
        Output("train-hover-caption", "children", allow_duplicate=True),
        Output("train-filters", "figure", allow_duplicate=True),
        Input("train-start", "n_clicks"),
        State("train-source", "value"), State("train-subset", "value"), State("train-epochs", "value"),
        State("train-batch", "value"), State("train-lr", "value"), State("train-optimizer", "value"),
        State("train-sid", "data"), State("rendered", "data"), prevent_initial_call=True)
    def start(_n, source, subset, epochs, batch, lr, optimizer, sid, rendered):
        if not rendered or not sid:
            return (no_update,) * 11
        config = dict(source=source, subset=subset, epochs=epochs, batch_size=batch,
                      learning_rate=lr, optimizer=optimizer)
        try:
            run = service.start(sid, rendered["model"], rendered["data"], config, services.owner())
        except TrainingBusy as exc:
            return (no_update, no_update, f"⚠ {exc}") + (no_update,) * 8
        layers = service.layer_sizes(source, rendered["model"])
        # Nothing of the previous run stays (#24): its saved link, hover map, filters, and
        # the charts' axes (each figure's uirevision is the run's, not one per chart).
        return ({"run": run, "seq": 0, "layers": layers, **rendered}, False,
                "starting: loading the training images…", *view.fresh_figures(run, layers),
                "", view.NO_MAP, "hover a filter bar to see its activation map",
                view.empty_figure("filters appear at the first snapshot"))


def register_poll(app, services) -> None:
    """The live poll: only the deltas since the last one seen."""
    service = services.training
    sources = services.run_sources  # the app's runs and runs from outside (deepling serve --runs)
    paced_poll(app, "train-poll")  # a slow answer is never dropped by the next tick (pacing.py)

    # The poll keeps its place in the run in its own store (train-cursor), never in train-run:
    # train-run changes only when a run is started or watched, so the callbacks that follow
    # the run (histogram layers, the animation's training row, the poll's interval) are not
    # re-run by every poll, and an answer still out for a previous run cannot bring it back.
    @app.callback(
        Output("train-cursor", "data"),
        Output("train-loss", "extendData"), Output("train-accuracy", "extendData"),
        Output("train-epochs-chart", "extendData"), Output("train-network", "figure"),
        Output("train-status", "children"), Output("train-frozen", "children"),
        Output("train-saved", "children"), Output("train-poll", "disabled", allow_duplicate=True),
        Output("train-pause", "disabled"), Output("train-stop", "disabled"),
        Output("train-pause", "children"), Output("session", "data", allow_duplicate=True),
        Output("train-epoch", "data"), Output(tock_id("train-poll"), "data"),
        Input(tick_id("train-poll"), "data"), State("train-run", "data"),
        State("train-cursor", "data"), State("session", "data"), prevent_initial_call=True)
    def poll(tick, run, cursor, session):
        if not run:
            return (no_update,) * 8 + (True, True, True, no_update, no_update, no_update,
                                       answered(tick))
        if not cursor or cursor.get("run") != run["run"]:
            cursor = {"run": run["run"], "seq": 0}  # a run started or watched since
        head, deltas = sources.since(run["run"], cursor["seq"])
        meta = sources.meta(run["run"])
        state = meta.get("state", "queued")
        seen = read_deltas({**cursor, "seq": head}, deltas)
        cursor, control = seen.run, service.control(run["run"])
        network = no_update  # only patched here: cheap
        if run["layers"] and (seen.filters or seen.froze):
            network = view.network_patch(Patch(), run["layers"], seen.filters,
                                         control["frozen"] if seen.froze else None)
        saved = saved_link(seen.saved, run) if seen.saved else no_update
        session_out = remember_upload(session, seen.saved) if seen.saved else no_update
        wanted, frozen = control["command"], control["frozen"]
        status, pause_label = view.steering(state, wanted, describe(meta, cursor))
        # Over once the job has finished (saved its model) and every delta has been read.
        finished = (state in DONE and meta.get("finished")
                    and head >= sources.head(run["run"]))
        fixed = bool(finished) or not sources.steerable(run["run"])  # trained elsewhere: only watched
        return (cursor, _ext(view.curve_extension(deltas, "loss")),
                _ext(view.curve_extension(deltas, "accuracy")), _ext(view.epoch_extension(deltas)),
                network, status, ("frozen: " + ", ".join(frozen)) if frozen else "",
                saved, bool(finished), fixed, fixed,
                pause_label, session_out, _ext(seen.epoch), answered(tick))


def register_steering(app, services) -> None:
    """Pause, resume, stop; freezing a layer by a click."""
    service = services.training

    @app.callback(Output("train-status", "children", allow_duplicate=True),
                  Input("train-pause", "n_clicks"), Input("train-stop", "n_clicks"),
                  State("train-pause", "children"), State("train-run", "data"), prevent_initial_call=True)
    def steer(_p, _s, label, run):
        if not run:
            return no_update
        if ctx.triggered_id == "train-stop":
            service.command(run["run"], "stop")
            return "stopping…"
        service.command(run["run"], "run" if label == "Resume" else "pause")
        return "resuming…" if label == "Resume" else "pausing…"

    @app.callback(Output("train-frozen", "children", allow_duplicate=True),
                  Input("train-network", "clickData"), State("train-run", "data"),
                  prevent_initial_call=True)
    def freeze(click, run):
        if not run or not click:
            return no_update
        layer = click["points"][0]["customdata"][0]
        frozen = service.toggle_frozen(run["run"], layer)
        return ("frozen from the next batch: " + ", ".join(frozen)) if frozen else \
            f"{layer} unfrozen from the next batch"


def register_snapshot_views(app, services) -> None:
    """The newest snapshot: a filter's activation map, the filter embedding."""
    workspace = services.workspace
    sources = services.run_sources  # the app's runs and runs from outside (deepling serve --runs)

    @app.callback(Output("train-hover-map", "src"), Output("train-hover-caption", "children"),
                  Input("train-network", "hoverData"), State("focus", "data"),
                  State("train-run", "data"), prevent_initial_call=True)
    def hover_map(hover, focus, run):
        if not run or not hover or focus is None:
            return no_update, no_update
        layer, channel = hover["points"][0]["customdata"]
        epoch, fm = snapshot_feature_maps(sources, workspace, run, layer, focus)
        if fm is None:
            return no_update, "the activation maps appear with the first snapshot"
        uri = view.activation_map_uri(fm, int(channel))
        value = float(fm.means[list(fm.channels).index(int(channel))])
        caption = f"{layer} filter {channel} on image #{focus} (epoch {epoch}): mean {value:.3g}"
        return (uri or no_update), caption + ("" if uri else " — a dense unit has no map")

    @app.callback(Output("train-filters", "figure"), Input("train-epoch", "data"),
                  Input("train-filter-layer", "value"), State("train-run", "data"),
                  prevent_initial_call=True)
    def filters(_epoch, layer, run):
        if not run or not layer:
            return no_update
        try:
            epoch, model = sources.latest_snapshot(run["run"])
        except (OSError, ValueError):  # a snapshot being thinned out as we read it
            return no_update
        if model is None or layer not in [l.name for l in model.layers]:
            return no_update
        from deepling.training import filter_embedding

        return view.filter_figure(filter_embedding(model, layer), layer, epoch)


def register_retrain(app, services) -> None:
    """Retraining a copy on the picked images (background work)."""
    service = services.training
    # How many images a retrain would use, as they are picked (instant: in the browser).
    app.clientside_callback(
        """function (subset) {
            const n = (subset || []).length;
            return n ? `${n.toLocaleString()} image${n === 1 ? '' : 's'} picked` :
                'No images picked yet.';
        }""",
        Output("train-retrain-picked", "children"), Input("subset", "data"))

    @app.callback(Output("train-side", "data"), Output("train-side-poll", "disabled"),
                  Output("train-retrain-status", "children", allow_duplicate=True),
                  Input("train-retrain", "n_clicks"), State("subset", "data"),
                  State("train-retrain-iterations", "value"), State("rendered", "data"),
                  prevent_initial_call=True)
    def side_job(_r, subset, iterations, rendered):
        if not rendered:
            return (no_update,) * 3
        m, d = rendered["model"], rendered["data"]
        if not subset:
            return no_update, no_update, ("Pick images first: a box or lasso in the layer "
                                          "animation or the confidence embedding.")
        key = service.retrain({"model": m, "data": d, "indices": list(subset),
                               "iterations": int(iterations or 30)}, services.owner())
        return {"side": key, "data": d}, False, \
            f"retraining a copy on {len(subset)} images…"

    @app.callback(Output("train-side-poll", "disabled", allow_duplicate=True),
                  Output("train-retrain-status", "children"),
                  Output("session", "data", allow_duplicate=True),
                  Input("train-side-poll", "n_intervals"), State("train-side", "data"),
                  State("session", "data"), prevent_initial_call=True)
    def side_poll(_n, side, session):
        if not side:
            return True, no_update, no_update
        poll = services.poll(RETRAIN, side["side"])
        bar, result = progress_bar(poll), poll["result"]
        if result is None:
            return not bar.polling, (bar.text if bar.failed else f"{bar.text} ({bar.value}%)"), no_update
        link = f"/?model={result['model']}&data={side['data']}"
        name = f"retrained-{side['side'].removeprefix('side-')}.keras"
        return True, view.retrain_summary(result, link), remember_upload(session, {"model": result["model"], "name": name})


def _ext(ext):
    return ext if ext is not None else no_update


def describe(meta: dict, run: dict) -> str:
    state, message = meta.get("state", "queued"), meta.get("message", "")
    if state in DONE:
        return f"{state}: {message}"
    if state == "paused":
        return "paused"
    if not run.get("step"):
        return f"{state}: {message}"
    per = max(run.get("per_epoch") or 1, 1)
    text = f"running — epoch {(run['step'] - 1) // per + 1}, batch {(run['step'] - 1) % per + 1}/{per}"
    if run.get("val"):
        text += f"; validation accuracy {run['val'][1]:.1%} after epoch {run['val'][0]}"
    return text


def saved_link(saved: dict, run: dict):
    return html.A(f"Saved as {saved['name']}: open it", href=f"/?model={saved['model']}&data={run['data']}",
                  id="train-saved-link")


def remember_upload(session, saved: dict):
    """List the new model in this session's Open model / data dialog, as uploads are."""
    session = dict(session or {})
    uploads = [u for u in session.get("uploads", []) if u.get("id") != saved["model"]]
    uploads.append({"kind": "model", "id": saved["model"], "name": saved["name"]})
    session["uploads"] = uploads[-20:]
    return session
