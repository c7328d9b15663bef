"""The Dash app factory: ``create_app(config)`` wires views, callbacks and endpoints."""

from __future__ import annotations

import logging
from pathlib import Path

import dash
from flask import Response, abort, jsonify

from deepling import __version__
from deepling.config import Config
from deepling.workspace import Workspace

ASSETS = Path(__file__).resolve().parent.parent / "assets"
log = logging.getLogger("deepling")


def create_app(config: Config | None = None, workspace: Workspace | None = None) -> dash.Dash:
    """Build the Deepling Dash app.

    The default model and data are loaded (and their predictions computed or read from the
    cache) here, so a bad ``--model`` or ``--data`` fails at start-up with its message,
    not on the first page view.
    """
    import callbacks
    from deepling.data.images import encode_png
    from deepling.jobs import JobRunner
    from deepling.views.shell import serve_layout

    config = config or Config.from_env()
    workspace = workspace or Workspace(config)
    workspace.predictions()  # fail early; warms the cache for the first page

    app = dash.Dash(
        "deepling",
        title="Deepling",
        assets_folder=str(ASSETS),
        # Bootstrap is vendored in assets/ (00_bootstrap.min.css): the app must work offline.
        suppress_callback_exceptions=True,
        update_title=None,
    )
    app.server.config["DEEPLING_WORKSPACE"] = workspace
    app.server.config["DEEPLING_JOBS"] = JobRunner(config.cache)
    app.layout = lambda: serve_layout(workspace)
    callbacks.register_all(app, workspace)

    @app.server.route("/health")
    def health():
        return jsonify(status="ok", version=__version__,
                       model=workspace.model().name, data=workspace.raw_dataset().origin)

    @app.server.route("/api/images/<model_id>/<data_id>/<int:index>.png")
    def image_png(model_id, data_id, index):
        """One image as the model sees it (hover thumbnails, strips); cached by browsers."""
        try:
            ds = workspace.dataset(model_id, data_id)
        except (ValueError, OSError):
            abort(404)
        if not 0 <= index < len(ds):
            abort(404)
        resp = Response(encode_png(ds.images[index]), mimetype="image/png")
        resp.headers["Cache-Control"] = "private, max-age=86400"
        return resp

    return app
