"""The class-image panel (a tab of the strip / what-if card): the image the open model
scores highest for a class, or for a channel of a layer, from a chosen start."""

from __future__ import annotations

import dash_bootstrap_components as dbc
import numpy as np
import plotly.graph_objects as go
from dash import dcc, html

from deepling.methods.class_image import (DEFAULT_JITTER, DEFAULT_STEP_SIZE, DEFAULT_STEPS,
                                          DEFAULT_TV_WEIGHT)
from deepling.web.views.common import class_picker, image_uri

STARTS = (("gray", "gray"), ("black", "black"), ("white", "white"), ("noise", "noise"),
          ("blurred noise", "blurred noise"), ("the image in focus", "focus"))


def tab(names, layers) -> html.Div:
    target = html.Div([
        dbc.Select(id="ci-kind", value="class", size="sm", style={"width": "7.5rem"},
                   options=[{"label": "class", "value": "class"},
                            {"label": "channel", "value": "channel"}]),
        class_picker("ci-class", [{"label": n, "value": str(k)} for k, n in enumerate(names)],
                     "0", style={"width": "9rem"}),
        dbc.Select(id="ci-layer", size="sm", style={"width": "8rem", "display": "none"},
                   options=[{"label": n, "value": n} for n in layers],
                   value=layers[len(layers) // 2] if layers else None),
        dbc.Input(id="ci-channel", type="number", min=0, step=1, value=0, size="sm",
                  style={"width": "5rem", "display": "none"}),
        dbc.Select(id="ci-start", value="gray", size="sm", style={"width": "10rem"},
                   options=[{"label": f"start: {a}", "value": b} for a, b in STARTS]),
        dbc.Button("Generate", id="ci-run", size="sm", color="primary"),
    ], className="d-flex gap-2 align-items-center flex-wrap mt-2")
    knobs = html.Div([
        _knob("steps", "ci-steps", 1, 2000, 1, DEFAULT_STEPS),
        _knob("step size", "ci-step-size", 0.001, 1, 0.005, DEFAULT_STEP_SIZE, "Adam step, logit units"),
        _knob("jitter px", "ci-jitter", 0, 8, 1, DEFAULT_JITTER, "random shift before each step"),
        _knob("TV weight", "ci-tv", 0, 100, 0.1, DEFAULT_TV_WEIGHT, "total-variation penalty"),
    ], className="d-flex gap-2 flex-wrap mt-2")
    return html.Div([
        target, knobs,
        html.Div([dbc.Progress(id="ci-progress", value=0, className="flex-grow-1 dl-test-hidden"),
                  html.Span(id="ci-status", className="small text-muted")],
                 className="d-flex gap-2 align-items-center mt-2"),
        html.Div(id="ci-output", className="mt-2"),
        dcc.Store(id="ci-request"),
        dcc.Interval(id="ci-poll", interval=400, disabled=True),
    ])


def _knob(label, knob_id, lo, hi, step, value, title=None):
    group = dbc.InputGroup([dbc.InputGroupText(label),
                            dbc.Input(id=knob_id, type="number", min=lo, max=hi, step=step,
                                      value=value)], size="sm")
    return html.Div(group, title=title, style={"width": "10.5rem"})


def result(arrays: dict, what: str, score_name: str) -> html.Div:
    """The generated image, enlarged, and its score over the steps."""
    image, scores = arrays["image"], np.asarray(arrays["scores"], float)
    p = float(arrays["probability"])
    fig = go.Figure(go.Scatter(y=scores, mode="lines", line=dict(color="#4e79a7"),
                               hovertemplate="step %{x}: %{y:.2f}<extra></extra>"))
    fig.update_layout(height=150, margin=dict(l=40, r=8, t=22, b=28), plot_bgcolor="white",
                      paper_bgcolor="white", title=dict(text=f"{score_name} over the steps",
                                                        font=dict(size=11), x=0.02),
                      xaxis=dict(title=None, fixedrange=True), yaxis=dict(fixedrange=True))
    caption = [html.B(what), f" · {score_name} {scores[0]:.2f} → {scores[-1]:.2f}"]
    if np.isfinite(p):
        caption.append(f" · probability {p:.1%}")
    return html.Div([
        html.Img(src=image_uri(image), width=128, height=128, className="dl-pixelated",
                 id="ci-image"),
        html.Div([html.Div(caption, className="small"),
                  dcc.Graph(figure=fig, config={"displayModeBar": False})],
                 className="flex-grow-1", style={"minWidth": 0}),
    ], className="d-flex gap-3 align-items-start")
