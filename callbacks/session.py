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
from deepling.web.views.shell import navbar, page, problem_page


def register(app, workspace) -> None:
    @app.callback(
        Output("session", "data"), Output("rendered", "data"), Output("navbar", "children"),
        Output("page", "children"), Output("focus", "data"),
        Input("url", "search"), State("session", "data"), State("rendered", "data"),
    )
    def render_page(search, session, rendered):
        session = dict(session or {})
        query = from_query(search)
        model_id = query.get("model") or session.get("model") or workspace.default_model_id
        data_id = query.get("data") or session.get("data") or workspace.default_data_id
        if rendered == {"model": model_id, "data": data_id}:
            return no_update, no_update, no_update, no_update, no_update
        try:
            nav, views, focus = page(workspace, model_id, data_id)
        except (ModelError, DataError, OSError) as exc:
            return (no_update, None, navbar(), [problem_page(str(exc), workspace, model_id, data_id)],
                    no_update)
        session.update(model=model_id, data=data_id)
        return session, {"model": model_id, "data": data_id}, nav, views, focus
