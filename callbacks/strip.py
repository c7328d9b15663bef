"""Strip and what-if callbacks: the image in focus, its adversarial strip, its edits."""

from __future__ import annotations

import base64

import numpy as np
import plotly.graph_objects as go
from dash import Input, Output, State, dcc, html, no_update

from deepling.data.images import ImageDecodeError, decode_image
from deepling.web.focus import edited_image, focused_image, is_identity
from deepling.methods import Channel, adversarial_strip
from deepling.service import schema
from deepling.web.views.common import class_color, image_uri, thumbnail
from deepling.web.views.figures import probability_bars
from deepling.web.views.heatmaps import heat, strip_png

EDIT_INPUTS = ("whatif-brightness", "whatif-hue", "whatif-rotate", "whatif-blur", "whatif-fgsm",
               "whatif-patch")


def whatif_spec(brightness, hue, rotate, blur, flips, patch_size, patch_at) -> dict:
    """The edits as deepling.methods.apply_edits reads them (identity values left out)."""
    spec = {}
    if brightness not in (None, 1, 1.0):
        spec["brightness"] = {"factor": float(brightness)}
    for name, value in (("hue", hue), ("rotate", rotate), ("blur", blur)):
        if value:
            spec[name] = float(value)
    flips = flips or []
    if flips:
        spec["flip"] = "both" if len(flips) == 2 else flips[0]
    if patch_at and patch_size:
        spec["occlude"] = {"x": int(patch_at[0]), "y": int(patch_at[1]), "size": int(patch_size),
                           "fill": "gray"}
    return spec


def register(app, workspace) -> None:
    @app.callback(Output("focus-image", "children"),
                  Input("focus", "data"), Input("picture", "data"), State("rendered", "data"))
    def show_focus(focus, picture, rendered):
        if not rendered or (focus is None and not picture):
            return no_update
        m, d = rendered["model"], rendered["data"]
        adapter, names = workspace.model(m), workspace.class_names(m, d)
        pixels, label, caption = focused_image(workspace, rendered, focus, picture)
        probs = adapter.predict_proba(pixels[None])[0]
        pred = int(probs.argmax())
        lines = [html.Div(caption, className="small text-muted")]
        if label is not None:
            lines.append(html.Div(["true ", html.B(names[label], style={"color": class_color(label)})]))
        lines.append(html.Div(["predicted ", html.B(names[pred], style={"color": class_color(pred)}),
                               f" {probs[pred]:.0%}"], className="text-danger" if label not in (None, pred) else ""))
        return [thumbnail(pixels, 128), html.Div(lines, className="small mt-1")]

    @app.callback(Output("picture", "data"), Output("picture-error", "children"),
                  Input("picture-upload", "contents"), State("picture-upload", "filename"),
                  State("rendered", "data"), prevent_initial_call=True)
    def take_picture(contents, filename, rendered):
        """A single uploaded picture replaces the dataset image until another is focused."""
        if not contents or not rendered:
            return no_update, no_update
        raw = base64.b64decode(contents.split(",", 1)[-1])
        adapter = workspace.model(rendered["model"])
        h, w, c = adapter.input_shape
        try:
            pixels = decode_image(raw, size=(h, w), channels=c)
        except ImageDecodeError as exc:
            return no_update, f"{filename}: {exc.reason}; choose a PNG, JPEG or other image file."
        png = image_uri(pixels).split(",", 1)[1]
        return {"png": png, "name": filename or "uploaded picture"}, ""

    @app.callback(Output("picture", "data", allow_duplicate=True), Input("focus", "data"),
                  prevent_initial_call=True)
    def drop_picture(_focus):
        return None

    @app.callback(Output("strip-target-class", "style"), Output("strip-target-layer", "style"),
                  Output("strip-target-channel", "style"), Input("strip-target-kind", "value"))
    def target_kind(kind):
        show, hide = {"width": "8rem"}, {"display": "none"}
        return (hide, show, {"width": "5rem"}) if kind == "channel" else ({"width": "9rem"}, hide, hide)

    @app.callback(Output("strip-output", "children"),
                  Input("strip-run", "n_clicks"), Input("focus", "data"), Input("picture", "data"),
                  State("strip-target-kind", "value"), State("strip-target-class", "value"),
                  State("strip-target-layer", "value"), State("strip-target-channel", "value"),
                  State("strip-steps", "value"), State("strip-step-size", "value"),
                  State("strip-max-change", "value"), State("rendered", "data"))
    def make_strip(_n, focus, picture, kind, cls, layer, channel, steps, step_size, max_change,
                   rendered):
        if not rendered or (focus is None and not picture):
            return no_update
        try:
            strip, names, label = run_strip(workspace, rendered, focus, picture, kind, cls, layer,
                                            channel, steps, step_size, max_change)
        except ValueError as exc:  # bad target, layer, channel; or nothing to aim at
            return html.Div(f"⚠ {exc}", className="small text-danger")
        return render_strip(strip, names, label)

    @app.callback(Output("strip-download", "data"), Input("strip-png", "n_clicks"),
                  State("focus", "data"), State("picture", "data"),
                  State("strip-target-kind", "value"), State("strip-target-class", "value"),
                  State("strip-target-layer", "value"), State("strip-target-channel", "value"),
                  State("strip-steps", "value"), State("strip-step-size", "value"),
                  State("strip-max-change", "value"), State("rendered", "data"),
                  prevent_initial_call=True)
    def download_strip(_n, focus, picture, *args):
        rendered = args[-1]
        try:
            strip, names, label = run_strip(workspace, rendered, focus, picture, *args[:-1])
        except ValueError:
            return no_update
        title = f"Deepling adversarial strip: towards {_target_name(strip, names)}"
        vmax = float(strip.delta_magnitude.max()) or 1.0
        captions = [f"step {s}\n{names[p]} {pr[p]:.0%}" for s, p, pr in
                    zip(strip.steps, strip.predicted, strip.probabilities)]
        png = strip_png(list(strip.frames), [heat(m, vmax) for m in strip.delta_magnitude],
                        captions, title)
        return dcc.send_bytes(png, "deepling-strip.png")

    @app.callback(Output("whatif-image", "figure"), Output("whatif-probs", "figure"),
                  Output("whatif-summary", "children"), Output("whatif-edits", "data"),
                  *[Input(i, "value") for i in EDIT_INPUTS], Input("whatif-flip", "value"),
                  Input("whatif-patch-at", "data"), Input("focus", "data"), Input("picture", "data"),
                  State("rendered", "data"))
    def whatif(brightness, hue, rotate, blur, epsilon, patch, flips, patch_at, focus, picture,
               rendered):
        if not rendered or (focus is None and not picture):
            return (no_update,) * 4
        m, d = rendered["model"], rendered["data"]
        adapter, names = workspace.model(m), workspace.class_names(m, d)
        pixels, label, _ = focused_image(workspace, rendered, focus, picture)
        spec = whatif_spec(brightness, hue, rotate, blur, flips, patch, patch_at)
        whatif = {"edits": spec, "fgsm": float(epsilon or 0)}
        try:
            edited = edited_image(adapter, pixels, label, whatif)
        except ValueError as exc:
            return no_update, no_update, f"⚠ {exc}", no_update
        before, after = adapter.predict_proba(np.stack([pixels, edited]))
        fig = image_figure(edited)
        bars = probability_bars(before, names, label, compare=after, compare_name="edited")
        p0, p1 = int(before.argmax()), int(after.argmax())
        summary = (f"original: {names[p0]} {before[p0]:.0%} → edited: {names[p1]} {after[p1]:.0%}"
                   + ("" if p0 == p1 else " (the prediction changed)"))
        return fig, bars, summary, (None if is_identity(whatif) else whatif)

    @app.callback(Output("whatif-patch-at", "data"), Input("whatif-image", "clickData"),
                  prevent_initial_call=True)
    def place_patch(click):
        if not click or not click.get("points"):
            return no_update
        p = click["points"][0]
        return [int(round(p["x"])), int(round(p["y"]))]

    @app.callback(*[Output(i, "value") for i in EDIT_INPUTS], Output("whatif-flip", "value"),
                  Output("whatif-patch-at", "data", allow_duplicate=True),
                  Input("whatif-reset", "n_clicks"), prevent_initial_call=True)
    def reset(_n):
        return 1.0, 0, 0, 0, 0, 8, [], None


def run_strip(workspace, rendered, focus, picture, kind, cls, layer, channel, steps, step_size,
              max_change):
    m, d = rendered["model"], rendered["data"]
    adapter, names = workspace.model(m), workspace.class_names(m, d)
    pixels, label, _ = focused_image(workspace, rendered, focus, picture)
    knobs = schema.strip_settings(steps, step_size, max_change, channel)  # capped work
    if kind == "channel":
        target = Channel(str(layer), knobs["channel"])
    elif cls in (None, "auto"):
        target = None
        pred = int(adapter.predict_proba(pixels[None])[0].argmax())
        if label is None or label == pred:
            raise ValueError("This image is classified correctly (or has no label): pick a "
                             "target class to push it towards, or a neuron.")
    else:
        target = int(cls)
    strip = adversarial_strip(adapter, pixels, target, label=label, n_frames=8,
                              steps=knobs["steps"], step_size=knobs["step_size"] or 1.0,
                              max_change=knobs["max_change"])
    return strip, names, label


def _target_name(strip, names) -> str:
    return str(strip.target) if isinstance(strip.target, Channel) else names[int(strip.target)]


def render_strip(strip, names, label):
    """Frames with their change maps (one shared scale) and the probability line."""
    vmax = float(strip.delta_magnitude.max()) or 1.0
    cells = []
    for k in range(len(strip.frames)):
        p = int(strip.predicted[k])
        flipped = strip.flip_frame is not None and k >= strip.flip_frame
        cells.append(html.Div([
            thumbnail(strip.frames[k], 58, title=f"step {strip.steps[k]}"),
            thumbnail(heat(strip.delta_magnitude[k], vmax), 58,
                      title=f"change ×{255 / vmax:.0f}: max {strip.delta_magnitude[k].max():.0f} levels"),
            html.Div(f"step {strip.steps[k]}", className="text-muted"),
            html.Div([html.B(names[p], style={"color": class_color(p)}),
                      f" {strip.probabilities[k, p]:.0%}"], className="dl-flip" if flipped else ""),
        ], className="dl-strip-cell small"))
    target = _target_name(strip, names)
    if strip.flip_step is not None:
        flip = f"the prediction flips at step {strip.flip_step}"
    elif not isinstance(strip.target, Channel) and int(strip.predicted[0]) == int(strip.target):
        # the default for a misclassified image: push on to see what the model sees in it
        flip = f"already predicted {target}: the strip shows what makes it {target}"
    else:
        flip = "the prediction does not flip"
    head = html.Div([f"towards {target} ({strip.score_name}) · {flip} · change maps share one "
                     f"scale (max {vmax:.0f} levels)"] + [html.Div(n) for n in strip.notes],
                    className="small text-muted mb-1")
    return html.Div([head, html.Div(cells, className="dl-strip-row"),
                     dcc.Graph(figure=probability_lines(strip, names, label),
                               config={"displayModeBar": False})])


def probability_lines(strip, names, label) -> go.Figure:
    """Probabilities per frame; frames are evenly spaced on x and labelled with their step
    (the strip takes frames at geometrically growing steps)."""
    frames = list(range(len(strip.steps)))
    fig = go.Figure()
    shown = []
    for k, role in ((label, "true"), (int(strip.predicted[0]), "predicted"),
                    (None if isinstance(strip.target, Channel) else int(strip.target), "target")):
        if k is None or k in [s for s, _ in shown]:
            continue
        shown.append((k, role))
        fig.add_scatter(x=frames, y=strip.probabilities[:, k], mode="lines+markers",
                        name=f"{names[k]} ({role})", line=dict(color=class_color(k), width=2))
    if strip.flip_frame is not None:
        fig.add_vline(x=strip.flip_frame - 0.5, line=dict(color="#999", dash="dot"))
    fig.update_layout(height=170, margin=dict(l=8, r=8, t=28, b=8), plot_bgcolor="white",
                      yaxis=dict(range=[0, 1.02], tickformat=".0%", gridcolor="#eee",
                                 tickvals=[0, 0.5, 1]),
                      xaxis=dict(title=None, gridcolor="#eee", tickvals=frames,
                                 ticktext=[f"step {s}" for s in strip.steps]),
                      legend=dict(orientation="h", x=0, y=1.02, yanchor="bottom"))
    return fig


def image_figure(pixels) -> go.Figure:
    """The edited image as a clickable figure (clicks place the occlusion patch)."""
    img = pixels if pixels.shape[-1] == 3 else np.repeat(pixels, 3, axis=-1)
    fig = go.Figure(go.Image(z=img, hovertemplate="x %{x}, y %{y}<extra>click: place the patch</extra>"))
    fig.update_layout(width=170, height=170, margin=dict(l=0, r=0, t=0, b=0),
                      xaxis=dict(visible=False), yaxis=dict(visible=False))
    return fig
