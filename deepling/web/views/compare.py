"""Comparison view: a second model on the same data, side by side with the first.

Both layer animations show the same images, driven by one slider (layers matched by
relative depth, drawn by ``assets/linked_scatter.js``); beneath them the two confusion
matrices and their difference, accuracy per class for both, and the images one model
gets right and the other wrong. The address names both models
(``/?model=A&data=D&compare=B``), so it is the link to this comparison.
"""

from __future__ import annotations

import dash_bootstrap_components as dbc
import numpy as np
import plotly.graph_objects as go
from dash import dcc, html

from deepling.service.compare import DEFAULT_CHOICE
from deepling.service.workspace import DEMO_ID
from deepling.web.pacing import paced_stores
from deepling.web.views.common import card
from deepling.web.views.data import grid_tiles

N_TILES = 24  # disagreements shown per side


def model_options(workspace, session: dict | None) -> list[dict]:
    """Models this session can compare: the server's, the demo, its uploads, in-memory ones."""
    options = {workspace.default_model_id: "server model", DEMO_ID: "demo CNN"}
    for key in workspace.registered("model"):
        options.setdefault(key, "in memory")
    for u in (session or {}).get("uploads", []):
        if u.get("kind") == "model":
            options[u["id"]] = f"{u.get('name', u['id'])} (uploaded)"
    return [{"label": f"{label} · {mid}", "value": mid} for mid, label in options.items()]


def layout(ctx) -> html.Div:
    controls = html.Div([
        html.Span(["A: ", html.B(ctx["adapter"].name)], className="small"),
        html.Span("against B:", className="small"),
        dcc.Dropdown(id="cmp-model", placeholder="second model…", clearable=False,
                     style={"width": "22rem"}, className="small"),
        dbc.InputGroup([dbc.InputGroupText("per class"),
                        dbc.Input(id="cmp-count", type="number", min=1, max=500, step=1,
                                  value=DEFAULT_CHOICE["count"], debounce=True)],
                       size="sm", style={"width": "10rem"}),
        dbc.Button("Compare", id="cmp-run", size="sm", color="primary"),
        html.Span(id="cmp-status", className="small text-muted"),
    ], className="d-flex flex-wrap gap-2 align-items-center mb-2")
    progress = dbc.Progress(id="cmp-progress", value=0, striped=True, animated=True,
                            style={"height": "6px"}, className="mb-2")

    def panel(k):
        return html.Div([
            html.Div(id=f"cmp-title-{k}", className="small fw-semibold"),
            html.Div([html.Div(id=f"cmp-host-{k}", className="dl-scatter dl-cmp-scatter"),
                      html.Div(id=f"cmp-tip-{k}", className="dl-tooltip", hidden=True)],
                     className="dl-scatter-wrap"),
            html.Div(id=f"cmp-layer-{k}", className="small text-muted dl-layer-info"),
        ], className="flex-fill", style={"minWidth": "320px", "flexBasis": "0"})

    animations = html.Div([
        html.Div([panel("a"), panel("b")], className="d-flex gap-3"),
        html.Div([
            html.Button(html.Span(className="dl-play-icon"), id="cmp-play", **{"aria-label": "play"},
                        className="btn btn-sm btn-outline-primary dl-play",
                        title="play / pause both"),
            # made by compare_view.js: the play loop moves it every frame, outside React
            html.Div(id="cmp-slider-host", className="flex-grow-1 d-flex"),
            html.Span("relative depth: input → output", className="small text-muted"),
        ], className="d-flex align-items-center gap-2 mt-2"),
    ])
    # Filled with graphs once a comparison is ready: no empty Plotly figures on page load.
    matrices = dbc.Row([dbc.Col(html.Div(id=i), lg=4) for i in ("cmp-cm-a", "cmp-cm-b", "cmp-cm-diff")],
                       className="mt-3")
    rest = dbc.Row([
        dbc.Col(html.Div(id="cmp-per-class"), lg=5),
        dbc.Col([html.Div(id="cmp-only-a-title", className="small fw-semibold mb-1"),
                 html.Div(id="cmp-only-a", className="dl-grid mb-2"),
                 html.Div(id="cmp-only-b-title", className="small fw-semibold mb-1"),
                 html.Div(id="cmp-only-b", className="dl-grid")], lg=7),
    ], className="mt-2")
    similarity = html.Div([
        html.Div([html.Span("Which layers represent the same thing", className="fw-semibold"),
                  html.Span("linear CKA of every layer of A with every layer of B, 2,000 images · "
                            "click a cell to show those two layers side by side above",
                            className="text-muted ms-2")], className="small mt-3 mb-1"),
        html.Div([dbc.Progress(id="cmp-cka-progress", value=0, style={"height": "4px", "width": "12rem"}),
                  html.Span(id="cmp-cka-status", className="small text-muted")],
                 className="d-flex align-items-center gap-2"),
        html.Div(dcc.Graph(id="cmp-cka-graph", config={"displayModeBar": False},
                           figure={"data": [], "layout": {"height": 10}}),
                 id="cmp-cka-wrap", hidden=True),
        html.Div(id="cmp-cka-sink", hidden=True),
        dcc.Store(id="cmp-cka-job"), dcc.Interval(id="cmp-cka-poll", interval=500, disabled=True),
        *paced_stores("cmp-cka-poll"),
    ])
    across = html.Div([
        html.Div([html.Span("When does a layer stop changing", className="fw-semibold"),
                  html.Span("CKA of one layer between every pair of the training run's snapshots "
                            "(epoch × epoch), 1,000 images", className="text-muted ms-2")],
                 className="small mt-3 mb-1"),
        html.Div([dbc.Select(id="cmp-epochs-layer", size="sm", options=[], style={"width": "10rem"}),
                  dbc.Button("CKA across epochs", id="cmp-epochs-run", size="sm", color="primary"),
                  dbc.Progress(id="cmp-epochs-progress", value=0, style={"height": "4px", "width": "12rem"}),
                  html.Span(id="cmp-epochs-status", className="small text-muted")],
                 className="d-flex align-items-center gap-2"),
        html.Div(dcc.Graph(id="cmp-epochs-graph", config={"displayModeBar": False},
                           figure={"data": [], "layout": {"height": 10}}),
                 id="cmp-epochs-wrap", hidden=True),
        dcc.Store(id="cmp-epochs-job"), dcc.Interval(id="cmp-epochs-poll", interval=700, disabled=True),
        *paced_stores("cmp-epochs-poll"),
    ], id="cmp-epochs-section", hidden=True)
    stores = [dcc.Store(id="cmp-request"), dcc.Store(id="cmp-payload"),
              dcc.Interval(id="cmp-poll", interval=400, disabled=True), *paced_stores("cmp-poll"),
              html.Div(id="cmp-mounted", hidden=True)]
    help_text = html.Span("one slider drives both · click an image to focus it",
                          className="small text-muted")
    return card("Compare two models on the same images",
                [controls, progress, animations, similarity, across, matrices, rest, *stores], "compare-card",
                extra=help_text)


def cka_figure(result, height: int | None = None) -> go.Figure:
    """The CKA heatmap: A's layers down the rows (input at the top), B's along the columns."""
    z = [[None if v != v else round(float(v), 3) for v in row] for row in result.matrix]
    n_a, n_b = len(result.names_a), len(result.names_b)
    fig = go.Figure(go.Heatmap(
        z=z, x=list(result.names_b), y=list(result.names_a), zmin=0, zmax=1, colorscale="Viridis",
        xgap=1, ygap=1, colorbar=dict(title=dict(text="CKA", font=dict(size=10)), thickness=10),
        hovertemplate="A %{y} · B %{x}<br>CKA <b>%{z:.2f}</b><br>click: show both<extra></extra>"))
    fig.update_layout(
        height=height or max(260, 18 * n_a + 110), margin=dict(l=8, r=8, t=8, b=8),
        plot_bgcolor="white", paper_bgcolor="white",
        xaxis=dict(type="category", title=dict(text=f"B · {result.model_b}", font=dict(size=11)),
                   tickangle=-45, tickfont=dict(size=9), fixedrange=True),
        yaxis=dict(type="category", title=dict(text=f"A · {result.model_a}", font=dict(size=11)),
                   autorange="reversed", tickfont=dict(size=9), fixedrange=True))
    return fig


def epochs_figure(result) -> go.Figure:
    """CKA of one layer between a run's snapshots (epoch × epoch): the same heatmap."""
    fig = cka_figure(result, height=max(220, 22 * len(result.names_a) + 110))
    fig.update_traces(hovertemplate="%{y} · %{x}<br>CKA <b>%{z:.2f}</b><extra></extra>")
    layer = result.model_a.split(": ")[-1]
    fig.update_layout(xaxis_title_text=f"{layer} at each snapshot", yaxis_title_text="snapshot")
    return fig


def graph(figure: go.Figure) -> dcc.Graph:
    return dcc.Graph(figure=figure, config={"displayModeBar": False})


def matrix_figure(cm: np.ndarray, names, title: str, diverging: bool = False) -> go.Figure:
    """A confusion matrix (counts), or the difference of two (B − A, red where B has more)."""
    names = list(names)
    if diverging:
        top = max(int(np.abs(cm).max()), 1)
        scale = dict(colorscale="RdBu_r", zmin=-top, zmax=top)
    else:
        scale = dict(colorscale="Blues", zmin=0, zmax=max(int(cm.max()), 1))
    fig = go.Figure(go.Heatmap(
        z=cm.tolist(), x=names, y=names, text=cm.tolist(), texttemplate="%{text}", showscale=False,
        xgap=1, ygap=1, textfont=dict(size=9), **scale,
        hovertemplate="true %{y} → predicted %{x}: <b>%{z}</b><extra></extra>"))
    fig.update_layout(
        title=dict(text=title, font=dict(size=12), x=0.02), height=330,
        margin=dict(l=8, r=8, t=30, b=8), plot_bgcolor="white", paper_bgcolor="white",
        xaxis=dict(type="category", tickangle=-45, tickfont=dict(size=9), fixedrange=True),
        yaxis=dict(type="category", autorange="reversed", tickfont=dict(size=9), fixedrange=True,
                   scaleanchor="x", constrain="domain"))
    return fig


def per_class_figure(acc_a, acc_b, names, label_a: str, label_b: str) -> go.Figure:
    names = list(names)
    fig = go.Figure([
        go.Bar(x=names, y=np.asarray(acc_a).tolist(), name=f"A · {label_a}", marker_color="#4e79a7"),
        go.Bar(x=names, y=np.asarray(acc_b).tolist(), name=f"B · {label_b}", marker_color="#f28e2b"),
    ])
    fig.update_layout(barmode="group", height=300, title=dict(text="accuracy per class", font=dict(size=12)),
                      margin=dict(l=8, r=8, t=30, b=8), yaxis=dict(range=[0, 1], tickformat=".0%"),
                      legend=dict(orientation="h", y=-0.25, font=dict(size=10)),
                      xaxis=dict(type="category", tickfont=dict(size=9)), plot_bgcolor="white")
    return fig


def disagreement_tiles(indices, labels, predicted, confidence, names, data_key, focus):
    """Clickable thumbnails (they set the focus, as the data view's do), framed in the
    colour of the wrong model's prediction."""
    return grid_tiles(indices[:N_TILES], labels, predicted, confidence, names, data_key, focus,
                      tile_type="cmp-tile")
