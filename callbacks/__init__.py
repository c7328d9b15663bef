"""Dash callbacks, one module per view; each module has ``register(app, workspace)``."""

from callbacks import (animation, architecture, banner, class_image, compare, data, neurons,
                       runs, session, shapes, strip, suspicious, testing, training, uploads)


def register_all(app, workspace) -> None:
    for module in (session, uploads, animation, architecture, data, suspicious, strip, testing,
                   compare, shapes, class_image, neurons, training, runs, banner):
        module.register(app, workspace)
