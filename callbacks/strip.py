"""Strip view callbacks: show the focused image and the model's probabilities for it."""

from __future__ import annotations

from dash import Input, Output, State, html, no_update

from deepling.views.common import class_color, thumbnail
from deepling.views.figures import probability_bars


def register(app, workspace) -> None:
    @app.callback(Output("focus-image", "children"), Output("focus-probs", "figure"),
                  Input("focus", "data"), State("rendered", "data"))
    def show_focus(focus, rendered):
        if not rendered or focus is None:
            return no_update, no_update
        m, d = rendered["model"], rendered["data"]
        ds, preds = workspace.dataset(m, d), workspace.predictions(m, d)
        names = workspace.class_names(m, d)
        i = int(focus or 0)
        i = min(max(i, 0), len(ds) - 1)
        true, pred = int(ds.labels[i]), int(preds.predicted[i])
        caption = html.Div([
            html.Div(f"image #{i}", className="small text-muted"),
            html.Div(["true ", html.B(names[true] if true >= 0 else "?", style={"color": class_color(true)})]),
            html.Div(["predicted ", html.B(names[pred], style={"color": class_color(pred)}),
                      f" {preds.confidence[i]:.0%}"]),
        ], className="small mt-1")
        return [thumbnail(ds.images[i], 128), caption], probability_bars(preds.probabilities[i], names, true)
