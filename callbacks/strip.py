"""Strip and what-if callbacks: the image in focus, its adversarial strip, its edits.

The work is :mod:`deepling.service.focus`'s, the pictures and figures
:mod:`deepling.web.views.strip`'s; these callbacks connect them to the page.
"""

from __future__ import annotations

import base64

from dash import ALL, Input, Output, State, dcc, html, no_update

from deepling.data.images import ImageDecodeError
from deepling.service import focus as service
from deepling.web.clicks import clicked
from deepling.web.views import strip as view
from deepling.web.views.heatmaps import strip_picture

EDIT_INPUTS = ("whatif-brightness", "whatif-hue", "whatif-rotate", "whatif-blur", "whatif-fgsm",
               "whatif-patch")


def register(app, services) -> None:
    register_focus(app, services)
    register_strip(app, services)
    register_whatif(app, services)


def register_focus(app, services) -> None:
    """The image in focus or an uploaded picture, and the images picked."""
    workspace = services.workspace

    @app.callback(Output("focus-image", "children"),
                  Input("focus", "data"), Input("picture", "data"), State("rendered", "data"))
    def show_focus(focus, picture, rendered):
        if not rendered or (focus is None and not picture):
            return no_update
        m, d = rendered["model"], rendered["data"]
        adapter, names = workspace.model(m), workspace.class_names(m, d)
        pixels, label, caption = service.focused_image(workspace, rendered, focus, picture)
        probs = adapter.predict_proba(pixels[None])[0]
        return view.focus_card(pixels, caption, label, probs, names, workspace.label_names(m, d))

    @app.callback(Output("picture", "data"), Output("picture-error", "children"),
                  Input("picture-upload", "contents"), State("picture-upload", "filename"),
                  State("rendered", "data"), prevent_initial_call=True)
    def take_picture(contents, filename, rendered):
        """A single uploaded picture replaces the dataset image until another is focused."""
        if not contents or not rendered:
            return no_update, no_update
        raw = base64.b64decode(contents.split(",", 1)[-1])
        try:
            return service.picture_from_upload(workspace.model(rendered["model"]), raw, filename,
                                               workspace.uploads.limits.max_image_pixels), ""
        except ImageDecodeError as exc:
            return no_update, f"{filename}: {exc.reason}; choose a PNG, JPEG or other image file."

    @app.callback(Output("picture", "data", allow_duplicate=True), Input("focus", "data"),
                  prevent_initial_call=True)
    def drop_picture(_focus):
        return None

    @app.callback(Output("strip-subset", "children"), Input("subset", "data"),
                  State("focus", "data"), State("rendered", "data"))
    def show_subset(subset, focus, rendered):
        if not rendered:
            return no_update
        return view.subset_chooser(subset, f"{rendered['model']}/{rendered['data']}", focus)

    @app.callback(Output("focus", "data", allow_duplicate=True),
                  Input({"type": "strip-pick", "index": ALL}, "n_clicks"), prevent_initial_call=True)
    def focus_picked(clicks):
        index = clicked()
        return no_update if index is None else int(index)


def register_strip(app, services) -> None:
    """The adversarial strip and its download."""
    workspace = services.workspace

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
            strip, names, label = service.run_strip(workspace, rendered, focus, picture, kind, cls,
                                                    layer, channel, steps, step_size, max_change)
        except ValueError as exc:  # bad target, layer, channel; or nothing to aim at
            return html.Div(f"⚠ {exc}", className="small text-danger")
        return view.render_strip(strip, names, label)

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
            strip, names, label = service.run_strip(workspace, rendered, focus, picture, *args[:-1])
        except ValueError:
            return no_update
        title = f"Deepling adversarial strip: towards {view.target_name(strip, names)}"
        return dcc.send_bytes(strip_picture(strip, names, title), "deepling-strip.png")


def register_whatif(app, services) -> None:
    """The what-if panel: edits of the image in focus."""
    workspace = services.workspace

    @app.callback(Output("whatif-image", "figure"), Output("whatif-probs", "figure"),
                  Output("whatif-summary", "children"), Output("whatif-edits", "data"),
                  *[Input(i, "value") for i in EDIT_INPUTS], Input("whatif-flip", "value"),
                  Input("whatif-patch-at", "data"), Input("focus", "data"), Input("picture", "data"),
                  Input("strip-tabs", "active_tab"), State("rendered", "data"))
    def whatif(brightness, hue, rotate, blur, epsilon, patch, flips, patch_at, focus, picture,
               tab, rendered):
        # A view not on screen costs nothing (#24): the what-if panel is computed and drawn
        # when its tab is shown (showing it triggers this), not on every focus change.
        if not rendered or (focus is None and not picture) or tab != "whatif":
            return (no_update,) * 4
        m, d = rendered["model"], rendered["data"]
        adapter, names = workspace.model(m), workspace.class_names(m, d)
        pixels, label, _ = service.focused_image(workspace, rendered, focus, picture)
        spec = service.whatif_spec(brightness, hue, rotate, blur, flips, patch, patch_at)
        whatif = {"edits": spec, "fgsm": float(epsilon or 0)}
        try:
            edited, before, after = service.whatif(adapter, pixels, label, whatif)
        except ValueError as exc:
            return no_update, no_update, f"⚠ {exc}", no_update
        return (view.image_figure(edited), *view.whatif_result(before, after, names, label),
                None if service.is_identity(whatif) else whatif)

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
