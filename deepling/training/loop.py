"""A training run that can be watched and steered while it runs.

:func:`train` runs epochs of :class:`~deepling.training.step.MonitoredStep` over uint8
images. Between batches it asks ``control()`` what to do (``{"command": "run" | "pause" |
"stop", "frozen": [layer names]}``), so a page, a notebook cell or another process can pause,
stop or freeze layers without restarting; and it hands ``publish(delta)`` a *delta* at most
every ``publish_every`` seconds: only what is new since the last one (batch points, the
per-filter amounts averaged over the batches since, finished epochs, freezes), never the
whole history. A snapshot of the model is saved per epoch, at most ``max_snapshots`` kept.

A loss that is not finite, or running out of memory, stops the run with a message; the
weights are put back to the last epoch's snapshot, so what is kept is the last good model.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from deepling.training.step import MonitoredStep


@dataclass
class TrainingConfig:
    """What to train for how long; JSON-friendly so a job can carry it."""

    epochs: int = 5
    batch_size: int = 64
    learning_rate: float = 1e-3
    optimizer: str = "adam"
    seed: int = 0
    publish_every: float = 0.4   # seconds between deltas
    max_snapshots: int = 12
    frozen: list = field(default_factory=list)  # layers frozen from the start

    @classmethod
    def from_dict(cls, d: dict | None) -> TrainingConfig:
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in (d or {}).items() if k in names})


def train(model, x, y, *, validation=None, config: TrainingConfig | None = None,
          control=None, publish=None, snapshot_dir=None, progress=None) -> dict:
    """Train ``model`` in place on uint8 images ``x`` (N×H×W×C) and labels ``y``.

    Parameters
    ----------
    model : keras.Model
    x, y : ndarray
        Training images (raw pixels, as the model expects them) and class indices.
    validation : (x, y), optional
        Evaluated after every epoch (inference mode).
    config : TrainingConfig
    control : callable, optional
        ``control() -> {"command": ..., "frozen": [...]}``; polled between batches.
    publish : callable, optional
        ``publish(delta)`` with a small dict (see the module's docstring).
    snapshot_dir : path, optional
        Where ``epoch-XXX.keras`` snapshots go.
    progress : callable, optional
        ``progress(fraction, message)``.

    Returns
    -------
    record : dict
        ``state`` ("finished", "stopped", "failed"), ``message``, ``config``, ``epochs``
        (loss, accuracy, val_loss, val_accuracy, seconds, frozen per epoch), ``freezes``
        and ``snapshots`` (paths, oldest first).
    """
    cfg = config or TrainingConfig()
    step = MonitoredStep(model, _optimizer(cfg))
    rng = np.random.default_rng(cfg.seed)
    snap_dir = Path(snapshot_dir) if snapshot_dir else None
    if snap_dir:
        snap_dir.mkdir(parents=True, exist_ok=True)
    n_batches = int(np.ceil(len(x) / cfg.batch_size))
    record = {"config": asdict(cfg), "layers": step.layers, "epochs": [], "freezes": [],
              "snapshots": [], "state": "running", "message": "", "batches_per_epoch": n_batches}
    out = _Outbox(publish, cfg.publish_every, step.layers)
    frozen = frozenset(cfg.frozen)
    good_weights = model.get_weights()
    global_step = 0
    validate = validation is not None and len(validation[0]) > 0

    # The starting point (its snapshot, so hover maps and projections exist from the start;
    # its validation, so the curves show where training began) is taken once the first
    # batch is out, so the page shows a loss point before a pass over the validation images.
    start_pending = validate or snap_dir is not None
    try:
        for epoch in range(1, cfg.epochs + 1):
            order = rng.permutation(len(x))
            losses, accs, paused = [], [], 0.0
            began = time.perf_counter()
            for b in range(n_batches):
                wish = _ask(control)
                if wish.get("command") == "pause":
                    out.state("paused", f"paused at epoch {epoch}, batch {b}")
                    out.flush()
                    t_pause = time.perf_counter()
                    wish = _wait_while_paused(control, progress, (epoch - 1 + b / n_batches) / cfg.epochs)
                    paused += time.perf_counter() - t_pause
                    out.state("running", "")
                if wish.get("command") == "stop":
                    raise _Stop("stopped by the user")
                wanted = frozenset(wish.get("frozen", frozen))
                if wanted != frozen:
                    mark = {"step": global_step, "epoch": epoch, "batch": b,
                            "frozen": sorted(wanted), "added": sorted(wanted - frozen),
                            "removed": sorted(frozen - wanted)}
                    record["freezes"].append(mark)
                    out.freeze(mark)
                    frozen = wanted
                idx = order[b * cfg.batch_size:(b + 1) * cfg.batch_size]
                r = step(x[idx], y[idx], frozen)
                if not np.isfinite(r["loss"]):
                    raise _Failed(f"the loss became {r['loss']} at epoch {epoch}, batch {b + 1}: "
                                  "lower the learning rate and start again")
                global_step += 1
                losses.append(r["loss"]), accs.append(r["accuracy"])
                out.batch(global_step, epoch, r, first=global_step == 1)
                if start_pending:  # with the starting weights put back for the moment
                    start_pending, now, t_start = False, model.get_weights(), time.perf_counter()
                    model.set_weights(good_weights)
                    if snap_dir:
                        record["snapshots"].append(_snapshot(model, snap_dir, 0, [], cfg.max_snapshots))
                    if validate:
                        vl, va = step.evaluate(*validation)
                    model.set_weights(now)
                    if validate:
                        out.epoch({"epoch": 0, "step": 0, "val_loss": vl, "val_accuracy": va})
                    paused += time.perf_counter() - t_start  # not the epoch's training time
                if progress:  # every batch: a cancelled job stops here
                    progress((epoch - 1 + (b + 1) / n_batches) / cfg.epochs,
                             f"epoch {epoch}/{cfg.epochs}, batch {b + 1}/{n_batches}")
            # The epoch's whole batch loop as the user waits for it (control polls and
            # deltas included, pauses not), so it compares with a model.fit epoch.
            seconds = time.perf_counter() - began - paused
            row = {"epoch": epoch, "loss": float(np.mean(losses)), "accuracy": float(np.mean(accs)),
                   "seconds": round(seconds, 3), "frozen": sorted(frozen), "step": global_step}
            step.settle_batch_norm()  # before validating and saving: see its docstring
            if validate:
                row["val_loss"], row["val_accuracy"] = step.evaluate(*validation)
            if snap_dir:
                record["snapshots"].append(_snapshot(model, snap_dir, epoch, record["snapshots"],
                                                     cfg.max_snapshots))
                row["snapshot"] = record["snapshots"][-1]
            good_weights = model.get_weights()
            record["epochs"].append(row)
            out.epoch(row)
        record["state"], record["message"] = "finished", f"finished {cfg.epochs} epochs"
    except _Stop as e:
        record["state"], record["message"] = "stopped", str(e)
    except _Failed as e:
        model.set_weights(good_weights)
        record["state"], record["message"] = "failed", str(e) + "; the last good epoch is kept"
    except (MemoryError, _resource_exhausted()) as e:
        model.set_weights(good_weights)
        record["state"] = "failed"
        record["message"] = (f"out of memory ({type(e).__name__}): use a smaller batch size; "
                             "the last good epoch is kept")
    if record["state"] == "stopped":
        step.settle_batch_norm()  # a layer first trained in the stopped epoch
    out.state(record["state"], record["message"])
    out.flush()
    return record


def _optimizer(cfg: TrainingConfig):
    from deepling.training.step import make_optimizer

    return make_optimizer(cfg.optimizer, cfg.learning_rate)


def _ask(control) -> dict:
    return (control() or {}) if control else {}


def _wait_while_paused(control, progress=None, fraction: float = 0.0, poll: float = 0.2) -> dict:
    """Wait for the page to resume (or stop) the run; ``progress`` is still called, so a
    cancelled or timed-out job stops while paused too."""
    while True:
        wish = _ask(control)
        if wish.get("command") != "pause":
            return wish
        if progress:
            progress(fraction, "paused")
        time.sleep(poll)


def _snapshot(model, folder: Path, epoch: int, kept: list, max_snapshots: int) -> str:
    """Save this epoch; past the bound drop every other old snapshot (keeping the first),
    so the kept ones still span the whole run."""
    path = folder / f"epoch-{epoch:03d}.keras"
    model.save(path)
    if len(kept) + 1 > max_snapshots:
        drop = kept[1::2]
        for p in drop:
            Path(p).unlink(missing_ok=True)
        kept[:] = [p for p in kept if p not in drop]
    return str(path)


def _resource_exhausted():
    import tensorflow as tf

    return tf.errors.ResourceExhaustedError


class _Stop(Exception):
    pass


class _Failed(Exception):
    pass


class _Outbox:
    """Collects what is new and hands it to ``publish`` at most every ``every`` seconds."""

    def __init__(self, publish, every: float, layers):
        self.publish, self.every, self.layers = publish, every, layers
        self.last = time.monotonic()
        self._reset()

    def _reset(self):
        self.steps, self.losses, self.accs, self.epochs, self.freezes = [], [], [], [], []
        self.sums, self.count, self.status = None, 0, None

    def batch(self, global_step, epoch, r, first=False):
        self.steps.append(global_step), self.losses.append(r["loss"]), self.accs.append(r["accuracy"])
        self.epoch_now = epoch
        if self.sums is None:
            self.sums = {k: {n: np.zeros_like(v) for n, v in r[k].items()}
                         for k in ("activation", "gradient")}
        for k in ("activation", "gradient"):
            for n, v in r[k].items():
                self.sums[k][n] += v
        self.count += 1
        if first or time.monotonic() - self.last >= self.every:
            self.flush()

    def epoch(self, row):
        self.epochs.append(row)
        self.flush()

    def freeze(self, mark):
        self.freezes.append(mark)

    def state(self, state, message):
        self.status = {"state": state, "message": message}

    def flush(self):
        if self.publish is None:
            self._reset()
            return
        delta = {}
        if self.steps:
            delta["batches"] = {"step": self.steps, "loss": self.losses, "accuracy": self.accs}
        if self.count:
            delta["filters"] = {k: {n: np.round(v / self.count, 6).tolist() for n, v in d.items()}
                                for k, d in self.sums.items()}
        if self.epochs:
            delta["epochs"] = self.epochs
        if self.freezes:
            delta["freezes"] = self.freezes
        if self.status:
            delta["status"] = self.status
        if delta:
            self.publish(delta)
        self.last = time.monotonic()
        self._reset()
