"""The Shape workshop: pick shapes, a model and settings, train, and compare runs.

ShapeShop's four numbered steps (Hohman et al., CHI 2017) and one result row per run,
newest on top: the model and settings, training accuracy and loss, and per class the image
that maximises the class beside the class's own image with |Pearson r|.
"""

from __future__ import annotations

import dash_bootstrap_components as dbc
import numpy as np
from dash import dcc, html

from deepling.service.shapes import DRAWN
from deepling.shapes import BUILDERS, SHAPES, palette
from deepling.shapes.workshop import DEFAULT_EPOCHS, IMAGE_START, IMAGE_STEP_SIZE
from deepling.web.views.common import image_uri, thumbnail

STARTS = (("dark gray", "dark gray"), ("black", "black"), ("gray", "gray"), ("white", "white"),
          ("noise", "noise"), ("blurred noise", "blurred noise"))
DEFAULT_CLASSES = ("vertical line", "horizontal line")


def layout() -> html.Div:
    return html.Div([
        dcc.Store(id="shape-custom", storage_type="session"),  # drawn classes [{name, pixels}]
        dcc.Store(id="shape-runs", storage_type="session"),    # [{key, n, settings}], newest first
        dcc.Store(id="shape-request"),                         # the run being computed
        dcc.Store(id="shape-drawn"),                           # the canvas, when "Add" is pressed
        dcc.Store(id="shape-palette", data={k: v[:, :, 0].ravel().tolist()
                                            for k, v in palette().items()}),
        dcc.Interval(id="shape-poll", interval=300, disabled=True),
        dbc.Row([
            dbc.Col(_step(1, "Select training data", _classes()), lg=5, className="mb-3"),
            dbc.Col(_step(2, "Select the model", dbc.RadioItems(
                id="shape-model", value="mlp", className="small",
                options=[{"label": label, "value": key} for key, (label, _) in BUILDERS.items()])),
                lg=2, className="mb-3"),
            dbc.Col(_step(3, "Hyper-parameters", _knobs()), lg=3, className="mb-3"),
            dbc.Col(_step(4, "Train and visualise", _run()), lg=2, className="mb-3"),
        ]),
        html.Div(id="shape-results"),
    ], className="dl-shapes")


def _step(n: int, title: str, body) -> dbc.Card:
    head = html.Div([html.Span(str(n), className="dl-step-number"), html.H6(title, className="mb-0")],
                    className="d-flex align-items-center gap-2")
    return dbc.Card([dbc.CardHeader(head), dbc.CardBody(body)], className="dl-card h-100",
                    id=f"shape-step-{n}")


def shape_options(custom=None) -> list[dict]:
    """Checklist options: every palette shape, then this session's drawn classes."""
    opts = [{"label": _option_label(img, name), "value": name} for name, img in palette().items()]
    for c in custom or []:
        img = np.asarray(c["pixels"], np.uint8).reshape(28, 28, 1)
        opts.append({"label": _option_label(img, c["name"]), "value": DRAWN + c["name"]})
    return opts


def _option_label(img, name):
    return html.Span([thumbnail(img, 36, title=name), html.Span(name, className="dl-shape-name")],
                     className="dl-shape-option")


def _classes():
    return html.Div([
        html.Div("Click shapes to toggle them; each is one class (at least two).",
                 className="small text-muted mb-1"),
        dbc.Checklist(id="shape-classes", options=shape_options(), value=list(DEFAULT_CLASSES),
                      inline=True, className="dl-shape-pick", input_class_name="dl-shape-check"),
        html.Details([
            html.Summary("Draw a class", className="small"),
            html.Div([
                # assets/shape_canvas.js draws on it (28×28 pixels, shown enlarged).
                html.Canvas(id="shape-canvas", width=28, height=28, className="dl-shape-canvas"),
                html.Div([
                    dbc.Input(id="shape-draw-name", placeholder="class name", size="sm",
                              maxLength=24),
                    dbc.Select(id="shape-draw-from", size="sm", value="blank",
                               options=[{"label": "start from: blank", "value": "blank"}] +
                               [{"label": f"start from: {n}", "value": n} for n in SHAPES]),
                    html.Div([
                        dbc.Button("Clear", id="shape-draw-clear", size="sm", color="secondary",
                                   outline=True),
                        dbc.Button("Add as class", id="shape-draw-add", size="sm", color="primary"),
                    ], className="d-flex gap-2"),
                    html.Div("Drag to draw, shift-drag to erase.", className="small text-muted"),
                    html.Div(id="shape-draw-status", className="small text-danger"),
                ], className="d-flex flex-column gap-2"),
            ], className="d-flex gap-3 mt-2"),
        ], className="mt-2"),
    ])


def _knobs():
    def row(label, control):
        return dbc.InputGroup([dbc.InputGroupText(label, className="dl-shape-knob"), control],
                              size="sm", className="mb-2")

    return html.Div([
        row("initial image", dbc.Select(id="shape-start", value=IMAGE_START,
                                        options=[{"label": a, "value": b} for a, b in STARTS])),
        row("ascent step", dbc.Input(id="shape-step-size", type="number", min=0.005, max=2,
                                     step=0.005, value=IMAGE_STEP_SIZE)),
        row("epochs", dbc.Input(id="shape-epochs", type="number", min=1, max=200, step=1,
                                value=DEFAULT_EPOCHS)),
    ])


def _run():
    return html.Div([
        dbc.Button("Train and visualise", id="shape-run", color="primary", className="w-100"),
        dbc.Progress(id="shape-progress", value=0, className="mt-2 dl-shape-progress"),
        html.Div(id="shape-status", className="small text-muted mt-1"),
    ])


def result_row(run: dict, arrays: dict) -> dbc.Card:
    """One run: settings, accuracy and loss, and per class the generated and own image."""
    s = run["settings"]
    names = [str(n) for n in arrays["names"]]
    corr = arrays["correlations"]
    link = f"/?model={arrays['model_id']}&data={arrays['data_id']}"
    head = html.Div([
        html.B(f"Run {run['n']}", className="me-2"),
        html.Span(f"{s['model'].upper()} · {len(names)} classes · start {s['start']} · "
                  f"ascent step {s['step_size']:g} · {s['epochs']} epochs", className="me-3"),
        html.Span(f"training accuracy {float(arrays['accuracy']):.1%} · loss "
                  f"{float(arrays['loss']):.4f}", className="dl-shape-acc me-3"),
        html.Span(f"mean |r| {float(np.mean(corr)):.2f}", className="me-auto"),
        html.A("open this model in the other views", href=link, target="_blank",
               className="small", title="layer animation, strip, architecture on the shapes"),
    ], className="d-flex align-items-center flex-wrap small")
    cells = [html.Div([
        html.Div([html.Img(src=image_uri(arrays["generated"][k]), width=64, height=64,
                           className="dl-pixelated dl-shape-generated", title="generated"),
                  html.Img(src=image_uri(arrays["class_images"][k]), width=64, height=64,
                           className="dl-pixelated", title="class image")],
                 className="d-flex gap-1"),
        html.Div([html.Span(name, className="dl-shape-name"),
                  html.Span(f"|r| {corr[k]:.2f}", className="dl-shape-r")],
                 className="d-flex justify-content-between small"),
    ], className="dl-shape-cell") for k, name in enumerate(names)]
    return dbc.Card(dbc.CardBody([head, html.Div(cells, className="d-flex flex-wrap gap-3 mt-2")]),
                    className="dl-card mb-2 dl-shape-row")


def results(rows) -> list:
    if not rows:
        return [html.Div("Each run adds a row here, newest on top: the model's image of each class "
                         "(left) beside the class's own image (right), with |Pearson r| between "
                         "the two.", className="small text-muted")]
    return rows
