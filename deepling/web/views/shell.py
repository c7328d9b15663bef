"""The page: navbar, the shared selection stores, and the regions each view fills."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import dcc, html

from deepling.web.views import (animation, architecture, banner, compare, data, neurons, shapes,
                                strip, testing, training)
from deepling.web.views.uploads import upload_modal


def serve_layout(workspace) -> html.Div:
    """The skeleton every visitor gets; ``callbacks.session`` fills it for the model and
    data the URL (``/?model=<id>&data=<id>``) or the browser session names."""
    return html.Div([
        dcc.Location(id="url", refresh=False),
        # One selection links the views: ids, never pixels (README, "Architecture"). A view
        # that follows the selection reads these stores; the neurons and training views to
        # come read ``subset`` as the data and strip views do (picked images first).
        dcc.Store(id="session", storage_type="session"),  # {"model", "data", "uploads"}
        dcc.Store(id="rendered"),  # the (model, data) the page below was built for
        dcc.Store(id="focus"),     # dataset index of the image in focus
        dcc.Store(id="subset"),    # dataset indices picked by box/lasso, or None
        dcc.Store(id="layer"),     # the layer in focus (name), set by the architecture view
        dcc.Store(id="page-job"),  # a first visit's predictions job: {"key", "model", "data"}
        dcc.Store(id="page-ready"),  # that job's key once it is done
        dcc.Interval(id="page-poll", interval=500, disabled=True),
        html.Div(navbar(), id="navbar"),
        banner.layout(),
        upload_modal(),
        dbc.Tabs([
            dbc.Tab(dbc.Container(dbc.Spinner(html.Div(style={"height": "60vh"}), color="secondary"),
                                  id="page", fluid=True, className="pt-3"),
                    label="Model", tab_id="tab-model"),
            dbc.Tab(dbc.Container(shapes.layout(), fluid=True, className="pt-3"),
                    label="Shape workshop", tab_id="tab-shapes"),
        ], id="tabs", active_tab="tab-model", className="px-3 pt-2 dl-tabs"),
    ], className="dl-page")


def page(workspace, model_id: str, data_id: str) -> tuple:
    """Navbar and views for one model and dataset, and the image to focus first."""
    adapter = workspace.model(model_id)
    ds = workspace.dataset(model_id, data_id)
    preds = workspace.predictions(model_id, data_id)
    labelled = ds.labels >= 0
    # An accuracy only where labels and outputs name the same classes (a 10-output model on
    # a 3-class folder compares numbers that mean different things).
    mismatch = labelled_mismatch(adapter, ds)
    accuracy = float((preds.predicted == ds.labels)[labelled].mean()) \
        if labelled.any() and not mismatch else None
    ctx = dict(workspace=workspace, adapter=adapter, dataset=ds, predictions=preds,
               model_id=model_id, data_id=data_id)
    views = [
        dbc.Row([
            dbc.Col(animation.layout(ctx), lg=8, className="mb-3"),
            dbc.Col(architecture.layout(ctx), lg=4, className="mb-3"),
        ]),
        dbc.Row([
            dbc.Col(strip.layout(ctx), lg=7, className="mb-3"),
            dbc.Col(data.layout(ctx), lg=5, className="mb-3"),
        ]),
        dbc.Row([dbc.Col(testing.layout(ctx), lg=12)]),
        dbc.Row([dbc.Col(training.layout(ctx), lg=12)], className="mt-3"),
    ]
    # The views above share one tab; a view of its own gets its own tab (the comparison of
    # two models opens on ``?compare=<id>``).
    views = dbc.Tabs([
        dbc.Tab(views, label="Overview", tab_id="overview"),
        dbc.Tab(compare.layout(ctx), label="Compare models", tab_id="compare"),
        dbc.Tab(neurons.layout(ctx), label="Neurons", tab_id=neurons.TAB),
    ], id="page-tabs", active_tab="overview", className="dl-page-tabs mb-2")
    return navbar(adapter.name, ds, accuracy, mismatch), views, _first_misclassified(ds, preds)


def labelled_mismatch(adapter, ds) -> str | None:
    """What the navbar says when the data's labels and the model's outputs do not match."""
    if not ds.labelled or ds.n_classes == adapter.n_outputs:
        return None
    return (f"labels and outputs don't match ({ds.n_classes} classes, {adapter.n_outputs} "
            "outputs)")


def navbar(model_name: str | None = None, ds=None, accuracy: float | None = None,
           mismatch: str | None = None) -> dbc.Navbar:
    badges = []
    if model_name:
        badges.append(dbc.Badge(model_name, color="light", text_color="dark", className="me-2",
                                id="nav-model"))
    if ds is not None:
        badges.append(dbc.Badge(ds.origin, color="light", text_color="dark", className="me-2",
                                id="nav-data"))
        if accuracy is not None:
            badges.append(dbc.Badge(f"accuracy {accuracy:.1%} on {len(ds):,} images",
                                    color="success", id="nav-accuracy"))
        elif mismatch:
            badges.append(dbc.Badge(mismatch + ": no accuracy", color="warning", text_color="dark",
                                    id="nav-mismatch", title="labels show the data's class names, "
                                    "predictions the model's outputs; the data card says more"))
        elif not ds.labelled:
            badges.append(dbc.Badge("unlabelled images: coloured by prediction", color="info",
                                    id="nav-unlabelled", title="no <class>/ folders: put each "
                                    "class's images in a folder named for it to give them labels"))
    badges = html.Div(badges, className="d-flex align-items-center flex-wrap")
    return dbc.Navbar(
        dbc.Container([
            html.Span([html.Span("Deep", className="dl-brand-a"), html.Span("ling", className="dl-brand-b")],
                      className="navbar-brand dl-brand"),
            html.Span("see inside a trained CNN", className="text-white-50 small me-auto"),
            badges,
            dbc.Button("Open model / data", id="open-button", size="sm", color="light",
                       outline=True, className="ms-3"),
        ], fluid=True),
        color="dark", dark=True, className="py-2",
    )


def _first_misclassified(ds, preds) -> int:
    """Start the focus on an image the model gets wrong: the interesting case."""
    wrong = ((preds.predicted != ds.labels) & (ds.labels >= 0)).nonzero()[0]
    return int(wrong[0]) if len(wrong) else 0


def waiting_page(model_id: str, data_id: str):
    """What a first visit to a large dataset shows while its predictions run as a job."""
    return dbc.Card(dbc.CardBody([
        html.H5("Preparing this model and data"),
        html.P(f"Deepling predicts every image of {data_id!r} with {model_id!r} once (kept on "
               "disk for every later visit); the views open when it is done.", className="mb-2"),
        dbc.Progress(id="page-progress", value=0, striped=True, animated=True, className="mb-1"),
        html.Small("starting…", id="page-status", className="text-muted"),
    ]), className="mt-3")


def problem_page(message: str, workspace, model_id: str, data_id: str):
    """The page for a model or data that cannot be shown: what is wrong, and a way back."""
    return dbc.Alert([
        html.H5("Deepling cannot show this model and data"),
        html.P(message, className="mb-2"),
        html.P([f"model id {model_id!r}, data id {data_id!r}. ",
                html.A("Open the default model and data instead",
                       href=f"/?model={workspace.default_model_id}&data={workspace.default_data_id}")]),
    ], color="warning", className="mt-3")
