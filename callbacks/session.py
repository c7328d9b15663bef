"""Which model and data this browser session looks at, and the page built for them.

The URL names them (``/?model=<id>&data=<id>``, the link the upload API returns); without
that, the session's last choice; without that, the server's default. The page is rebuilt
only when the pair changes, not when other query parameters (the animation's) do.
"""

from __future__ import annotations

from dash import Input, Output, State, no_update

from deepling.data import DataError
from deepling.models import ModelError
from deepling.service.selection import from_query
from deepling.service.workspace import PREDICTIONS
from deepling.web.progress import progress_bar
from deepling.web.views.shell import navbar, page, problem_page, waiting_page


def register(app, services) -> None:
    workspace = services.workspace

    @app.callback(
        Output("session", "data"), Output("rendered", "data"), Output("navbar", "children"),
        Output("page", "children"), Output("focus", "data"), Output("page-job", "data"),
        Output("page-poll", "disabled"),
        Input("url", "search"), Input("page-ready", "data"),
        State("session", "data"), State("rendered", "data"), State("page-job", "data"),
    )
    def render_page(search, ready, session, rendered, job):
        session = dict(session or {})
        query = from_query(search)
        model_id = query.get("model") or session.get("model") or workspace.default_model_id
        data_id = query.get("data") or session.get("data") or workspace.default_data_id
        unchanged = (no_update,) * 7
        if rendered == {"model": model_id, "data": data_id}:
            return unchanged
        try:
            if not workspace.predictions_ready(model_id, data_id):
                # Loading and predicting a large dataset (all 60,000 CIFAR-10 images) is long
                # work: a job with a progress bar, never this request (README, #17).
                if job and job.get("model") == model_id and job.get("data") == data_id:
                    if ready != job["key"]:
                        return unchanged  # still running: the poll below follows it
                else:
                    key = services.submit(PREDICTIONS, {"model": model_id, "data": data_id})
                    # ``rendered`` untouched: the views' callbacks wait for the page they need
                    return (no_update, no_update, navbar(), [waiting_page(model_id, data_id)],
                            no_update, {"key": key, "model": model_id, "data": data_id}, False)
            nav, views, focus = page(workspace, model_id, data_id)
        except (ModelError, DataError, OSError, ValueError) as exc:
            return (no_update, None, navbar(), [problem_page(str(exc), workspace, model_id, data_id)],
                    no_update, None, True)
        session.update(model=model_id, data=data_id)
        return session, {"model": model_id, "data": data_id}, nav, views, focus, None, True

    @app.callback(
        Output("page-progress", "value"), Output("page-status", "children"),
        Output("page-ready", "data"), Output("page-poll", "disabled", allow_duplicate=True),
        Input("page-poll", "n_intervals"), State("page-job", "data"),
        prevent_initial_call=True,
    )
    def follow_page_job(_n, job):
        """The first visit's predictions: progress, then the page (render_page above)."""
        if not job:
            return no_update, no_update, no_update, True
        bar = progress_bar(services.poll(PREDICTIONS, job["key"]), done="done")
        return bar.value, bar.text, (job["key"] if bar.done else no_update), not bar.polling
