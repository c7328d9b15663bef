"""The app-wide banner: shows when the cache disk runs full and hides once space is back."""

from __future__ import annotations

from dash import Input, Output, State, no_update

from deepling.service.cache import DISK_FULL_MESSAGE, disk_space


def register(app, services) -> None:
    workspace = services.workspace
    @app.callback(Output("app-banner", "children"), Output("app-banner", "is_open"),
                  Input("app-banner-poll", "n_intervals"), State("app-banner", "children"))
    def disk_banner(_n, shown):
        if disk_space(workspace.config.cache)["low"]:
            return DISK_FULL_MESSAGE, True
        if shown == DISK_FULL_MESSAGE:  # space is back
            return "", False
        return no_update, no_update
