"""Data view: accuracy, the confusion matrix, accuracy per class and a filterable image grid.

A confusion cell is a question ("which cats does it call dogs?"): clicking one sends its
images to the layer animation (through the URL, so the link reproduces it), to the
``subset`` store for the other views, and to the grid's filters. Grid tiles focus an image.
"""

from __future__ import annotations

import dash_bootstrap_components as dbc
import numpy as np
import plotly.graph_objects as go
from dash import dcc, html

from deepling.evaluation import Scores, scores, top_confusions
from deepling.web.views import suspicious
from deepling.web.views.common import card, class_color, class_picker, note_list
from deepling.web.views.figures import per_class_accuracy

GRID_SIZE = 60
# Past this many classes the confusion view opens on the model's most frequent mistakes (its
# largest off-diagonal cells); the full matrix is a click away.
TOP_CONFUSIONS_ABOVE = 20
TOP_CONFUSIONS = 25
UNLABELLED_DATA = ("These images have no labels, so there is no confusion matrix and no accuracy: "
                   "the animation and the grid show them by the model's prediction. To give them "
                   "labels, put each class's images in a folder named for it (<class>/*.png).")
MISMATCHED_DATA = ("The data's classes are not the model's outputs (see the note above), so "
                   "there is no confusion matrix and no accuracy: labels keep the data's class "
                   "names, predictions the model's output indices.")
ANY = "any"
SORT_LABELS = {"confidence-asc": "least confident first", "confidence-desc": "most confident first",
               "index": "dataset order"}


def clicked_cell(points: list, names) -> tuple[int, int] | None:
    """(true, predicted) of a click on the confusion matrix (a cell, named by its axes'
    class names) or on a bar of the top confusions (its customdata); None for anything else."""
    if not points:
        return None
    custom = points[0].get("customdata")
    if isinstance(custom, list) and len(custom) >= 2:  # a bar of the top confusions
        true, pred = int(custom[0]), int(custom[1])
        return (true, pred) if 0 <= true < len(names) and 0 <= pred < len(names) else None
    lookup = {n: k for k, n in enumerate(names)}
    true, pred = lookup.get(points[0].get("y")), lookup.get(points[0].get("x"))
    return None if true is None or pred is None else (true, pred)


def layout(ctx) -> object:
    """The card for the page's model and data; the page is rebuilt when they change."""
    ds, preds = ctx["dataset"], ctx["predictions"]
    names = ctx["workspace"].class_names(ctx["model_id"], ctx["data_id"])
    s = scores(ds.labels, preds.predicted, len(names))
    labelled = ds.labelled
    comparable = labelled and ds.n_classes == ctx["adapter"].n_outputs
    # Without labels of the model's classes there is nothing to compare the predictions
    # with: say so, rather than an empty (or meaningless) matrix.
    hide = None if comparable else {"display": "none"}
    classes = [{"label": n, "value": str(k)} for k, n in enumerate(names)]
    label_names = ctx["workspace"].label_names(ctx["model_id"], ctx["data_id"])
    true_classes = classes if not label_names else \
        [{"label": n, "value": str(k)} for k, n in enumerate(label_names)]
    controls = html.Div([
        html.Div([
            class_picker("data-true", [{"label": "any true class", "value": ANY}] + true_classes, ANY,
                         className="dl-data-select"),
            class_picker("data-pred", [{"label": "any prediction", "value": ANY}] + classes, ANY,
                         className="dl-data-select"),
        ], className="d-flex gap-2"),
        html.Div([
            dbc.Select(id="data-sort", value="confidence-asc", size="sm", className="dl-data-select",
                       options=[{"label": v, "value": k} for k, v in SORT_LABELS.items()]),
            dbc.Switch(id="data-errors", label="errors only", value=comparable, disabled=not comparable,
                       className="small mb-0 text-nowrap"),
            dbc.Button("reset", id="data-reset", size="sm", color="link", className="p-0 small"),
        ], className="d-flex gap-3 align-items-center"),
        html.Div([
            html.Span("confidence", className="small text-muted"),
            html.Div(dcc.RangeSlider(id="data-conf", min=0, max=1, step=0.05, value=[0, 1],
                                     marks={v: f"{v:.0%}" for v in (0, 0.25, 0.5, 0.75, 1)},
                                     allowCross=False, allow_direct_input=False),
                     className="flex-grow-1"),
        ], className="d-flex align-items-center gap-2 dl-data-conf"),
    ], className="d-flex flex-column gap-2")
    body = [
        html.Div(ds.describe(), className="small text-muted"),
        note_list(ds.notes),
        *confusion_section(s, names, comparable, labelled),
        html.Div(id="data-cell-status", className="small text-muted dl-data-status"),
        _section("Accuracy per class", None) if comparable else None,
        dcc.Graph(id="class-accuracy", config={"displayModeBar": False},
                  figure=per_class_accuracy(ds.labels, preds.predicted, names), style=hide),
        _section("Images", "click one to focus it"),
        controls,
        html.Div(id="data-grid-count", className="small fw-semibold mb-1"),
        html.Div(id="data-grid", className="dl-grid dl-data-grid"),
        html.Div(id="data-focus-sink", hidden=True),
        suspicious.section(),
    ]
    extra = dbc.Badge(accuracy_text(s) if comparable else
                      ("no labels" if not labelled else "labels ≠ outputs: no accuracy"),
                      id="data-accuracy", color="success" if comparable else "secondary",
                      className="dl-data-badge")
    return card("Data", body, "data-card", extra=extra)


def _section(title, hint) -> html.Div:
    return html.Div([html.Span(title, className="fw-semibold"),
                     html.Span(hint, className="text-muted ms-2") if hint else None],
                    className="small mt-2 mb-1 dl-data-section")


def accuracy_text(s: Scores) -> str:
    if not s.n_labelled:
        return "no labels"
    return f"accuracy {s.accuracy:.1%} · {s.n_labelled:,} images"


def confusion_section(s: Scores, names, comparable: bool = True, labelled: bool = True) -> list:
    """The confusion view: the full matrix for a few classes; for many (an ImageNet head) the
    top confusions first, with a switch to the full matrix. Without labels of the model's
    classes, a note instead (the graph stays, hidden, for the callbacks)."""
    many = len(names) > TOP_CONFUSIONS_ABOVE
    switch = dbc.RadioItems(
        id="data-confusion-mode", value="top" if many else "full", inline=True,
        className="small", options=[{"label": f"top {TOP_CONFUSIONS} confusions", "value": "top"},
                                    {"label": f"full matrix ({len(names)}×{len(names)})",
                                     "value": "full"}])
    hint = ("the model's most frequent mistakes · click a bar" if many else
            "rows: true class · columns: predicted · click a cell")
    return [
        _section("Confusion matrix" if not many else "Confusions", hint) if comparable else
        dbc.Alert(UNLABELLED_DATA if not labelled else MISMATCHED_DATA, color="light",
                  className="small p-2 mb-2", id="data-no-matrix"),
        html.Div(switch, hidden=not (many and comparable)),
        dcc.Graph(id="data-confusion", config={"displayModeBar": False}, className="dl-data-confusion",
                  figure=top_confusions_figure(s, names) if many else confusion_figure(s, names),
                  style=None if comparable else {"display": "none"}),
    ]


def top_confusions_figure(s: Scores, class_names, k: int = TOP_CONFUSIONS,
                          selected: tuple[int, int] | None = None) -> go.Figure:
    """The largest off-diagonal cells as bars, largest on top: "true → predicted", the count,
    and its share of the true class. A bar's ``customdata`` is ``[true, predicted, share]``,
    so a click selects the same cell as one in the full matrix."""
    names = list(class_names)
    cells = top_confusions(s.confusion, k)
    rows = s.confusion.sum(1)
    labels = [f"{names[t]} → {names[p]}" for t, p, _ in cells]
    share = [round(100 * c / rows[t], 1) if rows[t] else 0.0 for t, _, c in cells]
    colors = ["#e15759" if selected == (t, p) else "#4e79a7" for t, p, _ in cells]
    fig = go.Figure(go.Bar(
        x=[c for _, _, c in cells], y=labels, orientation="h", marker_color=colors,
        customdata=[[t, p, sh] for (t, p, _), sh in zip(cells, share)],
        text=[str(c) for _, _, c in cells], textposition="outside", textfont=dict(size=9),
        hovertemplate="true %{y}<br><b>%{x}</b> images (%{customdata[2]}% of the true class)"
                      "<extra></extra>"))
    fig.update_layout(
        height=max(160, 18 * len(cells) + 40), margin=dict(l=8, r=24, t=8, b=24),
        plot_bgcolor="white", paper_bgcolor="white", bargap=0.25,
        xaxis=dict(fixedrange=True, gridcolor="#eceef1", tickfont=dict(size=9),
                   title=dict(text="images", font=dict(size=10))),
        yaxis=dict(type="category", autorange="reversed", fixedrange=True, tickfont=dict(size=9),
                   automargin=True),
        annotations=[] if cells else [dict(text="no mistakes among the labelled images",
                                           showarrow=False, x=0.5, y=0.5, xref="paper",
                                           yref="paper")])
    return fig


def confusion_figure(s: Scores, class_names, selected: tuple[int, int] | None = None) -> go.Figure:
    """Heat map of the confusion matrix: counts as text, colour by share of the true class.

    Colouring by row share rather than count keeps a rare class's mistakes as visible as a
    common one's; the count is written in each cell and the hover says both.
    """
    cm = s.confusion
    names = list(class_names)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(cm.sum(1, keepdims=True) > 0, cm / cm.sum(1, keepdims=True), 0.0)
    share_of_true = np.round(share * 100, 1)
    big = len(names) > TOP_CONFUSIONS_ABOVE  # no counts written in 1,000 × 1,000 cells
    fig = go.Figure(go.Heatmap(
        z=share.tolist(), x=names, y=names, text=cm.tolist(), texttemplate=None if big else "%{text}",
        zmin=0, zmax=1,
        colorscale=[[0, "#f7fbff"], [0.02, "#e3eef9"], [0.15, "#9ecae1"], [0.5, "#4292c6"],
                    [1, "#08306b"]],
        customdata=share_of_true.tolist(), showscale=False, xgap=1, ygap=1, textfont=dict(size=10),
        hovertemplate="true %{y} → predicted %{x}<br><b>%{text}</b> images "
                      "(%{customdata}% of %{y})<extra></extra>",
    ))
    fig.update_layout(
        height=400 if not big else 520, margin=dict(l=8, r=8, t=8, b=8), plot_bgcolor="white",
        paper_bgcolor="white",
        # Category axes: class names such as "0".."9" must not become numbers.
        xaxis=dict(type="category", title=dict(text="predicted", font=dict(size=11)), tickangle=-45,
                   tickfont=dict(size=10), fixedrange=not big, side="bottom", showticklabels=not big),
        yaxis=dict(type="category", title=dict(text="true", font=dict(size=11)), autorange="reversed",
                   tickfont=dict(size=10), fixedrange=not big, scaleanchor="x", constrain="domain",
                   showticklabels=not big),
        shapes=cell_outline(selected),
    )
    return fig


def cell_outline(selected: tuple[int, int] | None) -> list[dict]:
    """A frame around the clicked cell (true row, predicted column), in category units."""
    if selected is None:
        return []
    i, j = selected
    return [dict(type="rect", x0=j - 0.5, x1=j + 0.5, y0=i - 0.5, y1=i + 0.5, xref="x", yref="y",
                 line=dict(color="#e15759", width=2.5))]


def grid_count(n_match: int, n_shown: int, sort: str | None, n_picked: int | None = None) -> str:
    """The line above the grid: how many images match (among the pick, when there is one)."""
    sort = sort or "confidence-asc"
    among = f" among the {n_picked:,} picked" if n_picked else ""
    if not n_match:
        return (f"No image{among} matches these filters; widen the confidence range, clear a "
                "class, or reset the pick." if among else
                "No image matches these filters; widen the confidence range or clear a class.")
    return f"{n_match:,} images match{among}" + (
        f" · the first {n_shown} {SORT_LABELS[sort]}" if n_match > n_shown else "")


def grid_tiles(indices, labels, predicted, confidence, class_names, data_key: str,
               focus: int | None = None, tile_type: str = "data-tile",
               label_names=None) -> list[html.Button]:
    """One button per image: a thumbnail framed in the predicted class's colour, with a
    bar as long as the model's confidence. Images come from the app's PNG endpoint, so
    the browser caches them across re-filters."""
    tiles = []
    for i in map(int, indices):
        t, p, c = int(labels[i]), int(predicted[i]), float(confidence[i])
        true_name = (label_names or class_names)[t] if t >= 0 else "unknown"
        pred_name = f"output {class_names[p]}" if label_names and class_names[p].isdigit() else class_names[p]
        title = f"#{i}: true {true_name}, predicted {pred_name} ({c:.0%})"
        tiles.append(html.Button([
            html.Img(src=f"/api/images/{data_key}/{i}.png", width=40, height=40, alt=title,
                     className="dl-pixelated"),
            html.Span(className="dl-data-bar", style={"width": f"{c:.0%}", "background": class_color(p)}),
        ], id={"type": tile_type, "index": i}, title=title,
            className="dl-tile dl-data-tile" + (" dl-data-focused" if i == focus else "")
                      + (" dl-data-wrong" if t >= 0 and t != p and not label_names else ""),
            style={"borderColor": class_color(p)}))
    return tiles
