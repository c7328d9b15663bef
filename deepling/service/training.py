"""Training runs as background jobs, steered and watched through a shared store.

A run is a job of the work kind :data:`TRAINING` (on the runner's ``training`` lane, or on
a Celery worker when one is configured; retraining on a selection is the kind
:data:`RETRAIN`, on the same lane). The page and the job never share memory: they share a
diskcache ``Cache`` (``$DEEPLING_CACHE/training``) keyed by run id, which every process on
the machine, and every worker that shares the folder, can read:

* ``control`` — what the page wants: ``{"command": "run"|"pause"|"stop", "frozen": [...]}``;
  the job reads it between batches.
* ``delta/<seq>`` — what the job published, numbered from 1; the page asks for "what is new
  since seq k" and extends its charts with it.
* ``meta`` — who started it, its config, state and, at the end, the saved model's id.

One run per session at a time and at most ``DEEPLING_MAX_TRAINING_RUNS`` (default 1) per
server, so other users keep a responsive app; a start beyond that says who is busy and what
to do.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deepling.service import schema
from deepling.service.workspace import DEMO_ID
from deepling.service.paths import cache_dir
from deepling.service.work import Cancelled, Kind, alive

RUN_TTL = 24 * 3600
ACTIVE = ("queued", "running", "paused")
DEFAULTS = dict(source="demo", subset=5000, epochs=5, batch_size=64, learning_rate=1e-3,
                optimizer="adam", validation=1000, seed=0)


class TrainingBusy(RuntimeError):
    """A run cannot start now; the message says why and what to do."""


class RunStore:
    """The shared store of runs: control, deltas and meta, keyed by run id."""

    def __init__(self, root: str | os.PathLike | None = None):
        import diskcache

        self.root = Path(root) if root else cache_dir("training")
        self.cache = diskcache.Cache(str(self.root / "store"))

    # --- the page side -----------------------------------------------------------------
    def create(self, session: str, params: dict, max_runs: int) -> str:
        """Register a new run for ``session``, or raise :class:`TrainingBusy`."""
        import diskcache

        with diskcache.Lock(self.cache, "start-lock", expire=30):
            active = [m for m in self.active_runs()]
            mine = [m for m in active if m["session"] == session]
            if mine:
                raise TrainingBusy("This session already has a run going: stop it before "
                                   "starting another.")
            if len(active) >= max_runs:
                raise TrainingBusy(f"The server is busy: {len(active)} training run(s) going "
                                   f"(at most {max_runs}). Try again when one finishes, or ask "
                                   "the admin to raise DEEPLING_MAX_TRAINING_RUNS.")
            run_id = "r" + secrets.token_urlsafe(9)
            self._put(run_id, "meta", {"session": session, "params": params, "state": "queued",
                                       "message": "waiting for a worker", "created": time.time(),
                                       "pid": None})
            self._put(run_id, "control", {"command": "run", "frozen": []})
            self._put(run_id, "head", 0)
            self.cache.set(f"session/{session}", run_id, expire=RUN_TTL)
        return run_id

    def session_run(self, session: str) -> str | None:
        return self.cache.get(f"session/{session}")

    def command(self, run_id: str, command: str | None = None, frozen=None) -> dict:
        """Change what the run should do (pause/resume/stop, the frozen layers)."""
        with self.cache.transact():
            ctl = dict(self.get(run_id, "control") or {"command": "run", "frozen": []})
            if command:
                ctl["command"] = command
            if frozen is not None:
                ctl["frozen"] = sorted(set(frozen))
            self._put(run_id, "control", ctl)
        return ctl

    def since(self, run_id: str, seq: int, limit: int = 40) -> tuple[int, list[dict]]:
        """The deltas after ``seq``, at most ``limit``: (the last one's seq, deltas in order)."""
        head = min(self.get(run_id, "head") or 0, seq + limit)
        deltas = [self.get(run_id, f"delta/{k}") for k in range(seq + 1, head + 1)]
        return head, [d for d in deltas if d is not None]

    def active_runs(self) -> list[dict]:
        out = []
        for key in list(self.cache.iterkeys()):
            if isinstance(key, str) and key.endswith("/meta"):
                meta = self.cache.get(key)
                if meta and meta["state"] in ACTIVE and _plausibly_alive(meta):
                    out.append({**meta, "run": key.split("/")[0]})
        return out

    # --- the job side ------------------------------------------------------------------
    def publish(self, run_id: str, delta: dict) -> int:
        with self.cache.transact():
            head = (self.get(run_id, "head") or 0) + 1
            self._put(run_id, f"delta/{head}", delta)
            self._put(run_id, "head", head)
        return head

    def update_meta(self, run_id: str, **changes) -> dict:
        with self.cache.transact():
            meta = {**(self.get(run_id, "meta") or {}), **changes}
            self._put(run_id, "meta", meta)
        return meta

    def get(self, run_id: str, part: str):
        return self.cache.get(f"{run_id}/{part}")

    def folder(self, run_id: str) -> Path:
        path = self.root / "runs" / run_id
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _put(self, run_id: str, part: str, value) -> None:
        self.cache.set(f"{run_id}/{part}", value, expire=RUN_TTL)


def _plausibly_alive(meta: dict) -> bool:
    """A queued run has no pid yet; a running one whose process is gone is over."""
    pid, host = meta.get("pid"), meta.get("host")
    if not pid or host != os.uname().nodename:
        return time.time() - meta.get("created", 0) < RUN_TTL
    return alive(pid)


# --- the job -------------------------------------------------------------------------------

def training_data(workspace, model_id: str, data_id: str, subset: int, validation: int, seed: int):
    """(x, y) to train on and (x, y) to validate on, and a note on where they came from.

    The training split where the data has one (CIFAR-10's 50,000 images), a random ``subset``
    of it; validation on a random sample of the shown (test) split. Data without a split is
    divided: 80 % to train on, 20 % held out (the note says which).
    """
    rng = np.random.default_rng(seed)
    shown = workspace.dataset(model_id, data_id)
    train = workspace.train_dataset(model_id, data_id)
    if train is None:
        order = rng.permutation(len(shown))
        cut = int(0.8 * len(shown))
        tr, va = order[:cut], order[cut:]
        note = (f"{shown.origin} has no training split: training on {cut:,} of its images, "
                f"validating on the other {len(va):,} (held out)")
        xt, yt, xv, yv = shown.images[tr], shown.labels[tr], shown.images[va], shown.labels[va]
    else:
        xt, yt, xv, yv = train.images, train.labels, shown.images, shown.labels
        note = f"training on {train.origin}, validating on {shown.origin}"
    if (yt < 0).any():
        raise ValueError("Training needs labelled images: this data has images without a class.")
    pick = rng.choice(len(xt), min(subset, len(xt)), replace=False)
    vpick = rng.choice(len(xv), min(validation, len(xv)), replace=False)
    note += f" (a random {len(pick):,} to train on, {len(vpick):,} to validate on)"
    return (xt[pick], yt[pick]), (xv[vpick], yv[vpick]), note


def trains_model(store, run_id: str, model_id: str) -> bool:
    """Whether the run trains (a copy of) the model ``model_id``: a run "from the demo CNN,
    fresh weights" started beside an open upload is not that upload's training (#24)."""
    params = (store.get(run_id, "meta") or {}).get("params", {})
    source = params.get("config", {}).get("source", DEFAULTS["source"])
    return source == "copy" or model_id == DEMO_ID


def starting_model(workspace, model_id: str, source: str, n_classes: int, seed: int):
    """A fresh demo CNN or a copy of the open model (its file is never touched)."""
    import keras

    if source == "demo":
        from deepling.models.demo import build_demo_model

        shape = workspace.model(model_id).input_shape
        return build_demo_model(n_classes, shape, seed)
    original = workspace.model(model_id).model
    copy = keras.models.clone_model(original)
    copy.set_weights(original.get_weights())
    return copy


def run_training(workspace, params: dict, progress=None, store: RunStore | None = None) -> dict:
    """The :data:`TRAINING` kind's body: train, publishing to the store; save the result as a model."""
    from deepling.training import TrainingConfig, train
    from deepling.training.recorder import DeltaRecorder

    store = store or RunStore()
    run_id = params["run"]
    p = {**DEFAULTS, **params.get("config", {})}
    store.update_meta(run_id, state="running", message="loading the data", pid=os.getpid(),
                      host=os.uname().nodename, started=time.time())
    try:
        (xt, yt), val, note = training_data(workspace, params["model"], params["data"],
                                            int(p["subset"]), int(p["validation"]), int(p["seed"]))
        n_classes = workspace.model(params["model"]).n_outputs
        model = starting_model(workspace, params["model"], p["source"], n_classes, int(p["seed"]))
        store.publish(run_id, {"status": {"state": "running", "message": note},
                               "start": {"layers": _layer_sizes(model), "note": note,
                                         "batches_per_epoch": int(np.ceil(len(xt) / int(p["batch_size"])))}})
        cfg = TrainingConfig.from_dict({**p, "epochs": int(p["epochs"]), "batch_size": int(p["batch_size"]),
                                        "learning_rate": float(p["learning_rate"])})
        # the same run-folder records as deepling.keras.Monitor (histograms, one reader)
        recorder = DeltaRecorder(store.folder(run_id), model, val,
                                 {"layers": _layer_sizes(model), "name": run_id,
                                  "batches_per_epoch": int(np.ceil(len(xt) / int(p["batch_size"])))})
        record = train(model, xt, yt, validation=val, config=cfg,
                       control=lambda: store.get(run_id, "control"),
                       publish=lambda d: (store.publish(run_id, d), recorder(d)),
                       snapshot_dir=store.folder(run_id) / "snapshots", progress=progress)
        record.update(note=note, source=p["source"], base_model=params["model"], data=params["data"])
        saved = save_result(workspace, store, run_id, model, record) if record["epochs"] else None
        record["saved_model"] = saved
        store.update_meta(run_id, state=record["state"], message=record["message"], model=saved,
                          finished=time.time())
        store.publish(run_id, {"saved": {"model": saved, "name": f"trained-{run_id}.keras"}} if saved
                      else {"status": {"state": record["state"], "message": record["message"]}})
        return record
    except Cancelled:
        store.update_meta(run_id, state="stopped", message="cancelled", finished=time.time())
        store.publish(run_id, {"status": {"state": "stopped", "message": "cancelled"}})
        raise
    except Exception as exc:
        msg = f"the run failed: {exc}"
        store.update_meta(run_id, state="failed", message=msg, finished=time.time())
        store.publish(run_id, {"status": {"state": "failed", "message": msg}})
        raise


def save_result(workspace, store: RunStore, run_id: str, model, record: dict) -> str:
    """Save the trained model into the workspace like an upload (vetted the same way), and
    its training record beside the run; returns the new model id."""
    folder = store.folder(run_id)
    (folder / "record.json").write_text(json.dumps(record, indent=1, default=float))
    tmpdir = Path(tempfile.mkdtemp(dir=folder))
    tmp = tmpdir / "model.keras"
    model.save(tmp)
    model_id, _ = workspace.add_model(tmp, f"trained-{run_id}.keras")
    store.cache.set(f"model/{model_id}", run_id, expire=None)
    return model_id


def training_record(store: RunStore, model_id: str) -> dict | None:
    """The record of the run that made ``model_id`` (config, epochs, curves, freezes), if any."""
    run_id = store.cache.get(f"model/{model_id}")
    path = store.root / "runs" / str(run_id) / "record.json"
    return json.loads(path.read_text()) if run_id and path.exists() else None


def _layer_sizes(model) -> list[dict]:
    from deepling.training import filter_layers

    return [{"name": n, "filters": int(model.get_layer(n).kernel.shape[-1]),
             "kind": type(model.get_layer(n)).__name__} for n in filter_layers(model)]


# --- what the web layer calls ------------------------------------------------------------

class TrainingService:
    """Start, steer and read runs for the web layer.

    Parameters
    ----------
    workspace : Workspace
    jobs : job runner
        The server's one runner (:mod:`deepling.service.jobs`); runs go to its
        ``training`` lane, so a run never takes a projection worker's place.
    """

    def __init__(self, workspace, jobs, store: RunStore | None = None, max_runs: int | None = None):
        self.workspace = workspace
        self.store = store or RunStore()
        self.max_runs = max_runs or int(os.environ.get("DEEPLING_MAX_TRAINING_RUNS", 1))
        self.jobs = jobs
        self._lock = threading.Lock()
        self._snap = (None, None)  # the last snapshot loaded, for hover maps and filters

    def start(self, session: str, model_id: str, data_id: str, config: dict,
              owner: str | None = None) -> str:
        """Register a run and submit its job; InputError for settings out of range,
        :class:`TrainingBusy` when the session or the server has a run going."""
        config = {k: config[k] for k in DEFAULTS if config.get(k) not in (None, "")}
        # capped before a run is registered (schema.task_params; a refused one leaves no run)
        config = schema.training_config(schema.task_params("training", {"run": "new", "model": model_id, "data": data_id,
                                                                        "config": config})["config"])
        run_id = self.store.create(session, {"model": model_id, "data": data_id, "config": config},
                                   self.max_runs)
        try:
            self.jobs.submit(TRAINING.name, {"run": run_id, "model": model_id, "data": data_id,
                                             "config": config}, owner)
        except Exception as exc:
            self.store.update_meta(run_id, state="failed", message=str(exc), finished=time.time())
            raise
        return run_id

    def command(self, run_id: str, command: str | None = None, frozen=None) -> dict:
        return self.store.command(run_id, command, frozen)

    def control(self, run_id: str) -> dict:
        """What the page asked of the run: ``{"command": "run"|"pause"|"stop", "frozen": [...]}``."""
        ctl = self.store.get(run_id, "control") or {}
        return {"command": ctl.get("command", "run"), "frozen": list(ctl.get("frozen", []))}

    def toggle_frozen(self, run_id: str, layer: str) -> list[str]:
        frozen = set(self.control(run_id)["frozen"])
        frozen ^= {layer}
        return self.store.command(run_id, frozen=frozen)["frozen"]

    def since(self, run_id: str, seq: int):
        return self.store.since(run_id, seq)

    def layer_sizes(self, source: str, model_id: str) -> list[dict]:
        """The measured layers of the model a run would train (for the network view)."""
        if source == "demo":
            from deepling.models.demo import build_demo_model

            adapter = self.workspace.model(model_id)
            return _layer_sizes(build_demo_model(adapter.n_outputs, adapter.input_shape))
        return _layer_sizes(self.workspace.model(model_id).model)

    def retrain(self, params: dict, owner: str | None = None) -> str:
        """Start retraining a copy of the open model on picked images (the :data:`RETRAIN`
        kind); the key to poll it with."""
        return self.jobs.submit(RETRAIN.name, {**params, "side": "s" + secrets.token_urlsafe(9)}, owner)

    def run_of(self, model_id: str, current: dict | None = None) -> str | None:
        """The run whose snapshots belong to the open model: the page's own run on this model
        (``current``: the Training card's ``{"run", "model"}``), else the run that saved it."""
        if current and current.get("run") and current.get("model") == model_id \
                and self.trains(current["run"], model_id):
            return current["run"]
        return self.store.cache.get(f"model/{model_id}")

    def trains(self, run_id: str, model_id: str) -> bool:
        return trains_model(self.store, run_id, model_id)

    def snapshots(self, run_id: str | None) -> list[tuple[int, Path]]:
        """(epoch, path) of the run's kept snapshots, oldest first."""
        return [(snapshot_epoch(p), p) for p in snapshot_paths(self.store, run_id)] if run_id else []

    def run_layers(self, run_id: str) -> list[str]:
        """The layers the run's model measures (conv and dense): what can be projected across
        its snapshots (the run may train the demo CNN beside another open model)."""
        params = (self.store.get(run_id, "meta") or {}).get("params", {})
        source = params.get("config", {}).get("source", DEFAULTS["source"])
        return [layer["name"] for layer in self.layer_sizes(source, params.get("model"))]

    def snapshot_model(self, run_id: str, epoch: int) -> str:
        """A workspace model id for one snapshot (saved like a trained model, once), so every
        view, the layer animation first, opens it by id."""
        key = f"snapshot-model/{run_id}/{int(epoch)}"
        found = self.store.cache.get(key)
        if found and self.workspace.uploads.exists("models", found):
            return found
        path = dict(self.snapshots(run_id)).get(int(epoch))
        if path is None:
            raise ValueError(f"The run has no snapshot of epoch {epoch} (any more): pick another.")
        from deepling.models import ModelAdapter

        adapter = ModelAdapter.from_model(load_snapshot(path), f"{run_id} epoch {int(epoch)}")
        model_id, _ = self.workspace.uploads.save_model(adapter)
        self.store.cache.set(key, model_id, expire=RUN_TTL)
        return model_id

    def latest_snapshot(self, run_id: str):
        """(epoch, keras model) of the run's newest snapshot, or (None, None)."""
        paths = snapshot_paths(self.store, run_id)
        if not paths:
            return None, None
        path = paths[-1]
        with self._lock:
            if self._snap[0] != str(path):
                self._snap = (str(path), load_snapshot(path))
            return snapshot_epoch(path), self._snap[1]

    def meta(self, run_id: str) -> dict:
        meta = dict(self.store.get(run_id, "meta") or {})
        st = self.jobs.status(training_key(run_id))
        if st["state"] == "error" and meta.get("state") in ACTIVE:
            meta.update(state="failed", message=st["message"])
        return meta


# --- what the page's poll reads of a run's deltas ---------------------------------------------
@dataclass
class Seen:
    """What a batch of a run's deltas (:meth:`RunStore.since`) tells the page."""

    run: dict                  # the page's record of the run, brought up to date
    saved: dict | None = None  # the model the run saved ({"model", "name"}), if it did now
    filters: dict | None = None  # the newest per-filter amounts
    froze: bool = False        # layers were frozen or unfrozen
    epoch: int | None = None   # the newest epoch (or vetted snapshot) to show, if any


def read_deltas(run: dict, deltas: list[dict]) -> Seen:
    """Fold ``deltas`` into the page's ``run`` record (batches per epoch, the last step, the
    last validation accuracy, the vetted snapshot) and say what else they bring."""
    run = dict(run)
    seen = Seen(run)
    for d in deltas:
        if "start" in d:
            run["per_epoch"] = d["start"]["batches_per_epoch"]
        if "batches" in d:
            run["step"] = d["batches"]["step"][-1]
        for e in d.get("epochs", []):
            if "val_accuracy" in e:
                run["val"] = (e["epoch"], e["val_accuracy"])
        if "saved" in d and d["saved"]["model"]:
            seen.saved = d["saved"]
    seen.filters = next((d["filters"] for d in reversed(deltas) if "filters" in d), None)
    seen.froze = any("freezes" in d for d in deltas)
    epochs = [e["epoch"] for d in deltas for e in d.get("epochs", [])]  # 0: the start
    vetted = max([d["vetted"] for d in deltas if "vetted" in d], default=None)
    if vetted is not None and vetted != run.get("vetted"):  # a run folder's snapshot is ready
        run["vetted"] = vetted
        epochs.append(vetted)
    seen.epoch = max(epochs) if epochs else None
    return seen


def snapshot_feature_maps(sources, workspace, run: dict, layer: str, index: int):
    """(epoch, feature maps of dataset image ``index`` at ``layer``) in the run's newest
    snapshot, or (None, None) before its first."""
    from deepling.methods.feature_maps import feature_maps
    from deepling.models import ModelAdapter

    epoch, model = sources.latest_snapshot(run["run"])
    if model is None:
        return None, None
    image = workspace.dataset(run["model"], run["data"]).images[int(index)]
    return epoch, feature_maps(ModelAdapter.from_model(model, "snapshot"), image, layer)


# --- side jobs: retrain on a selection; the snapshots (projected by deepling/service/projections.py)

def snapshot_paths(store: RunStore, run_id: str) -> list[Path]:
    if not isinstance(run_id, str) or "/" in run_id or run_id.startswith("."):
        return []
    return sorted((store.root / "runs" / run_id / "snapshots").glob("epoch-*.keras"))


def snapshot_epoch(path: Path) -> int:
    return int(Path(path).stem.split("-")[1])


def load_snapshot(path):
    """A snapshot this server wrote itself (from a vetted model), loaded safely."""
    import keras

    return keras.models.load_model(path, compile=False, safe_mode=True)


def run_retrain(workspace, params: dict, progress=None, store: RunStore | None = None) -> dict:
    """The :data:`RETRAIN` kind's body: a copy of the open model retrained on the picked images
    ``{"side", "model", "data", "indices", "iterations", "batch_size", "learning_rate"}``."""
    from deepling.training import retrain_on_selection

    store = store or RunStore()
    side = params["side"]
    model_id, data_id = params["model"], params["data"]
    shown = workspace.dataset(model_id, data_id)
    indices = np.asarray(params["indices"], int)
    if (shown.labels[indices] < 0).any():
        raise ValueError("Retraining needs the picked images' true classes; some have none.")
    train_ds = workspace.train_dataset(model_id, data_id)
    rng = np.random.default_rng(0)
    others = np.setdiff1d(np.arange(len(shown)), indices)
    val = rng.choice(others, min(1000, len(others)), replace=False)
    if train_ds is None:  # no training split: fill batches from the rest of the shown data
        pool_x, pool_y = shown.images[others], shown.labels[others]
    else:
        pool_x, pool_y = train_ds.images, train_ds.labels
    model = starting_model(workspace, model_id, "copy", 0, 0)
    result = retrain_on_selection(model, shown.images[indices], shown.labels[indices], pool_x, pool_y,
                                  iterations=int(params.get("iterations", 30)),
                                  batch_size=int(params.get("batch_size", 64)),
                                  learning_rate=float(params.get("learning_rate", 5e-4)),
                                  validation=(shown.images[val], shown.labels[val]), progress=progress)
    result["validation"] = int(len(val))
    folder = store.folder(f"retrain-{side}")
    tmpdir = Path(tempfile.mkdtemp(dir=folder))
    model.save(tmpdir / "model.keras")
    result["model"], _ = workspace.add_model(tmpdir / "model.keras", f"retrained-{side}.keras")
    store.cache.set(f"side/{side}", result, expire=RUN_TTL)
    return result


# --- the work kinds ---------------------------------------------------------------------------
def training_key(run_id: str) -> str:
    return f"training-{run_id}"


def load_retrained(workspace, key: str) -> dict | None:
    """A retrain's result (its summary and the new model's id), once it is saved."""
    return RunStore().cache.get(f"side/{key.removeprefix('side-')}")


TRAINING = Kind("training", check=lambda ws, p: schema.training_params(p),
                key=lambda ws, p: training_key(p["run"]), compute=run_training, lane="training",
                wall_time=6 * 3600)
RETRAIN = Kind("retrain", check=lambda ws, p: schema.retrain_params(p),
               key=lambda ws, p: f"side-{p['side']}", compute=run_retrain, load=load_retrained,
               lane="training", wall_time=3600)
