"""Adversarial strip and what-if view: the image in focus, pushed towards a target step by
step, or edited by hand, with the model's answer beside it."""

from __future__ import annotations

import dash_bootstrap_components as dbc
import numpy as np
import plotly.graph_objects as go
from dash import dcc, html

from deepling.methods import Channel
from deepling.methods.adversarial import DEFAULT_STEP_SIZE, DEFAULT_STEPS
from deepling.service.focus import strip_layers
from deepling.web.views import class_image
from deepling.web.views.common import card, class_color, class_picker, thumbnail
from deepling.web.views.figures import probability_bars
from deepling.web.views.heatmaps import heat


def layout(ctx) -> dbc.Card:
    names = ctx["workspace"].class_names(ctx["model_id"], ctx["data_id"])
    layers = strip_layers(ctx["adapter"])
    focus = html.Div([
        html.Div(id="focus-image", className="dl-focus"),
        dcc.Upload(html.Span("or drop / choose a picture"), id="picture-upload",
                   className="dl-picture-drop small text-muted", accept="image/*",
                   max_size=20 * 1024 * 1024),
        html.Div(id="picture-error", className="small text-danger"),
        # the images picked by box/lasso in the layer animation (the ``subset`` store)
        html.Div(id="strip-subset", className="dl-strip-subset"),
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
        class_picker("strip-target-class",
                     [{"label": "auto (predicted if wrong)", "value": "auto"}] +
                     [{"label": n, "value": str(k)} for k, n in enumerate(names)], "auto",
                     style={"width": "9rem"}),
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


# --- what the callbacks fill in ---------------------------------------------------------
SUBSET_SHOWN = 12  # picked images offered as the strip's image; the data view lists them all


def subset_chooser(subset, data_key: str, focus=None) -> list:
    """Thumbnails of the picked images (box/lasso in the layer animation): click one to
    make it the image in focus, whose strip this view shows."""
    if not subset:
        return []
    shown = sorted(int(i) for i in subset)[:SUBSET_SHOWN]
    more = f", the first {len(shown)} here (all in the data view)" if len(subset) > len(shown) else ""
    return [
        html.Div(f"{len(subset):,} picked: click one", className="small text-muted mt-2",
                 title=f"images picked by box or lasso in the layer animation{more}"),
        html.Div([html.Button(
            html.Img(src=f"/api/images/{data_key}/{i}.png", width=28, height=28, alt=f"#{i}",
                     className="dl-pixelated"),
            id={"type": "strip-pick", "index": i}, title=f"image #{i}",
            className="dl-tile dl-strip-pick" + (" dl-data-focused" if i == focus else ""))
            for i in shown], className="d-flex flex-wrap gap-1"),
    ]



def focus_card(pixels, caption: str, label, probs, names, label_names=None) -> list:
    """The image in focus, its true class (when known) and the model's answer; labels are
    named by ``label_names`` where they are not the model's classes (then no right/wrong)."""
    pred = int(np.argmax(probs))
    lines = [html.Div(caption, className="small text-muted")]
    if label is not None:
        true_name = (label_names or names)[label]
        lines.append(html.Div(["true ", html.B(true_name, style={"color": class_color(label)})]))
    wrong = label not in (None, pred) and not label_names
    lines.append(html.Div(["predicted ", html.B(f"output {names[pred]}" if label_names and names[pred].isdigit() else names[pred],
                                                style={"color": class_color(pred)}),
                           f" {probs[pred]:.0%}"], className="text-danger" if wrong else ""))
    return [thumbnail(pixels, 128), html.Div(lines, className="small mt-1")]


def whatif_result(before, after, names, label) -> tuple[go.Figure, str]:
    """The probability bars before and after the edits, and a one-line summary."""
    bars = probability_bars(before, names, label, compare=after, compare_name="edited")
    p0, p1 = int(before.argmax()), int(after.argmax())
    summary = (f"original: {names[p0]} {before[p0]:.0%} → edited: {names[p1]} {after[p1]:.0%}"
               + ("" if p0 == p1 else " (the prediction changed)"))
    return bars, summary


def target_name(strip, names) -> str:
    return str(strip.target) if isinstance(strip.target, Channel) else names[int(strip.target)]


def render_strip(strip, names, label):
    """Frames with their change maps (one shared scale) and the probability line."""
    vmax = float(strip.delta_magnitude.max()) or 1.0
    cells = []
    for k in range(len(strip.frames)):
        p = int(strip.predicted[k])
        flipped = strip.flip_frame is not None and k >= strip.flip_frame
        cells.append(html.Div([
            thumbnail(strip.frames[k], 58, title=f"step {strip.steps[k]}"),
            thumbnail(heat(strip.delta_magnitude[k], vmax), 58,
                      title=f"change ×{255 / vmax:.0f}: max {strip.delta_magnitude[k].max():.0f} levels"),
            html.Div(f"step {strip.steps[k]}", className="text-muted"),
            html.Div([html.B(names[p], style={"color": class_color(p)}),
                      f" {strip.probabilities[k, p]:.0%}"], className="dl-flip" if flipped else ""),
        ], className="dl-strip-cell small"))
    target = target_name(strip, names)
    if strip.flip_step is not None:
        flip = f"the prediction flips at step {strip.flip_step}"
    elif not isinstance(strip.target, Channel) and int(strip.predicted[0]) == int(strip.target):
        # the default for a misclassified image: push on to see what the model sees in it
        flip = f"already predicted {target}: the strip shows what makes it {target}"
    else:
        flip = "the prediction does not flip"
    head = html.Div([f"towards {target} ({strip.score_name}) · {flip} · change maps share one "
                     f"scale (max {vmax:.0f} levels)"] + [html.Div(n) for n in strip.notes],
                    className="small text-muted mb-1")
    return html.Div([head, html.Div(cells, className="dl-strip-row"),
                     dcc.Graph(figure=probability_lines(strip, names, label),
                               config={"displayModeBar": False})])


def probability_lines(strip, names, label) -> go.Figure:
    """Probabilities per frame; frames are evenly spaced on x and labelled with their step
    (the strip takes frames at geometrically growing steps)."""
    frames = list(range(len(strip.steps)))
    fig = go.Figure()
    shown = []
    for k, role in ((label, "true"), (int(strip.predicted[0]), "predicted"),
                    (None if isinstance(strip.target, Channel) else int(strip.target), "target")):
        if k is None or k in [s for s, _ in shown]:
            continue
        shown.append((k, role))
        fig.add_scatter(x=frames, y=strip.probabilities[:, k], mode="lines+markers",
                        name=f"{names[k]} ({role})", line=dict(color=class_color(k), width=2))
    if strip.flip_frame is not None:
        fig.add_vline(x=strip.flip_frame - 0.5, line=dict(color="#999", dash="dot"))
    fig.update_layout(height=170, margin=dict(l=8, r=8, t=28, b=8), plot_bgcolor="white",
                      yaxis=dict(range=[0, 1.02], tickformat=".0%", gridcolor="#eee",
                                 tickvals=[0, 0.5, 1]),
                      xaxis=dict(title=None, gridcolor="#eee", tickvals=frames,
                                 ticktext=[f"step {s}" for s in strip.steps]),
                      legend=dict(orientation="h", x=0, y=1.02, yanchor="bottom"))
    return fig


def image_figure(pixels) -> go.Figure:
    """The edited image as a clickable figure (clicks place the occlusion patch)."""
    img = pixels if pixels.shape[-1] == 3 else np.repeat(pixels, 3, axis=-1)
    fig = go.Figure(go.Image(z=img, hovertemplate="x %{x}, y %{y}<extra>click: place the patch</extra>"))
    fig.update_layout(width=170, height=170, margin=dict(l=0, r=0, t=0, b=0),
                      xaxis=dict(visible=False), yaxis=dict(visible=False))
    return fig
