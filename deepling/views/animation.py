"""Layer animation view."""

from __future__ import annotations

from dash import html

from deepling.views.common import card


def layout(ctx) -> object:
    adapter = ctx["adapter"]
    layers = [l for l in adapter.model.layers]
    chips = [html.Span([html.B(l.name), html.Span(f" {type(l).__name__}", className="text-muted")],
                       className="dl-chip") for l in layers]
    return card("Layer animation", html.Div(chips, className="d-flex flex-wrap gap-1"),
                "animation-card")
