"""The models and datasets one server knows, by id, and what is computed from them.

A session names its model and data by id (``"demo"``, ``"default"`` or the random id an
upload was given, see :mod:`deepling.service.uploads`) and asks the workspace for them. Loaded models and fitted datasets are immutable and
kept in a small per-app cache; everything computed (predictions, projections) goes to the
disk cache keyed by content, so a restart or another worker process reuses it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from deepling.service.cache import ArrayCache, cache_key
from deepling.service.config import Config
from deepling.data import DataError, Dataset, load_dataset
from deepling.models import ModelAdapter, ModelError, load_demo_model, load_model_file
from deepling.models.applications import KERAS_PREFIX
from deepling.models.keras_apps import build_application
from deepling.service import schema
from deepling.service.schema import shown
from deepling.service.uploads import UploadStore, is_upload_id
from deepling.service.work import Kind

DEMO_ID = "demo"
DEFAULT_ID = "default"
DATA_SPLITS = ("test", "train", "all")  # the server's data as "default@<split>"
MEMORY_PREFIX = "mem-"


@dataclass(frozen=True)
class Predictions:
    """Model output on a whole dataset."""

    probabilities: np.ndarray  # N×K float32

    @property
    def predicted(self) -> np.ndarray:
        return self.probabilities.argmax(axis=1)

    @property
    def confidence(self) -> np.ndarray:
        return self.probabilities.max(axis=1)


class Workspace:
    """Registry of models and datasets for one app (one server process).

    Parameters
    ----------
    config : Config
    max_loaded : int
        How many of each kind (models, datasets, fitted datasets, predictions) stay in
        memory at once; the least recently used of that kind goes first.
    """

    def __init__(self, config: Config, max_loaded: int = 6):
        self.config = config
        self.max_loaded = max_loaded
        self._lock = threading.RLock()
        self._loaded: OrderedDict[tuple, object] = OrderedDict()
        self._loading: dict[tuple, threading.Lock] = {}
        self._pinned: dict[tuple, object] = {}  # registered in-memory models and datasets
        self.uploads = UploadStore(config.uploads)
        self.default_model_id = DEMO_ID if config.model is None else DEFAULT_ID
        self.default_data_id = DEFAULT_ID

    # --- loading -----------------------------------------------------------------------
    def model(self, model_id: str | None = None) -> ModelAdapter:
        model_id = model_id or self.default_model_id
        if not self._known("model", model_id):
            raise ModelError(f"Unknown model id {shown(model_id)}: use 'demo', 'default' or the "
                             "id an upload returned.")
        self._drop_if_expired("models", model_id)
        return self._memo(("model", model_id), lambda: self._load_model(model_id))

    def raw_dataset(self, data_id: str | None = None) -> Dataset:
        data_id = data_id or self.default_data_id
        if not self._known("data", data_id):
            raise DataError(f"Unknown dataset id {shown(data_id)}: use 'default' or the id an "
                            "upload returned.")
        self._drop_if_expired("data", data_id)
        return self._memo(("data", data_id), lambda: self._load_data(data_id))

    def _known(self, kind: str, key: str) -> bool:
        """An id this server can resolve: its own model/data (and the data's other splits,
        ``default@train``), an upload id, or an in-memory registration; checked before any
        table is touched, so forged ids leave nothing behind."""
        if (kind, key) in self._pinned or is_upload_id(key):
            return True
        if kind == "model":
            return key in (DEMO_ID, DEFAULT_ID)
        base, at, split = key.partition("@")
        return base == DEFAULT_ID and (not at or split in DATA_SPLITS)

    def dataset(self, model_id: str | None = None, data_id: str | None = None) -> Dataset:
        """The dataset converted to fit the model (size, channels), noting what changed."""
        model_id, data_id = model_id or self.default_model_id, data_id or self.default_data_id
        self.model(model_id), self.raw_dataset(data_id)  # known ids, uploads not expired
        return self._memo(("fitted", model_id, data_id), lambda: self._fit(model_id, data_id))

    def is_loaded(self, model_id: str | None = None, data_id: str | None = None) -> bool:
        """Whether :meth:`dataset` answers from memory (no file read, no decoding)."""
        model_id, data_id = model_id or self.default_model_id, data_id or self.default_data_id
        with self._lock:
            return ("fitted", model_id, data_id) in self._loaded

    def train_dataset(self, model_id: str | None = None, data_id: str | None = None) -> Dataset | None:
        """The data's training split fitted to the model (CIFAR-10's 50,000 training images,
        a folder's ``train/``); None where the data has no other split than the one shown."""
        model_id, data_id = model_id or self.default_model_id, data_id or self.default_data_id
        return self._fit_train(model_id, data_id)  # dataset() keeps the one copy in memory

    def _fit_train(self, model_id: str, data_id: str) -> Dataset | None:
        if data_id != DEFAULT_ID:  # uploads are one set of images; @train/@all hold the train split
            return None
        # The one copy of the training split (#17's default@train, decoded once into the
        # cache folder), not a second load of 50,000 JPEGs per training run.
        train = self.dataset(model_id, f"{DEFAULT_ID}@train")
        shown_ds = self.dataset(model_id, data_id)
        if len(train) == len(shown_ds) and train.fingerprint == shown_ds.fingerprint:
            return None  # a folder without train/ and test/: the split is the shown data
        return train

    def _fit(self, model_id: str, data_id: str) -> Dataset:
        adapter, raw = self.model(model_id), self.raw_dataset(data_id)
        ds = adapter.fit_dataset(raw)
        if raw.n_classes and raw.n_classes != adapter.n_outputs:
            note = (f"the model has {adapter.n_outputs} outputs but the data has {raw.n_classes} "
                    "classes: labels keep the data's class names, predictions are the model's "
                    "outputs (its indices, or its own names), and there is no accuracy")
            ds = Dataset(ds.images, ds.labels, ds.class_names, ds.origin, ds.notes + (note,))
        return ds

    # --- uploads -----------------------------------------------------------------------
    def add_model(self, tmp, filename: str, owner: str = "") -> tuple[str, dict]:
        upload_id, adapter, summary = self.uploads.add_model(tmp, filename, owner)
        self._store(("model", upload_id), adapter)
        return upload_id, summary

    def add_dataset(self, tmp, filename: str, owner: str = "") -> tuple[str, dict]:
        upload_id, ds, summary = self.uploads.add_dataset(tmp, filename, owner)
        self._store(("data", upload_id), ds)
        return upload_id, summary

    # --- objects already in memory (a notebook's model and arrays) ----------------------
    def register(self, adapter: ModelAdapter | None = None, dataset: Dataset | None = None,
                 *, default: bool = False) -> tuple[str | None, str | None]:
        """Add an in-memory model and/or dataset; nothing is written to the user's files.

        Ids are ``mem-`` plus the content fingerprint, so the same objects get the same ids
        (and the disk cache's results). They are pinned: never evicted like loaded files,
        since there is nothing to reload them from. ``default=True`` makes them what a
        page without ``?model=…&data=…`` shows.
        """
        model_id = data_id = None
        with self._lock:
            if adapter is not None:
                model_id = MEMORY_PREFIX + adapter.fingerprint[:16]
                self._pinned[("model", model_id)] = adapter
            if dataset is not None:
                data_id = MEMORY_PREFIX + dataset.fingerprint[:16]
                self._pinned[("data", data_id)] = dataset
            if default:
                self.default_model_id = model_id or self.default_model_id
                self.default_data_id = data_id or self.default_data_id
        return model_id, data_id

    def registered(self, kind: str) -> list[str]:
        """Ids of the in-memory models (``kind="model"``) or datasets (``"data"``)."""
        with self._lock:
            return [key for k, key in self._pinned if k == kind]

    def add_trained(self, adapter: ModelAdapter, ds: Dataset) -> tuple[str, str]:
        """Register a model trained on the server and its data (the shape workshop's), so
        every view opens them by id like uploads; returns (model id, data id)."""
        model_id, _ = self.uploads.save_model(adapter)
        data_id, _ = self.uploads.save_dataset(ds)
        self._store(("model", model_id), adapter)
        self._store(("data", data_id), ds)
        return model_id, data_id

    def predictions(self, model_id: str | None = None, data_id: str | None = None,
                    progress=None) -> Predictions:
        """Probabilities of the model on every image of the dataset (disk-cached).

        Predicting a large dataset is long work: the page runs it as a job (the work kind
        :data:`PREDICTIONS`, with ``progress``) when :meth:`predictions_ready` is False.
        """
        adapter, ds = self.model(model_id), self.dataset(model_id, data_id)

        def compute():
            from deepling.models.memory import batch_size_for

            # a progress report (and cancel check) per batch: 256 small images, or a few
            # 224×224 ones, so a cancel waits for one batch whatever the model
            chunk, n, parts = batch_size_for(adapter), len(ds.images), []
            for start in range(0, n, chunk):
                if progress:
                    progress(start / max(n, 1), f"predicting {n:,} images ({start:,} done)")
                parts.append(adapter.predict_proba(ds.images[start:start + chunk]))
            return {"p": np.concatenate(parts) if parts else adapter.predict_proba(ds.images)}

        key = self.predictions_key(model_id, data_id)
        return self._memo(("pred", key),
                          lambda: Predictions(self.cache("predictions").get_or_compute(key, compute)["p"]))

    def predictions_key(self, model_id: str | None = None, data_id: str | None = None) -> str:
        adapter, ds = self.model(model_id), self.dataset(model_id, data_id)
        return cache_key("predictions", adapter.fingerprint, ds.fingerprint, adapter.input_key)

    def predictions_ready(self, model_id: str | None = None, data_id: str | None = None) -> bool:
        """Whether :meth:`predictions` answers without long work: the data already loaded,
        the predictions in memory or on disk. Loads no dataset itself; ModelError or
        DataError for an id that does not exist."""
        model_id, data_id = model_id or self.default_model_id, data_id or self.default_data_id
        self.model(model_id)  # a known id (else ModelError), loaded: a model loads in a moment
        if not self._known("data", data_id) or (
                is_upload_id(data_id) and not self.uploads.exists("data", data_id)):
            raise DataError(f"Unknown dataset id {shown(data_id)}: use 'default' or the id an "
                            "upload returned.")
        with self._lock:
            if ("fitted", model_id, data_id) not in self._loaded:
                return False
        key = self.predictions_key(model_id, data_id)
        with self._lock:
            if ("pred", key) in self._loaded:
                return True
        return self.cache("predictions").path(key).exists()

    def cache(self, kind: str) -> ArrayCache:
        """The disk cache for results of one kind, in this server's cache folder."""
        return ArrayCache(kind, self.config.cache)

    def class_names(self, model_id: str | None = None, data_id: str | None = None):
        """Names of the model's outputs (what predictions are): the data's class names when
        they match the outputs in number, else the output indices."""
        return self.model(model_id).class_names(self.dataset(model_id, data_id))

    def label_names(self, model_id: str | None = None, data_id: str | None = None):
        """Names of the data's labels where they are not the outputs' (a 10-output model on
        a 3-class folder: cat, dog, ship label the images, 0..9 name the predictions);
        None where labels and outputs are the same classes (or there are no labels)."""
        ds = self.dataset(model_id, data_id)
        if not ds.labelled or ds.n_classes == self.model(model_id).n_outputs:
            return None
        return ds.class_names

    def remembered(self, key: tuple, load):
        """``load()``, kept in memory under ``key`` once it gave something (not None): for
        results named by content, which never change (a projection read for the page's poll
        is not read again from disk for its binary body). The last few of each kind
        (``key[0]``) are kept."""
        with self._lock:
            if key in self._loaded:
                self._loaded.move_to_end(key)
                return self._loaded[key]
        value = load()
        if value is not None:
            self._store(key, value)
        return value

    # --- internals ---------------------------------------------------------------------
    def _memo(self, key, load):
        with self._lock:
            if key in self._loaded:
                self._loaded.move_to_end(key)
                return self._loaded[key]
            # One loader per key: twenty requests for a new upload start one worker, not 20.
            gate = self._loading.setdefault(key, threading.Lock())
        try:
            with gate:
                with self._lock:
                    if key in self._loaded:
                        return self._loaded[key]
                value = load()  # outside the registry lock: loading may take seconds
                self._store(key, value)
        finally:  # a failed load leaves nothing behind: the table holds only loads in flight
            with self._lock:
                if self._loading.get(key) is gate:
                    del self._loading[key]
        return value

    def _drop_if_expired(self, kind: str, upload_id: str) -> None:
        """Forget an upload held in memory once its folder is gone (expired, removed)."""
        if is_upload_id(upload_id) and not self.uploads.exists(kind, upload_id):
            with self._lock:
                for key in [k for k in self._loaded if upload_id in k]:
                    del self._loaded[key]

    def _store(self, key, value) -> None:
        with self._lock:
            self._loaded[key] = value
            self._loaded.move_to_end(key)
            same_kind = [k for k in self._loaded if k[0] == key[0]]  # oldest first
            for old in same_kind[:max(len(same_kind) - self.max_loaded, 0)]:
                del self._loaded[old]

    def _load_model(self, model_id: str) -> ModelAdapter:
        if ("model", model_id) in self._pinned:
            return self._pinned[("model", model_id)]
        if model_id == DEMO_ID:
            return load_demo_model()
        if model_id == DEFAULT_ID and self.config.model:
            if self.config.model.startswith(KERAS_PREFIX):
                return build_application(self.config.model)
            return load_model_file(self.config.model, input_range=self.config.input_range,
                                   preprocessing=self.config.preprocess)
        if is_upload_id(model_id):
            return self.uploads.load_model(model_id)
        raise ModelError(f"Unknown model id {shown(model_id)}: use 'demo', 'default' or the id "
                         "an upload returned.")

    def _load_data(self, data_id: str) -> Dataset:
        if ("data", data_id) in self._pinned:
            return self._pinned[("data", data_id)]
        # "default@train" / "default@all": another split of the server's data (#17)
        base, _, split = data_id.partition("@")
        if base == DEFAULT_ID and split in ("", *DATA_SPLITS):
            return load_dataset(self.config.data, split=split or "test",
                                cache_dir=self.config.cache_path("datasets"))
        if is_upload_id(data_id):
            return self.uploads.load_dataset(data_id)
        raise DataError(f"Unknown dataset id {shown(data_id)}: use 'default' or the id an upload "
                        "returned.")


# A first visit to a large dataset (all 60,000 CIFAR-10 images): load it and predict it as
# background work (deepling/service/work.py). Keyed by the ids, not content: finding the
# content's fingerprint is the loading this job takes off the request.
def _predict(workspace, params: dict, progress) -> None:
    workspace.predictions(params["model"], params["data"], progress=progress)
    progress(1.0, "predicted")  # also when they were stored already (no chunk was reported)


PREDICTIONS = Kind("predictions", check=lambda ws, p: schema.model_data(p, "the predictions"),
                   key=lambda ws, p: cache_key("page-predictions", p["model"], p["data"]),
                   compute=_predict)
