"""Testing view callbacks: confidence embedding, explanations, robustness simulation.

The embedding and the explanations take well under a second once the model's functions
are traced, so they run in the callback. The robustness simulation (every augmentation at
every magnitude over up to 2,000 images) runs as the background task ``robustness`` (see
:mod:`deepling.service.tasks`) and the page polls its progress, as the layer animation does.
"""

from __future__ import annotations

import numpy as np
from dash import Input, Output, State, ctx, html, no_update

from deepling.web.focus import edited_image, focused_image, is_identity
from deepling.service.metrics import (
    cached_robustness,
    image_robustness,
    robustness_json,
    robustness_key,
    stratified_sample,
)
from deepling.service.selection import choose_images
from deepling.web.views import testing as view

EMBED_DEFAULT = 500   # images in the embedding when the animation has chosen none
EMBED_MAX = 2000      # above this the embedding subsamples: it is an SVG scatter, not WebGL
SEED = 0


# --- confidence embedding ---------------------------------------------------------------
def embedding_indices(labels, predicted, choice: dict | None) -> tuple[np.ndarray, str]:
    """The images to lay out: the animation's choice, else a stratified sample.

    Returns the sorted dataset indices and a phrase saying where they came from.
    """
    idx, source = None, "the layer animation's images"
    if choice:
        try:
            idx = choose_images(labels, predicted, choice)
        except ValueError:
            idx = None  # the animation reports a bad choice itself; show a sample meanwhile
    if idx is None:
        source = "a stratified sample"
        if (labels >= 0).any():
            idx = stratified_sample(labels, EMBED_DEFAULT, SEED)
        else:
            idx = np.random.default_rng(SEED).permutation(len(labels))[:EMBED_DEFAULT]
    if len(idx) > EMBED_MAX:
        keep = np.random.default_rng(SEED).choice(len(idx), EMBED_MAX, replace=False)
        idx, source = idx[keep], f"{EMBED_MAX:,} of the layer animation's {len(idx):,} images"
    return np.sort(idx), source


def compute_embedding(adapter, images) -> tuple[str, np.ndarray]:
    """(layer name, N×2 layout) of the penultimate layer, fitted to its bulk as the layer
    animation is (a few far points would squeeze the rest); disk-cached by layer_sequence."""
    from deepling.projection import layer_sequence
    from deepling.web.views.payload import fit_view

    layer = view.penultimate_layer(adapter.model)
    seq = layer_sequence(adapter, images, layers=[layer])
    return layer, fit_view(seq.layout(layer)[None])[0]


# --- explanations -------------------------------------------------------------------------
def explain_image(adapter, image, layer: str | None, class_index: int | None) -> dict:
    """Grad-CAM, saliency and occlusion for one image; a method that fails gives its error.

    A model can suit one method and not another (no spatial layer for Grad-CAM, say), so
    each failure is shown in its own panel instead of blanking the row.
    """
    from deepling.methods import gradcam, occlusion_sensitivity, saliency

    patch = max(2, min(image.shape[:2]) // 4)  # 8 px on CIFAR's 32 px
    calls = {
        "gradcam": lambda: gradcam(adapter, image, layer=layer, target=class_index),
        "saliency": lambda: saliency(adapter, image, target=class_index),
        "occlusion": lambda: occlusion_sensitivity(adapter, image, target=class_index,
                                                   patch=patch, stride=max(1, patch // 2)),
    }
    out = {}
    for name, call in calls.items():
        try:
            out[name] = call()
        except ValueError as exc:
            out[name] = exc
    return out


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


# --- wiring -----------------------------------------------------------------------------------
def register(app, workspace) -> None:
    jobs = app.server.config["DEEPLING_JOBS"]

    @app.callback(Output("test-embed", "figure"), Output("test-embed-caption", "children"),
                  Output("test-embed-points", "data"),
                  Input("anim-request", "data"), State("focus", "data"), State("rendered", "data"))
    def embedding(request, focus, rendered):
        if not rendered:
            return no_update, no_update, no_update
        m, d = rendered["model"], rendered["data"]
        adapter, ds = workspace.model(m), workspace.dataset(m, d)
        preds, names = workspace.predictions(m, d), workspace.class_names(m, d)
        idx, source = embedding_indices(ds.labels, preds.predicted, (request or {}).get("choice"))
        if len(idx) < 2:
            return view.empty_figure("The embedding needs at least 2 images.", 380), "", None
        try:
            layer, xy = compute_embedding(adapter, ds.images[idx])
        except ValueError as exc:
            return view.empty_figure(f"⚠ {exc}", 380), "", None
        fig = view.embedding_figure(xy, idx, ds.labels[idx], preds.predicted[idx],
                                    preds.confidence[idx], names, focus)
        caption = [html.B(layer), f" (the layer before the classifier) · {len(idx):,} images, {source}"]
        points = {"indices": idx.tolist(), "x": xy[:, 0].tolist(), "y": xy[:, 1].tolist(),
                  "marker": len(fig.data) - 1}
        return fig, caption, points

    # The ring on the focused point moves in the browser: no round trip, no spinner over
    # the plot while the user is clicking in it.
    app.clientside_callback(
        """function (focus, points) {
            const gd = document.querySelector('#test-embed .js-plotly-plot');
            if (!gd || !points || !gd.data || gd.data.length <= points.marker) {
                return window.dash_clientside.no_update;
            }
            const j = points.indices.indexOf(focus);
            window.Plotly.restyle(gd, {x: [j >= 0 ? [points.x[j]] : []], y: [j >= 0 ? [points.y[j]] : []]},
                                  [points.marker]);
            return window.dash_clientside.no_update;
        }""",
        Output("test-embed-sink", "children"), Input("focus", "data"), State("test-embed-points", "data"))

    @app.callback(Output("focus", "data", allow_duplicate=True),
                  Input("test-embed", "clickData"), prevent_initial_call=True)
    def focus_from_embedding(click):
        points = (click or {}).get("points") or []
        if not points or not points[0].get("customdata"):
            return no_update
        return int(points[0]["customdata"][0])

    @app.callback(Output("test-layer", "value", allow_duplicate=True), Input("layer", "data"),
                  State("test-layer", "options"), prevent_initial_call=True)
    def follow_architecture_layer(layer, options):
        # A spatial layer picked in the architecture view is the one to explain.
        if layer and any(o["value"] == layer for o in options or []):
            return layer
        return no_update

    @app.callback(Output("test-explain", "children"),
                  Input("focus", "data"), Input("picture", "data"), Input("test-layer", "value"),
                  Input("test-class", "value"), Input("whatif-edits", "data"), State("rendered", "data"))
    def explain(focus, picture, layer, class_value, whatif, rendered):
        if not rendered or (focus is None and not picture):
            return no_update
        m, d = rendered["model"], rendered["data"]
        adapter, names = workspace.model(m), workspace.class_names(m, d)
        pixels, label, caption = focused_image(workspace, rendered, focus, picture)
        cls = None if class_value in (None, view.AUTO_CLASS) else int(class_value)
        truth = f"true {names[label]}" if label is not None else "label unknown"
        probs = adapter.predict_proba(pixels[None])[0]
        rows = [view.explanation_row(caption, pixels, explain_image(adapter, pixels, layer, cls),
                                     names, _verdict(truth, probs, names))]
        if is_identity(whatif):
            rows.append(html.Div("Edit this image in the what-if panel to compare an edited copy "
                                 "here, side by side.", className="dl-test-hint"))
            return rows
        try:
            edited = edited_image(adapter, pixels, label, whatif)
        except ValueError as exc:
            rows.append(html.Div(f"⚠ The what-if edits cannot be applied: {exc}",
                                 className="small text-danger"))
            return rows
        probs = adapter.predict_proba(edited[None])[0]
        rows.append(view.explanation_row("edited", edited, explain_image(adapter, edited, layer, cls),
                                         names, _verdict(describe_whatif(whatif), probs, names)))
        return rows

    @app.callback(Output("test-robust-request", "data"), Output("test-robust-poll", "disabled"),
                  Output("test-robust-status", "children", allow_duplicate=True),
                  Input("test-robust-run", "n_clicks"), Input("test-robust-size", "value"),
                  State("rendered", "data"), prevent_initial_call="initial_duplicate")
    def request_robustness(_clicks, size, rendered):
        if not rendered:
            return no_update, no_update, no_update
        m, d = rendered["model"], rendered["data"]
        size = int(size or view.DEFAULT_SAMPLE)
        adapter, ds = workspace.model(m), workspace.dataset(m, d)
        if not (ds.labels >= 0).any():
            return None, True, "The simulation needs labelled images; this dataset has none."
        key = robustness_key(adapter, ds, size)
        started = ctx.triggered_id == "test-robust-run"
        if started:
            jobs.submit(key, "robustness", {"model": m, "data": d, "size": size})
        # Not started: the poll shows a cached result at once, or says how to get one.
        return ({"key": key, "size": size, "model": m, "data": d, "started": started}, False,
                "starting…" if started else "")

    @app.callback(Output("test-robust-result", "data"),
                  Output("test-robust-poll", "disabled", allow_duplicate=True),
                  Output("test-robust-progress", "value"), Output("test-robust-status", "children"),
                  Output("test-robust-progress", "className"),
                  Input("test-robust-poll", "n_intervals"), State("test-robust-request", "data"),
                  prevent_initial_call=True)
    def poll_robustness(_n, request):
        if not request:
            return no_update, True, 0, no_update, _bar_class(False)
        cached = cached_robustness(workspace, request["model"], request["data"], request["size"])
        if cached is not None:
            result = robustness_json(cached)
            return (result, True, 100, f"{result['n']:,} test images, stratified by class",
                    _bar_class(False))
        status = jobs.status(request["key"])
        state = status["state"]
        if state == "error":
            return None, True, 100, f"⚠ {status['message']}", _bar_class(True, error=True)
        if state in ("queued", "running") or (state == "unknown" and request.get("started")):
            return (no_update, False, round(100 * status["progress"]),
                    status["message"] or "waiting", _bar_class(True))
        if state == "done":  # written by another process; the next poll reads it
            return no_update, False, 100, "reading the result…", _bar_class(True)
        note = (f"Not run yet on {request['size']:,} images: press Run simulation "
                "(about a minute per 1,000 images on two cores).")
        return None, True, 0, note, _bar_class(False)

    @app.callback(Output("test-robust-graph", "figure"),
                  Input("test-robust-result", "data"), Input("focus", "data"), Input("picture", "data"),
                  State("rendered", "data"))
    def draw_robustness(result, focus, picture, rendered):
        if not rendered:
            return no_update
        m, d = rendered["model"], rendered["data"]
        adapter, names = workspace.model(m), workspace.class_names(m, d)
        curves, label_text = None, "image in focus"
        if focus is not None or picture:
            pixels, label, caption = focused_image(workspace, rendered, focus, picture)
            # Unlabelled: follow the class the model predicts, and say so.
            target = label if label is not None else int(adapter.predict_proba(pixels[None]).argmax())
            label_text = f"{caption} ({names[target]}{'' if label is not None else ', predicted'})"
            curves = image_robustness(adapter, pixels, target)
        return view.robustness_figure(result, curves, names, label_text)


def _verdict(prefix: str, probs: np.ndarray, names) -> str:
    p = int(np.argmax(probs))
    return f"{prefix} · predicted {names[p]} {probs[p]:.0%}"


def _bar_class(visible: bool, error: bool = False) -> str:
    """Class of the progress bar: hidden when nothing runs (the status text stays)."""
    return "flex-grow-1" + ("" if visible else " dl-test-hidden") + (" dl-test-error" if error else "")
