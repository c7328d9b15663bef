"""Dash callbacks, one module per view; each module has ``register(app, workspace)``."""

from callbacks import data, strip


def register_all(app, workspace) -> None:
    for module in (data, strip):
        module.register(app, workspace)
