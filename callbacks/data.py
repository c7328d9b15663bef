"""Data view callbacks: clicking an image tile focuses it everywhere."""

from __future__ import annotations

from dash import ALL, Input, Output, State, ctx, no_update


def register(app, workspace) -> None:
    @app.callback(Output("selection", "data", allow_duplicate=True),
                  Input({"type": "data-tile", "index": ALL}, "n_clicks"),
                  State("selection", "data"), prevent_initial_call=True)
    def focus_tile(clicks, selection):
        if not ctx.triggered_id or not any(clicks):
            return no_update
        return {**(selection or {}), "focus": int(ctx.triggered_id["index"])}
