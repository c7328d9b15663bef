"""Suspicious labels callbacks (the data card): start and watch the ranking job, list the
ranked images, marks, export, focus and the animation's selection."""

from __future__ import annotations

from dash import ALL, Input, Output, State, ctx, no_update

from deepling.data import DataError
from deepling.models import ModelError
from deepling.service.selection import normalise, to_query
from deepling.service.similarity import (LABEL_ERRORS, cached_label_errors,
                                         suspicious_selection, why_no_labels)
from deepling.web.pacing import answered, paced_poll, tick_id, tock_id
from deepling.web.clicks import clicked
from deepling.web.progress import progress_bar
from deepling.web.views import suspicious as view


def _ids(workspace, rendered):
    rendered = rendered or {}
    return (rendered.get("model") or workspace.default_model_id,
            rendered.get("data") or workspace.default_data_id)


def register(app, services) -> None:
    register_job(app, services)
    register_marks(app, services)


def register_job(app, services) -> None:
    """The ranking of suspicious labels (background work)."""
    workspace = services.workspace

    @app.callback(Output("sus-job", "data"), Output("sus-poll", "disabled"),
                  Output("sus-status", "children", allow_duplicate=True),
                  Input("sus-run", "n_clicks"), State("rendered", "data"), prevent_initial_call=True)
    def start(_n, rendered):
        m, d = _ids(workspace, rendered)
        try:
            why = why_no_labels(workspace, m, d)
            if why:
                return no_update, True, why
            return services.submit(LABEL_ERRORS, {"model": m, "data": d}), False, "starting…"
        except (ValueError, ModelError, DataError, OSError) as exc:
            return no_update, True, f"⚠ {exc}"

    paced_poll(app, "sus-poll")

    @app.callback(Output("sus-ready", "data"), Output("sus-poll", "disabled", allow_duplicate=True),
                  Output("sus-progress", "value"), Output("sus-status", "children"),
                  Output(tock_id("sus-poll"), "data"),
                  Input(tick_id("sus-poll"), "data"), State("sus-job", "data"), prevent_initial_call=True)
    def poll(tick, key):  # paced (deepling/web/pacing.py): a slow answer is never dropped
        bar = progress_bar(services.poll(LABEL_ERRORS, key))
        return (key if bar.done else no_update), not bar.polling, bar.value, bar.text, answered(tick)

    @app.callback(Output("sus-list", "children"), Output("sus-notes", "children"),
                  Output("sus-csv", "disabled"), Output("sus-json", "disabled"),
                  Output("sus-status", "children", allow_duplicate=True),
                  Input("sus-ready", "data"), Input("sus-marks", "data"),
                  State("rendered", "data"), State("focus", "data"), prevent_initial_call=True)
    def show(ready, marks, rendered, focus):
        m, d = _ids(workspace, rendered)
        result = ready and cached_label_errors(workspace, m, d)
        if not result:
            return no_update, no_update, no_update, no_update, no_update
        names = workspace.class_names(m, d)
        key = f"{m}/{d}"
        own = (marks or {}).get(key, {})
        n_wrong = sum(v == "wrong" for v in own.values())
        status = (f"{len(result.order):,} labelled images ranked · top {len(result.top)} kept"
                  + (f" · {len(own)} marked ({n_wrong} wrong)" if own else ""))
        return (view.rows(result, names, key, own, focus), " · ".join(result.notes[:3]),
                False, False, status)


def register_marks(app, services) -> None:
    """Marks, exports, and the images sent to other views."""
    workspace = services.workspace

    @app.callback(Output("sus-marks", "data"),
                  Input({"type": "sus-mark-wrong", "index": ALL}, "n_clicks"),
                  Input({"type": "sus-mark-fine", "index": ALL}, "n_clicks"),
                  State("sus-marks", "data"), State("rendered", "data"), prevent_initial_call=True)
    def mark(_w, _f, marks, rendered):
        index = clicked()
        if index is None:
            return no_update
        m, d = _ids(workspace, rendered)
        what = "wrong" if ctx.triggered_id["type"] == "sus-mark-wrong" else "fine"
        marks = dict(marks or {})
        own = dict(marks.get(f"{m}/{d}", {}))
        if own.get(str(index)) == what:
            own.pop(str(index))  # a second click takes the mark back
        else:
            own[str(index)] = what
        marks[f"{m}/{d}"] = own
        return marks

    @app.callback(Output("sus-download", "data"),
                  Input("sus-csv", "n_clicks"), Input("sus-json", "n_clicks"),
                  State("sus-marks", "data"), State("rendered", "data"), prevent_initial_call=True)
    def download(_c, _j, marks, rendered):
        m, d = _ids(workspace, rendered)
        result = cached_label_errors(workspace, m, d)
        if not result or not ctx.triggered_id:
            return no_update
        kind = "json" if ctx.triggered_id == "sus-json" else "csv"
        text = view.export(result, workspace.class_names(m, d), (marks or {}).get(f"{m}/{d}"), kind)
        return {"content": text, "filename": f"suspicious_labels.{kind}"}

    @app.callback(Output("focus", "data", allow_duplicate=True),
                  Input({"type": "sus-tile", "index": ALL}, "n_clicks"), prevent_initial_call=True)
    def focus_tile(_clicks):
        index = clicked()
        return no_update if index is None else int(index)

    @app.callback(Output("url", "search", allow_duplicate=True),
                  Output("subset", "data", allow_duplicate=True),
                  Output("focus", "data", allow_duplicate=True),
                  Output("sus-status", "children", allow_duplicate=True),
                  Input({"type": "sus-animate", "index": ALL}, "n_clicks"),
                  State("rendered", "data"), prevent_initial_call=True)
    def animate(_clicks, rendered):
        index = clicked()
        if index is None:
            return (no_update,) * 4
        m, d = _ids(workspace, rendered)
        result = cached_label_errors(workspace, m, d)
        if not result:
            return (no_update,) * 4
        ds = workspace.dataset(m, d)
        picked = suspicious_selection(result, int(index))
        query = to_query(normalise({"mode": "indices", "indices": picked}, ds.n_classes),
                         model=m, data=d)
        return (query, picked, int(index),
                f"#{index}, its neighbours and both classes: {len(picked)} images sent to the "
                "layer animation")
