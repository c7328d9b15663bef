"""Testing view: where the model is unsure, what it looks at, and what breaks it.

Three panels follow the image in focus (the ``focus`` store every view shares):

* the confidence embedding: the penultimate layer's 2-D layout of the animation's images,
  the less confident ones drawn larger, so ambiguous images stand out; a click focuses one;
* explanations: the methods the user picks (Grad-CAM, saliency and occlusion by default;
  every method of :data:`deepling.methods.ATTRIBUTIONS`) for the image in focus and, when
  the what-if panel has edits, for the edited image beside it, each map with its deletion
  and insertion areas and curves; a sanity check (cascading randomisation) on demand;
* which method to trust: the methods ranked by deletion/insertion over a sample, in the
  background;
* the robustness simulation: the mean probability of the true class per class as each
  augmentation gets stronger, computed in the background over a stratified sample, with
  the image in focus drawn on top.
"""

from __future__ import annotations

from dataclasses import dataclass

import dash_bootstrap_components as dbc
import numpy as np
import plotly.graph_objects as go
from dash import dcc, html
from PIL import Image
from plotly.subplots import make_subplots

from deepling.methods import ATTRIBUTIONS
from deepling.service.attributions import (
    DEFAULT_METHODS,
    DEFAULT_RANKING,
    RANKING_SIZES,
    method_options,
)
from deepling.service.explanations import gradcam_layers
from deepling.web.views.common import card, class_color, class_picker, image_uri
from deepling.web.wire import fit_view

SAMPLE_SIZES = (200, 500, 1000, 2000)
DEFAULT_SAMPLE = 1000
PANEL_PX = 160  # display size of each explanation panel (an integer zoom of the image)
AUTO_CLASS = "auto"


@dataclass(frozen=True)
class SampleJob:
    """A card's job over a sample of labelled images: its ids start with ``prefix``."""

    prefix: str
    default: int           # images, when the size box is empty
    button: str
    how_long: str
    unlabelled: str        # said on a dataset without labels
    layered: bool = False  # the job follows the explained layer
    result_property: str = "children"  # of ``<prefix>-result``

    def not_yet(self, request: dict) -> str:
        """Said while nothing is stored for the request and it was not started."""
        return (f"Not {'ranked' if self.layered else 'run'} yet on {request['size']:,} images: "
                f"press {self.button} {self.how_long}.")


RANKING_JOB = SampleJob("test-rank", DEFAULT_RANKING, "Rank methods",
                        "(a few minutes per 200 images on two cores)",
                        "The ranking samples by class; this dataset has no labels.", layered=True)
ROBUSTNESS_JOB = SampleJob("test-robust", DEFAULT_SAMPLE, "Run simulation",
                           "(about half a minute per 1,000 images on a quiet two-core machine, "
                           "minutes on a busy one; the bar shows how far it is)",
                           "The simulation needs labelled images; this dataset has none.",
                           result_property="data")
# Pixel-level gradient maps read better alone than over the photo; signed maps get the
# diverging colours.
PIXEL_METHODS = ("saliency", "smoothgrad", "vargrad", "guided_backprop")
SIGNED_METHODS = ("occlusion", "integrated_gradients", "gradient_x_input")

# Colour maps as a few anchors, interpolated: no matplotlib needed at run time.
# Inferno (sequential; dark = none, bright = most) for Grad-CAM and saliency.
_INFERNO = np.array([[0, 0, 4], [40, 11, 84], [101, 21, 110], [159, 42, 99], [212, 72, 66],
                     [245, 125, 21], [250, 193, 39], [252, 255, 164]], np.float32)
# Blue–white–red (diverging) for occlusion: red where covering the patch lowers the
# probability (evidence for the class), blue where it raises it.
_DIVERGING = np.array([[59, 76, 192], [141, 176, 254], [242, 242, 242], [244, 154, 123],
                       [180, 4, 38]], np.float32)


# --- layout ----------------------------------------------------------------------------
def layout(ctx) -> html.Div:
    adapter = ctx["adapter"]
    names = ctx["workspace"].class_names(ctx["model_id"], ctx["data_id"])
    embed = card("Confidence embedding", [
        html.Div(id="test-embed-caption", className="small text-muted"),
        html.Div("Larger, darker points: the model is less sure; outlined: wrong. Click one to "
                 "focus it.", className="small text-muted mb-1"),
        dcc.Loading(dcc.Graph(id="test-embed", figure=empty_figure("laying out the images…", 380),
                              config={"displayModeBar": False}, className="dl-test-embed"),
                    delay_show=400, type="dot"),
        dcc.Store(id="test-embed-points"),  # {"indices", "x", "y", "marker": trace index}
        html.Div(id="test-embed-sink", hidden=True),
    ], "test-embed-card")

    layers, default = gradcam_layers(adapter)
    controls = html.Div([
        dbc.InputGroup([dbc.InputGroupText("layer"),
                        dbc.Select(id="test-layer", options=[{"label": n, "value": n} for n in layers],
                                   value=default)],
                       size="sm", style={"width": "13rem"}),
        dbc.InputGroup([dbc.InputGroupText("class"),
                        class_picker("test-class", class_options(names), AUTO_CLASS,
                                     style={"flex": "1 1 auto"})],
                       size="sm", style={"width": "14rem"}),
    ], className="d-flex flex-wrap gap-2")
    explain = card("Explanations", [
        html.Div([
            dcc.Dropdown(id="test-methods", options=method_options(), value=list(DEFAULT_METHODS),
                         multi=True, clearable=False, className="dl-test-methods flex-grow-1",
                         placeholder="methods to compare"),
            dbc.Button("Sanity check", id="test-sanity-run", size="sm", color="secondary",
                       outline=True, title="Randomise the model's weights from the top layer down "
                       "and see whether each map changes (Adebayo et al. 2018)"),
        ], className="d-flex gap-2 align-items-center mb-2"),
        dcc.Loading(html.Div(id="test-explain", className="dl-test-explain"),
                    delay_show=400, type="dot"),
        html.Div(id="test-curves"),
        job_progress("test-sanity"),
        html.Div(id="test-sanity"),
        dcc.Store(id="test-sanity-request"),
        dcc.Interval(id="test-sanity-poll", interval=700, disabled=True),
        # The what-if panel (strip view) writes its edit spec here: a dict for
        # deepling.methods.edits.apply_edits. Empty or None: no edited row.
        dcc.Store(id="whatif-edits"),
    ], "test-explain-card", extra=controls)

    robust_controls = sample_controls("test-robust", SAMPLE_SIZES, DEFAULT_SAMPLE, "Run simulation")
    progress = job_progress("test-robust", " mb-1", id="test-robust-progress-row")
    robust = card("Robustness simulation", [
        html.Div("Mean probability of the true class, per class, as each augmentation gets "
                 "stronger; the thick dashed line is the image in focus.",
                 className="small text-muted mb-1"),
        progress,
        dcc.Graph(id="test-robust-graph", config={"displayModeBar": False},
                  figure=empty_figure("", 500)),
        dcc.Store(id="test-robust-request"),  # {"key", "size", "model", "data", "started"}
        dcc.Store(id="test-robust-result"),   # the curves, JSON (robustness_json below)
        dcc.Store(id="test-robust-shown"),    # the request key whose result the page has
        dcc.Interval(id="test-robust-poll", interval=500, disabled=True),
    ], "test-robust-card", extra=robust_controls)

    rank_controls = sample_controls("test-rank", RANKING_SIZES, DEFAULT_RANKING, "Rank methods")
    ranking = card("Which explanation to trust on this model", [
        html.Div("Every method explains the predicted class of a stratified sample; each map's "
                 "deletion curve (most important pixels turned black first: a faithful map makes "
                 "the probability fall fast, low area) and insertion curve (pixels put back into "
                 "a blurred copy, most important first: high area) are averaged. Ranked by "
                 "insertion − deletion; ± is the standard error over images.",
                 className="small text-muted mb-1"),
        job_progress("test-rank", " mb-1"),
        html.Div(id="test-rank-result"),
        dcc.Store(id="test-rank-request"),
        dcc.Store(id="test-rank-shown"),    # the request key whose result the page has
        dcc.Interval(id="test-rank-poll", interval=700, disabled=True),
    ], "test-rank-card", extra=rank_controls)

    return html.Div([
        dbc.Row([dbc.Col(embed, lg=4, className="mb-3"), dbc.Col(explain, lg=8, className="mb-3")]),
        dbc.Row([dbc.Col(ranking, lg=12, className="mb-3")]),
        dbc.Row([dbc.Col(robust, lg=12, className="mb-3")]),
    ], id="testing-view")



def job_progress(prefix: str, extra_class: str = "", **row) -> html.Div:
    """A background job's thin bar ``<prefix>-progress`` (hidden while idle) and its status
    text ``<prefix>-status``: the sanity check, the ranking and the simulation each have one."""
    return html.Div([
        dbc.Progress(id=f"{prefix}-progress", value=0, striped=True, animated=True,
                     className="flex-grow-1 dl-test-hidden", style={"height": "6px"}),
        html.Span(id=f"{prefix}-status", className="small text-muted dl-test-status"),
    ], className="d-flex align-items-center gap-2" + extra_class, **row)


def sample_controls(prefix: str, sizes, default: int, label: str) -> html.Div:
    """How many images a sample job runs on (``<prefix>-size``) and its button (``<prefix>-run``)."""
    return html.Div([
        dbc.InputGroup([dbc.InputGroupText("sample"),
                        dbc.Select(id=f"{prefix}-size", value=str(default),
                                   options=[{"label": f"{n:,}", "value": str(n)} for n in sizes]),
                        dbc.InputGroupText("images")],
                       size="sm", style={"width": "16rem"}),
        dbc.Button(label, id=f"{prefix}-run", size="sm", color="primary"),
    ], className="d-flex gap-2 align-items-center")


def class_options(names) -> list[dict]:
    return [{"label": "predicted class", "value": AUTO_CLASS}] + \
        [{"label": n, "value": str(k)} for k, n in enumerate(names)]


def fit_embedding(layout: np.ndarray) -> np.ndarray:
    """The embedding's layout fitted to the bulk of its points, as the layer animation is
    (a few far points would squeeze the rest)."""
    return fit_view(np.asarray(layout)[None])[0]


def verdict(prefix: str, probs: np.ndarray, names) -> str:
    p = int(np.argmax(probs))
    return f"{prefix} · predicted {names[p]} {probs[p]:.0%}"


def describe_whatif(whatif: dict) -> str:
    """``{"edits": {"rotate": 15.0, "blur": 1.0}, "fgsm": 4}`` → ``"rotate 15, blur 1, FGSM ε 4"``."""
    parts = []
    for name, value in ((whatif or {}).get("edits") or {}).items():
        if isinstance(value, dict):
            value = ", ".join(f"{k} {_num(v)}" for k, v in value.items() if k not in ("x", "y", "fill"))
        parts.append(f"{name} {_num(value)}".strip())
    if (whatif or {}).get("fgsm"):
        parts.append(f"FGSM ε {_num(whatif['fgsm'])}")
    return ", ".join(parts)


def _num(v):
    return f"{v:g}" if isinstance(v, float) else str(v)


# --- explanation panels ------------------------------------------------------------------
def colorize(values: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """Values in [0, 1] → RGB float32 through a colour map given by evenly spaced anchors."""
    v = np.clip(np.nan_to_num(values), 0.0, 1.0) * (len(lut) - 1)
    lo = np.floor(v).astype(int)
    hi = np.minimum(lo + 1, len(lut) - 1)
    t = (v - lo)[..., None]
    return lut[lo] * (1 - t) + lut[hi] * t


def _upscale(array: np.ndarray, size: tuple[int, int], smooth: bool) -> np.ndarray:
    """H×W or H×W×C → the display size; pixels stay blocky, heat maps may be smooth."""
    h, w = size
    if array.shape[:2] == (h, w):
        return array.astype(np.float32)
    if array.ndim == 2:
        img = Image.fromarray(array.astype(np.float32), mode="F")
        return np.asarray(img.resize((w, h), Image.BILINEAR if smooth else Image.NEAREST), np.float32)
    return np.stack([_upscale(array[..., c], size, smooth) for c in range(array.shape[-1])], -1)


def display_size(shape) -> tuple[int, int]:
    h, w = shape[:2]
    scale = max(1, PANEL_PX // max(h, w))
    return h * scale, w * scale


def overlay(image: np.ndarray, heat: np.ndarray, method: str) -> tuple[np.ndarray, float]:
    """The picture for one explanation panel (uint8 RGB) and the heat map's scale.

    Grad-CAM and occlusion are laid over a greyed copy of the image, the colour's opacity
    growing with the value so that only the relevant regions are coloured; saliency is
    noisy at pixel level and reads better on its own. Occlusion is signed: its colours are
    scaled to ±(largest absolute drop), the scale returned for the legend.
    """
    size = display_size(image.shape)
    rgb = image if image.shape[-1] == 3 else np.repeat(image, 3, axis=-1)
    base = _upscale(rgb.astype(np.float32), size, smooth=False)
    grey = base.mean(axis=-1, keepdims=True)
    faded = 0.55 * base + 0.45 * grey  # colour reads as heat, not as the photo's own colour
    if method in PIXEL_METHODS:
        out = colorize(_upscale(heat, size, smooth=False), _INFERNO)
        return np.clip(out, 0, 255).astype(np.uint8), 1.0
    if method in SIGNED_METHODS:
        scale = float(np.abs(heat).max()) or 1.0
        h = _upscale(heat / scale, size, smooth=True)
        color = colorize(0.5 + 0.5 * h, _DIVERGING)
        alpha = (0.8 * np.abs(h))[..., None]
    else:
        scale = 1.0
        h = _upscale(heat, size, smooth=True)
        color = colorize(h, _INFERNO)
        alpha = (0.75 * np.clip(h, 0, 1) ** 0.8)[..., None]
    out = faded * (1 - alpha) + color * alpha
    return np.clip(np.rint(out), 0, 255).astype(np.uint8), scale


def _gradient_css(lut: np.ndarray) -> str:
    stops = ", ".join(f"rgb({int(r)},{int(g)},{int(b)})" for r, g, b in lut)
    return f"linear-gradient(to right, {stops})"


def panel(picture: np.ndarray, title, note, legend=None, testid: str = "") -> html.Figure:
    """One picture with a title, a note and (optionally) its colour legend."""
    h, w = picture.shape[:2]
    return html.Figure([
        html.Img(src=image_uri(picture), width=w, height=h, className="dl-pixelated dl-test-img",
                 alt=str(title)),
        html.Figcaption([html.Div(title, className="fw-semibold"), html.Div(note, className="text-muted"),
                         legend]),
    ], className="dl-test-panel", **({"data-method": testid} if testid else {}))


def legend_bar(method: str, scale: float) -> html.Div:
    if method in SIGNED_METHODS:
        lut, left, right = _DIVERGING, f"−{scale:.2g}", f"+{scale:.2g}"
    else:
        lut, left, right = _INFERNO, "low", "high"
    return html.Div([html.Span(left), html.Span(className="dl-test-cbar",
                                                style={"background": _gradient_css(lut)}),
                     html.Span(right)], className="dl-test-legend")


def explanation_row(label, image: np.ndarray, maps: dict, class_names, verdict,
                    curves: dict | None = None) -> html.Div:
    """The image and its maps, in a row; ``maps`` method → Attribution (or the error it
    raised), in the order to show; ``curves`` method → its deletion/insertion AUCs."""
    size = display_size(image.shape)
    shown = np.clip(_upscale(image.astype(np.float32), size, smooth=False), 0, 255).astype(np.uint8)
    if shown.shape[-1] == 1:
        shown = np.repeat(shown, 3, axis=-1)
    panels = [panel(shown, label, verdict, testid="image")]
    for method, attr in maps.items():
        title = ATTRIBUTIONS[method].label if method in ATTRIBUTIONS else method
        if isinstance(attr, Exception):
            panels.append(html.Figure([html.Div(f"{title}: {attr}", className="dl-test-failed small")],
                                      className="dl-test-panel", **{"data-method": f"{method}-failed"}))
            continue
        picture, scale = overlay(image, attr.heatmap, method)
        cls = class_names[attr.target]
        title = title + (f" · {attr.layer}" if attr.layer else "")
        note = [f"drop in p({cls})" if method == "occlusion" else f"for {cls} ({attr.probability:.0%})"]
        c = (curves or {}).get(method)
        if c is not None:
            note.append(html.Div(f"deletion {c['deletion_auc']:.2f} · insertion {c['insertion_auc']:.2f}",
                                 className="dl-test-auc", title="areas under the deletion (lower is "
                                 "better) and insertion (higher is better) curves"))
        panels.append(panel(picture, title, note, legend_bar(method, scale), testid=method))
    return html.Div(panels, className="dl-test-row")


def curves_figure(rows: list, height: int = 230) -> go.Figure:
    """Deletion and insertion curves of every shown map: ``rows`` is a list of
    ``(row label, {method: curves})``; the edited image's curves are dashed."""
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.08, subplot_titles=(
        "deletion: pixels turned black, most important first", "insertion: pixels put back "
        "into a blurred copy"))
    methods = list(ATTRIBUTIONS)
    for r, (label, curves) in enumerate(rows):
        for method, c in curves.items():
            name = ATTRIBUTIONS[method].label
            color = class_color(methods.index(method))
            for col, kind in ((1, "deletion"), (2, "insertion")):
                fig.add_trace(go.Scatter(
                    x=c["fractions"], y=c[kind], mode="lines", name=f"{name} · {label}",
                    legendgroup=f"{method}{r}", showlegend=col == 1,
                    line=dict(color=color, width=2, dash="dash" if r else "solid"),
                    hovertemplate=f"{name} ({label}): %{{y:.0%}} at %{{x:.0%}} of the pixels<extra></extra>"),
                    row=1, col=col)
    fig.update_yaxes(range=[-0.02, 1.02], tickformat=".0%", gridcolor="#eef0f3")
    fig.update_xaxes(tickformat=".0%", gridcolor="#eef0f3")
    fig.update_yaxes(title=dict(text="p(class)", font=dict(size=11)), row=1, col=1)
    fig.update_annotations(font=dict(size=11))
    fig.update_layout(height=height, margin=dict(l=8, r=8, t=24, b=8), plot_bgcolor="white",
                      paper_bgcolor="white", legend=dict(font=dict(size=10), x=1.01, y=1))
    return fig


def ranking_view(ranking) -> html.Div:
    """The ranking's table and its insertion-against-deletion plot."""
    rows = ranking.table()
    head = html.Tr([html.Th(h) for h in ("#", "method", "insertion ↑", "deletion ↓",
                                          "insertion − deletion", f"time for {ranking.n_images}")])
    body = [html.Tr([html.Td(k + 1), html.Td(r["label"]),
                     html.Td(f"{r['insertion']:.3f} ± {r['insertion_sd'] / np.sqrt(ranking.n_images):.3f}"),
                     html.Td(f"{r['deletion']:.3f} ± {r['deletion_sd'] / np.sqrt(ranking.n_images):.3f}"),
                     html.Td(f"{r['difference']:.3f} ± {r['difference_se']:.3f}"),
                     html.Td(f"{r['seconds']:.1f} s")], **{"data-method": r["method"]})
            for k, r in enumerate(rows)]
    table = html.Table([html.Thead(head), html.Tbody(body)],
                       className="table table-sm small dl-test-rank-table mb-0")
    fig = ranking.plot(height=340)
    fig.update_layout(plot_bgcolor="white", paper_bgcolor="white")
    return dbc.Row([dbc.Col(table, lg=6), dbc.Col(dcc.Graph(figure=fig, config={"displayModeBar": False}),
                                                  lg=6)])


def sanity_view(arrays: dict, image: np.ndarray) -> html.Div:
    """The sanity check: each method's map after each randomisation step (a row of small
    pictures per method) and the rank correlations with the original map."""
    steps = [str(s) for s in arrays["steps"]]
    methods = [str(m) for m in arrays["methods"]]
    fig = go.Figure()
    rows = []
    for k, m in enumerate(methods):
        label = ATTRIBUTIONS[m].label if m in ATTRIBUTIONS else m
        corr = np.asarray(arrays[f"{m}/correlations"], np.float64)
        fig.add_trace(go.Scatter(x=steps, y=np.where(np.isfinite(corr), corr, None).tolist(),
                                 mode="lines+markers", name=label,
                                 line=dict(color=class_color(list(ATTRIBUTIONS).index(m)))))
        maps = arrays[f"{m}/maps"]
        cells = [html.Div(label, className="dl-sanity-label small fw-semibold")]
        for s, heat in enumerate(maps):
            picture, _ = overlay(image, heat, "saliency" if m in SIGNED_METHODS else m)
            rho = "" if not np.isfinite(corr[s]) else f"ρ {corr[s]:.2f}"
            cells.append(html.Figure([
                html.Img(src=image_uri(picture[::2, ::2]), width=80, height=80, className="dl-pixelated",
                         alt=f"{label} after {steps[s]}"),
                html.Figcaption([html.Div(steps[s]), html.Div(rho)])], className="dl-sanity-cell"))
        rows.append(html.Div(cells, className="dl-sanity-row", **{"data-method": m}))
    fig.update_layout(height=260, margin=dict(l=8, r=8, t=8, b=8), plot_bgcolor="white",
                      paper_bgcolor="white", yaxis=dict(range=[-0.3, 1.05], title="Spearman ρ with "
                      "the original map", gridcolor="#eef0f3"),
                      xaxis=dict(title="weights randomised down to this layer (top first)"))
    intro = html.Div("Sanity check (cascading randomisation): the layers' weights are re-drawn "
                     "from the output down, on a copy of the model. A map that still matches the "
                     "original (ρ near 1) after the model is noise shows the image, not the model.",
                     className="small text-muted mt-2")
    return html.Div([intro, dcc.Graph(figure=fig, config={"displayModeBar": False}),
                     html.Div(rows, className="dl-sanity-grid")], id="test-sanity-body")


# --- figures ---------------------------------------------------------------------------
def empty_figure(message: str, height: int) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(height=height, margin=dict(l=8, r=8, t=8, b=8), plot_bgcolor="white",
                      paper_bgcolor="white", xaxis=dict(visible=False), yaxis=dict(visible=False))
    if message:
        fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper",
                           font=dict(color="#888", size=13))
    return fig


def embedding_figure(xy: np.ndarray, indices: np.ndarray, labels, predicted, confidence,
                     class_names, focus: int | None = None) -> go.Figure:
    """Points of the penultimate layer's layout, coloured by the predicted class.

    Size and opacity grow with *ambiguity* (1 − confidence, rescaled so that a uniform
    guess over K classes is 1): confident points fade into small dots while the images
    the model hesitates on stand out. Wrong predictions get a dark outline. The last trace
    marks the image in focus.
    """
    k = len(class_names)
    ambiguity = np.clip((1.0 - confidence) / max(1.0 - 1.0 / k, 1e-6), 0.0, 1.0)
    sizes = 4 + 10 * ambiguity
    opacity = 0.3 + 0.7 * ambiguity
    wrong = (labels >= 0) & (labels != predicted)
    fig = go.Figure()
    for c in range(k):
        m = predicted == c
        if not m.any():
            continue
        true_names = [class_names[t] if t >= 0 else "?" for t in labels[m]]
        fig.add_trace(go.Scatter(
            x=xy[m, 0], y=xy[m, 1], mode="markers", name=class_names[c],
            # Plain lists: clicks read customdata back, whatever Plotly's array encoding.
            customdata=np.stack([indices[m], confidence[m]], axis=1).tolist(), text=true_names,
            marker=dict(color=class_color(c), size=sizes[m], opacity=opacity[m],
                        line=dict(color=np.where(wrong[m], "#222", "rgba(0,0,0,0)"),
                                  width=np.where(wrong[m], 1.2, 0))),
            hovertemplate=(f"#%{{customdata[0]}} · true %{{text}}<br>predicted {class_names[c]} "
                           "%{customdata[1]:.0%}<extra></extra>"),
        ))
    fig.add_trace(focus_marker(xy, indices, focus))
    fig.update_layout(
        height=380, margin=dict(l=4, r=4, t=4, b=4), plot_bgcolor="white", paper_bgcolor="white",
        xaxis=dict(visible=False), yaxis=dict(visible=False, scaleanchor="x"),
        legend=dict(orientation="h", y=-0.02, yanchor="top", font=dict(size=11),
                    itemsizing="constant", title=dict(text="predicted ", font=dict(size=11))),
        hoverlabel=dict(bgcolor="white"), clickmode="event", dragmode="pan",
    )
    return fig


def focus_marker(xy, indices, focus) -> go.Scatter:
    hit = np.flatnonzero(np.asarray(indices) == focus) if focus is not None else []
    x, y = ([float(xy[hit[0], 0])], [float(xy[hit[0], 1])]) if len(hit) else ([], [])
    return go.Scatter(x=x, y=y, mode="markers", name="in focus", showlegend=False,
                      hoverinfo="skip",
                      marker=dict(size=22, color="rgba(0,0,0,0)", line=dict(color="#111", width=2.5)))


def robustness_json(arrays: dict) -> dict:
    """The simulation's arrays (:mod:`deepling.service.robustness`) → what the figure needs, JSON-ready (NaN, a class without
    images, becomes None)."""
    from deepling.methods import AUGMENTATIONS

    def clean(a):
        a = np.asarray(a, dtype=np.float64)
        return np.where(np.isfinite(a), a, None).tolist()

    augs = []
    for name, aug in AUGMENTATIONS.items():
        if f"{name}/magnitudes" not in arrays:
            continue
        augs.append({"name": name, "label": aug.label, "unit": aug.unit,
                     "magnitudes": clean(arrays[f"{name}/magnitudes"]),
                     "per_class": clean(arrays[f"{name}/per_class"]),
                     "mean": clean(arrays[f"{name}/mean"]),
                     "accuracy": clean(arrays[f"{name}/accuracy"])})
    return {"augs": augs, "n": len(arrays["indices"]),
            "counts": np.asarray(arrays["counts"]).tolist()}


def robustness_figure(result: dict | None, focus_curves: dict | None, class_names,
                      focus_label: str = "image in focus") -> go.Figure:
    """Small multiples, one per augmentation: per-class mean curves and the focus image.

    Parameters
    ----------
    result : dict or None
        ``{"augs": [{"name", "label", "unit", "magnitudes", "per_class", "mean",
        "accuracy"}], "n": int}`` from the simulation, or None before it has run.
    focus_curves : dict or None
        Augmentation name → ``{"magnitudes", "probability"}`` for the image in focus.
    """
    from deepling.methods import AUGMENTATIONS

    augs = list(AUGMENTATIONS.values())
    cols = 3
    rows = -(-len(augs) // cols)
    titles = [f"{a.label} <span style='color:#888;font-size:11px'>({a.unit})</span>" for a in augs]
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles, shared_yaxes=True,
                        horizontal_spacing=0.04, vertical_spacing=0.16)
    by_name = {a["name"]: a for a in (result or {}).get("augs", [])}
    for n, aug in enumerate(augs):
        row, col = n // cols + 1, n % cols + 1
        sim = by_name.get(aug.name)
        if sim is not None:
            mags = sim["magnitudes"]
            for k, values in enumerate(sim["per_class"]):
                if values is None or all(v is None for v in values):
                    continue
                fig.add_trace(go.Scatter(
                    x=mags, y=values, mode="lines", name=class_names[k], legendgroup=class_names[k],
                    showlegend=n == 0, line=dict(color=class_color(k), width=1.6),
                    hovertemplate=f"{class_names[k]}: %{{y:.0%}} at %{{x}}<extra></extra>"),
                    row=row, col=col)
            fig.add_trace(go.Scatter(
                x=mags, y=sim["mean"], mode="lines", name="all classes", legendgroup="all",
                showlegend=n == 0, line=dict(color="#555", width=3),
                customdata=sim["accuracy"],
                hovertemplate="all classes: %{y:.0%} · accuracy %{customdata:.0%} at %{x}<extra></extra>"),
                row=row, col=col)
        curve = (focus_curves or {}).get(aug.name)
        if curve is not None:
            fig.add_trace(go.Scatter(
                x=curve["magnitudes"], y=curve["probability"], mode="lines+markers", name=focus_label,
                legendgroup="focus", showlegend=n == 0,
                line=dict(color="#111", width=3, dash="dash"), marker=dict(size=6),
                hovertemplate=f"{focus_label}: %{{y:.0%}} at %{{x}}<extra></extra>"),
                row=row, col=col)
    fig.update_yaxes(range=[-0.02, 1.02], tickformat=".0%", gridcolor="#eef0f3", zeroline=False)
    fig.update_xaxes(gridcolor="#eef0f3", zeroline=False)
    for r in range(1, rows + 1):
        fig.update_yaxes(title=dict(text="p(true class)", font=dict(size=11)), row=r, col=1)
    fig.update_annotations(font=dict(size=13))
    fig.update_layout(height=500, margin=dict(l=8, r=8, t=28, b=8), plot_bgcolor="white",
                      paper_bgcolor="white", hovermode="closest",
                      legend=dict(orientation="v", x=1.01, y=1, font=dict(size=11)))
    if not by_name and not focus_curves:
        fig.add_annotation(text="Run the simulation to see the curves", showarrow=False,
                           x=0.5, y=0.5, xref="paper", yref="paper", font=dict(color="#888"))
    return fig
