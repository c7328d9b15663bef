"""Adversarial strip and what-if view: the image in focus and what the model makes of it."""

from __future__ import annotations

from dash import dcc, html

from deepling.views.common import card


def layout(ctx) -> object:
    body = html.Div([
        html.Div(id="focus-image", className="dl-focus"),
        dcc.Graph(id="focus-probs", config={"displayModeBar": False}, className="flex-grow-1"),
    ], className="d-flex gap-3 align-items-start")
    return card("Adversarial strip · what-if", body, "strip-card")
