"""Dash callbacks, one module per view; each module has ``register(app, services)``
(:class:`deepling.service.services.Services`, built once in ``deepling/web/app.py``)."""

from callbacks import (animation, architecture, banner, class_image, compare, data, neurons,
                       runs, session, shapes, strip, suspicious, testing, training, uploads)


def register_all(app, services) -> None:
    for module in (session, uploads, animation, architecture, data, suspicious, strip, testing,
                   compare, shapes, class_image, neurons, training, runs, banner):
        module.register(app, services)
