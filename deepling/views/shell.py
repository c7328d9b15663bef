"""The page: navbar, the shared selection stores, and the regions each view fills."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import dcc, html

from deepling.views import animation, architecture, data, strip


def serve_layout(workspace) -> html.Div:
    """Called on every page load, so each visitor gets a fresh session state."""
    adapter = workspace.model()
    ds = workspace.dataset()
    preds = workspace.predictions()
    accuracy = float((preds.predicted == ds.labels).mean()) if len(ds) else float("nan")
    ctx = dict(workspace=workspace, adapter=adapter, dataset=ds, predictions=preds)
    return html.Div([
        dcc.Location(id="url", refresh=False),
        # One selection links the views: ids, never pixels (see DESIGN.md).
        dcc.Store(id="session", storage_type="session",
                  data={"model": workspace.default_model_id, "data": workspace.default_data_id}),
        dcc.Store(id="selection", data={"focus": int(_first_misclassified(ds, preds)), "layer": None}),
        navbar(adapter, ds, accuracy),
        dbc.Container([
            dbc.Row([
                dbc.Col(animation.layout(ctx), lg=8, className="mb-3"),
                dbc.Col(architecture.layout(ctx), lg=4, className="mb-3"),
            ]),
            dbc.Row([
                dbc.Col(strip.layout(ctx), lg=7, className="mb-3"),
                dbc.Col(data.layout(ctx), lg=5, className="mb-3"),
            ]),
        ], fluid=True, className="pt-3"),
    ], className="dl-page")


def navbar(adapter, ds, accuracy: float) -> dbc.Navbar:
    badges = html.Div([
        dbc.Badge(adapter.name, color="light", text_color="dark", className="me-2",
                  id="nav-model"),
        dbc.Badge(ds.origin, color="light", text_color="dark", className="me-2", id="nav-data"),
        dbc.Badge(f"accuracy {accuracy:.1%} on {len(ds):,} images", color="success",
                  id="nav-accuracy"),
    ], className="d-flex align-items-center flex-wrap")
    return dbc.Navbar(
        dbc.Container([
            html.Span([html.Span("Deep", className="dl-brand-a"), html.Span("ling", className="dl-brand-b")],
                      className="navbar-brand dl-brand"),
            html.Span("see inside a trained CNN", className="text-white-50 small me-auto"),
            badges,
        ], fluid=True),
        color="dark", dark=True, className="py-2",
    )


def _first_misclassified(ds, preds) -> int:
    """Start the focus on an image the model gets wrong: the interesting case."""
    wrong = (preds.predicted != ds.labels).nonzero()[0]
    return int(wrong[0]) if len(wrong) else 0
