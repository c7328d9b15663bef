"""Architecture view: the model's layers with types, shapes and parameter counts."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import html

from deepling.models.summary import format_count, model_summary
from deepling.views.common import card, note_list


def layout(ctx) -> dbc.Card:
    adapter = ctx["adapter"]
    summary = model_summary(adapter.model)
    rows = [html.Tr([html.Td(r["name"], className="fw-semibold"), html.Td(r["type"]),
                     html.Td(_fmt_shape(r["output_shape"])), html.Td(format_count(r["params"]))],
                    id={"type": "arch-layer", "name": r["name"]})
            for r in summary["layers"]]
    table = dbc.Table([html.Thead(html.Tr([html.Th(h) for h in ("layer", "type", "output", "params")])),
                       html.Tbody(rows)], size="sm", hover=True, className="dl-layer-table mb-2")
    head = html.Div([
        html.Span(f"{summary['n_layers']} layers · {format_count(summary['params'])} parameters · "
                  f"input {_fmt_shape(summary['input_shape'])} → {_fmt_shape(summary['output_shape'])}",
                  className="small text-muted"),
    ], className="mb-2")
    body = [head, html.Div(table, className="dl-scroll"), note_list(adapter.notes)]
    return card("Architecture", body, "architecture-card")


def _fmt_shape(shape) -> str:
    if shape is None:
        return "—"
    if isinstance(shape, list):
        return ", ".join(_fmt_shape(s) for s in shape)
    return "×".join("?" if d is None else str(d) for d in shape)
