"""Layer animation view: the selected images as points, moving from layer to layer.

The plot is drawn by ``assets/layer_scatter_6_scatter.js`` and its parts (WebGL); ``assets/animation_view.js``
wires it to the controls below in the browser, so dragging the slider, playing, hovering
and toggling classes never wait for the server. The server only computes projections
(in the background, with progress) and sends them once, compactly.
"""

from __future__ import annotations

import csv
import io

import dash_bootstrap_components as dbc
import numpy as np
from dash import dcc, html

from deepling.service.projections import ACROSS_LAYERS, ACROSS_TRAINING
from deepling.service.selection import DEFAULT, MAX_COUNT, MODES, to_query
from deepling.service.workspace import DATA_SPLITS, DEFAULT_ID
from deepling.web.views.common import card
from deepling.web.wire import binary_payload, payload_url, sequence_payload, shown_names

MODE_LABELS = {"classes": "per class", "random": "random sample", "misclassified": "misclassified",
               "cell": "confusion cell", "indices": "picked images"}
OPEN_MODEL = "open"  # the snapshot picker's value for the open model itself
SPLIT_LABELS = {"test": "test images", "train": "training images", "all": "all images"}


def split_choice(data_id: str):
    """Which split of the server's data to take images from (a new page: every view follows)."""
    base, _, split = data_id.partition("@")
    if base != DEFAULT_ID:
        return None  # an upload is one set of images
    return dbc.Select(id="anim-split", value=split or "test", size="sm", style={"width": "9.5rem"},
                      options=[{"label": SPLIT_LABELS[s], "value": s} for s in DATA_SPLITS])


def layout(ctx) -> dbc.Card:
    names = ctx["dataset"].class_names  # the choice is by true class
    labelled = ctx["dataset"].labelled
    comparable = labelled and ctx["dataset"].n_classes == ctx["adapter"].n_outputs
    choose = html.Div([
        split_choice(ctx.get("data_id", DEFAULT_ID)),
        dbc.Select(id="anim-mode", value=DEFAULT["mode"], size="sm", style={"width": "9.5rem"},
                   options=[{"label": MODE_LABELS[m], "value": m} for m in MODES]),
        dcc.Dropdown(id="anim-classes", multi=True, placeholder="all classes",
                     options=[{"label": n, "value": k} for k, n in enumerate(names)],
                     className="dl-class-picker"),
        dbc.InputGroup([dbc.InputGroupText("count"),
                        dbc.Input(id="anim-count", type="number", min=1, max=MAX_COUNT, step=1,
                                  value=DEFAULT["count"], debounce=True)],
                       size="sm", style={"width": "9rem"}),
        html.Div(dbc.Select(id="anim-method", value="landmarks", size="sm", style={"width": "10rem"},
                            options=[{"label": "landmark MDS", "value": "landmarks"},
                                     {"label": "Pivot MDS", "value": "pivot_mds"}]),
                 title="How each layer is laid out: classical MDS in 128 landmarks' principal "
                       "subspace (default, measured better), or Pivot MDS (Brandes & Pich 2006) "
                       "from distances to 50 pivots. Both in one pass over the images."),
        html.Div(dbc.Select(id="anim-frames", value="blocks", size="sm", style={"width": "9.5rem"},
                            options=[{"label": "block outputs", "value": "blocks"},
                                     {"label": "every layer", "value": "all"}]),
                 title="Which layers become frames: the block outputs of a deep network "
                       "(every layer of a model of up to 40), or every layer."),
        dbc.Button("Project", id="anim-project", size="sm", color="primary"),
    ], className="d-flex flex-wrap gap-2 align-items-center mb-2")
    # Shown once the open model has a training run with snapshots (callbacks/animation.py).
    training = html.Div([
        dbc.RadioItems(id="anim-across", value=ACROSS_LAYERS, inline=True, className="small",
                       options=[{"label": "across layers", "value": ACROSS_LAYERS},
                                {"label": "across training", "value": ACROSS_TRAINING}]),
        html.Span("snapshot", className="small text-muted", id="anim-snapshot-label"),
        # not "": dbc.Select's hidden placeholder option has that value, so the picker
        # showed blank (#24)
        dbc.Select(id="anim-snapshot", value=OPEN_MODEL, size="sm", style={"width": "9rem"},
                   options=[{"label": "the open model", "value": OPEN_MODEL}]),
        html.Span("layer", className="small text-muted", id="anim-along-label"),
        dbc.Select(id="anim-along", size="sm", style={"width": "9rem"}, options=[]),
        html.Button("trails", id="anim-trails", className="btn btn-sm btn-outline-secondary active",
                    title="short fading trails of each point's last positions"),
    ], id="anim-training-row", className="d-flex flex-wrap gap-2 align-items-center mb-2 dl-training-row",
        hidden=True)
    progress = html.Div([
        dbc.Progress(id="anim-progress", value=0, striped=True, animated=True,
                     className="flex-grow-1", style={"height": "6px"}),
        html.Span(id="anim-status", className="small text-muted dl-status"),
    ], id="anim-progress-row", className="d-flex align-items-center gap-2 mb-1")
    plot = html.Div([
        html.Div(id="scatter-host", className="dl-scatter"),
        html.Div(id="scatter-tooltip", className="dl-tooltip", hidden=True),
        html.Div(id="scatter-legend", className="dl-legend"),
    ], className="dl-scatter-wrap")
    player = html.Div([
        html.Button(html.Span(className="dl-play-icon"), id="anim-play", **{"aria-label": "play"},
                    className="btn btn-sm btn-outline-primary dl-play",
                    title="play / pause (space)"),
        # The range input is made by animation_view.js: the play loop moves it 60 times a
        # second, which must not go through React or the server.
        html.Div(id="anim-slider-host", className="flex-grow-1 d-flex"),
        dbc.Select(id="anim-speed", value="1", size="sm", style={"width": "6rem"},
                   options=[{"label": f"{s}×", "value": str(s)} for s in (0.25, 0.5, 1, 2, 4)]),
    ], className="d-flex align-items-center gap-2 mt-2")
    footer = html.Div([
        html.Div(id="anim-layer-info", className="small dl-layer-info"),
        html.Div([
            # colour by the true class (the labels) or by the prediction; unlabelled images
            # have only the prediction. Marking errors goes with either colouring.
            dbc.RadioItems(id="anim-color", value="true" if labelled else "predicted", inline=True,
                           className="small",
                           options=[{"label": "true class", "value": "true", "disabled": not labelled},
                                    {"label": "predicted", "value": "predicted"}]),
            dbc.Checklist(id="anim-errors", value=[], inline=True, className="small",
                          options=[{"label": "mark errors", "value": "errors", "disabled": not comparable}]),
            html.Button("pictures", id="anim-style", className="btn btn-sm btn-outline-secondary"),
            html.Button("PNG", id="anim-png", className="btn btn-sm btn-outline-secondary"),
            html.Button("CSV", id="anim-csv", className="btn btn-sm btn-outline-secondary"),
            dcc.Download(id="anim-csv-download"),
        ], className="d-flex align-items-center gap-2 ms-auto"),
    ], className="d-flex flex-wrap align-items-center gap-2 mt-1")
    stores = [
        dcc.Store(id="anim-request"),   # {"key", "choice", "model", "data", "layer", "across"}
        dcc.Store(id="anim-payload"),   # the typed-array payload for the renderer
        dcc.Store(id="anim-shown"),     # request_token of the payload sent (not sent twice)
        dcc.Interval(id="anim-poll", interval=300, disabled=True),
        html.Div(id="anim-mounted", hidden=True),
    ]
    help_text = html.Span("drag: pan · wheel: zoom · shift+drag: box · alt+drag: lasso · "
                          "click: focus an image", className="small text-muted")
    body = [choose, training, progress, plot, player, footer, *stores]
    return card("Layer animation", body, "animation-card", extra=help_text)


def animation_payload(workspace, request: dict, result) -> tuple[dict, str]:
    """The renderer's payload for a done projection request (the page's ``anim-request``)
    and the status line under it. Across layers the point arrays travel apart, as one
    binary body (``deepling/web/payload_bytes.py``); across training they stay inside."""
    model_id, data_id, choice = request["model"], request["data"], request["choice"]
    indices, seq = result.indices, result.sequence
    # predictions named apart from labels that are not the model's classes
    names, offset = shown_names(workspace.class_names(model_id, data_id),
                                workspace.label_names(model_id, data_id))
    if request.get("across") == ACROSS_TRAINING:
        labels = workspace.dataset(model_id, data_id).labels[indices]
        payload = epochs_payload(result, labels, names, f"{model_id}/{data_id}", request["along"], offset)
        start = request.get("start")
        summary = f"{len(indices):,} images · {request['along']} at {len(seq):,} snapshots"
    else:
        payload = binary_payload(seq, names, f"{model_id}/{data_id}",
                                 payload_url(model_id, data_id, request["key"]))
        payload.update(across=ACROSS_LAYERS, snapshot=request.get("snapshot"))
        start = request.get("layer")
        summary = f"{len(indices):,} images · {len(seq):,} layers"
        if request.get("snapshot"):
            summary += f" · the model at {request['snapshot']} of its training run"
    # The page's model stays the open one (a snapshot is shown, not opened).
    payload.update(choice=choice, model=request.get("open", model_id), data=data_id,
                   key=request["key"], startLayer=start, query=to_query(choice).lstrip("?"))
    if seq.warnings:
        summary += f" · {len(seq.warnings)} warning(s): " + "; ".join(seq.warnings)
    return payload, summary


def training_choices(snapshots, layers) -> tuple[list, list]:
    """Options of the snapshot picker (the open model, then each kept epoch) and of the
    layer picker across training (the layers a run measures)."""
    epochs = [{"label": "the open model", "value": OPEN_MODEL}]
    epochs += [{"label": f"epoch {e}", "value": str(e)} for e, _ in snapshots]
    return epochs, [{"label": n, "value": n} for n in layers]


def training_query(search, across=None, snapshot=None, along=None):
    """The link's across-training state: ``?across=training&along=fc2&epoch=3`` or, across
    layers, ``?snapshot=3`` (the epoch shown). Returns (across, snapshot, along, epoch)."""
    from urllib.parse import parse_qs

    q = {k: v[-1] for k, v in parse_qs((search or "").lstrip("?")).items()}
    across = q.get("across") if q.get("across") in (ACROSS_LAYERS, ACROSS_TRAINING) else (across or ACROSS_LAYERS)
    snapshot = q["snapshot"] if q.get("snapshot", "").isdigit() else (snapshot or "")
    along = q.get("along") or along
    epoch = f"epoch {q['epoch']}" if q.get("epoch", "").isdigit() else None
    return across, snapshot, along, epoch


def layouts_csv(seq, indices, labels, predicted, names) -> str:
    """One row per image and layer: the layouts as a user's spreadsheet reads them."""
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["layer_index", "layer", "image_index", "true_class", "predicted_class", "x", "y"])
    for li, name in enumerate(seq.names):
        xy = np.asarray(seq.layouts[li])
        for j, i in enumerate(indices):
            w.writerow([li, name, int(i), names[labels[j]], names[predicted[j]],
                        f"{xy[j, 0]:.5f}", f"{xy[j, 1]:.5f}"])
    return out.getvalue()


def epochs_payload(projection, labels, class_names, data_key: str, layer: str,
                   offset: int = 0) -> dict:
    """The renderer's payload for one layer across training: the same contract as across
    layers, one frame per snapshot. Points are coloured by the last snapshot's predictions;
    each frame notes its snapshot's accuracy on these images."""
    predicted, confidence = projection.predicted, projection.confidence
    payload = sequence_payload(projection.sequence, projection.indices, labels, predicted[-1] + offset,
                               confidence[-1], class_names, data_key)
    known = np.asarray(labels) >= 0
    for frame, right in zip(payload["layers"], predicted == np.asarray(labels)):
        frame["layer"] = layer
        # no accuracy where labels are not the model's classes (offset: shown_names)
        frame["accuracy"] = round(float(right[known].mean()), 4) if known.any() and not offset else None
    payload.update(across=ACROSS_TRAINING, along=layer)
    return payload


def request_token(request: dict) -> str:
    """What makes a projection request another payload: its job and how it is shown."""
    return "|".join(str(request.get(k)) for k in ("key", "open", "across", "along", "snapshot",
                                                   "layer", "start"))
