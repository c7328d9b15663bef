"""Data view callbacks: clicking an image tile focuses it everywhere."""

from __future__ import annotations

from dash import ALL, Input, Output, ctx, no_update


def register(app, workspace) -> None:
    @app.callback(Output("focus", "data", allow_duplicate=True),
                  Input({"type": "data-tile", "index": ALL}, "n_clicks"), prevent_initial_call=True)
    def focus_tile(clicks):
        if not ctx.triggered_id or not any(clicks):
            return no_update
        return int(ctx.triggered_id["index"])
