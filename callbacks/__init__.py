"""Dash callbacks, one module per view; each module has ``register(app, workspace)``."""

from callbacks import animation, data, session, strip


def register_all(app, workspace) -> None:
    for module in (session, animation, data, strip):
        module.register(app, workspace)
