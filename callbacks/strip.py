"""Strip view callbacks: show the focused image and the model's probabilities for it."""

from __future__ import annotations

from dash import Input, Output, State, html

from deepling.views.common import class_color, thumbnail
from deepling.views.figures import probability_bars


def register(app, workspace) -> None:
    @app.callback(Output("focus-image", "children"), Output("focus-probs", "figure"),
                  Input("selection", "data"), State("session", "data"))
    def show_focus(selection, session):
        session = session or {}
        m, d = session.get("model"), session.get("data")
        ds, preds = workspace.dataset(m, d), workspace.predictions(m, d)
        names = workspace.class_names(m, d)
        i = int((selection or {}).get("focus") or 0)
        i = min(max(i, 0), len(ds) - 1)
        true, pred = int(ds.labels[i]), int(preds.predicted[i])
        caption = html.Div([
            html.Div(f"image #{i}", className="small text-muted"),
            html.Div(["true ", html.B(names[true] if true >= 0 else "?", style={"color": class_color(true)})]),
            html.Div(["predicted ", html.B(names[pred], style={"color": class_color(pred)}),
                      f" {preds.confidence[i]:.0%}"]),
        ], className="small mt-1")
        return [thumbnail(ds.images[i], 128), caption], probability_bars(preds.probabilities[i], names, true)
