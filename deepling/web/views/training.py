"""Training view: start a run, watch it learn, freeze layers, retrain on a selection.

The charts are built once per run and then only extended (``extendData``) or patched with
the small deltas the run publishes, a couple of times per second at most:

* loss and accuracy per batch, validation per epoch, with a vertical mark at every freeze;
* the time per epoch, each bar labelled with the layers frozen in it;
* the network view (as ReVACNN's): a bar per filter per layer, for the mean activation and
  the mean gradient over the batches since the last update; frozen layers in grey. A click
  on a layer freezes or unfreezes it; hovering a filter shows its activation map;
* the filter embedding of a conv layer (PivotMDS of its kernels, each point its filter).

One layer's projection across the epochs is a mode of the layer animation (its view and
``callbacks/animation.py``); this card only points there.
"""

from __future__ import annotations

import dash_bootstrap_components as dbc
import numpy as np
import plotly.graph_objects as go
from dash import dcc, html
from plotly.subplots import make_subplots

from deepling.web.pacing import paced_stores
from deepling.web.views.common import card, image_uri

POLL_MS = 700  # under two updates a second; a poll only extends and patches: cheap (paced:
               # a slow server is polled as fast as it answers, never over a running request)
_MARGIN = dict(l=40, r=10, t=24, b=30)
_LAYER_COLORS = ("#4e79a7", "#59a14f", "#f28e2b", "#b07aa1", "#76b7b2", "#e15759", "#9c755f",
                 "#edc948", "#ff9da7", "#bab0ac")
FROZEN_COLOR = "#c8c8c8"
GAP = 4  # empty bar slots between layers in the network view


def layout(ctx) -> html.Div:
    adapter = ctx["adapter"]
    conv = [l.name for l in adapter.model.layers if getattr(l, "kernel", None) is not None
            and len(l.kernel.shape) == 4]
    controls = dbc.Row([
        _field("Start from", dbc.Select(id="train-source", value="demo", size="sm", options=[
            {"label": "the demo CNN, fresh weights", "value": "demo"},
            {"label": f"a copy of {adapter.name}", "value": "copy"}])),
        # step 1: with min 64 and step 500, 3,000 failed the browser's step check and the
        # field sent nothing, so the run took the default (the "ignored" subset size)
        _field("Training images", dbc.Input(id="train-subset", type="number", value=5000,
                                            min=64, step=1, size="sm")),
        _field("Epochs", dbc.Input(id="train-epochs", type="number", value=5, min=1, max=100, size="sm")),
        _field("Batch", dbc.Input(id="train-batch", type="number", value=64, min=8, max=1024, size="sm")),
        _field("Learning rate", dbc.Input(id="train-lr", type="number", value=0.001, min=1e-6,
                                          max=1.0, step="any", size="sm")),
        _field("Optimiser", dbc.Select(id="train-optimizer", value="adam", size="sm", options=[
            {"label": o, "value": o} for o in ("adam", "adamw", "sgd", "rmsprop")])),
        dbc.Col(html.Div([
            dbc.Button("Start", id="train-start", color="primary", size="sm", className="me-1"),
            dbc.Button("Pause", id="train-pause", color="secondary", size="sm", className="me-1",
                       disabled=True),
            dbc.Button("Stop", id="train-stop", color="danger", size="sm", disabled=True),
        ], className="d-flex align-items-end h-100"), xs="auto"),
    ], className="g-2 mb-2")
    status = html.Div([
        html.Span(id="train-status", className="small"),
        html.Span(id="train-frozen", className="small text-muted ms-3"),
        html.Span(id="train-saved", className="small ms-3"),
    ], className="mb-2")
    charts = dbc.Row([
        dbc.Col(_graph("train-loss", curves_figure("loss")), md=4),
        dbc.Col(_graph("train-accuracy", curves_figure("accuracy")), md=4),
        dbc.Col(_graph("train-epochs-chart", epoch_time_figure()), md=4),
    ], className="g-2")
    network = dbc.Row([
        dbc.Col([html.Div("Network: a bar per filter — activation (top) and gradient (bottom) "
                          "in the last batches. Click a layer to freeze or unfreeze it.",
                          className="small text-muted"),
                 _graph("train-network", network_figure([]), height=300)], lg=9),
        dbc.Col([html.Div("hover a filter bar to see its activation map",
                          id="train-hover-caption", className="small text-muted"),
                 html.Img(id="train-hover-map", className="dl-pixelated", width=160, height=160,
                          alt="the hovered filter's activation map on the image in focus",
                          style={"background": "#eee"})], lg=3),
    ], className="g-2 mt-1")
    filters = dbc.Col([
        html.Div([html.Span("Filter embedding of ", className="small text-muted me-1"),
                  dbc.Select(id="train-filter-layer", size="sm", style={"width": "9rem"},
                             value=conv[0] if conv else None,
                             options=[{"label": n, "value": n} for n in conv])],
                 className="d-flex align-items-center"),
        _graph("train-filters", empty_figure("filters appear at the first snapshot"), height=280),
    ], lg=4)
    across = dbc.Col([
        html.Div("Across training", className="small fw-bold"),
        html.Div("A snapshot of the weights is kept per epoch. The layer animation above shows "
                 "any of them, and its across training mode animates one layer over the "
                 "epochs: each snapshot really projected, aligned on the epoch before, with "
                 "trails.", className="small text-muted"),
        dbc.Button("Show the epochs in the layer animation", id="train-across-open", size="sm",
                   color="secondary", className="mt-2"),
    ], lg=4)
    retrain = dbc.Col([
        html.Div("Retrain on a selection", className="small fw-bold"),
        html.Div("Pick images with the box or lasso in the layer animation or the confidence "
                 "embedding, then retrain a copy of the open model on them (each batch: the "
                 "selection plus random training images).", className="small text-muted"),
        dbc.InputGroup([dbc.InputGroupText("iterations"),
                        dbc.Input(id="train-retrain-iterations", type="number", value=30, min=1, max=500),
                        dbc.Button("Retrain on these", id="train-retrain", color="primary")],
                       size="sm", className="my-2"),
        html.Div(id="train-retrain-picked", className="small fw-semibold"),  # how many: #24
        html.Div(id="train-retrain-status", className="small"),
    ], lg=4)
    from deepling.web.views.runs import histogram_block, watch_row

    body = [
        watch_row(), controls, status, charts, network,
        dbc.Row([filters, across, retrain], className="g-3 mt-1"), histogram_block(),
        dcc.Interval(id="train-poll", interval=POLL_MS, disabled=True),
        *paced_stores("train-poll"),    # the poll's next request only after its last answer
        dcc.Interval(id="train-side-poll", interval=1000, disabled=True),
        dcc.Store(id="train-sid", storage_type="session"),  # this tab's id: one run per session
        dcc.Store(id="train-run"),      # {"run", "seq": 0, "model", "data", "layers"}: set on
                                        # start or watch only
        dcc.Store(id="train-cursor"),   # the poll's place in it: {"run", "seq", "step", …}
        dcc.Store(id="train-epoch"),    # the last finished epoch: filters follow it
        dcc.Store(id="train-side"),     # the retrain job in progress
    ]
    return card("Training", body, "training-card")


def _field(label, control):
    return dbc.Col([dbc.Label(label, className="small mb-0"), control], xs=6, md=2, lg="auto")


def _graph(graph_id, figure, height=240):
    return dcc.Graph(id=graph_id, figure=figure, style={"height": f"{height}px"},
                     config={"displayModeBar": False})


def empty_figure(message: str) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(margin=_MARGIN, plot_bgcolor="white", paper_bgcolor="white",
                      xaxis=dict(visible=False), yaxis=dict(visible=False),
                      annotations=[dict(text=message, showarrow=False, font=dict(color="#888"),
                                        xref="paper", yref="paper", x=0.5, y=0.5)])
    return fig


# --- live charts --------------------------------------------------------------------------
def curves_figure(kind: str) -> go.Figure:
    """Traces: 0 per batch, 1 validation per epoch, 2 freeze marks (on a 0..1 overlay axis)."""
    fig = go.Figure([
        # Every trace has a text array: Plotly can only extend attributes that are arrays.
        go.Scatter(x=[], y=[], text=[], mode="lines", name=f"batch {kind}",
                   line=dict(width=1, color="#4e79a7")),
        go.Scatter(x=[], y=[], text=[], mode="lines+markers", name=f"validation {kind}",
                   line=dict(width=2, color="#e15759")),
        go.Scatter(x=[], y=[], mode="lines", name="freeze", yaxis="y2", hoverinfo="text", text=[],
                   line=dict(width=1.5, color="#888", dash="dot")),
    ])
    fig.update_layout(margin=_MARGIN, plot_bgcolor="white", paper_bgcolor="white",
                      title=dict(text=kind, font=dict(size=12), x=0.02, y=0.98),
                      legend=dict(orientation="h", y=-0.2, font=dict(size=10)), uirevision=kind,
                      xaxis=dict(title=None, gridcolor="#eee"),
                      # accuracy lives in 0..1: a fixed axis reads the same from the first batch
                      # on (an empty autoranged one shows 0-400 %)
                      yaxis=dict(gridcolor="#eee", rangemode="tozero",
                                 **(dict(tickformat=".0%", range=[0, 1]) if kind == "accuracy" else {})),
                      yaxis2=dict(overlaying="y", range=[0, 1], visible=False, fixedrange=True))
    return fig


def epoch_time_figure() -> go.Figure:
    fig = go.Figure(go.Bar(x=[], y=[], text=[], textposition="inside", marker_color="#76b7b2",
                           hovertemplate="epoch %{x}: %{y:.1f} s<br>%{text}<extra></extra>"))
    fig.update_layout(margin=_MARGIN, plot_bgcolor="white", paper_bgcolor="white",
                      title=dict(text="seconds per epoch", font=dict(size=12), x=0.02, y=0.98),
                      xaxis=dict(dtick=1), yaxis=dict(gridcolor="#eee"), uirevision="epochs")
    return fig


def curve_extension(deltas: list[dict], kind: str):
    """``extendData`` for :func:`curves_figure` from new deltas, or None."""
    xs, ys, vx, vy, fx, fy, ft = [], [], [], [], [], [], []
    for d in deltas:
        b = d.get("batches")
        if b:
            xs += b["step"]
            ys += b[kind]
        for e in d.get("epochs", []):
            if f"val_{kind}" in e:
                vx.append(e.get("step", 0)), vy.append(e[f"val_{kind}"])
        for f in d.get("freezes", []):
            label = "frozen: " + (", ".join(f["frozen"]) or "none")
            fx += [f["step"], f["step"], None]
            fy += [0, 1, None]
            ft += [label, label, ""]
    if not (xs or vx or fx):
        return None
    return (dict(x=[xs, vx, fx], y=[ys, vy, fy], text=[[], [], ft]), [0, 1, 2])


def epoch_extension(deltas: list[dict]):
    rows = [e for d in deltas for e in d.get("epochs", []) if "seconds" in e]
    if not rows:
        return None
    return (dict(x=[[e["epoch"] for e in rows]], y=[[e["seconds"] for e in rows]],
                 text=[[", ".join(e["frozen"]) or "" for e in rows]]), [0])


def network_figure(layers: list[dict], frozen=()) -> go.Figure:
    """A bar per filter, layers side by side; activation on top, gradient below.

    Each layer is one trace per row whose bars are vertical segments of a single line (one
    SVG path, not one element per bar), so redrawing a thousand bars twice a second stays
    cheap. Trace ``row * len(layers) + i`` is layer ``i`` (row 0 activation, 1 gradient).
    """
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.06)
    ticks, pos = [], 0
    for row, name in ((1, "activation"), (2, "gradient")):
        pos = 0
        for i, layer in enumerate(layers):
            n = layer["filters"]
            x = np.repeat(np.arange(pos, pos + n), 3).astype(float)
            x[2::3] = np.nan
            custom = [[layer["name"], k] for k in range(n) for _ in range(3)]
            fig.add_trace(go.Scatter(x=x, y=np.full(3 * n, np.nan), customdata=custom, mode="lines",
                                     name=layer["name"], line=dict(width=2, color=_layer_color(i, layer, frozen)),
                                     hovertemplate="%{customdata[0]} filter %{customdata[1]}<br>"
                                                   + name + " %{y:.3g}<extra></extra>"), row=row, col=1)
            if row == 1:
                ticks.append((pos + n / 2, layer["name"]))
            pos += n + GAP
    fig.update_layout(margin=dict(l=50, r=10, t=10, b=30), plot_bgcolor="white",
                      paper_bgcolor="white", showlegend=False, uirevision="network",
                      hovermode="closest")
    fig.update_yaxes(type="log", gridcolor="#eee", exponentformat="power")
    fig.update_yaxes(title=dict(text="activation", font=dict(size=10)), row=1, col=1)
    fig.update_yaxes(title=dict(text="gradient", font=dict(size=10)), row=2, col=1)
    fig.update_xaxes(tickmode="array", tickvals=[t[0] for t in ticks],
                     ticktext=layer_ticks(layers, frozen), tickfont=dict(size=10), row=2, col=1)
    fig.update_xaxes(showticklabels=False, row=1, col=1)
    return fig


def _layer_color(i, layer, frozen):
    return FROZEN_COLOR if layer["name"] in frozen else _LAYER_COLORS[i % len(_LAYER_COLORS)]


def layer_ticks(layers, frozen) -> list[str]:
    return [l["name"] + (" ❄" if l["name"] in frozen else "") for l in layers]


def network_patch(patch, layers: list[dict], filters: dict | None, frozen=None):
    """Put new amounts (and frozen colours) into a ``Patch`` of :func:`network_figure`."""
    n = len(layers)
    if filters:
        for row, kind in enumerate(("activation", "gradient")):
            values = [np.asarray(filters[kind].get(l["name"], []), float) for l in layers]
            positive = np.concatenate([v[v > 0] for v in values] + [np.array([1e-6])])
            floor = float(positive.min()) / 2
            for i, v in enumerate(values):
                y = np.full(3 * len(v), np.nan)
                y[0::3], y[1::3] = floor, np.maximum(v, floor)
                patch["data"][row * n + i]["y"] = y.tolist()
    if frozen is not None:
        for row in (0, 1):
            for i, layer in enumerate(layers):
                patch["data"][row * n + i]["line"]["color"] = _layer_color(i, layer, frozen)
        patch["layout"]["xaxis2"]["ticktext"] = layer_ticks(layers, frozen)
    return patch


def activation_map_uri(fmaps, channel: int, scale: int = 1) -> str | None:
    """One channel of a FeatureMaps as a heat-map PNG data URI (None for a dense layer)."""
    from deepling.web.views.heatmaps import heat

    if fmaps.maps is None:
        return None
    where = int(np.flatnonzero(fmaps.channels == channel)[0])
    return image_uri(heat(np.maximum(fmaps.maps[where], 0)))


# --- after an epoch ---------------------------------------------------------------------
def filter_figure(embedding: dict, layer: str, epoch: int) -> go.Figure:
    """Points laid out by their kernels, each drawn as its filter image."""
    xy, images = embedding["xy"], embedding["images"]
    span = float(np.ptp(xy, axis=0).max()) or 1.0
    size = span / max(4.0, np.sqrt(len(xy)) * 1.3)
    fig = go.Figure(go.Scatter(x=xy[:, 0], y=xy[:, 1], mode="markers",
                               marker=dict(size=4, color="rgba(0,0,0,0)"),
                               customdata=np.arange(len(xy)),
                               hovertemplate="filter %{customdata}<extra></extra>"))
    for (px, py), img in zip(xy, images):
        fig.add_layout_image(source=image_uri(np.kron(img, np.ones((6, 6, 1), np.uint8))),
                             x=px, y=py, xref="x", yref="y", sizex=size, sizey=size,
                             xanchor="center", yanchor="middle", layer="above")
    pad = size
    fig.update_layout(margin=dict(l=10, r=10, t=24, b=10), plot_bgcolor="white",
                      paper_bgcolor="white",
                      title=dict(text=f"{layer} at epoch {epoch}", font=dict(size=11), x=0.02, y=0.98),
                      xaxis=dict(visible=False, range=[xy[:, 0].min() - pad, xy[:, 0].max() + pad]),
                      yaxis=dict(visible=False, range=[xy[:, 1].min() - pad, xy[:, 1].max() + pad],
                                 scaleanchor="x"))
    return fig


def retrain_summary(result: dict, model_link: str | None) -> html.Div:
    sel = result["selected"]
    parts = [html.Div(f"Selected images right: {result['correct_before']} → "
                      f"{result['correct_after']} of {sel}", id="train-retrain-selected")]
    if result.get("val_accuracy_before") is not None:
        parts.append(html.Div(f"Validation accuracy: {result['val_accuracy_before']:.1%} → "
                              f"{result['val_accuracy_after']:.1%} on {result['validation']:,} "
                              "other test images"))
    if model_link:
        parts.append(html.A("Open the retrained model", href=model_link))
    return html.Div(parts)


def steering(state: str, wanted: str, status: str) -> tuple[str, str]:
    """The status line and the Pause/Resume button from what the run does (``state``) and
    what the page asked (``wanted``, the control's command): the button answers the click
    at once, and the status says while the run has yet to reach a point where it halts
    (the end of the batch, or of a validation pass)."""
    if state in ("finished", "stopped", "failed"):
        return status, "Pause"
    if wanted == "pause":
        return ("paused" if state == "paused" else
                "pausing: the run halts at the end of the current batch or validation pass…"), "Resume"
    if state == "paused":  # resume asked, not yet taken up
        return "resuming…", "Pause"
    return status, "Pause"


# An empty image (the hover map before a filter is hovered in this run).
NO_MAP = "data:image/gif;base64,R0lGODlhAQABAAAAACw="


def fresh_figures(run_id: str, layers) -> tuple:
    """A new run's loss, accuracy, epoch-time and network figures, each keyed to the run
    (uirevision), so no axis range or zoom of the previous run carries over."""
    figures = (curves_figure("loss"), curves_figure("accuracy"), epoch_time_figure(),
               network_figure(layers))
    for fig in figures:
        fig.update_layout(uirevision=f"{fig.layout.uirevision}-{run_id}")
    return figures
