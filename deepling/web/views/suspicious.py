"""The data card's Suspicious labels view: images ranked by a label-error score.

Each row: the image (click → focus in every view) with its given label and the model's
prediction, the score, the layer at which it moved to another class's neighbourhood,
its nearest neighbours at the penultimate layer (thumbnails framed in their labels'
colours), buttons to mark the label wrong or fine (kept in the session's store) and to
send the image, its neighbours and both classes to the layer animation. The list exports
as CSV or JSON with the marks.
"""

from __future__ import annotations

import csv
import io
import json

import dash_bootstrap_components as dbc
from dash import dcc, html

from deepling.web.pacing import paced_stores
from deepling.web.views.common import class_color

ROWS = 20  # rows shown (the export has every ranked image of the list's head)
MARKS = {"wrong": "label is wrong", "fine": "label is fine"}


def section() -> html.Div:
    """The section at the foot of the data card; filled once the ranking job is done."""
    return html.Div([
        html.Div([
            html.Span("Suspicious labels", className="fw-semibold"),
            html.Span("images whose given label the model and its own representations doubt",
                      className="text-muted ms-2"),
        ], className="small mt-3 mb-1 dl-data-section"),
        html.Div([
            dbc.Button("Rank the labels", id="sus-run", size="sm", color="primary"),
            dbc.Button("CSV", id="sus-csv", size="sm", color="secondary", outline=True, disabled=True),
            dbc.Button("JSON", id="sus-json", size="sm", color="secondary", outline=True, disabled=True),
            html.Span(id="sus-status", className="small text-muted"),
        ], className="d-flex align-items-center gap-2 mb-1"),
        dbc.Progress(id="sus-progress", value=0, style={"height": "4px"}, className="mb-1"),
        html.Div(id="sus-notes", className="small text-muted"),
        html.Div(id="sus-list", className="dl-sus-list"),
        dcc.Store(id="sus-job"), dcc.Store(id="sus-ready"),
        dcc.Store(id="sus-marks", storage_type="session", data={}),
        dcc.Interval(id="sus-poll", interval=500, disabled=True), *paced_stores("sus-poll"),
        dcc.Download(id="sus-download"),
    ], id="sus-section")


def rows(result, class_names, data_key: str, marks: dict | None, focus=None, n: int = ROWS):
    """One row per suspicious image, most suspicious first."""
    marks = marks or {}
    out = []
    names = list(class_names)

    def name(k):
        return names[k] if 0 <= k < len(names) else str(k)

    for r in result.rows(n, names):
        i = r["index"]
        mark = marks.get(str(i))
        neighbours = [html.Img(src=f"/api/images/{data_key}/{j}.png", width=28, height=28,
                               title=f"#{j}: {name(int(result.labels[j]))}",
                               className="dl-pixelated dl-sus-neighbour",
                               style={"borderColor": class_color(int(result.labels[j]))})
                      for j in r["neighbours"]]
        at = int(result.moved_layer[r["rank"] - 1])
        moved = ("its neighbours share its label" if at < 0 else
                 f"in {r['moved_to']}'s neighbourhood from the input on" if at == 0 else
                 f"moved to {r['moved_to']}'s neighbourhood at {r['moved_at']}")
        out.append(html.Div([
            html.Button(html.Img(src=f"/api/images/{data_key}/{i}.png", width=48, height=48,
                                 alt=f"#{i}", className="dl-pixelated"),
                        id={"type": "sus-tile", "index": i}, title=f"#{i}: focus it in every view",
                        className="dl-tile dl-data-tile" + (" dl-data-focused" if i == focus else ""),
                        style={"borderColor": class_color(int(result.predicted[i]))}),
            html.Div([
                html.Div([html.Span(f"{r['rank']}. #{i} ", className="text-muted"),
                          "given ", html.B(r["given"]), " · predicted ", html.B(r["predicted"]),
                          html.Span(f" · score {r['score']:.2f}", className="text-muted")]),
                html.Div(f"{moved} · model {r['cleanlab_quality']:.2f}, neighbours "
                         f"{r['knn_quality']:.2f} agree", className="text-muted"),
                html.Div(neighbours, className="d-flex gap-1 mt-1",
                         title=f"nearest neighbours at {result.penultimate}"),
            ], className="flex-grow-1 small"),
            html.Div([
                dbc.Button("wrong", id={"type": "sus-mark-wrong", "index": i}, size="sm",
                           color="danger", outline=mark != "wrong", className="py-0"),
                dbc.Button("fine", id={"type": "sus-mark-fine", "index": i}, size="sm",
                           color="success", outline=mark != "fine", className="py-0"),
                dbc.Button("animate", id={"type": "sus-animate", "index": i}, size="sm",
                           color="link", className="py-0 small",
                           title="send it, its neighbours and both classes to the layer animation"),
            ], className="d-flex flex-column gap-1"),
        ], className="d-flex align-items-center gap-2 py-1 border-bottom dl-sus-row",
            id={"type": "sus-row", "index": i}))
    return out


def export(result, class_names, marks: dict | None, kind: str) -> str:
    """The ranked list (the head the view holds) with the session's marks, as CSV or JSON."""
    marks = marks or {}
    table = result.rows(None, list(class_names))
    for r in table:
        r["mark"] = marks.get(str(r["index"]), "")
        r["neighbours"] = " ".join(map(str, r["neighbours"]))
    if kind == "json":
        return json.dumps({"notes": list(result.notes), "images": table}, indent=1)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(table[0]) if table else ["rank"])
    writer.writeheader()
    writer.writerows(table)
    return buf.getvalue()
