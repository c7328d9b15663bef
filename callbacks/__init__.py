"""Dash callbacks, one module per view; each module has ``register(app, workspace)``."""

from callbacks import animation, architecture, banner, data, session, strip, testing, uploads


def register_all(app, workspace) -> None:
    for module in (session, uploads, animation, architecture, data, strip, testing, banner):
        module.register(app, workspace)
