"""``Monitor``: a Keras callback that records a ``model.fit`` for Deepling to show.

What it records, and what it costs:

* **every batch**: the loss and metrics Keras already computed (``logs``), buffered and
  appended about once a second — no extra work;
* **every** ``every`` **batches, at the start and at every epoch's end**: on a small fixed
  *probe batch* (``probe=(x, y)``, 32 images by default), every conv/dense filter's mean
  |activation| and mean |gradient|, each filter's peak |activation| (dead filters), and per
  layer histograms of weights, activations and gradients. This is **one extra compiled
  forward + backward pass on the probe batch** (no update: the model and its training are
  untouched; inference mode, so dropout is off and batch norms use their moving statistics);
* **every epoch**: the epoch's figures with validation (whatever ``model.fit`` put in the
  epoch's logs: pass ``validation_data`` to get them; nothing is evaluated again), the epoch
  time, and a snapshot of the weights (no optimizer state; at most ``max_snapshots`` kept,
  older ones thinned as the Training card does).

The callback's own time is kept in ``Monitor.seconds`` (and in the run's ``end`` record):
what it cost the fit, besides Keras' own work.

Everything goes to a run folder (:mod:`deepling.training.runfolder`: append-only JSON lines
and atomically renamed snapshots, safe to read while it grows), and/or is pushed to a
Deepling server (``url=``, ``token=``), which vets each snapshot like an uploaded model.
TensorFlow backend (the probe is a ``tf.function``).
"""

from __future__ import annotations

import json
import os
import threading
import time
import warnings
from pathlib import Path

import numpy as np

import keras

DEFAULT_EVERY = 200      # batches between probes (besides one at every epoch's end). Measured
                         # (benchmarks/bench_monitor.py): a probe of 32 images costs about half a
                         # training step of 64 (0.1-0.35 s vs 0.4 s on the 2-core CPU box), so
                         # every 200 batches adds ≈ 0.25 %; the fixed costs are the probe's one
                         # tracing (≈ 1 s CPU) and per epoch a probe and a snapshot (≈ 0.3 s)
DEFAULT_PROBE = 32       # images in the probe batch
FLUSH_SECONDS = 1.0      # batch records are appended at least this often
ACCURACY_KEYS = ("accuracy", "acc", "sparse_categorical_accuracy", "categorical_accuracy",
                 "binary_accuracy")


class Monitor(keras.callbacks.Callback):
    """Record a ``model.fit`` into a run folder that ``deepling serve --runs`` shows live.

    Parameters
    ----------
    folder : path, optional
        The run folder (``"runs/exp1"``); one folder per run.
    probe : (x, y), optional
        Images as the model takes them and their labels (what the loss takes); the first
        ``probe_size`` are used. Without it only losses, metrics, epochs and snapshots are
        recorded (Keras callbacks never see the training data).
    every : int
        Batches between probes (default :data:`DEFAULT_EVERY`); a probe is also taken at the
        start and at every epoch's end. ``0``: only those.
    layers : list of str, optional
        Watch only these layers (default: every layer with a kernel: Conv*, Dense).
    probe_size : int
    max_snapshots : int
        Weights snapshots kept (default 12, thinned; ``0``: none).
    url, token : str, optional
        A Deepling server to push the run to (``http://host:8050``), with the server's
        ``DEEPLING_RUNS_TOKEN``; the run appears there as ``name``.
    name : str, optional
        The run's name (default: the folder's name, else a time stamp).

    Examples
    --------
    >>> model.fit(x, y, validation_data=(xv, yv), epochs=5,            # doctest: +SKIP
    ...           callbacks=[Monitor("runs/exp1", probe=(xv, yv))])
    """

    def __init__(self, folder=None, *, probe=None, every: int = DEFAULT_EVERY, layers=None,
                 probe_size: int = DEFAULT_PROBE, max_snapshots: int = 12,
                 url: str | None = None, token: str | None = None, name: str | None = None):
        super().__init__()
        if folder is None and url is None:
            raise ValueError("Monitor needs a folder (Monitor('runs/exp1')) or a server "
                             "(Monitor(url='http://host:8050', token=...)).")
        self.folder = Path(folder) if folder is not None else None
        self.name = name or (self.folder.name if self.folder else time.strftime("run-%Y%m%d-%H%M%S"))
        self.probe_data = None if probe is None else (np.asarray(probe[0])[:probe_size],
                                                      np.asarray(probe[1])[:probe_size])
        self.every = int(every or 0)
        self.watch = list(layers) if layers is not None else None
        self.max_snapshots = int(max_snapshots)
        self.url, self.token = url, token
        self._sinks: list = []
        self._step = 0
        self._epoch = 0
        self._buffer: list = []
        self._last_flush = 0.0
        self._probe = None
        self._probed = -1
        self._plain = None
        self.seconds = 0.0  # time spent inside this callback's hooks (its cost to the fit)

    # --- keras hooks (each timed: ``seconds`` is what the callback cost the fit) ----------
    def on_train_begin(self, logs=None):
        began = time.perf_counter()
        try:
            self._train_begin()
        finally:
            self.seconds += time.perf_counter() - began

    def on_train_batch_end(self, batch, logs=None):
        began = time.perf_counter()
        self._batch_end(logs)
        self.seconds += time.perf_counter() - began

    def on_epoch_end(self, epoch, logs=None):
        began = time.perf_counter()
        self._epoch_end(epoch, logs)
        self.seconds += time.perf_counter() - began

    def on_train_end(self, logs=None):
        began = self._ending = time.perf_counter()
        self._train_end()
        self.seconds += time.perf_counter() - began

    def _train_begin(self):
        from deepling.training.step import filter_layers

        model = self.model
        names = self.watch if self.watch is not None else filter_layers(model)
        known = set(filter_layers(model))
        missing = [n for n in names if n not in known]
        if missing:
            raise ValueError(f"Monitor(layers=...): {', '.join(missing)} not in {model.name}'s "
                             f"layers with filters ({', '.join(sorted(known))}).")
        layers = [{"name": n, "filters": int(model.get_layer(n).kernel.shape[-1]),
                   "kind": type(model.get_layer(n)).__name__} for n in names]
        steps = (self.params or {}).get("steps")
        header = {"name": self.name, "source": "keras.Monitor", "model": model.name,
                  "layers": layers, "batches_per_epoch": int(steps) if steps else None,
                  "epochs": (self.params or {}).get("epochs"), "every": self.every,
                  "probe": 0 if self.probe_data is None else int(len(self.probe_data[0])),
                  "host": os.uname().nodename, "pid": os.getpid(),
                  "keras": keras.__version__}
        if not self._sinks:
            if self.folder is not None:
                from deepling.training.runfolder import RunWriter

                self._sinks.append(RunWriter(self.folder, header, self.max_snapshots))
            if self.url:
                self._sinks.append(_Pusher(self.url, self.token, self.name, header))
        try:
            self._plain = keras.Model(model.inputs, model.outputs, name=model.name)
        except (AttributeError, ValueError, TypeError):
            self._plain = None  # a subclassed model: no snapshots (it has no graph to save)
            self._note("snapshots off: the model is not functional or sequential")
        if self.probe_data is not None:
            from deepling.training.probe import ProbeStep

            try:
                self._probe = ProbeStep(model, *self.probe_data, layers=names)
            except (AttributeError, ValueError, TypeError) as exc:
                self._probe = None
                self._note(f"probe off: {exc}")
        self._take_probe("start")
        self._snapshot(0)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = int(epoch) + 1
        self._began = time.perf_counter()

    def _batch_end(self, logs):
        self._step += 1
        logs = _numbers(logs)
        self._buffer.append((self._step, logs))
        if self.every and self._step % self.every == 0:
            self._take_probe("batch")
        if time.monotonic() - self._last_flush >= FLUSH_SECONDS:
            self._flush()

    def _epoch_end(self, epoch, logs):
        seconds = time.perf_counter() - getattr(self, "_began", time.perf_counter())
        self._flush()
        logs = _numbers(logs)
        row = {"kind": "epoch", "epoch": int(epoch) + 1, "step": self._step,
               "seconds": round(seconds, 3), "frozen": [], "logs": logs}
        if "loss" in logs:
            row["loss"] = logs["loss"]
        acc = _accuracy(logs)
        if acc is not None:
            row["accuracy"] = acc
        if "val_loss" in logs:
            row["val_loss"] = logs["val_loss"]
        val_acc = _accuracy({k[4:]: v for k, v in logs.items() if k.startswith("val_")})
        if val_acc is not None:
            row["val_accuracy"] = val_acc
        self._emit(row)  # first: the page shows the epoch before the probe and snapshot
        self._take_probe("epoch")
        self._snapshot(int(epoch) + 1)

    def _train_end(self):
        self._flush()
        stopped = bool(getattr(self.model, "stop_training", False))
        self._emit({"kind": "end", "state": "stopped" if stopped else "finished",
                    "message": f"{'stopped' if stopped else 'finished'} after {self._epoch} "
                               f"epochs, {self._step} batches",
                    "monitor_seconds": round(self.seconds + time.perf_counter() - self._ending, 3)})
        for sink in self._sinks:
            sink.close()
        self._sinks = []

    # --- what is written ----------------------------------------------------------------
    def _flush(self):
        self._last_flush = time.monotonic()
        if not self._buffer:
            return
        steps = [s for s, _ in self._buffer]
        keys = sorted({k for _, logs in self._buffer for k in logs})
        record = {"kind": "batches", "epoch": self._epoch, "step": steps,
                  "loss": [logs.get("loss") for _, logs in self._buffer],
                  "accuracy": [_accuracy(logs) for _, logs in self._buffer],
                  "metrics": {k: [logs.get(k) for _, logs in self._buffer] for k in keys
                              if k not in ("loss",)}}
        self._buffer = []
        self._emit(record)

    def _take_probe(self, at: str):
        if self._probe is None or self._step == self._probed:
            return  # (an epoch's end right after a probe: that probe is the epoch's)
        from deepling.training.probe import gradient_flags

        self._probed = self._step

        r = self._probe()
        self._emit({"kind": "probe", "at": at, "step": self._step, "epoch": self._epoch,
                    "loss": r["loss"],
                    "activation": {n: _compact(v) for n, v in r["activation"].items()},
                    "gradient": {n: _compact(v) for n, v in r["gradient"].items()},
                    "dead": r["dead"], "flags": gradient_flags(r["gradient"]),
                    "hist": r["hist"]})

    def _snapshot(self, epoch: int):
        if self._plain is None:
            return
        for sink in self._sinks:
            sink.snapshot(self._plain, epoch)

    def _emit(self, record: dict):
        record.setdefault("time", round(time.time(), 3))
        for sink in self._sinks:
            sink.append(record)

    def _note(self, text: str):
        warnings.warn(f"deepling Monitor: {text}", stacklevel=3)
        self._emit({"kind": "note", "text": text})


def _numbers(logs) -> dict:
    out = {}
    for k, v in (logs or {}).items():
        try:
            f = float(v)
        except (TypeError, ValueError):
            continue
        out[str(k)] = f if np.isfinite(f) else None
    return out


def _accuracy(logs: dict):
    for key in ACCURACY_KEYS:
        if key in logs:
            return logs[key]
    return None


def _compact(values) -> list:
    """Floats with 4 significant digits (a probe record stays small)."""
    return [float(f"{v:.4g}") for v in np.asarray(values, np.float64).tolist()]


class _Pusher:
    """Send records and snapshots to a Deepling server (``/api/runs/<name>/…``) from a
    background thread, so the training loop never waits for the network."""

    def __init__(self, url: str, token: str | None, name: str, header: dict):
        import queue

        self.base = url.rstrip("/") + f"/api/runs/{name}"
        self.token = token
        self.queue: queue.Queue = queue.Queue()
        self.error: str | None = None
        self._post_json("", header)  # refused at once: a wrong url or token says so now
        self.thread = threading.Thread(target=self._run, daemon=True, name="deepling-push")
        self.thread.start()

    def append(self, record: dict):
        self.queue.put(("records", record))

    def snapshot(self, model, epoch: int):
        import tempfile

        folder = tempfile.mkdtemp(prefix="deepling-push-")
        path = Path(folder) / f"epoch-{int(epoch):03d}.keras"
        model.save(path)
        self.queue.put(("snapshot", (int(epoch), path)))

    def close(self):
        self.queue.put(None)
        self.thread.join(timeout=120)
        if self.error:
            warnings.warn(f"deepling Monitor: pushing to the server failed: {self.error}")

    def _run(self):
        while True:
            item = self.queue.get()
            if item is None:
                return
            records = [item] if item[0] == "snapshot" else [item]
            while item[0] == "records" and not self.queue.empty():  # batch what is waiting
                nxt = self.queue.get()
                if nxt is None or nxt[0] != "records":
                    self.queue.put(nxt)  # keep order: send the records first
                    break
                records.append(nxt)
            try:
                if item[0] == "snapshot":
                    epoch, path = item[1]
                    self._post_file(f"/snapshots/{epoch}", path)
                    path.unlink(missing_ok=True)
                    path.parent.rmdir()
                else:
                    self._post_json("/records", [r for _, r in records])
            except OSError as exc:
                self.error = str(exc)

    def _request(self, path: str, body: bytes, content_type: str):
        import urllib.request

        req = urllib.request.Request(self.base + path, data=body, method="POST",
                                     headers={"Content-Type": content_type,
                                              "Authorization": f"Bearer {self.token or ''}"})
        with urllib.request.urlopen(req, timeout=300) as resp:
            return resp.read()

    def _post_json(self, path: str, value):
        return self._request(path, json.dumps(value).encode(), "application/json")

    def _post_file(self, path: str, file: Path):
        return self._request(path, file.read_bytes(), "application/octet-stream")
