"""The app's own training runs write the same run-folder records as ``Monitor``.

:class:`DeltaRecorder` takes the deltas :func:`~deepling.training.loop.train` publishes and
appends them to a run folder (:class:`~deepling.training.runfolder.RunWriter`), with a probe
(:class:`~deepling.training.probe.ProbeStep`: histograms, dead filters, gradient flags) at
the start and at every epoch's end, so one reader serves in-app runs and run folders alike.
"""

from __future__ import annotations

import time

from deepling.training.runfolder import SNAPSHOTS, RunWriter


class DeltaRecorder:
    """``recorder(delta)``: append what the delta says to ``folder``'s records.

    Parameters
    ----------
    folder : path
        The run's folder (its snapshots already go to ``folder/snapshots``).
    model : keras.Model
        The model being trained (probed in place, in inference mode).
    probe : (x, y)
        The probe batch (the first 32 validation images).
    header : dict
        For ``run.json`` (``layers``, ``batches_per_epoch``, …).
    """

    def __init__(self, folder, model, probe, header: dict):
        from deepling.training.probe import ProbeStep

        self.writer = RunWriter(folder, {"source": "deepling training", **header}, max_snapshots=0)
        names = [layer["name"] for layer in header.get("layers", [])]
        try:
            self.probe = ProbeStep(model, probe[0][:32], probe[1][:32], layers=names or None)
        except (AttributeError, ValueError, TypeError):
            self.probe = None  # a model without a graph to probe: records without histograms
        self.step = 0

    def __call__(self, delta: dict) -> None:
        """Record ``delta``; a failure here (a full disk, a model the probe cannot take) turns
        the recorder off with a warning and never stops the training run."""
        if self.writer is None:
            return
        try:
            self._record(delta)
        except Exception as exc:  # noqa: BLE001 - the run matters more than its records
            import warnings

            warnings.warn(f"training records turned off: {exc}")
            self.writer.close()
            self.writer = None

    def _record(self, delta: dict) -> None:
        records = []
        if "batches" in delta:
            b = delta["batches"]
            self.step = b["step"][-1]
            records.append({"kind": "batches", "step": b["step"], "loss": b["loss"],
                            "accuracy": b["accuracy"]})
        if "filters" in delta:  # amounts over the training batches since the last delta
            records.append({"kind": "probe", "at": "steps", "step": self.step, **delta["filters"]})
        for f in delta.get("freezes", []):
            records.append({"kind": "note", "freeze": f})
        self.writer.append(*records)
        for row in delta.get("epochs", []):
            record = {"kind": "epoch", **{k: v for k, v in row.items() if k != "snapshot"}}
            self.writer.append(record)
            self._probe(int(row["epoch"]), "start" if row["epoch"] == 0 else "epoch")
            if row.get("snapshot"):
                self.writer.append({"kind": "snapshot", "epoch": int(row["epoch"]),
                                    "file": f"{SNAPSHOTS}/epoch-{int(row['epoch']):03d}.keras"})
        status = delta.get("status", {})
        if status.get("state") in ("finished", "stopped", "failed"):
            self.writer.append({"kind": "end", **status, "time": time.time()})
            self.writer.close()

    def _probe(self, epoch: int, at: str) -> None:
        from deepling.training.probe import gradient_flags

        if self.probe is None:
            return
        r = self.probe()
        self.writer.append({
            "kind": "probe", "at": at, "step": self.step, "epoch": epoch, "loss": r["loss"],
            "activation": {n: v.tolist() for n, v in r["activation"].items()},
            "gradient": {n: v.tolist() for n, v in r["gradient"].items()},
            "dead": r["dead"], "flags": gradient_flags(r["gradient"]), "hist": r["hist"]})
