"""Neurons view: every unit at a glance, the neural patterns an image belongs to, and the
units of one layer laid out by what they respond to.

Three panels, linked by the page's selection (``focus``, ``subset``) and the view's own
selected unit (``neu-unit``):

* the **unit view**: every filter of every conv layer and every dense unit as one dot,
  one block per layer coloured by layer, dots sized by how many images' paths go
  through them; the image in focus's path is drawn through them;
* **patterns** recommended for the image in focus, the picked images or the selected
  unit: each its path through the layers, a strip of its images and a pie of their
  classes;
* the **neuron projection** of one layer (Pivot MDS on a correlation distance), coloured
  by the class each unit responds to most, the selected unit's nearest neighbours marked.

Figures and components are built here from a :class:`~deepling.neurons.NeuronAtlas`; the
callbacks (``callbacks/neurons.py``) only fetch the atlas and call these.
"""

from __future__ import annotations

import math

import dash_bootstrap_components as dbc
import numpy as np
import plotly.graph_objects as go
from dash import dcc, html
from plotly.colors import sample_colorscale

from deepling.web.views.architecture import class_profile
from deepling.web.views.common import card, class_color, class_picker

TAB = "neurons"        # the page tab this view is in (shell.py)
STRIP_IMAGES = 10      # thumbnails per pattern
SHOWN_PATTERNS = 6     # patterns listed at once
SENT_IMAGES = 1000     # most images one click sends to the layer animation
PICKER_IMAGES = 24
BLOCK_GAP = 2          # empty columns between two layers' blocks in the unit view
FOR_OPTIONS = [{"label": "image in focus", "value": "image"},
               {"label": "picked images", "value": "picked"},
               {"label": "selected unit", "value": "unit"}]
RANK_OPTIONS = [{"label": "longest path", "value": "length"},
                {"label": "most images", "value": "support"}]


def layout(ctx) -> dbc.Card:
    names = ctx["dataset"].class_names
    classes = [{"label": "any class", "value": "any"}] + \
        [{"label": n, "value": str(k)} for k, n in enumerate(names)]
    progress = html.Div([
        dbc.Progress(id="neu-progress", value=0, striped=True, animated=True,
                     className="flex-grow-1", style={"height": "6px"}),
        html.Span("open this tab to mine the patterns", id="neu-status",
                  className="small text-muted dl-status"),
    ], id="neu-progress-row", className="d-flex align-items-center gap-2 mb-2")
    picker = html.Div([
        html.Div(id="neu-focus", className="small mb-2"),
        html.Div("find an image: true class → predicted", className="small fw-bold"),
        html.Div([
            class_picker("neu-pick-true", classes, "any"),
            html.Span("→", className="small"),
            class_picker("neu-pick-pred", classes, "any"),
        ], className="d-flex gap-1 align-items-center mb-1"),
        dbc.Checklist(id="neu-pick-errors", options=[{"label": "misclassified only", "value": 1}],
                      value=[1], className="small", switch=True),
        html.Div(id="neu-pick-grid", className="mt-1"),
    ])
    units = html.Div([
        html.Div("Every unit · one block per layer · dot size: images whose most activated "
                 "unit it is · click a dot", className="small text-muted"),
        dcc.Graph(id="neu-units", config={"displayModeBar": False}, className="dl-neu-units",
                  figure=_empty("the units appear once the patterns are mined")),
    ])
    patterns = html.Div([
        html.Div([
            html.B("Patterns for", className="small"),
            dbc.RadioItems(id="neu-for", options=FOR_OPTIONS, value="image", inline=True,
                           className="small"),
            html.Span("rank by", className="small text-muted ms-auto"),
            dbc.RadioItems(id="neu-rank", options=RANK_OPTIONS, value="length", inline=True,
                           className="small"),
        ], className="d-flex flex-wrap align-items-center gap-2 mb-1"),
        dcc.Loading(html.Div(id="neu-patterns"), type="dot", color="#4e79a7"),
    ])
    projection = html.Div([
        html.Div([
            html.B("Neuron projection", className="small"),
            dcc.Dropdown(id="neu-proj-layer", clearable=False, className="dl-neu-layer",
                         placeholder="layer"),
        ], className="d-flex align-items-center gap-2 mb-1"),
        html.Div("units close together fire together over the images (Pivot MDS on the "
                 "correlation distance); colour: the class each responds to most",
                 className="small text-muted"),
        dcc.Graph(id="neu-proj", config={"displayModeBar": False},
                  figure=_empty("the projection appears once the patterns are mined")),
        html.Div(id="neu-proj-info", className="small"),
    ])
    body = [
        progress,
        dbc.Row([
            dbc.Col(picker, lg=3, className="mb-3"),
            dbc.Col(units, lg=6, className="mb-3"),
            dbc.Col(dcc.Loading(html.Div(html.Div("click a unit to see its top images, its "
                                                  "classes and its patterns",
                                                  className="small text-muted"),
                                         id="neu-unit-panel"), type="dot", color="#4e79a7"),
                    lg=3, className="mb-3"),
        ]),
        dbc.Row([dbc.Col(patterns, lg=7, className="mb-3"),
                 dbc.Col(projection, lg=5, className="mb-3")]),
        html.Div(id="neu-sent", className="small text-success"),
        dcc.Store(id="neu-ids", data={"model": ctx["model_id"], "data": ctx["data_id"]}),
        dcc.Store(id="neu-job"),    # the mining job's key
        dcc.Store(id="neu-ready"),  # the same key once the atlas is in the cache
        dcc.Store(id="neu-unit"),   # {"layer", "unit"}: the selected unit
        dcc.Interval(id="neu-poll", interval=400, disabled=True),
    ]
    return card("Neurons: units, neural patterns, neuron projection", body, "neurons-card")


# --- the unit view -------------------------------------------------------------------
def layer_colors(n: int) -> list[str]:
    """One colour per layer, shallow to deep (distinct from the class colours)."""
    return sample_colorscale("Viridis", [0.05 + 0.85 * i / max(n - 1, 1) for i in range(n)])


def unit_positions(widths) -> tuple[list[np.ndarray], list[float]]:
    """Per layer the (x, y) of each unit in its block, and each block's centre x.

    A block is ``cols`` wide with rows of units below each other; wider layers get more
    columns, so the blocks' heights stay comparable.
    """
    xy, centres, x0 = [], [], 0
    for w in widths:
        cols = max(4, math.ceil(math.sqrt(w / 2)))
        u = np.arange(w)
        xy.append(np.stack([x0 + u % cols, -(u // cols)], axis=1).astype(float))
        centres.append(x0 + (cols - 1) / 2)
        x0 += cols + BLOCK_GAP
    return xy, centres


def units_figure(atlas, class_names, path=None, selected=None) -> go.Figure:
    """Every unit as a dot; ``path`` (units per layer) drawn through, ``selected`` ringed."""
    xy, centres = unit_positions([l.width for l in atlas.layers])
    colors = layer_colors(len(atlas.layers))
    fig = go.Figure()
    for li, (layer, pos) in enumerate(zip(atlas.layers, xy)):
        counts = layer.path_counts
        size = 4 + 9 * np.sqrt(counts / max(int(counts.max()), 1))
        pref = [class_names[k] if 0 <= k < len(class_names) else "—" for k in layer.preferred_class]
        fig.add_scatter(
            x=pos[:, 0], y=pos[:, 1], mode="markers", name=layer.name,
            marker=dict(size=size, color=colors[li], line=dict(width=0)),
            customdata=[[li, u] for u in range(layer.width)],  # lists: event data drops typed arrays
            text=[f"{layer.name} · unit {u}<br>most activated for {c:,} images<br>responds most "
                  f"to {p}" for u, (c, p) in enumerate(zip(counts, pref))],
            hovertemplate="%{text}<extra></extra>")
    if path is not None:
        pts = np.array([xy[li][int(u)] for li, u in enumerate(path)])
        fig.add_scatter(x=pts[:, 0], y=pts[:, 1], mode="lines+markers", name="image's path",
                        line=dict(color="#e15759", width=1.5),
                        marker=dict(size=13, color="rgba(0,0,0,0)",
                                    line=dict(color="#e15759", width=2)),
                        customdata=[[li, int(u)] for li, u in enumerate(path)],
                        hovertemplate="the image's most activated unit<extra></extra>")
    if selected is not None:
        li, u = selected
        x, y = xy[li][u]
        fig.add_scatter(x=[x], y=[y], mode="markers", name="selected", customdata=[[int(li), int(u)]],
                        marker=dict(size=20, color="rgba(0,0,0,0)",
                                    line=dict(color="#1f2933", width=2.5)),
                        hovertemplate="selected unit<extra></extra>")
    height = 40 + 9 * max(-pos[:, 1].min() + 1 for pos in xy)
    fig.update_layout(
        height=max(240, min(520, int(height))), margin=dict(l=4, r=4, t=24, b=4),
        plot_bgcolor="white", paper_bgcolor="white", showlegend=False, clickmode="event",
        hovermode="closest", dragmode=False,
        xaxis=dict(visible=False, fixedrange=True), yaxis=dict(visible=False, fixedrange=True),
        annotations=[dict(x=c, y=1, xref="x", yref="paper", yanchor="bottom", showarrow=False,
                          text=f"<b>{l.name}</b>", font=dict(size=9, color=colors[i]))
                     for i, (c, l) in enumerate(zip(centres, atlas.layers))])
    return fig


# --- one unit ------------------------------------------------------------------------
def unit_panel(atlas, layer: str, unit: int, labels, predicted, class_names, ids) -> html.Div:
    """A unit's top images, its mean activation per class, and a button to follow it."""
    lu = atlas.layer(layer)
    pref = int(lu.preferred_class[unit])
    head = html.Div([
        html.B(f"{layer} · unit {unit}"),
        html.Div(f"most activated unit of its layer for {int(lu.path_counts[unit]):,} images"
                 + ("" if pref < 0 else f" · responds most to {class_names[pref]}")
                 + (" · dead: never changes" if lu.dead[unit] else ""),
                 className="text-muted"),
    ], className="small mb-1")
    tops = thumbnails(lu.top_images[unit], labels, predicted, class_names, ids, f"u{layer}-{unit}",
                      values=lu.top_values[unit])
    bars = class_profile(lu.class_means[unit], np.arange(len(lu.class_means[unit])), class_names)
    return html.Div([
        head,
        html.Div("top images (highest mean activation; click one to focus it)",
                 className="small text-muted"),
        tops,
        dcc.Graph(figure=bars, config={"displayModeBar": False}, className="mt-1"),
        send_button(-1, "its images → layer animation · strip towards it"),
    ])


# --- patterns ------------------------------------------------------------------------
def pattern_list(atlas, ranked, labels, predicted, class_names, ids, heading) -> html.Div:
    """The recommended patterns, best first: path chips, image strip and class pie each."""
    pats = atlas.patterns
    if len(ranked) == 0:
        return html.Div([html.Div(heading, className="small mb-1"),
                         note("No pattern: no path of five or more images shares two or more "
                              "of these units. Pick another image or unit.")])
    colors = layer_colors(len(atlas.layers))
    cards = []
    for p in ranked[:SHOWN_PATTERNS]:
        p = int(p)
        images = pats.images(p)
        chips = []
        for li, u in enumerate(pats.units[p]):
            if u < 0:
                chips.append(html.Span("·", className="dl-neu-gap", title=f"{atlas.layers[li].name}: any unit"))
            else:
                chips.append(html.Span(f"{atlas.layers[li].name}:{int(u)}", className="dl-neu-chip",
                                       style={"borderColor": colors[li]}))
        true = labels[images]
        share = np.bincount(true[true >= 0], minlength=len(class_names))
        top_class = int(share.argmax()) if share.sum() else -1
        summary = f"{len(images):,} images · {int(pats.length[p])} layers"
        if top_class >= 0:
            summary += f" · {share[top_class] / max(share.sum(), 1):.0%} {class_names[top_class]}"
        cards.append(html.Div([
            html.Div([html.Div(chips, className="dl-neu-path"),
                      html.Span(summary, className="small text-muted ms-auto")],
                     className="d-flex flex-wrap align-items-center gap-2"),
            html.Div([
                html.Div([thumbnails(images[:STRIP_IMAGES], labels, predicted, class_names, ids,
                                     f"p{p}", strip=True),
                          send_button(p, "images → layer animation · strip towards its "
                                         "deepest unit")],
                         className="flex-grow-1", style={"minWidth": 0}),
                dcc.Graph(figure=class_pie(share, class_names), config={"displayModeBar": False},
                          className="dl-neu-pie"),
            ], className="d-flex gap-2 align-items-center"),
        ], className="dl-neu-pattern", id={"type": "neu-pattern", "index": p}))
    more = len(ranked) - SHOWN_PATTERNS
    return html.Div([html.Div(heading, className="small mb-1"), *cards,
                     html.Div(f"and {more:,} more" if more > 0 else "",
                              className="small text-muted")])


def class_pie(counts, class_names) -> go.Figure:
    """The classes of a pattern's images."""
    keep = np.flatnonzero(counts)
    fig = go.Figure(go.Pie(labels=[class_names[k] for k in keep], values=counts[keep],
                           marker=dict(colors=[class_color(int(k)) for k in keep]),
                           sort=False, textinfo="none", hole=0.35,
                           hovertemplate="%{label}: %{value} images (%{percent})<extra></extra>"))
    fig.update_layout(width=96, height=96, margin=dict(l=2, r=2, t=2, b=2), showlegend=False,
                      paper_bgcolor="white")
    return fig


def thumbnails(indices, labels, predicted, class_names, ids, slot: str, values=None,
               strip: bool = False) -> html.Div:
    """Clickable thumbnails (click: focus the image); ``slot`` keeps their ids unique."""
    tiles = []
    for k, i in enumerate(np.asarray(indices)):
        i = int(i)
        true, pred = int(labels[i]), int(predicted[i])
        name = class_names[true] if 0 <= true < len(class_names) else "?"
        title = f"#{i}: true {name}, predicted {class_names[pred]}" + \
            ("" if values is None else f" — mean activation {values[k]:.3g}") + ". Click to focus it."
        tiles.append(html.Button([
            html.Img(src=f"/api/images/{ids['model']}/{ids['data']}/{i}.png", width=40, height=40,
                     className="dl-pixelated", alt=""),
            html.Div(name, className="dl-arch-top-name", style={"color": class_color(true)}),
        ], id={"type": "neu-image", "index": i, "slot": slot},
            className="dl-arch-top" + (" dl-neu-wrong" if pred != true and true >= 0 else ""),
            title=title))
    return html.Div(tiles, className="dl-neu-strip" if strip else "dl-neu-grid")


def send_button(what: int, label: str):
    return html.Button(label, id={"type": "neu-send", "index": int(what)},
                       className="btn btn-sm btn-link p-0 small")


# --- the neuron projection -----------------------------------------------------------
def projection_figure(layer_units, class_names, selected=None) -> go.Figure:
    """One layer's units placed by correlation, coloured by their preferred class."""
    xy = layer_units.embedding
    pref = layer_units.preferred_class
    fig = go.Figure()
    for k in sorted(set(pref.tolist())):
        m = np.flatnonzero(pref == k)
        name = class_names[k] if 0 <= k < len(class_names) else "dead / no class"
        fig.add_scatter(x=xy[m, 0], y=xy[m, 1], mode="markers", name=name,
                        marker=dict(size=9, color=class_color(k) if k >= 0 else "#cccccc",
                                    line=dict(color="white", width=0.5)),
                        customdata=[[int(u), k] for u in m],
                        text=[f"{layer_units.name} · unit {u}<br>responds most to {name}" for u in m],
                        hovertemplate="%{text}<extra></extra>")
    if selected is not None:
        nb = layer_units.neighbors[selected]
        fig.add_scatter(x=xy[nb, 0], y=xy[nb, 1], mode="markers", name="most correlated",
                        customdata=[[int(u), int(pref[u])] for u in nb],
                        marker=dict(size=15, color="rgba(0,0,0,0)",
                                    line=dict(color="#1f2933", width=1.5)),
                        hovertemplate="a neighbour of the selected unit: unit %{customdata[0]}<extra></extra>")
        fig.add_scatter(x=[xy[selected, 0]], y=[xy[selected, 1]], mode="markers",
                        name="selected", customdata=[[int(selected), int(pref[selected])]],
                        marker=dict(size=20, symbol="circle-open", color="#1f2933",
                                    line=dict(width=3)),
                        hovertemplate=f"selected: unit {selected}<extra></extra>")
    fig.update_layout(height=330, margin=dict(l=4, r=4, t=4, b=4), plot_bgcolor="white",
                      paper_bgcolor="white", clickmode="event", hovermode="closest",
                      legend=dict(font=dict(size=9), itemsizing="constant"),
                      xaxis=dict(visible=False, scaleanchor="y"), yaxis=dict(visible=False))
    return fig


def projection_info(layer_units, selected, class_names) -> html.Div | None:
    if selected is None:
        return html.Div("click a unit (here or above): its most correlated units are ringed",
                        className="text-muted")
    nb = layer_units.neighbors[selected]
    return html.Div([f"unit {selected} of {layer_units.name}: most correlated with units ",
                     ", ".join(str(int(u)) for u in nb)])


# --- the image in focus and the picker -----------------------------------------------
def focus_line(i: int, labels, predicted, class_names, ids) -> html.Div:
    true, pred = int(labels[i]), int(predicted[i])
    name = class_names[true] if true >= 0 else "?"
    return html.Div([
        html.Img(src=f"/api/images/{ids['model']}/{ids['data']}/{i}.png", width=56, height=56,
                 className="dl-pixelated me-2", alt=""),
        html.Div([html.Div("image in focus", className="text-muted"),
                  html.Div([f"#{i} ", html.B(name, style={"color": class_color(true)}), " → ",
                            html.B(class_names[pred], style={"color": class_color(pred)})],
                           className="text-danger" if true >= 0 and true != pred else "")]),
    ], className="d-flex align-items-center", id="neu-focus-line")


def note(message: str) -> html.Div:
    return html.Div(message, className="dl-arch-note small")


def _empty(message: str) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(height=240, margin=dict(l=0, r=0, t=0, b=0), plot_bgcolor="white",
                      paper_bgcolor="white", xaxis=dict(visible=False), yaxis=dict(visible=False),
                      annotations=[dict(text=message, showarrow=False, font=dict(color="#888"))])
    return fig

