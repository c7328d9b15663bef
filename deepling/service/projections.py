"""The layer animation's projection, in one place: choice → images → job → result.

Two work kinds (:mod:`deepling.service.work`) are declared here: :data:`LAYERS` (the
``layer_sequence`` kind: one choice of images through every layer; queued ones of one model
and data share a run) and :data:`EPOCHS` (``epoch_sequence``: one layer across a training
run's snapshots). Every caller (the animation's callbacks, the HTTP API, the warm-up) goes
through :class:`ProjectionService`, which submits them to the one runner::

    service = ProjectionService(workspace, jobs)
    request = service.submit("demo", "default", {"mode": "classes", "count": 20})
    service.status(request)   # {"state": "queued"|"running"|"done"|"error"|"unknown", ...}
    service.result(request)   # a Projection once done, else None; never computes

The job key is made from content, not ids: the model's and the data's fingerprints, the
model's input range and the normalised choice, so two uploads of the same file share one
result and a changed model never reuses an old one. The job (the ``layer_sequence`` task,
on a thread or a Celery worker) computes the projection and stores it under that key in
the ``projections`` disk cache; a poll only reads it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from numbers import Integral

from deepling.models import as_adapter
from deepling.projection import LayerSequence, layer_sequence, layer_sequences
from deepling.projection.activations import N_DIRECTIONS, N_LANDMARKS
from deepling.service import schema
from deepling.service.cache import ArrayCache, cache_key
from deepling.service.selection import choose_images, normalise
from deepling.service.work import Kind

TASK = "layer_sequence"
EPOCHS_TASK = "epoch_sequence"  # one layer across a training run's snapshots
# Choices that need the model's predictions (errors, a confusion cell); the others do not.
PREDICTED_MODES = ("misclassified", "cell")
# Bump when what is stored under a key changes, so old entries are not read.
FORMAT_VERSION = 2


@dataclass(frozen=True)
class Request:
    """A submitted projection: what the page keeps (as :meth:`to_dict`) and polls with."""

    key: str
    model: str
    data: str
    choice: dict

    def to_dict(self) -> dict:
        return {"key": self.key, "model": self.model, "data": self.data, "choice": self.choice}

    @classmethod
    def from_dict(cls, d: dict) -> Request:
        """The page's copy, checked (it comes back from the browser): InputError if forged."""
        d = schema.projection_request(d)
        return cls(d["key"], d["model"], d["data"], d["choice"])


@dataclass(frozen=True)
class Projection:
    """The chosen images (sorted dataset indices) and their layouts, one per layer (or, across
    training, one per snapshot; ``predicted`` and ``confidence`` then hold each snapshot's
    classes and top probabilities, frames × N)."""

    indices: np.ndarray
    sequence: LayerSequence
    predicted: np.ndarray | None = None
    confidence: np.ndarray | None = None


class ProjectionService:
    """Projections of a workspace's models and data, run as jobs and stored by content.

    Parameters
    ----------
    workspace : Workspace
        Where models, datasets, predictions and the cache folder come from.
    jobs : ThreadJobs or CeleryJobs, optional
        Runs the work; only :meth:`submit` and :meth:`status` need it (a worker computing
        a task does not).
    """

    def __init__(self, workspace, jobs=None):
        self.workspace = workspace
        self.jobs = jobs
        self.store = workspace.cache("projections")

    # --- choice → images → key ------------------------------------------------------------
    def choose(self, model_id: str, data_id: str, raw_choice: dict | None) -> tuple[dict, np.ndarray]:
        """(normalised choice, sorted dataset indices); ValueError for a bad choice.

        Classes are the data's true classes, whatever the model's outputs are.
        """
        ds = self.workspace.dataset(model_id, data_id)
        choice = normalise(raw_choice, ds.n_classes)
        predicted = (self.workspace.predictions(model_id, data_id).predicted
                     if choice["mode"] in PREDICTED_MODES else None)
        return choice, choose_images(ds.labels, predicted, choice, ds.n_classes)

    def key(self, model_id: str, data_id: str, choice: dict) -> str:
        """The job's and the result's key: content fingerprints and the normalised choice."""
        adapter, ds = self.workspace.model(model_id), self.workspace.dataset(model_id, data_id)
        return cache_key("projection", FORMAT_VERSION, adapter.fingerprint,
                         adapter.input_key, ds.fingerprint, choice)

    # --- submit → status → result ---------------------------------------------------------
    def submit(self, model_id: str, data_id: str, raw_choice: dict | None,
               owner: str | None = None) -> Request:
        """Start (or join) the projection for a choice (the :data:`LAYERS` kind); ValueError
        if the choice is bad, :class:`~deepling.service.work.Busy` if the queue or the
        session's share of it is full.

        A result already stored (by this process, another one, or before a restart) starts
        no job.
        """
        params = check_layers(self.workspace, {"model": model_id, "data": data_id, "choice": raw_choice})
        key = self.jobs.submit(TASK, params, owner)
        return Request(key, model_id, data_id, params["choice"])

    def check(self, model_id: str, data_id: str, raw_choice: dict | None) -> dict:
        """The normalised choice; ValueError for one that selects too few images (once the
        predictions a choice of errors needs are there: predicting is the job's work)."""
        ds = self.workspace.dataset(model_id, data_id)
        choice = normalise(raw_choice, ds.n_classes)
        if choice["mode"] not in PREDICTED_MODES or self.workspace.predictions_ready(model_id, data_id):
            self.choose(model_id, data_id, choice)
        return choice

    def status(self, request: Request) -> dict:
        """``{"state", "progress", "message"}`` of the job; "done" means :meth:`result` has it."""
        if self._stored(request.key):
            return {"state": "done", "progress": 1.0, "message": "done"}
        status = self.jobs.status(request.key)
        if status["state"] == "done" and self.jobs.result(request.key) is not None:
            return status  # held in memory: the disk was full when it finished
        if status["state"] == "done":  # finished, but its result is gone (cache cleared)
            return {"state": "error", "progress": 1.0,
                    "message": "The result was removed from the cache; project again."}
        return status

    def result(self, request: Request) -> Projection | None:
        """The stored projection, or None when there is none (yet). Never computes."""
        stored = self.load(request.key)
        if stored is None:
            held = self.jobs.result(request.key) if self.jobs is not None else None
            return held if isinstance(held, Projection) else None
        return stored

    def load(self, key: str) -> Projection | None:
        """The projection stored under ``key`` (either kind), or None; never computes. Read
        from disk once per process: the poll that finds it done, the binary body, the
        thumbnails and the CSV export then share that one read (results never change). The
        file's size and time are part of the memo's name: a file damaged or removed on disk
        since (a crash, a full disk, a cleared cache) is read again, found wanting and
        computed again, as after a restart."""
        try:
            st = self.store.path(key).stat()
        except OSError:
            return None
        return self.workspace.remembered(("projection", key, st.st_size, st.st_mtime_ns),
                                         lambda: self._read(key))

    def _read(self, key: str) -> Projection | None:
        arrays = self.store.get(key)
        if arrays is None:
            return None
        try:
            per_frame = [arrays.pop(k, None) for k in ("predicted", "confidence")]
            return Projection(np.asarray(arrays.pop("indices"), dtype=np.int64),
                              LayerSequence.from_arrays(arrays, from_cache=True),
                              *(None if a is None else np.asarray(a) for a in per_frame))
        except (KeyError, ValueError):  # damaged, or written by another version
            return None

    def get_or_compute(self, model_id: str, data_id: str, raw_choice: dict | None,
                       progress=None) -> Projection:
        """The stored projection, computed here and now if there is none (a command line
        tool's way: ``deepling report`` and ``precompute`` have no page to poll)."""
        choice, _ = self.choose(model_id, data_id, raw_choice)
        stored = self.result(Request(self.key(model_id, data_id, choice), model_id, data_id, choice))
        if stored is not None:
            if progress:
                progress(1.0, "Layer projections loaded from the cache")
            return stored
        return self.compute(model_id, data_id, choice, progress)

    # --- the job's body -------------------------------------------------------------------
    def compute(self, model_id: str, data_id: str, choice: dict, progress=None) -> Projection:
        """Project the chosen images and store the result under its key (the task's body)."""
        choice, indices = self.choose(model_id, data_id, choice)
        adapter, ds = self.workspace.model(model_id), self.workspace.dataset(model_id, data_id)
        if progress:
            progress(0.0, f"projecting {len(indices):,} images through {len(adapter.model.layers)} layers")
        # Every image (all 60,000 of CIFAR-10): the dataset's own array, not a 184 MB copy.
        everything = len(indices) == len(ds.images)  # indices are sorted and distinct
        seq = layer_sequence(adapter, ds.images if everything else ds.images[indices],
                             progress=progress, **_layout_options(choice))
        self.store.put(self.key(model_id, data_id, choice), {"indices": indices, **seq.to_arrays()})
        return Projection(indices, seq)

    # --- across training: one layer at every snapshot of a run ------------------------------
    def submit_epochs(self, model_id: str, data_id: str, raw_choice: dict | None, layer: str,
                      snapshots, owner: str | None = None) -> Request:
        """Start (or join) ``layer``'s projection at every snapshot: ``snapshots`` is
        ``[(label, path), ...]`` oldest first, files this server wrote. The images are chosen
        as for :meth:`submit` with the open model ``model_id``; the key is made from the
        snapshot files' bytes, the images and the layer, so a finished epoch never reuses an
        older result and the same run and choice never computes twice."""
        params = check_epochs(self.workspace, {"model": model_id, "data": data_id, "choice": raw_choice,
                                               "layer": layer, "snapshots": snapshots})
        key = self.jobs.submit(EPOCHS_TASK, params, owner)
        return Request(key, model_id, data_id, params["choice"])

    def epochs_key(self, model_id: str, data_id: str, choice: dict, layer: str, snapshots) -> str:
        from deepling.models.adapter import file_fingerprint

        ds = self.workspace.dataset(model_id, data_id)
        return cache_key("epochs", FORMAT_VERSION, [file_fingerprint(p) for _, p in snapshots],
                         [str(label) for label, _ in snapshots], ds.fingerprint, choice, str(layer))

    def compute_epochs(self, model_id: str, data_id: str, choice: dict, layer: str, snapshots,
                       progress=None) -> Projection:
        """The ``epoch_sequence`` task's body: load each snapshot, project it at ``layer``
        (:func:`~deepling.training.projection_across_training`), note its predictions on the
        images, store the result under the key :meth:`submit_epochs` gave."""
        import keras

        from deepling.models import ModelAdapter
        from deepling.training import projection_across_training

        choice, indices = self.choose(model_id, data_id, choice)
        images = self.workspace.dataset(model_id, data_id).images[indices]
        labels = [label for label, _ in snapshots]
        adapters = [ModelAdapter.from_model(keras.models.load_model(p, compile=False, safe_mode=True),
                                            label) for label, p in snapshots]
        seq = projection_across_training(adapters, images, layer, labels=labels, progress=progress,
                                         project=functools.partial(cached_sequence, self.store))
        proba = [a.predict_proba(images) for a in adapters]
        predicted = np.stack([p.argmax(axis=1) for p in proba]).astype(np.int16)
        confidence = np.stack([p.max(axis=1) for p in proba]).astype(np.float32)
        self.store.put(self.epochs_key(model_id, data_id, choice, layer, snapshots),
                       {"indices": indices, "predicted": predicted, "confidence": confidence,
                        **seq.to_arrays()})
        return Projection(indices, seq, predicted, confidence)

    def compute_shared(self, model_id: str, data_id: str, choices: list[dict],
                       progress: list | None = None, on_ready=None) -> tuple[list, dict]:
        """:meth:`compute` for several choices of one model and dataset in one forward pass
        (:func:`~deepling.projection.layer_sequences`: an image chosen twice goes through
        the model once); each stored under its own key as soon as it is done, then handed
        to ``on_ready(i, projection_or_exception)``. The job pool runs queued projections
        this way (:mod:`deepling.service.jobs`).

        Returns (per choice its Projection or the exception that stopped it alone,
        ``{"requested", "forwarded"}`` image counts).
        """
        adapter, ds = self.workspace.model(model_id), self.workspace.dataset(model_id, data_id)
        progress = progress or [None] * len(choices)
        out = []
        for choice in choices:
            try:
                out.append(self.choose(model_id, data_id, choice))
            except Exception as exc:  # noqa: BLE001 - a bad choice fails alone
                out.append(exc)
        live = [i for i, c in enumerate(out) if not isinstance(c, Exception)]

        def ready(i, seq):
            if not isinstance(seq, Exception):
                choice, indices = out[i]
                self.store.put(self.key(model_id, data_id, choice), {"indices": indices, **seq.to_arrays()})
                seq = Projection(indices, seq)
            out[i] = seq
            if on_ready is not None:
                on_ready(i, seq)

        for i in set(range(len(out))) - set(live):
            ready(i, out[i])
        groups: dict = {}  # choices with the same layout options share one pass
        for i in live:
            groups.setdefault(tuple(sorted(_layout_options(out[i][0]).items())), []).append(i)
        requested = forwarded = 0
        for options, members in groups.items():
            for i in members:
                if progress[i]:
                    progress[i](0.0, f"projecting {len(out[i][1]):,} images through "
                                f"{len(adapter.model.layers)} layers, in one pass with "
                                f"{len(members) - 1} other projection(s)")
            shared = layer_sequences(adapter, ds.images, [out[i][1] for i in members],
                                     progress=[progress[i] for i in members],
                                     on_ready=lambda j, seq, members=members: ready(members[j], seq),
                                     **dict(options))
            requested += shared.n_requested
            forwarded += shared.n_forwarded
        return out, {"requested": requested, "forwarded": forwarded}

    def _stored(self, key: str) -> bool:
        return self.store.path(key).exists()


def _layout_options(choice: dict) -> dict:
    """layer_sequence's keyword arguments for a normalised choice's method and frames."""
    return {"method": choice.get("method", "landmarks"),
            "layers": "all" if choice.get("frames") == "all" else None}


def cached_sequence(store: ArrayCache, model, images, layers=None, *,
                    n_landmarks: int = N_LANDMARKS, n_directions: int = N_DIRECTIONS,
                    random_state=0, align: bool = True, progress=None) -> LayerSequence:
    """:func:`~deepling.projection.layer_sequence`, read from ``store`` when it has it.

    Keyed by the model's fingerprint and input range, the image bytes and the parameters;
    a ``random_state`` that is not an int gives a fresh result every call, so it is
    neither read nor stored.
    """
    adapter = as_adapter(model)
    reproducible = isinstance(random_state, Integral) and not isinstance(random_state, bool)
    key = None
    if reproducible:
        key = cache_key("layer_sequence", FORMAT_VERSION, adapter.fingerprint,
                        adapter.input_key, np.asarray(images), layers, int(n_landmarks),
                        int(n_directions), int(random_state), bool(align))
        hit = store.get(key)
        if hit is not None:
            try:
                result = LayerSequence.from_arrays(hit, from_cache=True)
            except (KeyError, ValueError):  # stale or damaged entry: recompute
                result = None
            if result is not None:
                if progress:
                    progress(1.0, "Layer projections loaded from the cache")
                return result
    result = layer_sequence(adapter, images, layers, n_landmarks=n_landmarks,
                            n_directions=n_directions, random_state=random_state, align=align,
                            progress=progress)
    if key is not None:
        store.put(key, result.to_arrays())
    return result


# --- what the layer animation asks for -----------------------------------------------------------
ACROSS_LAYERS, ACROSS_TRAINING = "layers", "training"  # the animation's two modes


def default_along(layers):
    """The layer shown across training first: the last hidden dense layer, where the
    classes separate (fc2 of the demo CNN)."""
    return layers[-2] if len(layers) > 1 else (layers[0] if layers else None)


def ask(projections, runs, model_id: str, data_id: str, raw_choice: dict | None, *, across: str,
        snapshot: str = "", along: str | None = None, run: dict | None = None, from_link: bool = False,
        owner: str | None = None, layer: str | None = None, start: str | None = None):
    """Start (or join) the projection the layer animation asks for; ``(request, across, along)``.

    ``across`` is :data:`ACROSS_LAYERS` (every layer of the open model, or of its training
    run's snapshot ``snapshot``, an epoch) or :data:`ACROSS_TRAINING` (layer ``along`` over
    the snapshots of the model's run; ``runs`` is a :class:`~deepling.service.runs.RunSources`).
    A link (``from_link``) across training on a model without two snapshots here falls back to
    its layers. The request is what the page keeps and polls with: the job's
    :meth:`Request.to_dict` plus ``open`` (the open model) and how it is shown. ValueError
    for a bad choice, :class:`~deepling.service.work.Busy` for a full queue.
    """
    run_id = runs.run_of(model_id, run) if runs else None
    snapshots = runs.snapshots(run_id) if runs else []
    if across == ACROSS_TRAINING and len(snapshots) < 2 and from_link:
        across = ACROSS_LAYERS  # a link from another server or run: its layers, at least
    if across == ACROSS_TRAINING:
        along = along or default_along(runs.run_layers(run_id) if run_id else [])
        submitted = projections.submit_epochs(model_id, data_id, raw_choice, along,
                                              [(f"epoch {e}", p) for e, p in snapshots], owner)
        extra = {"across": ACROSS_TRAINING, "along": along, "start": start}
    else:
        target = runs.snapshot_model(run_id, int(snapshot)) if snapshot and run_id else model_id
        submitted = projections.submit(target, data_id, raw_choice, owner)
        extra = {"across": ACROSS_LAYERS, "layer": layer,
                 "snapshot": f"epoch {snapshot}" if target != model_id else None}
    return {**submitted.to_dict(), "open": model_id, **extra}, across, along


# --- the two work kinds ------------------------------------------------------------------------
def check_layers(workspace, params: dict) -> dict:
    """``{"model", "data", "choice"}`` checked: ids (schema), the choice normalised and capped."""
    model_id = schema.identifier(params.get("model"), "model")
    data_id = schema.identifier(params.get("data"), "data")
    choice = ProjectionService(workspace).check(model_id, data_id, params.get("choice"))
    return {"model": model_id, "data": data_id, "choice": choice}


def check_epochs(workspace, params: dict) -> dict:
    """:func:`check_layers` plus the layer and the snapshots (files this server wrote)."""
    out = check_layers(workspace, params)
    ProjectionService(workspace).choose(out["model"], out["data"], out["choice"])
    snapshots = [(str(label), str(path)) for label, path in params.get("snapshots") or []]
    if len(snapshots) < 2:
        raise ValueError("The run has fewer than two snapshots yet: wait for its first epoch.")
    if not isinstance(params.get("layer"), str):
        raise schema.InputError(f"layer must be a layer's name; got {schema.shown(params.get('layer'))}.")
    return {**out, "layer": params["layer"], "snapshots": snapshots}


LAYERS = Kind(
    TASK, check=check_layers,
    key=lambda ws, p: ProjectionService(ws).key(p["model"], p["data"], p["choice"]),
    compute=lambda ws, p, progress: ProjectionService(ws).compute(p["model"], p["data"], p["choice"], progress),
    load=lambda ws, key: ProjectionService(ws).load(key),
    share=(lambda p: (TASK, p["model"], p["data"]),
           lambda ws, ps, progress, on_ready=None: ProjectionService(ws).compute_shared(
               ps[0]["model"], ps[0]["data"], [p["choice"] for p in ps], progress, on_ready)))

EPOCHS = Kind(
    EPOCHS_TASK, check=check_epochs, lane="training",
    key=lambda ws, p: ProjectionService(ws).epochs_key(p["model"], p["data"], p["choice"], p["layer"],
                                                       p["snapshots"]),
    compute=lambda ws, p, progress: ProjectionService(ws).compute_epochs(
        p["model"], p["data"], p["choice"], p["layer"], p["snapshots"], progress),
    load=lambda ws, key: ProjectionService(ws).load(key))
