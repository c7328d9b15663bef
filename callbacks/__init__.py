"""Dash callbacks, one module per view; each module has ``register(app, workspace)``."""

from callbacks import animation, architecture, data, session, strip, testing, training, uploads


def register_all(app, workspace) -> None:
    for module in (session, uploads, animation, architecture, data, strip, testing, training):
        module.register(app, workspace)
