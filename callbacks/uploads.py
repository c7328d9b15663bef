"""The open/upload dialog: list choices, remember this session's uploads, switch to them."""

from __future__ import annotations

from dash import Input, Output, State, ctx, html, no_update

from deepling.models import ModelError
from deepling.data import DataError


def register(app, services) -> None:
    workspace = services.workspace
    @app.callback(Output("open-modal", "is_open"),
                  Input("open-button", "n_clicks"), Input("open-cancel", "n_clicks"),
                  Input("open-apply", "n_clicks"), prevent_initial_call=True)
    def toggle(open_clicks, _cancel, _apply):
        # The navbar is rebuilt with each page, which re-inserts the button: only a click opens.
        return ctx.triggered_id == "open-button" and bool(open_clicks)

    @app.callback(Output("session", "data", allow_duplicate=True),
                  Input("upload-result", "data"), State("session", "data"),
                  prevent_initial_call=True)
    def remember_upload(result, session):
        """Uploads are listed only in the session that made them (ids are capabilities)."""
        if not result or result.get("kind") not in ("model", "data"):
            return no_update
        session = dict(session or {})
        uploads = [u for u in session.get("uploads", []) if u.get("id") != result["id"]]
        uploads.append({"kind": result["kind"], "id": result["id"],
                        "name": result.get("summary", {}).get("name", result["id"])})
        session["uploads"] = uploads[-20:]
        return session

    @app.callback(Output("open-model", "options"), Output("open-model", "value"),
                  Output("open-data", "options"), Output("open-data", "value"),
                  Input("open-modal", "is_open"), Input("session", "data"),
                  State("rendered", "data"), State("upload-result", "data"),
                  State("open-model", "value"), State("open-data", "value"))
    def list_choices(is_open, session, rendered, last_upload, chosen_model, chosen_data):
        if not is_open:
            return no_update, no_update, no_update, no_update
        session = session or {}
        models = [{"label": _server_model_label(workspace), "value": workspace.default_model_id}]
        data = [{"label": _server_data_label(workspace), "value": workspace.default_data_id}]
        for u in session.get("uploads", []):
            item = {"label": html.Span([u["name"], html.Span(" uploaded", className="text-muted")]),
                    "value": u["id"]}
            (models if u["kind"] == "model" else data).append(item)
        current = rendered or {}
        model_value, data_value = current.get("model"), current.get("data")
        if last_upload and ctx.triggered_id == "session":  # select what was just uploaded
            # ...keeping the other choice made in this dialog (a model uploaded, then data)
            model_value, data_value = chosen_model or model_value, chosen_data or data_value
            if last_upload["kind"] == "model":
                model_value = last_upload["id"]
            else:
                data_value = last_upload["id"]
        return models, model_value, data, data_value

    # Opening another model or data loads the page anew: everything on it is rebuilt anyway,
    # and the address bar is then exactly the link that reproduces it. (Not through
    # dcc.Location: the animation rewrites the address behind its back, and a refreshing
    # Location then writes its stale search back over the new address.)
    app.clientside_callback(
        """function (n, model, data) {
            if (!n || !model || !data) return window.dash_clientside.no_update;
            window.location.assign('/?' + new URLSearchParams({model: model, data: data}));
            return window.dash_clientside.no_update;
        }""",
        Output("open-apply", "title"), Input("open-apply", "n_clicks"),
        State("open-model", "value"), State("open-data", "value"), prevent_initial_call=True)


def _server_model_label(workspace) -> str:
    try:
        return workspace.model().name
    except ModelError as exc:
        return f"server model (unavailable: {exc})"


def _server_data_label(workspace) -> str:
    try:
        return workspace.raw_dataset().origin
    except DataError as exc:
        return f"server data (unavailable: {exc})"
