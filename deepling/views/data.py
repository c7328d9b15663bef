"""Data view: the dataset, accuracy per class and the images the model gets wrong."""

from __future__ import annotations

import numpy as np
from dash import dcc, html

from deepling.views.common import card, class_color, note_list, thumbnail
from deepling.views.figures import per_class_accuracy

GRID_SIZE = 24


def layout(ctx) -> object:
    ds, preds = ctx["dataset"], ctx["predictions"]
    names = ctx["workspace"].class_names(ctx["model_id"], ctx["data_id"])
    wrong = np.flatnonzero(preds.predicted != ds.labels)
    # The least confident mistakes first: where the model hesitates.
    order = wrong[np.argsort(preds.confidence[wrong])][:GRID_SIZE]
    grid = html.Div([_tile(ds, preds, names, int(i)) for i in order], className="dl-grid")
    body = [
        html.Div(ds.describe(), className="small text-muted"),
        note_list(ds.notes),
        dcc.Graph(figure=per_class_accuracy(ds.labels, preds.predicted, names),
                  config={"displayModeBar": False}, id="class-accuracy"),
        html.Div(f"{len(wrong):,} misclassified — least confident first; click one to focus it",
                 className="small fw-semibold mt-1 mb-1"),
        grid,
    ]
    return card("Data", body, "data-card")


def _tile(ds, preds, names, i: int) -> html.Button:
    p = int(preds.predicted[i])
    title = f"#{i}: true {names[ds.labels[i]]}, predicted {names[p]} ({preds.confidence[i]:.0%})"
    return html.Button(thumbnail(ds.images[i], 40, title=title),
                       id={"type": "data-tile", "index": i}, className="dl-tile",
                       style={"borderColor": class_color(p)}, title=title)
