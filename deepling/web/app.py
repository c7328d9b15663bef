"""The Dash app factory: ``create_app(config)`` assembles the services once
(:class:`~deepling.service.services.Services`) and hands them to the callbacks and endpoints."""

from __future__ import annotations

import sys
from pathlib import Path

import dash

from deepling.service.config import Config
from deepling.service.workspace import Workspace


def _assets_folder() -> Path:
    """The checkout's assets/ (also an editable install's), else the copy a wheel installs."""
    beside = Path(__file__).resolve().parents[2] / "assets"
    return beside if beside.is_dir() else Path(sys.prefix) / "share" / "deepling" / "assets"


ASSETS = _assets_folder()


def create_app(config: Config | None = None, workspace: Workspace | None = None,
               security_settings=None) -> dash.Dash:
    """Build the Deepling Dash app.

    The default model and data are loaded (and their predictions computed or read from the
    cache) here, so a bad ``--model`` or ``--data`` fails at start-up with its message,
    not on the first page view. ``security_settings`` (a
    :class:`deepling.web.security.SecuritySettings`) defaults to the ``DEEPLING_*`` variables.
    """
    import callbacks
    from deepling.service.services import Services
    from deepling.web.api import job_owner, register_api
    from deepling.web.runs_api import register_runs_api
    from deepling.web.errors import callback_error
    from deepling.web.atlas import register_atlas
    from deepling.web.payload_bytes import register_payload_bytes
    from deepling.web.views.shell import serve_layout
    from deepling.web import security

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
        on_error=callback_error,  # a failed callback shows the banner, never a 500
    )
    guard = security.install(app, config, security_settings)  # host, origin, sign-in checks run first
    # the one assembly: runner, kinds, services; the guard says whose session a request is
    services = Services.build(config, workspace, job_owner(guard))
    app.layout = lambda: serve_layout(workspace)
    callbacks.register_all(app, services)
    callbacks.animation.warm_up(services)

    register_api(app.server, services, guard)
    register_runs_api(app.server, services.runs, guard)
    register_atlas(app.server, services)
    register_payload_bytes(app.server, services)
    # Flask refuses bodies over this before they are read; UploadStore counts bytes too.
    app.server.config["MAX_CONTENT_LENGTH"] = workspace.uploads.limits.max_upload_bytes + (1 << 20)
    security.finish(app, guard, debug=config.debug)  # the CSP hashes every inline callback
    app.services = services  # for whoever holds the app (a test, a notebook); never looked up by name
    app.guard = guard        # likewise (tests change its settings)
    return app
