"""Start-up settings from flags and environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from deepling.service.paths import cache_dir


@dataclass(frozen=True)
class Config:
    """Everything the app needs to start.

    Parameters
    ----------
    model : str or None
        Path to a ``.keras``/``.h5`` file; None means the packaged demo CNN.
    data : str
        ``"cifar10"``, an image folder, a ``.zip`` or an ``.npz``.
    host, port : where to serve (127.0.0.1 unless told otherwise).
    debug : Dash debug mode (hot reload, dev tools).
    input_range : (lo, hi) or None
        Override the detected input pixel range of the model.
    preprocess : str or None
        Override the detected preprocessing (``auto``, ``caffe``, ``tf``, ``torch``,
        ``raw`` 0..255, ``unit`` 0..1; see deepling.models.adapter.PREPROCESS_CHOICES).
    broker_url : str or None
        A Celery broker (Redis) for background jobs across processes; None uses diskcache.
    runs : str or None
        A folder of training runs (``deepling.keras.Monitor`` run folders, checkpoint
        folders) to list in the Training card (``--runs DIR``).
    """

    model: str | None = None
    data: str = "cifar10"
    host: str = "127.0.0.1"
    port: int = 8050
    debug: bool = False
    input_range: tuple[float, float] | None = None
    preprocess: str | None = None
    broker_url: str | None = None
    runs: str | None = None
    cache: Path = field(default_factory=lambda: cache_dir())

    @classmethod
    def from_env(cls, **overrides) -> "Config":
        """Defaults ← ``DEEPLING_*`` environment variables ← explicit overrides."""
        env = os.environ
        values = dict(
            model=env.get("DEEPLING_MODEL") or None,
            data=env.get("DEEPLING_DATA") or "cifar10",
            host=env.get("DEEPLING_HOST", "127.0.0.1"),
            port=int(env.get("DEEPLING_PORT", 8050)),
            broker_url=env.get("DEEPLING_BROKER_URL") or None,
            preprocess=env.get("DEEPLING_PREPROCESS") or None,
            runs=env.get("DEEPLING_RUNS") or None,
        )
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def cache_path(self, *parts: str) -> Path:
        """A folder under the cache (created on demand)."""
        path = Path(self.cache).joinpath(*parts)
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def uploads(self) -> Path:
        return self.cache_path("uploads")
