"""Neurons view callbacks: start and watch the mining job, then wire selections to views.

Opening the Neurons tab starts (or joins) the atlas job (the work kind ``ATLAS``) for the
page's model and data; its result, a :class:`~deepling.neurons.NeuronAtlas`, lives in the disk cache, and
every callback below reads it from there (``deepling.service.neurons.cached_atlas``).
"""

from __future__ import annotations

from dash import ALL, Input, Output, State, ctx, no_update

from deepling.evaluation import filter_images
from deepling.service.neurons import (ATLAS, cached_atlas, projected_layer, sample_sent, selected_unit,
                                      sent_images, strip_target)
from deepling.service.selection import normalise, to_query
from deepling.web.progress import progress_bar
from deepling.web.views import neurons as view


def register(app, services) -> None:
    register_atlas(app, services)
    register_unit(app, services)
    register_patterns(app, services)
    register_images(app, services)


def register_atlas(app, services) -> None:
    """The atlas (background work, started by the first look at the tab) and its unit view."""
    workspace = services.workspace

    @app.callback(Output("neu-job", "data"), Output("neu-poll", "disabled"),
                  Input("page-tabs", "active_tab"), State("neu-ids", "data"),
                  State("neu-job", "data"), prevent_initial_call=True)
    def start(tab, ids, job):
        """The first look at the tab starts mining; the job key is the atlas's cache key."""
        if tab != view.TAB or not ids or job:
            return no_update, no_update
        return services.submit(ATLAS, {"model": ids["model"], "data": ids["data"]}), False

    @app.callback(Output("neu-ready", "data"), Output("neu-poll", "disabled", allow_duplicate=True),
                  Output("neu-progress", "value"), Output("neu-status", "children"),
                  Output("neu-progress-row", "className"),
                  Input("neu-poll", "n_intervals"), State("neu-job", "data"),
                  prevent_initial_call=True)
    def poll(_n, key):
        bar = progress_bar(services.poll(ATLAS, key))  # a stored atlas is done at once
        return (key if bar.done else no_update), not bar.polling, bar.value, bar.text, \
            bar.css("d-flex align-items-center gap-2 mb-2")

    @app.callback(Output("neu-units", "figure"), Output("neu-proj-layer", "options"),
                  Output("neu-proj-layer", "value"),
                  Input("neu-ready", "data"), Input("focus", "data"), Input("neu-unit", "data"),
                  State("neu-ids", "data"), State("neu-proj-layer", "value"),
                  prevent_initial_call=True)
    def draw_units(ready, focus, unit, ids, proj_layer):
        atlas = ready and cached_atlas(workspace, ids["model"], ids["data"])
        if not atlas:
            return no_update, no_update, no_update
        ds, _, names = _context(workspace, ids)
        path = atlas.paths[_clip(focus, len(ds))] if focus is not None else None
        selected = selected_unit(atlas, unit)
        options = [{"label": f"{l.name} · {l.width} units", "value": l.name} for l in atlas.layers]
        layer = projected_layer(atlas, unit, proj_layer)  # follows the selected unit's layer
        return view.units_figure(atlas, names, path, selected), options, \
            (layer if layer != proj_layer else no_update)

    @app.callback(Output("neu-unit", "data"), Output("neu-for", "value", allow_duplicate=True),
                  Input("neu-units", "clickData"), Input("neu-proj", "clickData"),
                  State("neu-proj-layer", "value"), State("neu-ids", "data"),
                  prevent_initial_call=True)
    def pick_unit(units_click, proj_click, proj_layer, ids):
        atlas = cached_atlas(workspace, ids["model"], ids["data"])
        click = units_click if ctx.triggered_id == "neu-units" else proj_click
        points = (click or {}).get("points") or []
        if not atlas or not points or "customdata" not in points[0]:
            return no_update, no_update
        first, second = (int(v) for v in points[0]["customdata"][:2])
        if ctx.triggered_id == "neu-units":
            return {"layer": atlas.names[first], "unit": second}, "unit"
        return {"layer": proj_layer, "unit": first}, "unit"


def register_unit(app, services) -> None:
    """The selected unit: its panel and its layer projected."""
    workspace = services.workspace

    @app.callback(Output("neu-unit-panel", "children"),
                  Input("neu-unit", "data"), Input("neu-ready", "data"), State("neu-ids", "data"),
                  prevent_initial_call=True)
    def show_unit(unit, ready, ids):
        atlas = ready and cached_atlas(workspace, ids["model"], ids["data"])
        if not atlas or selected_unit(atlas, unit) is None:
            return no_update
        ds, preds, names = _context(workspace, ids)
        return view.unit_panel(atlas, unit["layer"], int(unit["unit"]), ds.labels,
                               preds.predicted, names, ids)

    @app.callback(Output("neu-proj", "figure"), Output("neu-proj-info", "children"),
                  Input("neu-proj-layer", "value"), Input("neu-unit", "data"),
                  Input("neu-ready", "data"), State("neu-ids", "data"),
                  prevent_initial_call=True)
    def draw_projection(layer, unit, ready, ids):
        atlas = ready and cached_atlas(workspace, ids["model"], ids["data"])
        if not atlas or layer not in atlas.names:
            return no_update, no_update
        _, _, names = _context(workspace, ids)
        lu = atlas.layer(layer)
        selected = int(unit["unit"]) if unit and unit.get("layer") == layer else None
        return view.projection_figure(lu, names, selected), \
            view.projection_info(lu, selected, names)


def register_patterns(app, services) -> None:
    """Neural patterns for the image in focus, the picked images or the unit."""
    workspace = services.workspace

    @app.callback(Output("neu-for", "value"), Input("focus", "data"), Input("subset", "data"),
                  prevent_initial_call=True)
    def follow_selection(_focus, subset):
        """Recommend for what the user touched last."""
        if ctx.triggered_id == "subset":
            return "picked" if subset else no_update
        return "image"

    @app.callback(Output("neu-patterns", "children"),
                  Input("neu-for", "value"), Input("neu-rank", "value"), Input("focus", "data"),
                  Input("subset", "data"), Input("neu-unit", "data"), Input("neu-ready", "data"),
                  State("neu-ids", "data"), prevent_initial_call=True)
    def recommend(what, rank, focus, subset, unit, ready, ids):
        atlas = ready and cached_atlas(workspace, ids["model"], ids["data"])
        if not atlas:
            return no_update
        ds, preds, names = _context(workspace, ids)
        pats = atlas.patterns
        if what == "unit" and selected_unit(atlas, unit) is not None:
            ranked = pats.recommend(unit=(unit["layer"], int(unit["unit"])), by=rank, top=None)
            heading = f"patterns through {unit['layer']} unit {unit['unit']}: {len(ranked):,}"
        elif what == "picked" and subset:
            picked = [i for i in subset if 0 <= int(i) < len(ds)]
            ranked = pats.recommend(images=picked, by=rank, top=None)
            heading = f"patterns of the {len(picked):,} picked images: {len(ranked):,} " \
                      "(most picked images first)"
        elif focus is not None:
            i = _clip(focus, len(ds))
            ranked = pats.recommend(images=[i], by=rank, top=None)
            heading = f"image #{i} is in {len(ranked):,} patterns"
        else:
            return view.note("Focus an image, pick images in the layer animation, or click a unit.")
        return view.pattern_list(atlas, ranked, ds.labels, preds.predicted, names, ids, heading)


def register_images(app, services) -> None:
    """The image in focus, the picker, and images sent to the animation."""
    workspace = services.workspace

    @app.callback(Output("neu-focus", "children"), Input("focus", "data"),
                  State("neu-ids", "data"))
    def show_focus(focus, ids):
        if focus is None or not ids:
            return no_update
        ds, preds, names = _context(workspace, ids)
        return view.focus_line(_clip(focus, len(ds)), ds.labels, preds.predicted, names, ids)

    @app.callback(Output("neu-pick-grid", "children"),
                  Input("neu-pick-true", "value"), Input("neu-pick-pred", "value"),
                  Input("neu-pick-errors", "value"), State("neu-ids", "data"))
    def picker(true, pred, errors, ids):
        ds, preds, names = _context(workspace, ids)
        idx = filter_images(ds.labels, preds.predicted, preds.confidence,
                            true=None if true in (None, "any") else int(true),
                            pred=None if pred in (None, "any") else int(pred),
                            errors_only=bool(errors), sort="confidence-desc")
        if len(idx) == 0:
            return view.note("No image matches.")
        return view.thumbnails(idx[:view.PICKER_IMAGES], ds.labels, preds.predicted, names, ids,
                               "pick")

    @app.callback(Output("focus", "data", allow_duplicate=True),
                  Input({"type": "neu-image", "index": ALL, "slot": ALL}, "n_clicks"),
                  prevent_initial_call=True)
    def focus_image(_clicks):
        if not _clicked():
            return no_update
        return int(ctx.triggered_id["index"])

    @app.callback(
        Output("url", "search", allow_duplicate=True), Output("subset", "data", allow_duplicate=True),
        Output("page-tabs", "active_tab", allow_duplicate=True), Output("strip-target-kind", "value"),
        Output("strip-target-layer", "value"), Output("strip-target-channel", "value"),
        Output("strip-run", "n_clicks"), Output("neu-sent", "children"),
        Output("focus", "data", allow_duplicate=True),
        Input({"type": "neu-send", "index": ALL}, "n_clicks"),
        State("neu-unit", "data"), State("neu-ids", "data"), State("focus", "data"),
        State("strip-run", "n_clicks"), prevent_initial_call=True)
    def send(_clicks, unit, ids, focus, runs):
        """A pattern's (or the unit's) images to the layer animation as picked images, and
        a strip of the image in focus towards the pattern's deepest unit (or the unit)."""
        if not _clicked():
            return (no_update,) * 9
        atlas = cached_atlas(workspace, ids["model"], ids["data"])
        if not atlas:
            return (no_update,) * 9
        p = int(ctx.triggered_id["index"])
        asked = sent_images(atlas, p, unit)
        if asked is None:
            return (no_update,) * 9
        units, images = asked
        # a strip only towards a unit that moves the image (non-zero gradient), #24
        shown, chosen, why = strip_target(workspace, ids["model"], ids["data"], focus, units, images)
        layer, target = chosen or units[-1]
        ds = workspace.dataset(ids["model"], ids["data"])
        sent = sample_sent(images, view.SENT_IMAGES)
        choice = normalise({"mode": "indices", "indices": sent.tolist()}, ds.n_classes)
        query = to_query(choice, model=ids["model"], data=ids["data"])
        what = f"pattern of {len(images):,} images" if p >= 0 else f"{layer} unit {target}"
        if chosen is None:
            message = f"{what}: {len(sent):,} images sent to the layer animation; {why}."
            return query, sent.tolist(), "overview", no_update, no_update, no_update, no_update, \
                message, no_update
        message = f"{what}: {len(sent):,} images sent to the layer animation; strip towards " \
                  f"{layer} unit {target} for image #{shown}" + (f" ({why})." if why else ".")
        return (query, sent.tolist(), "overview", "channel", layer, target, (runs or 0) + 1,
                message, shown if shown != focus else no_update)


def _clicked() -> bool:
    """A real click: new buttons (a re-rendered list) also trigger, with n_clicks None."""
    return bool(ctx.triggered_id) and bool(ctx.triggered and ctx.triggered[0].get("value"))


def _clip(i, n: int) -> int:
    return min(max(int(i), 0), n - 1)


def _context(workspace, ids):
    m, d = ids["model"], ids["data"]
    ds, preds = workspace.dataset(m, d), workspace.predictions(m, d)
    return ds, preds, workspace.class_names(m, d)
