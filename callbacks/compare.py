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
from deepling.service.similarity import CKA
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

    @app.callback(
        Output("cmp-payload", "data"), Output("cmp-poll", "disabled", allow_duplicate=True),
        Output("cmp-progress", "value"), Output("cmp-status", "children"),
        Output("cmp-title-a", "children"), Output("cmp-title-b", "children"),
        *[Output(f, "children") for f in _FIGURES],
        Output("cmp-only-a-title", "children"), Output("cmp-only-a", "children"),
        Output("cmp-only-b-title", "children"), Output("cmp-only-b", "children"),
        Input("cmp-poll", "n_intervals"), State("cmp-request", "data"), State("focus", "data"),
        prevent_initial_call=True,
    )
    def poll(_n, req, focus):
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

    @app.callback(Output("cmp-cka-graph", "figure"), Output("cmp-cka-wrap", "hidden"),
                  Output("cmp-cka-poll", "disabled", allow_duplicate=True),
                  Output("cmp-cka-progress", "value"), Output("cmp-cka-status", "children"),
                  Input("cmp-cka-poll", "n_intervals"), State("cmp-cka-job", "data"),
                  prevent_initial_call=True)
    def poll_cka(_n, job):
        if not job:
            return no_update, no_update, True, no_update, no_update
        poll = services.poll(CKA, job["key"])  # "done" without a result says it is gone
        bar, result = progress_bar(poll, waiting="CKA: waiting"), poll["result"]
        if result is None:
            return no_update, no_update, not bar.polling, bar.value, bar.text
        return view.cka_figure(result), False, True, 100, \
            f"{result.n_images:,} images · {len(result.names_a)} × {len(result.names_b)} layers"

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
