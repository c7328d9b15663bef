"""Runs from outside the app in the Training card, and the histograms of any run.

* **Watch a run**: the runs of ``deepling serve --runs DIR`` (run folders written by
  ``deepling.keras.Monitor``, ``ModelCheckpoint`` folders); choosing one shows it in the
  card's charts, bars and filter embedding, and in the layer animation's across-training
  mode, exactly as an in-app run; its model (the newest vetted snapshot) opens in every view.
* **Histograms**: per layer, ridgelines over the run (the start and each epoch's end) of the
  weights, the activations and the gradients on the probe batch; flags for dead filters
  and vanishing or exploding gradients (thresholds in :mod:`deepling.training.probe`).
"""

from __future__ import annotations

import dash_bootstrap_components as dbc
import numpy as np
import plotly.graph_objects as go
from dash import dcc, html
from plotly.subplots import make_subplots

from deepling.training.probe import EXPLODING, VANISHING
from deepling.web.pacing import paced_stores

RUNS_POLL_MS = 2000
WATCH_POLL_MS = 500    # the Training card's poll while it watches a run folder (paced: never
                       # faster than the server answers)
KIND_TITLES = {"weights": "weights", "activations": "activations (probe batch)",
               "gradients": "gradients (probe batch)"}
_COLORS = ("#4e79a7", "#f28e2b", "#59a14f")


def watch_row() -> html.Div:
    """The run picker (filled by a poll of the runs folder) and the open-its-model link."""
    return html.Div([
        html.Span("Watch a run", className="small fw-bold me-2"),
        dbc.Select(id="train-watch", size="sm", style={"maxWidth": "28rem"}, options=[],
                   placeholder="runs of deepling serve --runs DIR, and checkpoint folders"),
        html.Span(id="train-watch-status", className="small text-muted ms-2"),
        html.Span(id="train-watch-open", className="small ms-2"),
        dcc.Interval(id="train-runs-poll", interval=RUNS_POLL_MS),
        *paced_stores("train-runs-poll"),
        dcc.Store(id="train-watch-vetted"),  # [run, epoch] of the newest vetted snapshot shown
        dcc.Store(id="train-watch-retry"),   # the runs list asks to watch the wanted run again
    ], className="d-flex align-items-center mb-2", id="train-watch-row")


def histogram_block() -> dbc.Row:
    return dbc.Row([dbc.Col([
        html.Div([html.Span("Histograms of ", className="small text-muted me-1"),
                  dbc.Select(id="train-hist-layer", size="sm", style={"width": "9rem"}, options=[]),
                  html.Span(id="train-hist-flags", className="small ms-3")],
                 className="d-flex align-items-center"),
        dcc.Graph(id="train-hist", figure=empty("histograms appear with the first probe"),
                  style={"height": "320px"}, config={"displayModeBar": False}),
    ])], className="g-2 mt-1")


def run_options(runs: list[dict]) -> list[dict]:
    out = []
    for r in runs:
        state = r.get("state", "")
        label = f"{r['name']} — {r.get('kind', '')}, {state}"
        if state == "refused":
            label = f"{r['name']} — refused: {r.get('message', '')[:120]}"
        out.append({"label": label, "value": r["id"], "disabled": state == "refused"})
    return out


def empty(message: str) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(margin=dict(l=10, r=10, t=10, b=10), plot_bgcolor="white",
                      paper_bgcolor="white", xaxis=dict(visible=False), yaxis=dict(visible=False),
                      annotations=[dict(text=message, showarrow=False, font=dict(color="#888"),
                                        xref="paper", yref="paper", x=0.5, y=0.5)])
    return fig


def ridgeline_figure(series: dict, layer: str) -> go.Figure:
    """Three ridgelines side by side (weights, activations, gradients): one row per epoch,
    oldest at the bottom, each row the histogram over that tensor's own range (heights are
    log(1 + count), each row scaled to its maximum, so a spike at 0 leaves the rest visible)."""
    kinds = [k for k in KIND_TITLES if series.get(k)]
    if not kinds:
        return empty(f"no histograms of {layer} yet")
    fig = make_subplots(rows=1, cols=len(kinds), subplot_titles=[KIND_TITLES[k] for k in kinds],
                        horizontal_spacing=0.06)
    for c, kind in enumerate(kinds, start=1):
        rows = series[kind]
        for i, (label, lo, hi, counts) in enumerate(rows):
            counts = np.asarray(counts, float)
            edges = np.linspace(lo, max(hi, lo + 1e-12), len(counts) + 1)
            centers = (edges[:-1] + edges[1:]) / 2
            h = np.log1p(counts)
            h = h / h.max() * 1.6 if h.max() > 0 else h
            x = np.concatenate([[centers[0]], centers, [centers[-1]]])
            y = i + np.concatenate([[0], h, [0]])
            fig.add_trace(go.Scatter(
                x=x, y=y, mode="lines", fill="toself", line=dict(width=1, color=_COLORS[c - 1]),
                fillcolor=_fade(_COLORS[c - 1], 0.25 + 0.6 * (i + 1) / len(rows)),
                name=label, showlegend=False,
                text=[label] * len(x), customdata=np.concatenate([[0], counts, [0]]),
                hovertemplate="%{text}: %{customdata:.0f} values near %{x:.3g}<extra></extra>"),
                row=1, col=c)
        fig.update_yaxes(tickmode="array", tickvals=list(range(len(rows))),
                         ticktext=[r[0] for r in rows], row=1, col=c, showgrid=False,
                         showticklabels=c == 1)
        fig.update_xaxes(gridcolor="#eee", exponentformat="power", row=1, col=c)
    fig.update_layout(margin=dict(l=60, r=10, t=24, b=24), plot_bgcolor="white",
                      paper_bgcolor="white", uirevision=f"hist-{layer}")
    fig.update_annotations(font=dict(size=11))
    return fig


def flags_text(series: dict, layer: str) -> str:
    parts = []
    dead = series.get("dead") or []
    if dead:
        shown = ", ".join(str(i) for i in dead[:12]) + (" …" if len(dead) > 12 else "")
        parts.append(f"⚠ {len(dead)} dead filter(s) of {layer} (0 on the whole probe batch): {shown}")
    flag, mean = series.get("flag"), series.get("mean_gradient")
    if flag == "vanishing":
        parts.append(f"⚠ vanishing gradient: mean |gradient| {mean:.2g} < {VANISHING:g}")
    elif flag == "exploding":
        parts.append(f"⚠ exploding gradient: mean |gradient| {mean:.2g} > {EXPLODING:g}")
    if not parts and mean is not None:
        parts.append(f"no dead filters; mean |gradient| {mean:.2g} (flags below {VANISHING:g} "
                     f"or above {EXPLODING:g})")
    return " · ".join(parts)


def _fade(hex_color: str, alpha: float) -> str:
    r, g, b = (int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha:.2f})"
