"""Every kind of background work this server runs: the registry handed to the one runner
(by ``deepling/web/app.py`` and the Celery worker, ``deepling/service/worker.py``).

A new kind is declared beside its code (see :mod:`deepling.service.work`) and added here.
"""

from __future__ import annotations

from deepling.service.work import Kind, registry


def all_kinds() -> dict[str, Kind]:
    """Name → :class:`~deepling.service.work.Kind` for every kind of background work."""
    from deepling.service.attributions import RANKING, SANITY
    from deepling.service.neurons import ATLAS
    from deepling.service.projections import EPOCHS, LAYERS
    from deepling.service.robustness import SIMULATION
    from deepling.service.shapes import CLASS_IMAGE, WORKSHOP
    from deepling.service.similarity import CKA, CKA_EPOCHS, LABEL_ERRORS
    from deepling.service.training import RETRAIN, TRAINING
    from deepling.service.workspace import PREDICTIONS

    return registry([LAYERS, EPOCHS, PREDICTIONS, SIMULATION, ATLAS, WORKSHOP, CLASS_IMAGE,
                     TRAINING, RETRAIN, RANKING, SANITY, CKA, CKA_EPOCHS, LABEL_ERRORS])
