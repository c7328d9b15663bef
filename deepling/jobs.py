"""Background work: the Dash background-callback manager for long jobs with progress.

diskcache (the default) runs jobs in worker processes on this machine; with
``DEEPLING_BROKER_URL`` set (a Redis URL) jobs go to Celery workers instead, so several
server processes or machines share the work (see the README, "Serving many users").
"""

from __future__ import annotations

from deepling.config import Config


def background_manager(config: Config):
    """A DiskcacheManager, or a CeleryManager when a broker is configured."""
    from dash import CeleryManager, DiskcacheManager

    if config.broker_url:
        return CeleryManager(celery_app(config.broker_url))
    import diskcache

    return DiskcacheManager(diskcache.Cache(str(config.cache / "jobs")), expire=3600)


def celery_app(broker_url: str):
    """The Celery app the workers run: ``celery -A deepling.worker worker``."""
    try:
        from celery import Celery
    except ImportError:
        raise SystemExit(
            "DEEPLING_BROKER_URL is set but Celery is not installed: "
            "pip install 'deepling[scale]' (celery and redis), or unset the variable."
        ) from None
    return Celery("deepling", broker=broker_url, backend=broker_url)
