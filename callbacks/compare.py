"""Comparison view callbacks: pick model B → project both in the background → show both.

The slider, play loop and hover run in ``assets/compare_view.js``; these callbacks start
and watch the two projection jobs and fill the matrices and the disagreement grids.
"""

from __future__ import annotations

from dash import ALL, ClientsideFunction, Input, Output, State, no_update

from deepling.data import DataError
from deepling.models import ModelError
from deepling.service.compare import aligned_sequences, compare_models, same_images_choice
from deepling.service.projections import Request
from deepling.service.selection import from_query
from deepling.service.similarity import CKA, CKA_EPOCHS
from deepling.web.pacing import answered, paced_poll, tick_id, tock_id
from deepling.web.clicks import clicked
from deepling.web.progress import combined, progress_bar
from deepling.web.views import compare as view
from deepling.web.wire import sequence_payload

_FIGURES = ("cmp-cm-a", "cmp-cm-b", "cmp-cm-diff", "cmp-per-class")


def register(app, services) -> None:
    workspace, projections = services.workspace, services.projections

    @app.callback(Output("cmp-model", "options"), Output("cmp-model", "value"),
                  Output("page-tabs", "active_tab"),
                  Input("rendered", "data"), State("session", "data"), State("url", "search"))
    def choices(rendered, session, search):
        """Model B from the address (``compare=``) opens the comparison tab."""
        if not rendered:
            return no_update, no_update, no_update
        options = view.model_options(workspace, session)
        wanted = from_query(search).get("compare")
        if wanted and wanted not in {o["value"] for o in options}:
            options.append({"label": wanted, "value": wanted})
        return options, wanted, ("compare" if wanted else no_update)

    @app.callback(
        Output("cmp-request", "data"), Output("cmp-poll", "disabled"),
        Output("cmp-status", "children", allow_duplicate=True),
        Input("cmp-run", "n_clicks"), Input("cmp-model", "value"),
        State("cmp-count", "value"), State("rendered", "data"), prevent_initial_call=True,
    )
    def request(_n, model_b, count, rendered):
        if not rendered or not model_b:
            return no_update, True, "choose a second model" if rendered else no_update
        model_a, data_id = rendered["model"], rendered["data"]
        try:
            choice = same_images_choice({"count": count})
            a = projections.submit(model_a, data_id, choice, services.owner())
            b = projections.submit(model_b, data_id, a.choice, services.owner())
        except (ValueError, ModelError, DataError, OSError) as exc:
            return no_update, True, f"⚠ {exc}"
        return {"a": a.to_dict(), "b": b.to_dict()}, False, "starting…"

    paced_poll(app, "cmp-poll")

    @app.callback(
        Output("cmp-payload", "data"), Output("cmp-poll", "disabled", allow_duplicate=True),
        Output("cmp-progress", "value"), Output("cmp-status", "children"),
        Output("cmp-title-a", "children"), Output("cmp-title-b", "children"),
        *[Output(f, "children") for f in _FIGURES],
        Output("cmp-only-a-title", "children"), Output("cmp-only-a", "children"),
        Output("cmp-only-b-title", "children"), Output("cmp-only-b", "children"),
        Output(tock_id("cmp-poll"), "data"),
        Input(tick_id("cmp-poll"), "data"), State("cmp-request", "data"), State("focus", "data"),
        prevent_initial_call=True,
    )
    def poll(tick, req, focus):  # paced (deepling/web/pacing.py): a slow answer is never dropped
        return (*_poll(req, focus), answered(tick))

    def _poll(req, focus):
        rest = (no_update,) * (2 + len(_FIGURES) + 4)  # titles, figures, disagreements
        if not req:
            return (no_update, True, no_update, no_update, *rest)
        bar = progress_bar(combined([projections.status(Request.from_dict(req[k])) for k in ("a", "b")]))
        if not bar.done:  # one bar for both: the first failure, else the mean progress
            return (no_update, not bar.polling, bar.value, bar.text, *rest)
        return _result(workspace, projections, req, focus)

    @app.callback(Output("focus", "data", allow_duplicate=True),
                  Input({"type": "cmp-tile", "index": ALL}, "n_clicks"), prevent_initial_call=True)
    def focus_tile(clicks):
        index = clicked()
        return no_update if index is None else int(index)

    _register_cka(app, services)
    _register_cka_epochs(app, services)


def _register_cka(app, services) -> None:

    @app.callback(Output("cmp-cka-job", "data"), Output("cmp-cka-poll", "disabled"),
                  Output("cmp-cka-status", "children", allow_duplicate=True),
                  Input("cmp-run", "n_clicks"), Input("cmp-model", "value"),
                  State("rendered", "data"), prevent_initial_call=True)
    def start_cka(_n, model_b, rendered):
        """Compare (or a model B from the address) also starts CKA of their layers."""
        if not rendered or not model_b:
            return no_update, True, no_update
        try:
            key = services.submit(CKA, {"model_a": rendered["model"], "model_b": model_b,
                                        "data": rendered["data"]})
        except (ValueError, ModelError, DataError, OSError) as exc:
            return no_update, True, f"⚠ {exc}"
        return {"key": key, "a": rendered["model"], "b": model_b, "data": rendered["data"]}, False, \
            "CKA: starting…"

    paced_poll(app, "cmp-cka-poll")

    @app.callback(Output("cmp-cka-graph", "figure"), Output("cmp-cka-wrap", "hidden"),
                  Output("cmp-cka-poll", "disabled", allow_duplicate=True),
                  Output("cmp-cka-progress", "value"), Output("cmp-cka-status", "children"),
                  Output(tock_id("cmp-cka-poll"), "data"),
                  Input(tick_id("cmp-cka-poll"), "data"), State("cmp-cka-job", "data"),
                  prevent_initial_call=True)
    def poll_cka(tick, job):
        return _poll_heatmap(tick, services, CKA, job, lambda result: (
            view.cka_figure(result),
            f"{result.n_images:,} images · {len(result.names_a)} × {len(result.names_b)} layers"))

    app.clientside_callback(
        """function (click) {
            var p = click && click.points && click.points[0];
            var D = window.Deepling || {};
            if (p && D.compareView && D.compareView.linked) D.compareView.linked.showLayers(p.y, p.x);
            return window.dash_clientside.no_update;
        }""",
        Output("cmp-cka-sink", "children"), Input("cmp-cka-graph", "clickData"))

    app.clientside_callback(ClientsideFunction("deeplingCompare", "mount"),
                            Output("cmp-mounted", "children"), Input("cmp-payload", "data"))
    app.clientside_callback(ClientsideFunction("deeplingCompare", "focus"),
                            Output("cmp-mounted", "title"), Input("focus", "data"))


def _register_cka_epochs(app, services) -> None:
    from deepling.service.projections import default_along

    def run_snapshots(rendered, run):
        """(run id, [(epoch, path)]) of the open model's training run, or (None, [])."""
        sources = services.run_sources
        if not rendered or sources is None:
            return None, []
        run_id = sources.run_of(rendered["model"], run)
        return run_id, (sources.snapshots(run_id) if run_id else [])

    @app.callback(Output("cmp-epochs-section", "hidden"), Output("cmp-epochs-layer", "options"),
                  Output("cmp-epochs-layer", "value"),
                  Input("rendered", "data"), Input("train-run", "data"), Input("train-epoch", "data"),
                  State("cmp-epochs-layer", "value"))
    def epochs_choices(rendered, run, _epoch, layer):
        """Shown once the open model has a training run with two snapshots or more."""
        run_id, snapshots = run_snapshots(rendered, run)
        if len(snapshots) < 2:
            return True, no_update, no_update
        layers = services.run_sources.run_layers(run_id)
        return False, [{"label": n, "value": n} for n in layers], layer or default_along(layers)

    @app.callback(Output("cmp-epochs-job", "data"), Output("cmp-epochs-poll", "disabled"),
                  Output("cmp-epochs-status", "children", allow_duplicate=True),
                  Input("cmp-epochs-run", "n_clicks"), State("cmp-epochs-layer", "value"),
                  State("rendered", "data"), State("train-run", "data"), prevent_initial_call=True)
    def start_epochs(_n, layer, rendered, run):
        _, snapshots = run_snapshots(rendered, run)
        try:
            key = services.submit(CKA_EPOCHS, {"model": rendered["model"], "data": rendered["data"],
                                               "layer": layer,
                                               "snapshots": [(f"epoch {e}", str(p)) for e, p in snapshots]})
        except (ValueError, ModelError, DataError, OSError) as exc:
            return no_update, True, f"⚠ {exc}"
        return {"key": key}, False, "CKA across epochs: starting…"

    paced_poll(app, "cmp-epochs-poll")

    @app.callback(Output("cmp-epochs-graph", "figure"), Output("cmp-epochs-wrap", "hidden"),
                  Output("cmp-epochs-poll", "disabled", allow_duplicate=True),
                  Output("cmp-epochs-progress", "value"), Output("cmp-epochs-status", "children"),
                  Output(tock_id("cmp-epochs-poll"), "data"),
                  Input(tick_id("cmp-epochs-poll"), "data"), State("cmp-epochs-job", "data"),
                  prevent_initial_call=True)
    def poll_epochs(tick, job):
        return _poll_heatmap(tick, services, CKA_EPOCHS, job, lambda result: (
            view.epochs_figure(result),
            f"{result.n_images:,} images · {len(result.names_a)} snapshots · {result.model_a.split(': ')[-1]}"))


def _poll_heatmap(tick, services, kind, job, shown) -> tuple:
    """(figure, wrap hidden, poll disabled, bar value, status, tock) of a CKA job's paced
    poll; ``shown(result)`` gives the figure and the status once it is done."""
    if not job:
        return no_update, no_update, True, no_update, no_update, answered(tick)
    poll = services.poll(kind, job["key"])  # "done" without a result says it is gone
    bar, result = progress_bar(poll, waiting="CKA: waiting"), poll["result"]
    if result is None:
        return no_update, no_update, not bar.polling, bar.value, bar.text, answered(tick)
    figure, status = shown(result)
    return figure, False, True, 100, status, answered(tick)


def _result(workspace, projections, req, focus) -> tuple:
    """Everything the view shows once both projections are in the cache."""
    ra, rb = Request.from_dict(req["a"]), Request.from_dict(req["b"])
    a, b, data_id = ra.model, rb.model, ra.data
    try:
        aligned = aligned_sequences(projections, ra, rb)
        if aligned is None:
            raise ValueError("A projection was removed from the cache; press Compare again.")
        indices, seq_a, seq_b, _ = aligned
        cmp = compare_models(workspace, a, b, data_id)
    except (ValueError, ModelError, DataError) as exc:
        return (no_update, True, 100, f"⚠ {exc}", *(no_update,) * (2 + len(_FIGURES) + 4))
    ds = workspace.dataset(a, data_id)
    names = workspace.class_names(a, data_id)
    preds = {m: workspace.predictions(m, data_id) for m in (a, b)}
    name = {m: workspace.model(m).name for m in (a, b)}
    payloads = {"model": a, "data": data_id, "compare": b}
    for key, m, seq in (("a", a, seq_a), ("b", b, seq_b)):
        p = preds[m]
        payloads[key] = sequence_payload(seq, indices, ds.labels[indices], p.predicted[indices],
                                         p.confidence[indices], names, f"{m}/{data_id}")
    acc_a, acc_b = cmp.overall
    figures = map(view.graph, (view.matrix_figure(cmp.cm_a, names, f"A · {name[a]} · {acc_a:.1%}"),
               view.matrix_figure(cmp.cm_b, names, f"B · {name[b]} · {acc_b:.1%}"),
               view.matrix_figure(cmp.difference, names, "B − A (sums to 0)", diverging=True),
               view.per_class_figure(cmp.accuracy_a, cmp.accuracy_b, names, name[a], name[b])))
    tiles_a = view.disagreement_tiles(cmp.only_a, ds.labels, preds[b].predicted, preds[b].confidence,
                                      names, f"{b}/{data_id}", focus)
    tiles_b = view.disagreement_tiles(cmp.only_b, ds.labels, preds[a].predicted, preds[a].confidence,
                                      names, f"{a}/{data_id}", focus)
    status = f"{len(indices):,} images · {len(seq_a)} and {len(seq_b)} layers, matched by relative depth"
    return (payloads, True, 100, status, f"A · {name[a]}", f"B · {name[b]}", *figures,
            f"A right, B wrong: {len(cmp.only_a):,} images (framed in B's prediction)", tiles_a,
            f"B right, A wrong: {len(cmp.only_b):,} images (framed in A's prediction)", tiles_b)
