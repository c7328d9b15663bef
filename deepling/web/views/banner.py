"""The app-wide banner: the cache disk is full, the server is busy, a request was refused."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import dcc, html


def layout() -> html.Div:
    return html.Div([
        dbc.Alert(id="app-banner", is_open=False, color="warning", dismissable=True,
                  className="mb-0 rounded-0 small py-2"),
        # The disk's state is checked now and then; a full disk shows without an action.
        dcc.Interval(id="app-banner-poll", interval=10_000),
    ])
