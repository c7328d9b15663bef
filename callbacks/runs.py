"""Runs wiring: list the runs folder, watch a run in the Training card, its histograms.

Watching a run puts it into the card's ``train-run`` store; the card's own poll then reads
it (through :class:`~deepling.service.runs.RunSources`) like an in-app run.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from dash import Input, Output, State, html, no_update

from deepling.training.runfolder import RunFolderError
from deepling.web.pacing import answered, paced_poll, tick_id, tock_id
from deepling.web.views import runs as view
from deepling.web.views import training as training_view


def register(app, services) -> None:
    register_run_list(app, services)
    register_histograms(app, services)


def register_run_list(app, services) -> None:
    """Runs from outside: the list, a link to one, opening its model."""
    runs = services.runs

    paced_poll(app, "train-runs-poll", initial=True)  # listed at page load, then paced

    @app.callback(Output("train-watch", "options"), Output("train-watch-row", "hidden"),
                  Output("train-runs-poll", "disabled"), Output("train-watch-open", "children"),
                  Output("train-epoch", "data", allow_duplicate=True),
                  Output("train-watch-vetted", "data"), Output(tock_id("train-runs-poll"), "data"),
                  Output("train-watch-retry", "data"),
                  Input(tick_id("train-runs-poll"), "data"), State("train-run", "data"),
                  State("rendered", "data"), State("train-watch", "options"),
                  State("train-watch-vetted", "data"), State("train-watch", "value"),
                  prevent_initial_call=True)
    def list_runs(tick, run, rendered, shown, vetted, wanted):
        if runs.root is None:
            return (no_update, True, True, no_update, no_update, no_update, answered(tick),
                    no_update)
        # A run asked for (a link, the picker) but not shown yet (a link opened before the
        # run's folder existed, a checkpoint folder not vetted yet): ask again until it shows.
        retry = {"run": wanted, "n": answered(tick)} if runs.owns(wanted) and (
            not run or run.get("run") != wanted) else no_update
        link, epoch = no_update, no_update
        if run and runs.owns(run.get("run")) and rendered:
            model_id = runs.open_model(run["run"])
            snaps = runs.snapshots(run["run"])
            if snaps and [run["run"], snaps[-1][0]] != vetted:  # a snapshot vetted since: the
                epoch = snaps[-1][0]                           # views that show them follow
            link = html.A("Open its model in every view", id="train-watch-link",
                          href=f"/?model={model_id}&data={rendered['data']}") if model_id else \
                "its model opens once a snapshot is vetted"
            refused = runs.refused(run["run"])
            if refused:  # a hostile or broken snapshot: said, never opened
                link = html.Span([link, html.Span(" ⚠ " + "; ".join(refused)[:400],
                                                  className="text-danger")])
        options = view.run_options(runs.list())
        return ((no_update if options == shown else options), False, False, link, epoch,
                [run["run"], epoch] if epoch is not no_update else no_update, answered(tick),
                retry)

    @app.callback(Output("train-watch", "value"), Input("url", "search"))
    def from_link(search):
        wanted = parse_qs((search or "").lstrip("?")).get("run", [None])[0]
        return wanted if wanted and runs.owns(wanted) else no_update

    @app.callback(
        Output("train-run", "data", allow_duplicate=True),
        Output("train-watch-status", "children"),
        Output("train-loss", "figure", allow_duplicate=True),
        Output("train-accuracy", "figure", allow_duplicate=True),
        Output("train-epochs-chart", "figure", allow_duplicate=True),
        Output("train-network", "figure", allow_duplicate=True),
        Input("train-watch", "value"), Input("train-watch-retry", "data"),
        State("rendered", "data"), State("train-run", "data"), prevent_initial_call=True)
    def watch(run_id, _retry, rendered, current):
        if not run_id or not rendered or not runs.owns(run_id) or (
                current and current.get("run") == run_id):  # the select re-sends its value
            return (no_update,) * 6
        try:
            layers = runs.layer_sizes(run_id)
            if not layers and runs.header(run_id).get("source") == "checkpoints":
                return no_update, "vetting the checkpoints…", *(no_update,) * 4  # (retried)
        except RunFolderError as exc:
            return no_update, f"⚠ {exc}", *(no_update,) * 4
        return ({"run": run_id, "seq": 0, "layers": layers, **rendered},
                f"watching {run_id[len('run:'):]}", training_view.curves_figure("loss"),
                training_view.curves_figure("accuracy"), training_view.epoch_time_figure(),
                training_view.network_figure(layers))


def register_histograms(app, services) -> None:
    """Watching a run: polling, its histograms per layer."""
    runs, sources = services.runs, services.run_sources

    @app.callback(Output("train-poll", "disabled", allow_duplicate=True),
                  Output("train-poll", "interval"),
                  Input("train-run", "data"), prevent_initial_call=True)
    def start_polling(run):
        # once the watched run is in the store (a poll enabled in the same response as the
        # store can read the store's old value at page load, and stop itself). The poll is
        # paced (deepling/web/pacing.py): a slow answer is never dropped by the next tick.
        if not run or run.get("seq") != 0:
            return no_update, no_update
        if runs.owns(run.get("run")):
            return False, view.WATCH_POLL_MS
        return no_update, training_view.POLL_MS

    @app.callback(Output("train-hist-layer", "options"), Output("train-hist-layer", "value"),
                  Input("train-run", "data"), State("train-hist-layer", "value"),
                  prevent_initial_call=True)
    def histogram_layers(run, layer):
        names = [l["name"] for l in (run or {}).get("layers") or []]
        if not names:
            return no_update, no_update
        return [{"label": n, "value": n} for n in names], (layer if layer in names else names[0])

    @app.callback(Output("train-hist", "figure"), Output("train-hist-flags", "children"),
                  Input("train-epoch", "data"), Input("train-hist-layer", "value"),
                  State("train-run", "data"), prevent_initial_call=True)
    def histograms(_epoch, layer, run):
        if not run or not layer:
            return no_update, no_update
        try:
            series = sources.histograms(run["run"], layer)
        except RunFolderError as exc:
            return no_update, f"⚠ {exc}"
        return view.ridgeline_figure(series, layer), view.flags_text(series, layer)
