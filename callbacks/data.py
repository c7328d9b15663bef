"""Data view callbacks: confusion cell → selection, the filtered grid, tile → focus."""

from __future__ import annotations

from urllib.parse import urlencode

from dash import ALL, Input, Output, Patch, State, no_update

from deepling.evaluation import cell_indices, filter_images, scores
from deepling.service.selection import MAX_COUNT
from deepling.web.clicks import clicked
from deepling.web.views import data as view

# Largest cell sent to the layer animation whole; a bigger one is sampled down (by the
# animation's own seeded choice) so a click never starts a projection of many minutes.
CELL_ANIMATION_MAX = min(2000, MAX_COUNT)


def _resolve(workspace, rendered):
    """The (model, data) the page was built for (the ``rendered`` store)."""
    rendered = rendered or {}
    return rendered.get("model") or workspace.default_model_id, rendered.get("data") or workspace.default_data_id


def cell_query(model_id: str, data_id: str, true: int, pred: int, count: int) -> str:
    """The animation's URL query for the images of one confusion cell.

    Mode ``cell`` of :func:`deepling.service.selection.choose_images`: up to ``count`` images of
    true class ``true`` that the model predicts as ``pred``, of this model and data (so
    the address stays a link to the view).
    """
    return "?" + urlencode({"model": model_id, "data": data_id, "mode": "cell", "true": int(true),
                            "predicted": int(pred), "count": int(min(count, CELL_ANIMATION_MAX))})


def register(app, services) -> None:
    register_confusion(app, services)
    register_grid(app, services)


def register_confusion(app, services) -> None:
    """A confusion cell picks its images; the matrix mode."""
    workspace = services.workspace

    @app.callback(
        Output("data-true", "value"), Output("data-pred", "value"), Output("data-errors", "value"),
        Output("subset", "data", allow_duplicate=True), Output("url", "search", allow_duplicate=True),
        Output("focus", "data", allow_duplicate=True), Output("data-cell-status", "children"),
        Output("data-confusion", "figure", allow_duplicate=True),
        Input("data-confusion", "clickData"), State("rendered", "data"), State("url", "search"),
        prevent_initial_call=True)
    def select_cell(click, rendered, search):
        points = (click or {}).get("points") or []
        if not points:
            return (no_update,) * 8
        m, d = _resolve(workspace, rendered)
        ds, preds, names = workspace.dataset(m, d), workspace.predictions(m, d), workspace.class_names(m, d)
        cell = view.clicked_cell(points, names)
        if cell is None:
            return (no_update,) * 8
        true, pred = cell
        custom = points[0].get("customdata")
        idx = cell_indices(ds.labels, preds.predicted, true, pred)
        what = f"true {names[true]} → predicted {names[pred]}"
        if custom is not None and isinstance(custom, list):
            s = scores(ds.labels, preds.predicted, len(names))
            figure = view.top_confusions_figure(s, names, selected=(true, pred))
        else:
            figure = Patch()
            figure["layout"]["shapes"] = view.cell_outline((true, pred))
        filters = (str(true), str(pred), False)
        if len(idx) == 0:
            return *filters, None, no_update, no_update, f"{what}: no images.", figure
        if len(idx) == 1:  # the animation needs two images; one is simply the one to look at
            return (*filters, idx.tolist(), no_update, int(idx[0]),
                    f"{what}: 1 image, now in focus (the layer animation needs at least 2).", figure)
        query = cell_query(m, d, true, pred, len(idx))
        if query == search:
            # Location only reports a change; the animation may have moved on since this
            # query was set (its own controls rewrite the address bar, not this prop), so
            # ask again with an equivalent query (seed 0 is the default).
            query += "&seed=0"
        sent = f"{len(idx):,} images" if len(idx) <= CELL_ANIMATION_MAX else \
            f"{CELL_ANIMATION_MAX:,} of its {len(idx):,} images"
        return (*filters, idx.tolist(), query, no_update,
                f"{what}: {sent} sent to the layer animation.", figure)

    @app.callback(
        Output("data-true", "value", allow_duplicate=True), Output("data-pred", "value", allow_duplicate=True),
        Output("data-errors", "value", allow_duplicate=True), Output("data-conf", "value"),
        Output("data-sort", "value"), Output("data-cell-status", "children", allow_duplicate=True),
        Output("data-confusion", "figure", allow_duplicate=True),
        Output("subset", "data", allow_duplicate=True),
        Input("data-reset", "n_clicks"), prevent_initial_call=True)
    def reset_filters(_n):
        figure = Patch()
        figure["layout"]["shapes"] = []
        return view.ANY, view.ANY, True, [0, 1], "confidence-asc", "", figure, None

    @app.callback(
        Output("data-confusion", "figure", allow_duplicate=True),
        Input("data-confusion-mode", "value"), State("rendered", "data"), prevent_initial_call=True)
    def confusion_mode(mode, rendered):
        """Top confusions or the full matrix (on demand: 1,000 × 1,000 cells for ImageNet)."""
        m, d = _resolve(workspace, rendered)
        ds, preds, names = workspace.dataset(m, d), workspace.predictions(m, d), workspace.class_names(m, d)
        s = scores(ds.labels, preds.predicted, len(names))
        return view.top_confusions_figure(s, names) if mode == "top" else view.confusion_figure(s, names)


def register_grid(app, services) -> None:
    """The grid of images: filters, the picked images, the focused tile."""
    workspace = services.workspace

    @app.callback(
        Output("data-errors", "value", allow_duplicate=True), Input("subset", "data"),
        prevent_initial_call=True)
    def show_all_picked(subset):
        # A pick is a set of images to look at, right or wrong.
        return False if subset else no_update

    @app.callback(
        Output("data-grid", "children"), Output("data-grid-count", "children"),
        Input("data-true", "value"), Input("data-pred", "value"), Input("data-errors", "value"),
        Input("data-conf", "value"), Input("data-sort", "value"), Input("subset", "data"),
        State("rendered", "data"), State("focus", "data"))
    def grid(true, pred, errors, conf, sort, subset, rendered, focus):
        m, d = _resolve(workspace, rendered)
        ds, preds, names = workspace.dataset(m, d), workspace.predictions(m, d), workspace.class_names(m, d)
        idx = filter_images(ds.labels, preds.predicted, preds.confidence,
                            true=None if true in (None, view.ANY) else int(true),
                            pred=None if pred in (None, view.ANY) else int(pred),
                            errors_only=bool(errors), confidence_range=conf or (0, 1),
                            sort=sort or "confidence-asc", among=subset or None)
        shown = idx[:view.GRID_SIZE]
        tiles = view.grid_tiles(shown, ds.labels, preds.predicted, preds.confidence, names,
                                f"{m}/{d}", focus, label_names=workspace.label_names(m, d))
        return tiles, view.grid_count(len(idx), len(shown), sort, len(subset) if subset else None)

    @app.callback(Output("focus", "data", allow_duplicate=True),
                  Input({"type": "data-tile", "index": ALL}, "n_clicks"), prevent_initial_call=True)
    def focus_tile(clicks):
        index = clicked()
        return no_update if index is None else int(index)

    # Ring the focused tile (here and among the strip view's picked images) without
    # re-rendering them (the focus moves on every click).
    app.clientside_callback(
        """function (focus) {
            document.querySelectorAll('.dl-data-tile, .dl-strip-pick').forEach(function (t) {
                var id = JSON.parse(t.id || '{}');
                t.classList.toggle('dl-data-focused', id.index === focus);
            });
            return window.dash_clientside.no_update;
        }""",
        Output("data-focus-sink", "children"), Input("focus", "data"))
