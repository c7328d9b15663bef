"""Adversarial strip and what-if view: the image in focus, pushed towards a target step by
step, or edited by hand, with the model's answer beside it."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import dcc, html

from deepling.methods.adversarial import DEFAULT_STEP_SIZE, DEFAULT_STEPS
from deepling.web.views import class_image
from deepling.web.views.common import card


def layout(ctx) -> dbc.Card:
    names = ctx["workspace"].class_names(ctx["model_id"], ctx["data_id"])
    layers = [l.name for l in ctx["adapter"].model.layers[1:]
              if len(getattr(l.output, "shape", ())) in (2, 4)]
    focus = html.Div([
        html.Div(id="focus-image", className="dl-focus"),
        dcc.Upload(html.Span("or drop / choose a picture"), id="picture-upload",
                   className="dl-picture-drop small text-muted", accept="image/*",
                   max_size=20 * 1024 * 1024),
        html.Div(id="picture-error", className="small text-danger"),
        dcc.Store(id="picture"),  # an uploaded picture (PNG data URI), instead of a dataset image
    ], className="dl-focus-col")
    return card("Adversarial strip · what-if", html.Div([
        focus,
        html.Div(dbc.Tabs([
            dbc.Tab(_strip_tab(names, layers), label="Adversarial strip", tab_id="strip"),
            dbc.Tab(_whatif_tab(), label="What-if", tab_id="whatif"),
            dbc.Tab(class_image.tab(names, layers), label="Class image", tab_id="classimage"),
        ], id="strip-tabs", active_tab="strip", className="dl-strip-tabs"),
            className="flex-grow-1", style={"minWidth": 0}),
    ], className="d-flex gap-3 align-items-start"), "strip-card")


def _strip_tab(names, layers):
    target = html.Div([
        dbc.Select(id="strip-target-kind", value="class", size="sm", style={"width": "7.5rem"},
                   options=[{"label": "class", "value": "class"},
                            {"label": "neuron", "value": "channel"}]),
        dbc.Select(id="strip-target-class", size="sm", style={"width": "9rem"},
                   options=[{"label": "auto (predicted if wrong)", "value": "auto"}] +
                   [{"label": n, "value": str(k)} for k, n in enumerate(names)], value="auto"),
        dbc.Select(id="strip-target-layer", size="sm", style={"width": "8rem", "display": "none"},
                   options=[{"label": n, "value": n} for n in layers],
                   value=layers[len(layers) // 2] if layers else None),
        dbc.Input(id="strip-target-channel", type="number", min=0, step=1, value=0, size="sm",
                  style={"width": "5rem", "display": "none"}),
    ], className="d-flex gap-2 align-items-center")
    knobs = html.Div([
        _knob("steps", "strip-steps", 8, 200, 1, DEFAULT_STEPS),
        _knob("step size", "strip-step-size", 0.25, 8, 0.25, DEFAULT_STEP_SIZE),
        _knob("max change", "strip-max-change", 0, 255, 1, 0, "0 = unbounded"),
    ], className="d-flex gap-2 flex-wrap")
    return html.Div([
        html.Div([target, dbc.Button("Make strip", id="strip-run", size="sm", color="primary"),
                  html.Button("PNG", id="strip-png", className="btn btn-sm btn-outline-secondary"),
                  dcc.Download(id="strip-download")],
                 className="d-flex gap-2 align-items-center flex-wrap mt-2"),
        knobs,
        dcc.Loading(html.Div(id="strip-output", className="mt-2"), type="dot"),
    ])


def _whatif_tab():
    return html.Div([
        html.Div([
            _knob("brightness", "whatif-brightness", 0.2, 2, 0.05, 1.0),
            _knob("hue °", "whatif-hue", -180, 180, 5, 0),
            _knob("rotate °", "whatif-rotate", -180, 180, 5, 0),
            _knob("blur σ", "whatif-blur", 0, 4, 0.1, 0),
            _knob("FGSM ε", "whatif-fgsm", 0, 32, 0.5, 0, "pixel levels of 255"),
            _knob("patch px", "whatif-patch", 0, 32, 1, 8, "occlusion size; click the image to place it"),
        ], className="d-flex gap-2 flex-wrap mt-2"),
        dbc.Checklist(id="whatif-flip", inline=True, className="small mt-1",
                      options=[{"label": "flip horizontally", "value": "horizontal"},
                               {"label": "flip vertically", "value": "vertical"}], value=[]),
        html.Div([
            dcc.Graph(id="whatif-image", config={"displayModeBar": False}, className="dl-whatif-image"),
            dcc.Graph(id="whatif-probs", config={"displayModeBar": False}, className="flex-grow-1"),
        ], className="d-flex gap-2 align-items-start"),
        html.Div([html.Button("reset edits", id="whatif-reset", className="btn btn-sm btn-link p-0"),
                  html.Span(id="whatif-summary", className="small text-muted ms-2")]),
        dcc.Store(id="whatif-patch-at"),  # [x, y] of the occlusion patch, image pixels
    ])


def _knob(label, knob_id, lo, hi, step, value, title=None):
    group = dbc.InputGroup([dbc.InputGroupText(label),
                            dbc.Input(id=knob_id, type="number", min=lo, max=hi, step=step,
                                      value=value, debounce=True)], size="sm")
    return html.Div(group, title=title, style={"width": "10.5rem"})
