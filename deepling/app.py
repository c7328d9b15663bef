"""The Dash app factory: ``create_app(config)`` wires views, callbacks and endpoints."""

from __future__ import annotations

import logging
from pathlib import Path

import dash
from flask import jsonify

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
    from deepling.jobs import background_manager
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
        background_callback_manager=background_manager(config),
        update_title=None,
    )
    app.layout = lambda: serve_layout(workspace)
    callbacks.register_all(app, workspace)

    @app.server.route("/health")
    def health():
        return jsonify(status="ok", version=__version__,
                       model=workspace.model().name, data=workspace.raw_dataset().origin)

    app.server.config["DEEPLING_WORKSPACE"] = workspace
    return app
