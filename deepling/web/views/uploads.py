"""The "Open model / data" dialog: what the server has, this session's uploads, uploading."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import dcc, html


def upload_modal() -> dbc.Modal:
    def section(kind: str, title: str, accept: str, hint: str):
        return html.Div([
            html.H6(title, className="mt-1"),
            dbc.RadioItems(id=f"open-{kind}", className="dl-open-list small mb-2"),
            html.Div([
                # upload.js opens the browser's file picker and posts the file with progress.
                html.Button("Choose file…", id=f"upload-{kind}-pick", className="btn btn-sm btn-outline-primary",
                            **{"data-kind": kind, "data-accept": accept}),
                html.Span(f"upload {hint}", className="small text-muted"),
            ], className="d-flex align-items-center gap-2"),
            dbc.Progress(id=f"upload-{kind}-progress", value=0, className="mt-1 dl-upload-progress"),
            html.Div(id=f"upload-{kind}-status", className="small mt-1 dl-upload-status"),
        ], className="mb-3")

    return dbc.Modal([
        dbc.ModalHeader(dbc.ModalTitle("Open a model and data")),
        dbc.ModalBody([
            section("model", "Model", ".keras,.h5,.hdf5", "a .keras or .h5 file"),
            section("data", "Data", ".zip,.npz", "a .zip of an image folder (<class>/*.png) or an .npz (x, y)"),
            html.P(["Uploads are checked before they load: Lambda layers, unknown custom objects and "
                    "functions from outside Keras are refused, and nothing is unpickled. Pipelines can "
                    "upload with ", html.Code("curl -F file=@model.keras http://HOST:PORT/api/models"),
                    "."], className="small text-muted mb-0"),
            dcc.Store(id="upload-result"),  # written by assets/upload.js after a successful upload
        ]),
        dbc.ModalFooter([
            dbc.Button("Cancel", id="open-cancel", color="secondary", outline=True, size="sm"),
            dbc.Button("Open", id="open-apply", color="primary", size="sm"),
        ]),
    ], id="open-modal", size="lg", is_open=False)
